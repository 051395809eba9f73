"""`icipredict cohort ingest | summary | brca | versions` through Typer's CliRunner."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from cohort_factory import make_cohort
from icipredict.cli import app
from icipredict.cohort.schema import CohortError

runner = CliRunner()


def dump(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()]
        return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}
    finally:
        con.close()


@pytest.fixture
def fake_loader(monkeypatch):
    """Replace the loaders module: a folder containing BAD fails, any other gives the cohort."""
    calls = []

    def load_source(path, centre=None):
        calls.append((Path(path), centre))
        if (Path(path) / "BAD").exists():
            raise CohortError("outcomes: expected 0 or 1, got 2", file=Path(path) / "o.csv",
                              row=4, column="OS_Event")
        return make_cohort(centre)

    monkeypatch.setitem(sys.modules, "icipredict.cohort.loaders",
                        types.SimpleNamespace(load_source=load_source))
    return calls


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_ingest_then_unchanged_then_new_version(tmp_path: Path, fake_loader) -> None:
    src = tmp_path / "alpha"
    src.mkdir()
    (src / "clinical.csv").write_text("id\n1\n")
    db = tmp_path / "s.duckdb"
    first = invoke("cohort", "ingest", "--centre", "Alpha", str(src), "--store", str(db))
    assert first.exit_code == 0, first.output
    assert "version 1" in first.output and "patients" in first.output
    assert fake_loader == [(src, "Alpha")]
    again = invoke("cohort", "ingest", "--centre", "Alpha", str(src), "--store", str(db))
    assert again.exit_code == 0 and "unchanged" in again.output
    (src / "clinical.csv").write_text("id\n1\n2\n")
    third = invoke("cohort", "ingest", "--centre", "Alpha", str(src), "--store", str(db))
    assert third.exit_code == 0 and "new version 2" in third.output
    versions = invoke("cohort", "versions", "--store", str(db))
    assert versions.exit_code == 0
    assert versions.output.count("Alpha") == 2


def test_bad_source_exits_2_and_leaves_store(tmp_path: Path, fake_loader) -> None:
    db = tmp_path / "s.duckdb"
    good = tmp_path / "alpha"
    good.mkdir()
    (good / "a.csv").write_text("x")
    assert invoke("cohort", "ingest", "-c", "Alpha", str(good), "--store", str(db)).exit_code == 0
    before = dump(db)
    (good / "BAD").write_text("")
    bad = invoke("cohort", "ingest", "-c", "Alpha", str(good), "--store", str(db))
    assert bad.exit_code == 2
    assert "OS_Event" in bad.output and "row 4" in bad.output
    missing = invoke("cohort", "ingest", "-c", "Alpha", str(tmp_path / "nope"), "--store", str(db))
    assert missing.exit_code == 2 and "not found" in missing.output
    assert dump(db) == before


def test_summary_and_brca_csv(tmp_path: Path, fake_loader) -> None:
    db = tmp_path / "s.duckdb"
    for centre in ("Alpha", "Beta"):
        src = tmp_path / centre
        src.mkdir()
        (src / "f.csv").write_text(centre)
        assert invoke("cohort", "ingest", "-c", centre, str(src), "--store", str(db)).exit_code == 0
    summary = invoke("cohort", "summary", "--store", str(db))
    assert summary.exit_code == 0, summary.output
    assert "Alpha" in summary.output and "Beta" in summary.output
    assert "12" in summary.output  # median follow-up of the hand-made cohort
    out = tmp_path / "brca.csv"
    brca = invoke("cohort", "brca", "--store", str(db), "--csv", str(out))
    assert brca.exit_code == 0, brca.output
    table = pd.read_csv(out)
    assert len(table) == 4 and set(table["gene"]) == {"BRCA1", "BRCA2"}
    assert "Silent" not in set(table["variant_classification"])
    assert "4 variant(s) in 4 patient(s)" in brca.output


def test_queries_without_store_exit_2(tmp_path: Path) -> None:
    for cmd in ("summary", "brca", "versions"):
        result = invoke("cohort", cmd, "--store", str(tmp_path / "none.duckdb"))
        assert result.exit_code == 2 and "ingest a centre first" in result.output


CLINICAL = """PID,Tumour,Age,Sex,OS_days,Dead,BOR,Albumin_gL
H-0001,Melanoma,64,M,300,1,PR,38
H-0002,NSCLC,71,F,820,0,PD,41
H-0003,Bladder,58,M,120,1,SD,29
"""

COLUMN_MAP = """name: hospital
files:
  - path: clin.csv
    columns:
      patient_id: PID
      cancer_type: Tumour
      age: {column: Age, unit: years}
      sex: {column: Sex, values: {M: male, F: female}}
      os_months: {column: OS_days, unit: days}
      os_event: {column: Dead, event_value: 1}
      bor: BOR
      albumin: {column: Albumin_gL, unit: g/L}
"""


def test_ingest_with_real_loader_column_map(tmp_path: Path) -> None:
    (tmp_path / "clin.csv").write_text(CLINICAL)
    cmap = tmp_path / "map.yaml"
    cmap.write_text(COLUMN_MAP)
    db = tmp_path / "s.duckdb"
    first = invoke("cohort", "ingest", "-c", "Hosp", str(cmap), "--store", str(db))
    assert first.exit_code == 0, first.output
    from icipredict.cohort.store import CohortStore

    store = CohortStore(db)
    cohort = store.cohort()
    assert len(cohort.patients) == 3 and cohort.patients["patient_id"].str.startswith("P-").all()
    assert sorted(cohort.labs["albumin"].round(2)) == [2.9, 3.8, 4.1]  # g/L -> g/dL
    s = store.summary().iloc[0]
    assert (s["patients"], s["responders"], s["evaluable"], s["os_events"]) == (3, 1, 3, 2)
    # the data file named by the map is part of the content: an edit is a new version
    (tmp_path / "clin.csv").write_text(CLINICAL.replace("H-0003,Bladder,58,M,120,1",
                                                        "H-0003,Bladder,58,M,150,1"))
    assert "new version 2" in invoke("cohort", "ingest", "-c", "Hosp", str(cmap),
                                     "--store", str(db)).output
    before = dump(db)
    (tmp_path / "clin.csv").write_text(CLINICAL.replace("120,1,SD", "120,2,SD"))
    bad = invoke("cohort", "ingest", "-c", "Hosp", str(cmap), "--store", str(db))
    assert bad.exit_code == 2 and "Dead" in bad.output
    assert dump(db) == before
