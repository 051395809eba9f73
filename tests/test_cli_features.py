"""`icipredict features radiomics | inputs` on a small store (the README tour runs them on the
synthetic network: tests/test_readme_tour.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from cohort_factory import make_cohort, patient_ids
from icipredict.cli import app
from icipredict.cohort.store import CohortStore

runner = CliRunner()


def _store(tmp_path: Path, images: bool = True) -> Path:
    path = tmp_path / "s.duckdb"
    cohort = make_cohort()
    if not images:
        cohort.imaging, cohort.radiomics = cohort.imaging.iloc[:0], cohort.radiomics.iloc[:0]
    CohortStore(path).ingest(cohort, centre="Alpha", content_hash="h1", source="test")
    return path


def test_radiomics_without_images_is_one_clear_error(tmp_path: Path) -> None:
    db, out = _store(tmp_path, images=False), tmp_path / "r.parquet"
    res = runner.invoke(app, ["features", "radiomics", "--store", str(db), "--out", str(out)])
    assert res.exit_code == 2 and "no images and no radiomics table" in res.output
    assert not out.exists()


def test_inputs_are_model_inputs_with_outcomes_and_no_ids(tmp_path: Path) -> None:
    db, out = _store(tmp_path), tmp_path / "heldout.parquet"
    res = runner.invoke(app, ["features", "inputs", "--store", str(db), "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_parquet(out)
    assert len(table) == 5 and "5 patient(s)" in res.output
    assert {"age", "tmb", "cancer_type"} <= set(table.columns)
    assert {"responder", "os_months", "os_event"} <= set(table.columns)
    assert not {"patient_id", "sample_id"} & set(table.columns)
    text = table.astype(str).to_numpy().ravel().tolist()
    stored = set(CohortStore(db).cohort().patients["patient_id"])
    assert not (set(text) & (stored | set(patient_ids())))  # neither pseudonyms nor source IDs
