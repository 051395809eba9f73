"""``icipredict validate`` end to end on the synthetic network: a small model trained on four
centres, validated on a fifth (a cBioPortal folder) and on a store centre, with the untreated arm; the
cohort's IDs stay in the local scores.csv and never reach MLflow."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from icipredict.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()
TRAIN_CENTRES = ("lindenhof", "alpenrose", "coastline", "meridian")


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    from icipredict.synthetic import generate_network
    from icipredict.tracking.registry import register
    from icipredict.tracking.runs import train_experiment
    from mlflow_helpers import fresh_tracking_uri

    root = tmp_path_factory.mktemp("validate")
    net = generate_network(root / "net", n_patients=400, seed=11, untreated=200)
    exp = root / "exp"
    exp.mkdir()
    (exp / "features.yaml").write_text(
        "name: small\nmodalities: [clinical, genomic]\n"
        "clinical: [age, ecog, nlr, albumin, prior_systemic_therapy]\ngenomic: [tmb]\n"
        "genes: []\ncancer_type: none\nimputation: median\nmissing_indicators: false\n")
    (exp / "lr.yaml").write_text("name: llr\ntask: response\nestimator: LorisLLR6\n"
                                 "params: {C: 1.0}\n")
    (exp / "cox.yaml").write_text("name: cox\ntask: survival\nestimator: CoxPHSurvival\n"
                                  "params: {penalizer: 0.1}\n")
    files = "".join(f"    - {{column_map: {net.sources[c]}}}\n" for c in TRAIN_CENTRES)
    (exp / "exp.yaml").write_text(
        f"name: val_test\ncohort:\n  files:\n{files}features: features.yaml\n"
        "models: [lr.yaml, cox.yaml]\nvalidation: {scheme: kfold, n_splits: 3}\n"
        "n_bootstrap: 20\ntracking: {experiment: val-test}\n")
    uri = fresh_tracking_uri(root)
    result = train_experiment(exp / "exp.yaml", tracking_uri=uri, progress=False)
    version = register(result.run_id, "val-model")
    return {"net": net, "uri": uri, "version": version, "root": root}


def _source_ids(path) -> set[str]:
    from icipredict.cohort.loaders import load_source

    return set(load_source(path).patients["patient_id"].astype(str))


def test_validate_column_map_with_untreated(registered):
    net, uri, root = registered["net"], registered["uri"], registered["root"]
    out = root / "report"
    # harbour (a cBioPortal study folder, the largest centre) was not in training
    res = runner.invoke(app, ["validate", "models:/val-model@challenger", "--cohort",
                              str(net.sources["harbour"]), "--untreated",
                              str(net.sources["lakeside"]), "--out", str(out), "--n-boot", "50",
                              "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    assert "External validation of val-model" in res.output
    assert "loris_llr6_published" in res.output and "interaction HR ratio" in res.output

    report = json.loads((out / "report.json").read_text(),
                        parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert report["model"] == {"name": "val-model", "version": registered["version"],
                               "uri": "models:/val-model@challenger"}
    auc = report["scores"]["model"]["response"]["auc"]
    assert 0.5 < auc["value"] < 1 and auc["ci_low"] < auc["value"] < auc["ci_high"]
    assert {"tmb_ge_10", "loris_llr6_published"} <= set(report["differences"])
    assert report["case_mix"]["numeric"] and report["settings"]["ece_binning"]
    pred = report["predictive"]
    assert pred["model"]["os"]["interaction_hr_ratio"]["ci_low"] is not None
    assert pred["statement"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "Predictive or prognostic" in html

    # the centre's own IDs are in the local join table ...
    ids = _source_ids(net.sources["harbour"])
    scores = pd.read_csv(out / "scores.csv", dtype={"patient_id": str})
    assert set(scores["patient_id"]) == ids
    assert scores["model_response_probability"].between(0, 1).all()
    # ... and nowhere in the evaluation run, which is linked to the model version
    from icipredict.tracking.scan import scan_run

    runs = mlflow.search_runs(experiment_names=["icipredict-external-validation"],
                              output_format="list")
    run = runs[0]
    assert run.data.tags["model_name"] == "val-model"
    assert run.data.tags["model_version"] == registered["version"]
    assert run.data.metrics["model.response.auc"] == pytest.approx(auc["value"])
    assert scan_run(run.info.run_id, ids | _source_ids(net.sources["lakeside"]),
                    weak_min_distinct=1) == []
    mv = mlflow.MlflowClient().get_model_version("val-model", registered["version"])
    assert f"validation.{run.info.run_id}" in mv.tags
    # the model card says what the survival estimate is, from the validation's verdict
    tag = mv.tags["predictive.interaction"]
    shown = bool(pred["model"]["os"]["predictive"])  # OS is the pre-declared end point
    assert tag == ("shown" if shown else "not shown")
    card = runner.invoke(app, ["model", "card", f"val-model/{registered['version']}",
                               "--format", "json", "--tracking-uri", uri])
    first = json.loads(card.stdout)["limitations"][0]
    assert ("prognosis under ICI, not the benefit of ICI" in first) == (not shown)


def test_validate_store_centre_and_bad_input(registered):
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore, source_content_hash

    net, uri, root = registered["net"], registered["uri"], registered["root"]
    path = net.sources["riverside"]
    store = CohortStore(root / "store.duckdb")
    store.ingest(load_source(path, centre="riverside"), centre="riverside",
                 content_hash=source_content_hash(path), source=str(path))
    out = root / "store_report"
    from icipredict.tracking.registry import register

    first = mlflow.MlflowClient().get_model_version("val-model", registered["version"])
    other = register(first.tags["source_run_id"], "val-model")  # the same model again
    res = runner.invoke(app, ["validate", "val-model@challenger", "--cohort",
                              f"{root / 'store.duckdb'}#riverside", "--out", str(out),
                              "--compare", f"models:/val-model/{other}",
                              "--n-boot", "20", "--no-log", "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    same = report["differences"][f"version_{other}"]["auc"]  # a model against itself
    assert same["value"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    scores = pd.read_csv(out / "scores.csv", dtype={"patient_id": str})
    assert scores["patient_id"].str.startswith("P-").all()  # the store's pseudonyms
    assert "no untreated cohort given" in res.output

    missing = runner.invoke(app, ["validate", "val-model@challenger", "--cohort",
                                  str(root / "nope.yaml"), "--tracking-uri", uri])
    assert missing.exit_code == 2 and "nope.yaml" in missing.output
    centre = runner.invoke(app, ["validate", "val-model@challenger", "--cohort",
                                 f"{root / 'store.duckdb'}#atlantis", "--no-log",
                                 "--tracking-uri", uri])
    assert centre.exit_code == 2 and "atlantis" in centre.output
