"""The board against the REAL registry champion: train -> register -> promote -> score.

No stand-in model: the demo experiment of ``test_runs`` (synthetic 300-patient network, temp
SQLite tracking store, XGBoost response + Cox survival, no search) is registered and promoted,
then scored through :func:`score`, :func:`score_batch`, the ``icipredict predict`` CLI and the
FastAPI ``/score``. A second version trained on three centres (which never saw COADREAD) checks
the "outside the training domain" warning for an unseen cancer type.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from test_runs import trained

pytestmark = pytest.mark.slow

NAME = "icipredict-it"
#: Centres without any COADREAD patient in the seed-7 network of test_runs.
SUBSET_CENTRES = ["alpenrose", "lindenhof", "meridian"]


def _in_range(domain: dict, name: str, q: str = "q50") -> float:
    return round(float(domain["numeric"][name][q]), 3)


@pytest.fixture(scope="module")
def champion(tmp_path_factory) -> dict:
    """The demo run registered and promoted (forced: the gate has nothing to compare on tiny
    data is fine too, but a refusal must not stop the integration test)."""
    import mlflow

    from icipredict.features.builder import patient_frame
    from icipredict.predict.scorer import clear_model_cache
    from icipredict.tracking import registry

    demo = trained(tmp_path_factory)
    version = registry.register(demo["result"].run_id, NAME)
    frame = patient_frame(demo["store"].cohort(), include_outcomes=True)
    data = registry.EvalData.from_frame(frame.reset_index(drop=True))
    decision = registry.promote(NAME, version, eval_data=data, force=True,
                                reason="integration test on synthetic data", n_boot=50)
    assert decision.promoted
    clear_model_cache()
    uri = f"models:/{NAME}@champion"
    from icipredict.predict.scorer import load_board_model

    bm = load_board_model(uri)
    return {**demo, "version": version, "uri": uri, "board": bm,
            "tracking": mlflow.get_tracking_uri()}


def _records(domain: dict) -> dict[str, dict]:
    """Complete, no-imaging and out-of-domain records built around the training medians."""
    radiomics = {k.removeprefix("radiomics_"): _in_range(domain, k)
                 for k in domain["numeric"] if k.startswith("radiomics_")}
    complete = {
        "patient_id": "BOARD-1", "cancer_type": "NSCLC", "age": 64, "sex": "male", "ecog": 1,
        "nlr": 4.2, "albumin": {"value": 38, "unit": "g/L"},
        "drug": "pembrolizumab", "prior_systemic_therapy": "yes", "tmb": 12.5,
        "msi_status": "MSS", "panel": "MSK-IMPACT468",
        "mutations": [{"gene": "STK11", "variant_classification": "Nonsense_Mutation"}]
        + [{"gene": f"G{i}", "variant_classification": "Missense_Mutation"} for i in range(14)],
        "radiomics": radiomics,
    }
    no_imaging = {k: v for k, v in complete.items() if k != "radiomics"}
    no_imaging["patient_id"] = "BOARD-2"
    outside = dict(complete, patient_id="BOARD-3", albumin=2.0, cancer_type="MEL",
                   drug="ipilimumab + nivolumab")
    big = next(iter(radiomics))
    outside["radiomics"] = dict(radiomics, **{
        big: 50 * float(domain["numeric"][f"radiomics_{big}"]["max"])})
    return {"complete": complete, "no_imaging": no_imaging, "outside": outside}


@pytest.fixture(scope="module")
def records(champion) -> dict[str, dict]:
    return _records(champion["board"].domain)


def _codes(s) -> list[str]:
    return [w.code for w in s.warnings]


def test_score_complete_patient_from_the_champion(champion, records):
    from icipredict.predict.record import parse_record, record_frame
    from icipredict.predict.scorer import score

    s = score(records["complete"], model=champion["uri"])
    assert s.model.name == NAME and s.model.alias == "champion"
    assert s.model.version == champion["version"]
    r = s.response
    assert 0 < r.ci_low <= r.probability <= r.ci_high < 1
    assert r.per_100 == round(100 * r.probability)
    # the board number is the registry model's number for the same input
    raw = champion["board"].predict(record_frame(parse_record(records["complete"])),
                                    horizons=[12.0])
    assert r.probability == pytest.approx(float(raw["response_probability"].iloc[0]))
    assert s.os.at_12m.survival == pytest.approx(float(raw["os_survival_12m"].iloc[0]))
    # complete record: nothing missing, no domain warning, a risk group from the tertiles
    assert s.missing_modalities == []
    assert not {"modality_missing", "value_out_of_range", "cancer_type_unseen"} & set(_codes(s))
    # completeness counts the features the model uses and saw in training (no "Only 43% of
    # genomic fields" for fields such as HED that this model never had)
    assert "low_completeness" not in _codes(s)
    assert s.completeness["genomic"] == 1.0
    assert bool(raw["cancer_type_seen"].iloc[0])
    assert s.risk.group in ("low", "intermediate", "high")
    assert len(s.risk.cutpoints) == 2
    # survival curves: start at 1, non-increasing, strictly inside (0, 1) for an in-range
    # patient, and null past the model's training follow-up (with a warning), never flat
    follow_up = champion["board"].bundle.follow_up
    for end, est in (("os", s.os), ("pfs", s.pfs)):
        surv = [p.survival for p in est.curve if p.survival is not None]
        assert surv[0] == 1.0 and np.all(np.diff(surv) <= 1e-12)
        assert 0 < surv[-1] < 1
        assert all((p.survival is None) == (p.month > follow_up[end]) for p in est.curve)
    assert ("beyond_follow_up" in _codes(s)) == (min(follow_up.values()) < 36)
    # reasons are the model's own contributions, phrased with the patient's values
    names = set(champion["board"].model.builder.feature_names_out_)
    assert s.reasons and {x.feature for x in s.reasons} <= names
    assert all("(missing)" not in x.text for x in s.reasons)
    json.loads(s.to_json())  # JSON-safe


def test_patient_without_imaging(champion, records):
    from icipredict.predict.scorer import score

    s = score(records["no_imaging"], model=champion["uri"])
    assert s.missing_modalities == ["imaging"]
    warn = [w for w in s.warnings if w.code == "modality_missing"]
    assert len(warn) == 1 and "imaging" in warn[0].message
    assert s.completeness["imaging"] == 0.0
    full = score(records["complete"], model=champion["uri"])
    assert s.response.probability != full.response.probability  # imaging is used


def test_outside_training_domain_warns_and_does_not_extrapolate(champion, records):
    from icipredict.predict.scorer import score

    domain = champion["board"].domain
    s = score(records["outside"], model=champion["uri"])
    msgs = [w.message for w in s.warnings if w.code == "value_out_of_range"]
    assert any(m.startswith("albumin = 2 ") for m in msgs), msgs
    big = next(k for k in records["outside"]["radiomics"])
    assert any(m.startswith(f"radiomics_{big} = ") for m in msgs), msgs
    # beyond the training range the model answers as at the edge of it (no runaway Cox hazard)
    edge = dict(records["outside"], patient_id="EDGE", albumin=domain["numeric"]["albumin"]["min"])
    edge["radiomics"] = dict(edge["radiomics"],
                             **{big: domain["numeric"][f"radiomics_{big}"]["max"]})
    e = score(edge, model=champion["uri"])
    assert s.risk.score == pytest.approx(e.risk.score)
    assert s.pfs.at_12m.survival == pytest.approx(e.pfs.at_12m.survival)
    assert s.response.probability == pytest.approx(e.response.probability)


def test_unseen_cancer_type_warns(champion, records, tmp_path_factory):
    """A version trained without COADREAD warns for a COADREAD patient (and only for it)."""
    import yaml

    from icipredict.predict.scorer import score
    from icipredict.tracking import registry
    from icipredict.tracking.runs import train_experiment

    root = champion["root"]
    cfg = yaml.safe_load((root / "experiments" / "demo.yaml").read_text())
    cfg["name"] = "demo_subset"
    cfg["cohort"]["store"]["centres"] = SUBSET_CENTRES
    cfg["n_bootstrap"] = 20
    path = root / "experiments" / "demo_subset.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = train_experiment(path, tracking_uri=champion["tracking"], progress=False, cache_dir=root / "cache")
    version = registry.register(result.run_id, NAME)
    uri = f"models:/{NAME}/{version}"
    rec = dict(records["complete"], cancer_type="COADREAD", patient_id="CRC-1")
    s = score(rec, model=uri)
    assert "cancer_type_unseen" in _codes(s)
    from icipredict.predict.record import parse_record, record_frame
    from icipredict.predict.scorer import load_board_model

    out = load_board_model(uri).predict(record_frame(parse_record(rec)), horizons=[12.0])
    assert out["cancer_type_seen"].tolist() == [False]  # the registry model flags it too
    assert s.model.version == version
    assert "cancer_type_unseen" not in _codes(score(records["complete"], model=uri))


def test_score_batch_matches_single_scores(champion, records):
    from icipredict.predict.scorer import score, score_batch, scores_table

    batch = score_batch(list(records.values()), model=champion["uri"])
    assert len(batch) == 3
    probs = [b.response.probability for b in batch]
    assert probs == sorted(probs, reverse=True)
    for b in batch:
        single = score(next(r for r in records.values() if r["patient_id"] == b.patient_id),
                       model=champion["uri"])
        assert b.response.probability == pytest.approx(single.response.probability)
        assert _codes(b) == _codes(single)
    table = scores_table(batch)
    assert list(table["patient_id"]) == [b.patient_id for b in batch]


def test_cli_predict_writes_json_and_report(champion, records, tmp_path):
    from typer.testing import CliRunner

    from icipredict.cli import app
    from icipredict.predict.scorer import score

    p = tmp_path / "p.json"
    p.write_text(json.dumps(records["no_imaging"]))
    out, html = tmp_path / "out.json", tmp_path / "r.html"
    res = CliRunner().invoke(app, ["predict", "--patient", str(p), "--report", str(html),
                                   "--json", str(out), "--model", champion["uri"],
                                   "--tracking-uri", champion["tracking"]])
    assert res.exit_code == 0, res.output
    body = json.loads(out.read_text())
    expected = score(records["no_imaging"], model=champion["uri"]).to_dict()
    for key in ("response", "os", "pfs", "risk", "missing_modalities", "model"):
        assert body[key] == expected[key], key
    assert [w["code"] for w in body["warnings"]] == [w["code"] for w in expected["warnings"]]
    text = html.read_text()
    assert "<svg" in text and NAME in text and "BOARD-2" in text
    assert "warning" in res.output


def test_service_scores_with_the_real_champion(champion, records):
    from fastapi.testclient import TestClient

    from icipredict.predict.scorer import score
    from icipredict.predict.service import create_app

    client = TestClient(create_app(champion["uri"], token="tok"))
    auth = {"Authorization": "Bearer tok"}
    r = client.post("/score", json=records["outside"], headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = score(records["outside"], model=champion["uri"])
    assert body["response"]["probability"] == pytest.approx(expected.response.probability)
    assert "value_out_of_range" in [w["code"] for w in body["warnings"]]
    assert body["model"]["version"] == champion["version"]
    r = client.post("/score/batch", json=list(records.values()), headers=auth)
    assert r.status_code == 200 and len(r.json()["scores"]) == 3
    models = client.get("/models", headers=auth).json()
    assert models["default"]["alias"] == "champion"
    assert "NSCLC" in models["domain"]["categories"]["cancer_type"]
    bad = dict(records["complete"], albumin={"value": 38, "unit": "furlongs"}, age=-3)
    r = client.post("/score", json=bad, headers=auth)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"albumin", "age"}


# ------------------------------------------------------------------ stored patients and images


@pytest.fixture(scope="module")
def stored(champion) -> dict:
    """The training store with the radiomics the training run computed (its own step)."""
    from icipredict.features.spec import read_spec
    from icipredict.training.data import cohort_radiomics as _radiomics

    root = champion["root"]
    cohort = champion["store"].cohort()
    spec = read_spec(root / "experiments" / "features.yaml")
    rad = _radiomics(cohort, spec, root / "cache", False)
    im = cohort.imaging
    files = im.dropna(subset=["image_uri"])
    # a patient with image files and mutation data, whatever the store's (pseudonym) order
    sequenced = set(cohort.samples.loc[cohort.samples["sample_id"].isin(
        cohort.mutations["sample_id"]), "patient_id"])
    files = files[files["patient_id"].isin(sequenced)]
    ids = {"images": str(files["patient_id"].iloc[0]),
           "table": str(im.dropna(subset=["radiomics_uri"])["patient_id"].iloc[0]),
           "none": str(next(p for p in cohort.patients["patient_id"]
                            if p not in set(im["patient_id"])))}
    return {"cohort": cohort, "radiomics": rad, "ids": ids, "path": champion["store"].path,
            "cache": root / "cache"}


def test_score_by_id_equals_the_equivalent_record(champion, stored):
    from icipredict.demo import patient_record
    from icipredict.predict.scorer import score, score_stored

    for kind, pid in stored["ids"].items():
        by_id = score_stored(pid, stored["path"], champion["uri"], cache_dir=stored["cache"])
        rec = patient_record(stored["cohort"], pid, stored["radiomics"])
        by_rec = score(rec, champion["uri"])
        assert by_id.response.probability == pytest.approx(by_rec.response.probability), kind
        assert by_id.risk.score == pytest.approx(by_rec.risk.score), kind
        assert [p.survival for p in by_id.os.curve] == pytest.approx(
            [p.survival for p in by_rec.os.curve]), kind
        assert _codes(by_id) == _codes(by_rec), kind
        assert [r.feature for r in by_id.reasons] == [r.feature for r in by_rec.reasons]
        assert by_id.missing_modalities == ([] if kind != "none" else ["imaging"]), kind


def test_record_with_image_files_scores_as_training_saw_them(champion, stored):
    """A record naming the stored patient's image + mask files gets the same score as that
    patient by ID (radiomics computed with the training settings and lesion rule)."""
    from icipredict.demo import patient_record
    from icipredict.predict.scorer import score, score_stored

    pid = stored["ids"]["images"]
    rows = stored["cohort"].imaging
    rows = rows[rows["patient_id"] == pid]
    rec = patient_record(stored["cohort"], pid)  # no radiomics
    assert "radiomics" not in rec
    rec["images"] = [{"image": r.image_uri, "mask": r.mask_uri, "lesion_id": r.lesion_id}
                     for r in rows.itertuples()]
    s = score(rec, champion["uri"])
    by_id = score_stored(pid, stored["path"], champion["uri"], cache_dir=stored["cache"])
    assert s.missing_modalities == [] and s.completeness["imaging"] == 1.0
    assert s.response.probability == pytest.approx(by_id.response.probability)
    assert s.risk.score == pytest.approx(by_id.risk.score)
    without = score({k: v for k, v in rec.items() if k != "images"}, champion["uri"])
    assert without.response.probability != pytest.approx(s.response.probability)


def test_cli_predict_by_patient_id(champion, stored, tmp_path):
    from typer.testing import CliRunner

    from icipredict.cli import app
    from icipredict.predict.scorer import score_stored

    pid = stored["ids"]["table"]
    out = tmp_path / "s.json"
    base = ["predict", "--store", str(stored["path"]), "--model", champion["uri"],
            "--tracking-uri", champion["tracking"]]
    res = CliRunner().invoke(app, [*base, "--patient-id", pid, "--json", str(out)])
    assert res.exit_code == 0, res.output
    body = json.loads(out.read_text())
    assert body["patient_id"] == pid
    assert body["response"] == score_stored(pid, stored["path"], champion["uri"]).to_dict()[
        "response"]
    res = CliRunner().invoke(app, [*base, "--patient-id", "P-0000000000000000"])
    assert res.exit_code == 2 and "not in the cohort store" in res.output
    res = CliRunner().invoke(app, ["predict", "--patient-id", pid, "--model", champion["uri"]],
                             env={"ICIPREDICT_STORE": ""})
    assert res.exit_code == 2 and "--store" in res.output


def test_cli_weekly_list_from_a_store_query(champion, stored, tmp_path):
    """predict-list --store: the query's patients, sorted, each with the score it gets alone."""
    from typer.testing import CliRunner

    from icipredict.cli import app
    from icipredict.predict.scorer import score_stored

    cohort = stored["cohort"]
    centre = cohort.patients["centre"].value_counts().index[-1]  # the smallest centre
    want = set(cohort.patients.loc[cohort.patients["centre"] == centre, "patient_id"])
    out = tmp_path / "week"
    base = ["predict-list", "--store", str(stored["path"]), "--model", champion["uri"],
            "--tracking-uri", champion["tracking"], "--cache-dir", str(stored["cache"])]
    res = CliRunner().invoke(app, [*base, "--centre", centre, "--out-dir", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "list.csv")
    assert set(table["patient_id"]) == want
    probs = table["response_probability"].tolist()
    assert probs == sorted(probs, reverse=True)
    first = table.iloc[0]
    alone = score_stored(first["patient_id"], stored["path"], champion["uri"],
                         cache_dir=stored["cache"])
    assert first["response_probability"] == pytest.approx(alone.response.probability)
    assert (out / f"{first['patient_id']}.html").is_file()
    res = CliRunner().invoke(app, [*base, "--started-from", "2999-01-01", "--out-dir",
                                   str(tmp_path / "none")])
    assert res.exit_code == 0 and "no patient matches" in res.output
    res = CliRunner().invoke(app, [*base, "--started-from", "last monday"])
    assert res.exit_code == 2 and "YYYY-MM-DD" in res.output
    res = CliRunner().invoke(app, ["predict-list", "--centre", centre, "--model", champion["uri"]],
                             env={"ICIPREDICT_STORE": ""})
    assert res.exit_code == 2 and "--store" in res.output
