"""Artifact scanner: finds planted patient IDs anywhere a run stores things; passes a clean run."""

from __future__ import annotations

import gzip
import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from icipredict.tracking.mlflow_setup import configure_tracking
from icipredict.tracking.scan import ArtifactLeakError, assert_run_clean, scan_run
from mlflow_helpers import fresh_tracking_uri

IDS = [f"P-{i:07d}" for i in range(1, 201)] + [f"S-{i:07d}-T01" for i in range(1, 201)]


@pytest.fixture(autouse=True)
def tracking(tmp_path):
    configure_tracking(fresh_tracking_uri(tmp_path), "scan-test")
    yield
    mlflow.set_tracking_uri(None)


def _clean_run(tmp_path) -> str:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"tmb": rng.gamma(2, 5, 50), "age": rng.normal(60, 10, 50)})
    y = (X["tmb"] > 10).astype(int)
    with mlflow.start_run() as run:
        mlflow.log_params({"n_estimators": 10, "cohort": "synthetic"})
        mlflow.log_metric("auc", 0.7)
        mlflow.log_dict({"auc": 0.7, "n": 50}, "metrics.json")
        mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model",
                                 input_example=X.head(2).round(0),
                                 pip_requirements=["scikit-learn"])
    return run.info.run_id


def test_clean_run_passes(tmp_path):
    run_id = _clean_run(tmp_path)
    assert scan_run(run_id, IDS) == []
    assert_run_clean(run_id, IDS)


def test_id_planted_in_a_text_artifact_is_found(tmp_path):
    run_id = _clean_run(tmp_path)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_text("patient_id,prob\nP-0000042,0.3\n", "eval/predictions.csv")
    hits = scan_run(run_id, IDS)
    assert [(h.location, h.found) for h in hits] == [
        ("run artifacts/eval/predictions.csv", "P-0000042")]
    with pytest.raises(ArtifactLeakError, match="P-0000042"):
        assert_run_clean(run_id, IDS)


def test_id_inside_compressed_files_and_run_metadata_is_found(tmp_path):
    run_id = _clean_run(tmp_path)
    gz = tmp_path / "rows.json.gz"
    gz.write_bytes(gzip.compress(json.dumps({"sample": "S-0000007-T01"}).encode()))
    with mlflow.start_run(run_id=run_id):
        mlflow.log_artifact(str(gz), "debug")
        mlflow.set_tag("note", "checked P-0000199 by hand")
    found = {(h.location, h.found) for h in scan_run(run_id, IDS)}
    assert ("run artifacts/debug/rows.json.gz!gunzip", "S-0000007-T01") in found
    assert ("run metadata", "P-0000199") in found


def test_id_learnt_by_a_model_is_found_in_its_skops_archive(tmp_path):
    # A one-hot encoder fitted on an ID column stores the IDs in categories_: a real leak path.
    X = pd.DataFrame({"patient_id": IDS[:20], "tmb": np.arange(20.0)})
    y = np.arange(20) % 2
    model = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression()).fit(X, y)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(model, name="leaky", serialization_format="skops",
                                 pip_requirements=["scikit-learn"])
    hits = scan_run(run.info.run_id, IDS)
    assert {h.found for h in hits} >= set(IDS[:20])
    assert all(h.location.startswith("model leaky/") for h in hits)


def test_longer_token_is_not_a_hit_and_empty_ids_scan_nothing(tmp_path):
    run_id = _clean_run(tmp_path)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_text("code XP-0000042Z", "notes.txt")
    assert scan_run(run_id, IDS) == []
    assert scan_run(run_id, []) == []


def test_short_numeric_ids_need_several_distinct_in_one_file(tmp_path):
    run_id = _clean_run(tmp_path)
    numeric = [str(i) for i in range(8000, 8400)]
    with mlflow.start_run(run_id=run_id):
        mlflow.log_text("auc 0.8384, n 8001 patients", "notes.txt")  # chance matches only
        mlflow.log_text("SAMPLE_ID,TMB\n8384,27.5\n8381,3.1\n8012,9.0\n", "leak/rows.csv")
    hits = scan_run(run_id, numeric)
    assert {(h.location, h.found) for h in hits} == {
        ("run artifacts/leak/rows.csv", "8384"), ("run artifacts/leak/rows.csv", "8381"),
        ("run artifacts/leak/rows.csv", "8012")}
    # Counting every hit also flags the chance match (but never the decimal 0.8384).
    strict = {h.found for h in scan_run(run_id, numeric, weak_min_distinct=1)}
    assert strict == {"8001", "8384", "8381", "8012"}


@pytest.mark.realdata
def test_run_on_the_real_cohort_stores_no_sample_id(tmp_path, chowell_dir):
    """Lineage, metrics, card inputs, model card and a skops forest on real patients: clean."""
    from sklearn.ensemble import RandomForestClassifier

    from icipredict.tracking.lineage import log_cohort_lineage
    from icipredict.tracking.modelcard import log_card_inputs, log_model_card, validity_domain
    from icipredict.tracking.registry import register

    raw = pd.read_csv(chowell_dir / "chowell2022_test.csv")
    ids = raw["SAMPLE_ID"].astype(str).tolist()
    frame = pd.DataFrame({"patient_id": ids, "centre": "MSK", "tmb": raw["TMB"],
                          "albumin": raw["Albumin"], "nlr": raw["NLR"], "age": raw["Age"],
                          "cancer_type": raw["Cancer_type_grouped_2"],
                          "responder": raw["Response (1:Responder; 0:Non-responder)"]})
    X, y = frame[["tmb", "albumin", "nlr", "age"]], frame["responder"]
    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
    example = pd.DataFrame({"tmb": [10.0], "albumin": [4.0], "nlr": [3.0], "age": [60.0]})
    with mlflow.start_run() as run:
        log_cohort_lineage(frame, source=chowell_dir / "chowell2022_test.csv",
                           name="chowell2022-test")
        mlflow.log_metrics({"auc": 0.7, "auc_ci_low": 0.6, "auc_ci_high": 0.8})
        log_card_inputs(validity=validity_domain(frame))
        mlflow.sklearn.log_model(
            forest, name="model", serialization_format="skops", input_example=example,
            pip_requirements=["scikit-learn"],
            skops_trusted_types=["sklearn.tree._tree.Tree"])
    log_model_card("real", register(run.info.run_id, "real"))
    assert_run_clean(run.info.run_id, ids)

    # Negative control: a real-row input example is caught.
    with mlflow.start_run() as leaky:
        mlflow.log_table(frame.head(10), "eval/rows.json")
    with pytest.raises(ArtifactLeakError):
        assert_run_clean(leaky.info.run_id, ids)


# -- registration scans every run -------------------------------------------------------------

def _store(tmp_path):
    from cohort_factory import make_cohort
    from icipredict.cohort.store import CohortStore

    store = CohortStore(tmp_path / "cohort.duckdb")
    store.ingest(make_cohort(), centre="Alpha", content_hash="alpha-1", source="test")
    return store


def _trained_run(store_path, note: str) -> str:
    """A run as training logs it: store lineage, a model, and a text artifact (``note``)."""
    from icipredict.tracking.lineage import log_cohort_lineage

    frame = pd.DataFrame({"centre": ["Alpha"] * 3, "responder": [1, 0, 1]})
    with mlflow.start_run() as run:
        log_cohort_lineage(frame, source=store_path, name="cohort-store",
                           query={"centres": "all"})
        mlflow.sklearn.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]),
                                 name="model", pip_requirements=["scikit-learn"])
        mlflow.log_text(note, "notes/summary.txt")
    return run.info.run_id


def test_register_scans_the_run_for_its_cohorts_ids_and_a_hit_blocks_it(tmp_path):
    from icipredict.tracking.registry import register
    from icipredict.tracking.scan import cohort_ids

    store = _store(tmp_path)
    pseudonym = store.table("patients")["patient_id"].iloc[2]
    sample = store.table("samples")["sample_id"].iloc[0]
    leaky = _trained_run(store.path, f"best responder: {pseudonym}\n")
    assert {pseudonym, sample} <= cohort_ids(leaky)
    assert len(cohort_ids(leaky)) == 5 + 4  # every patient and sample of the store

    with pytest.raises(ArtifactLeakError, match=pseudonym):
        register(leaky, "scanned")
    assert mlflow.MlflowClient().search_model_versions("name = 'scanned'") == []

    # further IDs (e.g. raw source IDs) are scanned for too
    raw = _trained_run(store.path, "from source record MRN-ALPHA-003\n")
    with pytest.raises(ArtifactLeakError, match="MRN-ALPHA-003"):
        register(raw, "scanned", forbidden_ids=["MRN-ALPHA-003"])

    clean = _trained_run(store.path, "aggregates only: 5 patients, AUC 0.7\n")
    assert register(clean, "scanned") == "1"
    assert [v.run_id for v in mlflow.MlflowClient().search_model_versions(
        "name = 'scanned'")] == [clean]


def test_a_run_whose_cohort_cannot_be_read_is_not_registered(tmp_path):
    from icipredict.tracking.registry import register

    store = _store(tmp_path)
    run_id = _trained_run(store.path, "aggregates only\n")
    store.path.rename(tmp_path / "moved.duckdb")
    with pytest.raises(ValueError, match="cannot be scanned") as info:
        register(run_id, "unscanned")
    assert "cohort.duckdb" in str(info.value)
    assert mlflow.MlflowClient().search_model_versions("name = 'unscanned'") == []
