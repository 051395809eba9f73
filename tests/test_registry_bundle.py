"""The bundle: written through codecs, read through its manifest (never by file names)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sksurv.util import Surv

from icipredict.errors import RegistryError
from icipredict.features.builder import FeatureBuilder
from icipredict.modeling.survival import CoxPHSurvival
from icipredict.registry.bundle import FILES, Bundle, radiomics_record, write_bundle
from icipredict.registry.model import ICIPredictModel


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"age": rng.normal(60, 10, n), "cancer_type": "NSCLC",
                         "albumin": rng.normal(3.8, 0.4, n),
                         "radiomics_original_firstorder_Mean": rng.normal(0, 1, n)})


def _cox_bundle(folder, frame, end="os", **extra):
    builder = FeatureBuilder({"name": "s", "modalities": ["clinical"],
                              "clinical": ["age", "albumin"], "cancer_type": "none"}).fit(frame)
    X = builder.transform(frame)
    rng = np.random.default_rng(1)
    ys = Surv.from_arrays(rng.random(len(frame)) < 0.7, rng.uniform(1, 40, len(frame)))
    cox = CoxPHSurvival(penalizer=0.1).fit(X, ys)
    return write_bundle(folder, builder=builder, response_model=None,
                        survival_models={end: cox}, training_frame=frame, **extra)


def test_radiomics_json_only_when_the_spec_reads_imaging(tmp_path):
    frame = _frame(40)
    record = radiomics_record()
    for modalities, expected in ((["clinical"], False), (["clinical", "imaging"], True)):
        spec = {"name": "s", "modalities": modalities, "clinical": ["age"],
                "cancer_type": "none"}
        if "imaging" in modalities:
            spec["imaging"] = ["radiomics_original_firstorder_Mean"]
        builder = FeatureBuilder(spec).fit(frame)
        folder = tmp_path / "_".join(modalities)
        manifest = write_bundle(folder, builder=builder, response_model=None,
                                survival_models={}, training_frame=frame, radiomics=record)
        assert (folder / FILES["radiomics"]).exists() is expected
        assert ("radiomics" in manifest["files"]) is expected
        assert (Bundle(folder).radiomics == record) is expected
        ICIPredictModel().load_bundle(folder)  # loads either way


def test_the_reader_follows_the_manifest(tmp_path):
    """Files are found through ``manifest.json`` (renamed files still read), models load from
    their entries, and the training aggregates are rows-free."""
    frame = _frame()
    _cox_bundle(tmp_path / "b", frame)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["format"] == 2 and manifest["what_is_pickled"] == []
    assert manifest["os"] == {"path": "os", "codec": "coxph", "file": "coxph.json",
                              "class": "icipredict.modeling.survival.CoxPHSurvival",
                              "follow_up_months": pytest.approx(manifest["os"]
                                                                ["follow_up_months"])}
    assert 0 < manifest["os"]["follow_up_months"] < 40
    (tmp_path / "b" / "domain.json").rename(tmp_path / "b" / "training_domain.json")
    manifest["files"]["domain"] = "training_domain.json"
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(manifest))
    bundle = Bundle(tmp_path / "b")
    assert bundle.domain["n_patients"] == len(frame)
    assert len(bundle.risk_groups["cut_points"]) == 2
    assert bundle.radiomics == {} and bundle.has_models
    assert [c["name"] for c in bundle.input_columns] == ["cancer_type", "age", "albumin"]
    model = ICIPredictModel().load_bundle(bundle)
    out = model.predict(None, frame.head(3), params={"horizons": [12.0]})
    assert out["response_probability"].isna().all() and out["os_survival_12m"].notna().all()


def test_other_layouts_are_refused_naming_the_folder(tmp_path):
    with pytest.raises(RegistryError, match="not a registry bundle"):
        Bundle(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 1}))
    with pytest.raises(RegistryError, match="format 1.*retrain"):
        Bundle(tmp_path)


def test_a_model_without_codec_stops_the_writer_before_any_file(tmp_path):
    frame = _frame()
    builder = FeatureBuilder({"name": "s", "modalities": ["clinical"], "clinical": ["age"],
                              "cancer_type": "none"}).fit(frame)
    X = builder.transform(frame)
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        X, np.arange(len(X)) % 2)
    with pytest.raises(RegistryError, match="RandomForestClassifier has no registry codec"):
        write_bundle(tmp_path / "b", builder=builder, response_model=forest,
                     survival_models={}, training_frame=frame)
    assert not (tmp_path / "b").exists()


def test_survival_past_the_training_follow_up_is_null_with_a_warning(tmp_path, caplog):
    """Issue 12: a flat Cox tail past the training follow-up was returned as an estimate."""
    import logging

    from icipredict.modeling.survival import follow_up_limit
    from icipredict.predict.scorer import finite, follow_up_warnings

    frame = _frame()
    manifest = _cox_bundle(tmp_path / "b", frame)
    limit = manifest["os"]["follow_up_months"]
    rng = np.random.default_rng(1)  # the times and events _cox_bundle trained on
    event, time = rng.random(len(frame)) < 0.7, rng.uniform(1, 40, len(frame))
    assert limit == follow_up_limit(time, event)
    assert limit < time[event].max()  # fewer than 10 at risk at the last events
    bundle = Bundle(tmp_path / "b")
    assert bundle.follow_up == {"os": limit}
    model = ICIPredictModel().load_bundle(bundle)
    inside, past = float(np.floor(limit)), float(np.ceil(limit) + 1)
    with caplog.at_level(logging.WARNING, logger="icipredict.registry.model"):
        out = model.predict(None, frame.head(3), params={"horizons": [inside, past]})
    assert out[f"os_survival_{inside:g}m"].notna().all()
    assert out[f"os_survival_{past:g}m"].isna().all()
    assert out[f"os_survival_{past:g}m"].tolist() == [None] * 3  # JSON null, never NaN
    assert all(m is None or m <= limit for m in out["median_os_months"])
    assert f"past the OS model's training follow-up ({limit:.1f} months)" in caplog.text
    # the board says so once per end point whose curve stops early
    warned = follow_up_warnings(bundle.follow_up, (12.0, past))
    assert [w.code for w in warned] == ["beyond_follow_up"]
    assert follow_up_warnings(bundle.follow_up, (inside,)) == []
    assert finite(out.to_dict(orient="records"))[0][f"os_survival_{past:g}m"] is None
    # bundles written before the follow-up was recorded still load, without a limit
    old = {k: v for k, v in manifest["os"].items() if k != "follow_up_months"}
    (tmp_path / "b" / "manifest.json").write_text(json.dumps({**manifest, "os": old}))
    legacy = ICIPredictModel().load_bundle(tmp_path / "b")
    assert legacy.follow_up == {}
    out = legacy.predict(None, frame.head(3), params={"horizons": [past]})
    assert out[f"os_survival_{past:g}m"].notna().all()


def test_follow_up_limit_is_the_last_event_with_ten_at_risk():
    from icipredict.modeling.survival import follow_up_limit

    time = np.arange(1.0, 31.0)  # 30 patients, one leaves per month
    event = np.ones(30, dtype=bool)
    assert follow_up_limit(time, event) == 21.0  # at 21 months 10 remain at risk, at 22 nine
    event[20] = False  # no event at 21 months: the last qualifying event is at 20
    assert follow_up_limit(time, event) == 20.0
    assert follow_up_limit(time[:5], event[:5]) == 1.0  # fewer than 10: all must be at risk
    assert np.isnan(follow_up_limit(time, np.zeros(30, dtype=bool)))


def test_risk_groups_name_the_end_point_their_score_comes_from(tmp_path):
    """Issue 12: a bundle whose risk score is the PFS model's said 'OS model'."""
    frame = _frame()
    _cox_bundle(tmp_path / "b", frame, end="pfs")
    groups = Bundle(tmp_path / "b").risk_groups
    assert groups["endpoint"] == "pfs" and groups["score"].startswith("risk_score (PFS model")
    assert groups["source"] == "in-sample risk scores of the training patients"
    given = {"score": "risk_score (OS model; higher = worse)", "endpoint": "os",
             "cut_points": [-0.1, 0.2], "labels": ["low", "intermediate", "high"],
             "source": "out-of-fold risk scores of the training patients"}
    _cox_bundle(tmp_path / "c", frame, risk_groups=given)
    assert Bundle(tmp_path / "c").risk_groups == given
