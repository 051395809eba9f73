"""The registry model of a trained run: documented columns, JSON-safe output, the bundle."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from icipredict.errors import InputError
from icipredict.registry.bundle import FILES, Bundle
from icipredict.registry.schema import output_columns
from test_runs import trained

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return trained(tmp_path_factory)


@pytest.fixture(scope="module")
def model(demo):
    import mlflow

    return mlflow.pyfunc.load_model(demo["result"].model_uri)


@pytest.fixture(scope="module")
def patients(demo):
    """Input rows built from the store (the test's own synthetic patients)."""
    from icipredict.features.builder import patient_frame
    from icipredict.features.imaging import radiomics_matrix

    cohort = demo["store"].cohort()
    frame = patient_frame(cohort, None, genes=("STK11", "KEAP1"))
    return frame.reset_index(drop=True), radiomics_matrix


def test_documented_columns_and_ranges(model, patients):
    df, _ = patients
    out = model.predict(df.head(40), params={"horizons": [12]})
    assert list(out.columns) == output_columns([12])
    assert len(out) == 40
    p, lo, hi = (out[c].to_numpy(float) for c in
                 ("response_probability", "response_ci_low", "response_ci_high"))
    assert np.all((0 <= p) & (p <= 1))
    assert np.all(lo <= p) and np.all(p <= hi) and np.all(hi - lo > 0)
    s = out["os_survival_12m"].to_numpy(float)
    assert np.all((0 <= s) & (s <= 1))


def test_survival_decreases_with_horizon(model, patients):
    df, _ = patients
    hs = (3, 6, 12, 24, 48, 1000)
    out = model.predict(df.head(30), params={"horizons": list(hs)})
    follow_up = model.unwrap_python_model().follow_up
    for end in ("os", "pfs"):
        inside = [h for h in hs if h <= follow_up[end]]
        assert 24 <= follow_up[end] < 48  # the synthetic network's data cut: ~3-4 years
        curve = out[[f"{end}_survival_{h}m" for h in inside]].to_numpy(float)
        assert np.all(np.diff(curve, axis=1) <= 1e-12)
        assert np.all((curve >= 0) & (curve <= 1))
        # past the training follow-up: null (JSON null), never a flat or extrapolated value
        past = out[[f"{end}_survival_{h}m" for h in hs if h > follow_up[end]]]
        assert past.map(lambda v: v is None).all().all()


def test_default_horizons_and_json_safe_medians(model, patients):
    df, _ = patients
    out = model.predict(df)
    assert {"os_survival_6m", "os_survival_12m", "os_survival_24m"} <= set(out.columns)
    text = json.dumps(out.to_dict("records"), allow_nan=False)  # raises on NaN/inf
    records = json.loads(text)
    medians = [r["median_os_months"] for r in records]
    assert all(m is None or (isinstance(m, float) and m > 0) for m in medians)
    # a median not reached within the training follow-up: S stays above 0.5 up to it
    limit = model.unwrap_python_model().follow_up["os"]
    assert all(m is None or m <= limit for m in medians)
    if any(m is None for m in medians):
        far = model.predict(df, params={"horizons": [limit]})
        none = out["median_os_months"].isna().to_numpy()
        assert np.all(far[f"os_survival_{limit:g}m"].to_numpy(float)[none] > 0.5)


def test_missing_required_column_is_clear(model, patients):
    df, _ = patients
    with pytest.raises(Exception, match="cancer_type"):
        model.predict(df.drop(columns=["cancer_type"]).head(3))
    raw = model.unwrap_python_model()
    with pytest.raises(InputError, match="required input column.*cancer_type"):
        raw.predict(None, df.drop(columns=["cancer_type"]).head(3))


def test_non_numeric_value_is_a_located_error(model, patients):
    df, _ = patients
    bad = df.head(3).copy()
    bad["age"] = [60, "sixty", 70]
    with pytest.raises(InputError, match="age.*sixty"):
        model.unwrap_python_model().predict(None, bad)


def test_missing_modalities(model, patients):
    df, _ = patients
    # rows with clinical and genomic values whatever the store's (pseudonym) order: only the
    # modalities this test blanks may be missing
    rows = df[df["tmb"].notna() & df["age"].notna()].head(5).copy()
    assert len(rows) == 5
    rad = [c["name"] for c in model.unwrap_python_model().columns if c["modality"] == "imaging"]
    rows[rad] = 1.0  # imaging present for rows 0-2 ...
    rows.loc[rows.index[3:], rad] = np.nan  # ... absent for rows 3-4
    rows.loc[rows.index[4], ["tmb", "msi_status", "mut_STK11", "mut_KEAP1"]] = np.nan
    out = model.predict(rows)
    flags = out["missing_modalities"].tolist()
    assert "imaging" not in flags[0]
    assert flags[3] == "imaging"
    assert flags[4] == "genomic,imaging"
    # no radiomics columns at all: imaging missing for everyone
    out = model.predict(df.head(3).drop(columns=[c for c in rad if c in df.columns]))
    assert all("imaging" in f for f in out["missing_modalities"])


def test_explain_adds_contributions(model, patients):
    df, _ = patients
    out = model.predict(df.head(5), params={"explain": True, "horizons": [12]})
    contrib = [c for c in out.columns if c.startswith("contrib_")]
    names = model.unwrap_python_model().builder.feature_names_out_
    assert contrib == [f"contrib_{n}" for n in names]
    # contributions + bias reproduce the mean fold margin: check ordering agrees with probability
    assert np.isfinite(out[contrib].to_numpy(float)).all()


def test_bundle_holds_domain_and_risk_groups_without_rows(model, demo):
    from pathlib import Path

    import mlflow

    raw = model.unwrap_python_model()
    assert raw.manifest["what_is_pickled"] == []
    local = mlflow.artifacts.download_artifacts(demo["result"].model_uri)
    bundle = Bundle.of_model(local)
    assert bundle.manifest == raw.manifest
    assert {bundle.manifest[p]["codec"] for p in ("response", "os", "pfs")} == {
        "calibrated", "coxph"}
    domain = bundle.domain
    assert sum(domain["patients_per_centre"].values()) == 300
    assert set(domain["categories"]["drug_class"]) <= {"PD-1/PD-L1", "CTLA-4", "combination"}
    age = domain["numeric"]["age"]
    assert age["min"] <= age["q01"] <= age["q50"] <= age["q99"] <= age["max"]
    groups = bundle.risk_groups
    assert len(groups["cut_points"]) == 2 and groups["cut_points"][0] < groups["cut_points"][1]
    assert not list(Path(local).rglob("*.pkl")) and not list(Path(local).rglob("*.skops"))
    mlmodel = (Path(local) / "MLmodel").read_text()
    assert "python_model.pkl" not in mlmodel


def test_input_example_is_synthetic(demo):
    """The logged input example is medians/modes, not any training patient's row."""
    import mlflow

    local = mlflow.artifacts.download_artifacts(demo["result"].model_uri)
    from pathlib import Path

    files = list(Path(local).glob("input_example.json"))
    assert files
    example = json.loads(files[0].read_text())
    text = json.dumps(example)
    assert not any(i in text for i in demo["ids"])
    assert "patient_id" not in text


def test_batch_scoring_is_vectorised(model, patients):
    df, _ = patients
    big = pd.concat([df] * 20, ignore_index=True)  # 6,000 rows
    out = model.predict(big, params={"horizons": [12]})
    assert len(out) == len(big)
    np.testing.assert_allclose(out["response_probability"].to_numpy(float)[: len(df)],
                               out["response_probability"].to_numpy(float)[len(df): 2 * len(df)])


def test_bundle_records_how_radiomics_were_computed(demo):
    """The trained model (imaging in its spec) carries radiomics.json: the engine, its version,
    the settings hash training used (the builtin default) and the lesion rule."""

    import mlflow

    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    bundle = Bundle.of_model(mlflow.artifacts.download_artifacts(demo["result"].model_uri))
    record = bundle.radiomics
    engine = PyRadiomicsEngine("default")
    assert record == {"engine": "pyradiomics", "engine_version": engine.version,
                      "settings_hash": engine.settings_hash, "settings_source": "default",
                      "rule": "largest"}
    assert bundle.manifest["files"]["radiomics"] == FILES["radiomics"]
    assert bundle.manifest["radiomics"] == {"file": FILES["radiomics"], **record}


def test_unseen_cancer_type_is_a_flagged_output(model, patients):
    df, _ = patients
    rows = df.head(3).copy()
    seen = model.unwrap_python_model().cancer_types
    rows["cancer_type"] = [sorted(seen)[0], "made-up cancer", None]
    out = model.predict(rows)
    assert out["cancer_type_seen"].tolist() == [True, False, False]
