"""Dataset lineage: source, digest, schema and counts per centre reach MLflow; patient rows never."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from icipredict.tracking.lineage import (
    cohort_dataset,
    cohort_digest,
    lineage_of_run,
    log_cohort_lineage,
)
from icipredict.tracking.mlflow_setup import configure_tracking
from icipredict.tracking.scan import scan_run
from mlflow_helpers import fresh_tracking_uri


@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 30
    return pd.DataFrame({
        "patient_id": [f"PAT{i:05d}" for i in range(n)],
        "centre": ["Lyon"] * 12 + ["Turin"] * 18,
        "age": rng.normal(62, 9, n).round(1),
        "cancer_type": rng.choice(["NSCLC", "Melanoma"], n),
        "responder": pd.array([1, 0, 0] * 10, dtype="Int64"),
        "os_months": rng.exponential(20, n).round(2),
        "os_event": pd.array([1, 0] * 15, dtype="Int64"),
    })


def test_digest_ignores_row_order_and_sees_a_changed_value(frame):
    d = cohort_digest(frame)
    assert cohort_digest(frame.sample(frac=1, random_state=3)) == d
    changed = frame.copy()
    changed.loc[4, "age"] += 1
    assert cohort_digest(changed) != d


def test_dataset_profile_and_schema(frame):
    ds = cohort_dataset(frame, source="/data/lyon.csv", name="two-centres",
                        query={"centres": ["Lyon", "Turin"]})
    assert ds.profile["patients_per_centre"] == {"Lyon": 12, "Turin": 18}
    assert ds.profile["responders"] == 10 and ds.profile["os_events"] == 15
    assert ds.profile["query"] == {"centres": ["Lyon", "Turin"]}
    assert [c.name for c in ds.schema.inputs] == list(frame.columns)


def test_lineage_logged_to_run_without_patient_rows(tmp_path, frame):
    configure_tracking(fresh_tracking_uri(tmp_path), "lineage-test")
    try:
        with mlflow.start_run() as run:
            logged = log_cohort_lineage(frame, source=tmp_path / "cohort.csv", name="train")
        [record] = lineage_of_run(run.info.run_id)
        assert record["name"] == "train" and record["context"] == "training"
        assert record["digest"] == logged.digest
        assert record["source"].endswith("cohort.csv")
        assert record["profile"]["patients_per_centre"] == {"Lyon": 12, "Turin": 18}
        assert scan_run(run.info.run_id, frame["patient_id"]) == []
    finally:
        mlflow.set_tracking_uri(None)
