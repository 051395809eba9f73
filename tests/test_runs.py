"""End-to-end: train a small demo experiment on a synthetic network, then use the registry model.

One module-scoped training run (synthetic 300-patient network ingested into a temp store, a
temp SQLite tracking store, small model specs without hyperparameter search) is shared by the
tests here and in ``test_registry_model.py`` (through :func:`trained`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

RADIOMICS = ["radiomics_original_shape_VoxelVolume", "radiomics_original_firstorder_Mean",
             "radiomics_original_glcm_Contrast"]


def build_demo(root: Path) -> dict:
    """Synthetic network -> store -> small experiment YAML -> trained run."""
    from icipredict import synthetic
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore, source_content_hash
    from icipredict.tracking.runs import train_experiment
    from mlflow_helpers import fresh_tracking_uri

    net = synthetic.generate_network(root / "net", n_patients=300, seed=7)
    store = CohortStore(root / "demo.duckdb")
    for centre, path in net.sources.items():
        store.ingest(load_source(path, centre=centre), centre=centre,
                     content_hash=source_content_hash(path), source=str(path))
    exp = root / "experiments"
    exp.mkdir()
    (exp / "features.yaml").write_text(
        "name: demo_small\nmodalities: [clinical, genomic, imaging]\n"
        "clinical: [age, sex, ecog, nlr, albumin, prior_systemic_therapy, drug_class]\n"
        "genomic: [tmb, msi_high]\ngenes: [STK11, KEAP1]\n"
        f"imaging: {json.dumps(RADIOMICS)}\n"
        "cancer_type: onehot\nimputation: median\nmissing_indicators: true\n")
    (exp / "xgb.yaml").write_text(
        "name: xgb_small\ntask: response\nestimator: XGBResponse\n"
        "params: {n_estimators: 30, max_depth: 2, n_jobs: 1}\ncalibrate: true\n")
    (exp / "cox.yaml").write_text(
        "name: cox_small\ntask: survival\nestimator: CoxPHSurvival\nparams: {penalizer: 0.1}\n")
    (exp / "tmb.yaml").write_text(
        "name: tmb_cmp\ntask: response\nestimator: TMBThreshold\nparams: {threshold: 10}\n")
    (exp / "demo.yaml").write_text(
        f"name: demo_test\ncohort:\n  store: {{path: {root / 'demo.duckdb'}}}\n"
        "features: features.yaml\nmodels: [xgb.yaml, cox.yaml, tmb.yaml]\n"
        "validation: {scheme: leave_one_centre_out}\nn_bootstrap: 50\n"
        "tracking: {experiment: demo-test}\n")
    uri = fresh_tracking_uri(root)
    result = train_experiment(exp / "demo.yaml", tracking_uri=uri, progress=False,
                              cache_dir=root / "cache")
    truth = pd.read_parquet(root / "net" / "truth.parquet")
    ids = set(truth["source_patient_id"].astype(str)) | set(
        truth["source_sample_id"].dropna().astype(str))
    return {"result": result, "uri": uri, "store": store, "ids": ids, "root": root}


_CACHE: dict = {}


def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The shared trained demo (built once per test process)."""
    if "demo" not in _CACHE:
        _CACHE["demo"] = build_demo(tmp_path_factory.mktemp("demo"))
    import mlflow

    mlflow.set_tracking_uri(_CACHE["demo"]["uri"])
    mlflow.set_registry_uri(_CACHE["demo"]["uri"])
    return _CACHE["demo"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return trained(tmp_path_factory)


def test_run_logs_folds_metrics_artifacts_and_tags(demo):
    import mlflow

    res = demo["result"]
    run = mlflow.get_run(res.run_id)
    # one nested run per centre, each with its held-out centre and metrics
    children = mlflow.search_runs([res.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{res.run_id}'",
                                  output_format="list")
    assert sorted(c.data.params["held_out"] for c in children) == sorted(
        demo["store"].centres())
    assert all("response_auc" in c.data.metrics for c in children)
    client = mlflow.MlflowClient()
    for child in children:  # each centre's own figures, for its held-out patients
        plots = {a.path for a in client.list_artifacts(child.info.run_id, "plots")}
        assert {"plots/roc.png", "plots/calibration.png", "plots/km_os.png"} <= plots, plots
    for key in ("cv_response_auc", "cv_os_harrell_c", "cv_pfs_harrell_c"):
        m = run.data.metrics
        assert m[f"{key}_ci_low"] <= m[key] <= m[f"{key}_ci_high"]
    assert run.data.tags["config_hash"] == res.config_hash
    assert run.data.tags["git_commit"]
    assert run.data.params["validation.scheme"] == "leave_one_centre_out"
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(res.run_id, "plots")}
    assert {"plots/roc.png", "plots/calibration.png", "plots/km_os.png",
            "plots/decision_curve.png", "plots/feature_importance.png"} <= arts
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(res.run_id, "config")}
    assert "config/demo.yaml" in names
    from icipredict.tracking.lineage import lineage_of_run

    lineage = lineage_of_run(res.run_id)
    assert lineage and lineage[0]["profile"]["n_patients"] == 300
    assert res.what_is_pickled == []  # XGBoost + Cox saved natively


def test_no_artifact_holds_a_source_id(demo):
    from icipredict.tracking.scan import scan_run

    hits = scan_run(demo["result"].run_id, demo["ids"])
    assert hits == [], hits[:5]


def test_scan_would_catch_a_leak(demo):
    """The scan is not vacuous: an ID written into an artifact of a run is found."""
    import mlflow

    from icipredict.tracking.scan import scan_run

    some_id = sorted(demo["ids"])[0]
    with mlflow.start_run(experiment_id=demo["result"].experiment_id) as run:
        mlflow.log_text(f"oops {some_id}\n", "leak/leak.txt")
    assert [h.found for h in scan_run(run.info.run_id, demo["ids"])] == [some_id]


def test_cli_train_prints_run_and_metrics(demo, monkeypatch):
    """The CLI shell passes its options through and prints the run id and main metrics
    (training itself is the fixture's; not repeated here)."""
    from typer.testing import CliRunner

    from icipredict import cli
    from icipredict.tracking import runs

    seen = {}

    def fake(config, **kwargs):
        seen.update(kwargs, config=config)
        return demo["result"]

    monkeypatch.setattr(runs, "train_experiment", fake)
    root = demo["root"]
    out = CliRunner().invoke(cli.app, ["train", str(root / "experiments" / "demo.yaml"),
                                       "--tracking-uri", demo["uri"], "--no-progress"])
    assert out.exit_code == 0, out.output
    assert seen["tracking_uri"] == demo["uri"] and seen["progress"] is False
    assert demo["result"].run_id in out.output
    assert "response AUC" in out.output and "OS Harrell C" in out.output
    assert f"icipredict register {demo['result'].run_id} --name icipredict" in \
        " ".join(out.output.split())  # rich wraps long lines

    # --register: the config's registered_model (default "icipredict"), alias challenger
    import mlflow

    base = ["train", "--tracking-uri", demo["uri"], "--no-progress", "--register"]
    out = CliRunner().invoke(cli.app, [*base, str(root / "experiments" / "demo.yaml")])
    assert out.exit_code == 0, out.output
    mlflow.set_tracking_uri(demo["uri"])
    mv = mlflow.MlflowClient().get_model_version_by_alias("icipredict", "challenger")
    assert mv.run_id == demo["result"].run_id
    assert f"version {mv.version}" in " ".join(out.output.split())
    unnamed = root / "experiments" / "unnamed.yaml"
    unnamed.write_text((root / "experiments" / "demo.yaml").read_text().replace(
        "tracking: {experiment: demo-test}", "tracking: {experiment: demo-test, "
        "registered_model: null}"))
    out = CliRunner().invoke(cli.app, [*base, str(unnamed)])
    assert out.exit_code == 2 and "tracking.registered_model" in out.output


def test_missing_config_is_a_clear_error(tmp_path):
    from typer.testing import CliRunner

    from icipredict.cli import app

    out = CliRunner().invoke(app, ["train", str(tmp_path / "nope.yaml")])
    assert out.exit_code == 2
    assert "experiment config not found" in out.output


def test_within_fold_c_pools_the_fold_cs(demo):
    """The within-fold C is a pair-weighted mean of the held-out folds' own C-indices, so it
    lies between the smallest and the largest; the summary prints it next to the pooled C."""
    from icipredict.tracking.runs import summary_lines

    m, folds = demo["result"].metrics, demo["result"].fold_metrics
    for end in ("os", "pfs"):
        c = m[f"cv_{end}_harrell_c_within_fold"]
        assert folds[f"{end}_harrell_c"].min() - 1e-12 <= c <= folds[f"{end}_harrell_c"].max()
        assert m[f"cv_{end}_harrell_c_within_fold_ci_low"] <= c
        assert c <= m[f"cv_{end}_harrell_c_within_fold_ci_high"]
    assert any(line.startswith("OS Harrell C, pairs within a fold:")
               for line in summary_lines(demo["result"]))


def test_fold_table_matches_centres(demo):
    folds = demo["result"].fold_metrics
    assert folds["n_test"].sum() == 300
    assert np.all(folds["n_train"] + folds["n_test"] == 300)


def test_further_response_models_are_compared_on_the_same_held_out_patients(demo):
    """A second response model (here TMB alone) is evaluated on the same folds and compared."""
    import mlflow

    m = mlflow.get_run(demo["result"].run_id).data.metrics
    assert m["cv_tmb_cmp_response_auc_ci_low"] <= m["cv_tmb_cmp_response_auc"] \
        <= m["cv_tmb_cmp_response_auc_ci_high"]
    diff = m["cv_xgb_small_minus_tmb_cmp_auc"]
    assert diff == pytest.approx(m["cv_response_auc"] - m["cv_tmb_cmp_response_auc"], abs=1e-9)
    assert m["cv_xgb_small_minus_tmb_cmp_auc_ci_low"] <= diff \
        <= m["cv_xgb_small_minus_tmb_cmp_auc_ci_high"]
    assert 0 <= m["cv_xgb_small_minus_tmb_cmp_auc_p"] <= 1


# -- radiomics settings chosen by the experiment ---------------------------------------------

def _model_radiomics_json(model_uri: str) -> Path:
    import mlflow

    from icipredict.registry.bundle import Bundle

    bundle = Bundle.of_model(mlflow.artifacts.download_artifacts(model_uri))
    return bundle.folder / bundle.manifest["files"]["radiomics"]


@pytest.fixture(scope="module")
def binned(demo):
    """A second, small run on two imaged centres of the demo store with binWidth 50 (the
    default is 25); the demo's default-settings cache serves the comparison."""
    import mlflow

    from icipredict.features.radiomics_engine import SETTINGS_DIR
    from icipredict.tracking.runs import train_experiment
    from mlflow_helpers import fresh_tracking_uri

    root = demo["root"]
    exp = root / "experiments"
    (exp / "radiomics").mkdir(exist_ok=True)
    default_text = (SETTINGS_DIR / "pyradiomics_default.yaml").read_text()
    assert "binWidth: 25" in default_text
    (exp / "radiomics" / "ct_bw50.yaml").write_text(
        default_text.replace("binWidth: 25", "binWidth: 50"))
    base = (f"cohort:\n  store: {{path: {root / 'demo.duckdb'}, "
            "centres: [lindenhof, riverside]}\n"
            "features: features.yaml\nmodels: [xgb.yaml]\ntargets: [response]\n"
            "validation: {scheme: kfold, n_splits: 2}\nn_bootstrap: 20\ninterval_refits: 0\n"
            "tracking: {experiment: demo-bw, registered_model: null}\n")
    (exp / "bw50.yaml").write_text("name: demo_bw50\n" + base + "radiomics:\n"
                                   "  settings: radiomics/ct_bw50.yaml\n  lesion_rule: largest\n")
    (exp / "bw25.yaml").write_text("name: demo_bw25\n" + base)
    uri = fresh_tracking_uri(root / "experiments")
    try:
        result = train_experiment(exp / "bw50.yaml", tracking_uri=uri, progress=False,
                                  cache_dir=root / "cache")
        yield {"result": result, "uri": uri, "exp": exp, "cache": root / "cache",
               "settings": exp / "radiomics" / "ct_bw50.yaml"}
    finally:
        mlflow.set_tracking_uri(demo["uri"])
        mlflow.set_registry_uri(demo["uri"])


def test_default_run_records_todays_radiomics_json(demo):
    """No radiomics: key -> the builtin settings and the largest lesion, written as before."""
    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    path = _model_radiomics_json(demo["result"].model_uri)
    engine = PyRadiomicsEngine("default")
    today = {"engine": "pyradiomics", "engine_version": engine.version,
             "settings_hash": engine.settings_hash, "settings_source": "default",
             "rule": "largest"}
    assert path.read_text() == json.dumps(today, indent=2)


def test_experiment_radiomics_settings_reach_features_bundle_tags_and_board(demo, binned):
    import mlflow

    from icipredict.features.radiomics_engine import PyRadiomicsEngine
    from icipredict.predict.radiomics import model_radiomics
    from icipredict.tracking.experiment import load_experiment
    from icipredict.training.data import load_training_frame

    default_hash = PyRadiomicsEngine("default").settings_hash
    want = PyRadiomicsEngine(binned["settings"])
    assert want.settings_hash != default_hash

    # the bundle records the chosen settings: their hash and the file's text
    record = json.loads(_model_radiomics_json(binned["result"].model_uri).read_text())
    assert record["settings_hash"] == want.settings_hash
    assert record["settings_source"] == {"file": "ct_bw50.yaml",
                                         "content": binned["settings"].read_text()}
    assert record["rule"] == "largest"

    # the board rebuilds an engine with the same settings, without any mismatch
    engine, rule, problems = model_radiomics(record)
    assert engine.settings_hash == want.settings_hash and rule == "largest" and problems == []

    # the run is tagged with them
    run = mlflow.MlflowClient(binned["uri"]).get_run(binned["result"].run_id)
    assert run.data.tags["radiomics_settings_hash"] == want.settings_hash
    assert run.data.tags["radiomics_settings_source"] == "file:ct_bw50.yaml"
    assert run.data.params["radiomics.settings"] == "radiomics/ct_bw50.yaml"
    # ... and its features were computed (and cached) under those settings
    cache = binned["cache"] / f"pyradiomics-{want.version}"
    assert any((cache / want.settings_hash).rglob("*"))

    # same patients, same lesions: the shape is unchanged, a binned texture feature is not
    bw50, _ = load_training_frame(load_experiment(binned["exp"] / "bw50.yaml"),
                                  cache_dir=binned["cache"])
    bw25, _ = load_training_frame(load_experiment(binned["exp"] / "bw25.yaml"),
                                  cache_dir=binned["cache"])
    assert list(bw50.index) == list(bw25.index)
    imaged = bw25["radiomics_original_shape_VoxelVolume"].notna()
    assert imaged.sum() >= 10
    for col in ("radiomics_original_shape_VoxelVolume", "radiomics_original_firstorder_Mean"):
        np.testing.assert_allclose(bw50.loc[imaged, col], bw25.loc[imaged, col])
    contrast = "radiomics_original_glcm_Contrast"
    assert (~np.isclose(bw50.loc[imaged, contrast], bw25.loc[imaged, contrast])).any()


def test_run_reports_calibration_scheme_label_exclusions_and_oof_risk_groups(demo):
    """Issue 12: the ECE comes with its binning and a binning-free ICI; response exclusions are
    counted; the bundle's risk tertiles are the out-of-fold OS risks' and its survival models
    carry their training follow-up."""
    import mlflow

    from icipredict.modeling.experiment import response_exclusions
    from icipredict.registry.bundle import Bundle
    from icipredict.tracking.runs import summary_lines

    mlflow.set_tracking_uri(demo["uri"])  # other tests of this module point MLflow elsewhere
    mlflow.set_registry_uri(demo["uri"])
    m = mlflow.get_run(demo["result"].run_id).data.metrics
    assert m["cv_response_ece_n_bins"] == 10
    assert m["cv_response_ici_ci_low"] <= m["cv_response_ici_ci_high"] and m["cv_response_ici"] > 0
    lines = summary_lines(demo["result"])
    assert any(line.startswith("ECE (10 equal-width bins): ") and "ICI" in line for line in lines)
    frame = demo["store"].cohort()
    from icipredict.features.builder import patient_frame

    counts = response_exclusions(patient_frame(frame, None, include_outcomes=True))
    assert m["train_response_n_censored_before_assessment"] == \
        counts["response_n_censored_before_assessment"]
    assert m["train_response_n_unlabelled"] == counts["response_n_unlabelled"]
    assert m["cv_response_n"] == counts["response_n_labelled"]
    assert any(line.startswith("response labels: left out of training") for line in lines)
    bundle = Bundle.of_model(mlflow.artifacts.download_artifacts(demo["result"].model_uri))
    groups = bundle.risk_groups
    assert groups["endpoint"] == "os" and "OS model" in groups["score"]
    assert groups["source"] == "out-of-fold risk scores of the training patients"
    assert set(bundle.follow_up) == {"os", "pfs"}
    assert all(0 < v < 200 for v in bundle.follow_up.values())
    # the survival intervals' tables: held-out risk-score bins of each end point
    from icipredict.registry.model import ICIPredictModel

    tables = bundle.survival_intervals
    assert set(tables) == {"os", "pfs"} and tables["os"]["horizons"] == [6.0, 12.0, 24.0]
    assert min(tables["os"]["patients"]) >= 20 and sum(tables["os"]["patients"]) > 200
    out = ICIPredictModel().load_bundle(bundle).predict(
        None, patient_frame(frame, None).head(60))
    assert out["os_survival_12m_ci_low"].notna().any()
    json.dumps(out.filter(like="survival").to_dict("records"), allow_nan=False)
