"""`icipredict cohort ingest | summary | brca | versions | restore | rekey` through CliRunner."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from cohort_factory import CLINICAL, COLUMN_MAP, make_cohort
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

    def load_source(path, centre=None, strict=False):
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


def test_patients_lists_stored_ids_with_filters(tmp_path: Path, fake_loader) -> None:
    from icipredict.cohort.store import CohortStore

    db = tmp_path / "s.duckdb"
    for centre in ("Alpha", "Beta"):
        src = tmp_path / centre
        src.mkdir()
        (src / "f.csv").write_text(centre)
        assert invoke("cohort", "ingest", "-c", centre, str(src), "--store", str(db)).exit_code == 0
    store = CohortStore(db)
    every = invoke("cohort", "patients", "--store", str(db))
    assert every.exit_code == 0, every.output
    ids = every.stdout.split()
    assert ids == store.find_patients() and len(ids) == 10 and all(i.startswith("P-") for i in ids)
    assert "10 patient(s)" in every.stderr
    alpha = invoke("cohort", "patients", "--store", str(db), "--centre", "Alpha")
    assert alpha.stdout.split() == store.find_patients(centres=["Alpha"])
    nsclc = invoke("cohort", "patients", "--store", str(db), "--cancer-type", "NSCLC",
                   "--centre", "Beta")
    assert nsclc.stdout.split() == store.find_patients(centres=["Beta"], cancer_types=["NSCLC"])
    assert 0 < len(nsclc.stdout.split()) < 5
    pending = invoke("cohort", "patients", "--store", str(db), "--without-outcome")
    assert pending.stdout.split() == store.find_patients(without_outcome=True)
    first = invoke("cohort", "patients", "--store", str(db), "--limit", "3")
    assert first.stdout.split() == ids[:3] and "first 3 shown" in first.stderr
    unknown = invoke("cohort", "patients", "--store", str(db), "--centre", "Gamma")
    assert unknown.exit_code == 2 and "Gamma" in unknown.output


def test_queries_without_store_exit_2(tmp_path: Path) -> None:
    for cmd in ("summary", "brca", "versions", "patients"):
        result = invoke("cohort", cmd, "--store", str(tmp_path / "none.duckdb"))
        assert result.exit_code == 2 and "ingest a centre first" in result.output


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


def test_unknown_cancer_type_kept_as_other_unless_strict(tmp_path: Path) -> None:
    (tmp_path / "clin.csv").write_text(CLINICAL.replace("Bladder", "CNS"))
    cmap = tmp_path / "map.yaml"
    cmap.write_text(COLUMN_MAP)
    db = tmp_path / "s.duckdb"
    strict = invoke("cohort", "ingest", "-c", "Hosp", str(cmap), "--store", str(db), "--strict")
    assert strict.exit_code == 2 and "unknown cancer type 'CNS'" in strict.output
    assert "clin.csv" in strict.output and "Tumour" in strict.output and not db.exists()
    lenient = invoke("cohort", "ingest", "-c", "Hosp", str(cmap), "--store", str(db))
    assert lenient.exit_code == 0, lenient.output
    assert "Tumour value 'CNS' unknown, kept as 'OTHER'" in " ".join(lenient.output.split())
    from icipredict.cohort.store import CohortStore

    types_ = sorted(CohortStore(db).cohort().patients["cancer_type"])
    assert types_ == ["MEL", "NSCLC", "OTHER"]


# ------------------------------------------------------------------ versions, restore, rekey

@pytest.fixture(scope="module")
def synthetic_network(tmp_path_factory) -> Path:
    """The README's synthetic network (600 patients, seed 7)."""
    out = tmp_path_factory.mktemp("net") / "synthetic"
    result = invoke("cohort", "synth", "--patients", "600", "--seed", "7", "--out", str(out),
                    "--workers", "1")
    assert result.exit_code == 0, result.output
    return out


def copy_centre(network: Path, centre: str, dest: Path) -> Path:
    """A copy of one centre's folder (to edit) and the path of its column map."""
    import shutil

    shutil.copytree(network / centre, dest / centre)
    return dest / centre / "column_map.yaml"


def test_truncated_maf_reingest_is_refused_then_accepted_then_restored(
        tmp_path: Path, synthetic_network: Path) -> None:
    """The issue's case: `head -n 1100 riverside.maf` re-ingested must not replace the data."""
    cmap = copy_centre(synthetic_network, "riverside", tmp_path)
    db = tmp_path / "s.duckdb"
    first = invoke("cohort", "ingest", "-c", "riverside", str(cmap), "--store", str(db))
    assert first.exit_code == 0, first.output
    maf = cmap.with_name("riverside.maf")
    lines = maf.read_text().splitlines(keepends=True)
    maf.write_text("".join(lines[:1100]))
    before = dump(db)
    bad = invoke("cohort", "ingest", "-c", "riverside", str(cmap), "--store", str(db))
    assert bad.exit_code == 2
    out = " ".join(bad.output.split())
    assert "refused (current: version 1), nothing was written" in out
    n_rows = sum(1 for line in lines if not line.startswith("#")) - 1
    assert f"mutations rows instead of the current version's {n_rows}" in out
    assert "--accept-changes" in out
    assert dump(db) == before
    accepted = invoke("cohort", "ingest", "-c", "riverside", str(cmap), "--store", str(db),
                      "--accept-changes")
    assert accepted.exit_code == 0, accepted.output
    assert "new version 2 (replaces version 1)" in accepted.output
    versions = invoke("cohort", "versions", "--store", str(db), "--history")
    assert versions.exit_code == 0, versions.output
    rows = [line.split() for line in versions.output.splitlines()
             if line.startswith(" riverside ")]
    assert [r[1] for r in rows[:2]] == ["1", "2"]
    assert [r[2] == "*" for r in rows[:2]] == [False, True]  # version 2 is current
    assert "changes accepted" in versions.output
    restored = invoke("cohort", "restore", "-c", "riverside", "--version", "1", "--store", str(db))
    assert restored.exit_code == 0, restored.output
    assert "version 1 is current again (was version 2)" in restored.output
    from icipredict.cohort.store import CohortStore

    store = CohortStore(db)
    assert len(store.cohort().mutations) == n_rows
    assert list(store.versions()["current"]) == [True, False]
    assert list(store.history()["event"]) == ["ingest", "ingest", "restore"]
    missing = invoke("cohort", "restore", "-c", "riverside", "--version", "9", "--store", str(db))
    assert missing.exit_code == 2 and "has no version 9 (stored versions: [1, 2])" in missing.output


def test_times_in_months_declared_as_days_are_refused(tmp_path: Path,
                                                      synthetic_network: Path) -> None:
    cmap = copy_centre(synthetic_network, "coastline", tmp_path)
    db = tmp_path / "s.duckdb"
    assert invoke("cohort", "ingest", "-c", "coastline", str(cmap), "--store", str(db)).exit_code == 0
    text = cmap.read_text()
    assert "column: OS_Months\n      unit: months" in text
    cmap.write_text(text.replace("column: OS_Months\n      unit: months",
                                 "column: OS_Months\n      unit: days"))
    before = dump(db)
    bad = invoke("cohort", "ingest", "-c", "coastline", str(cmap), "--store", str(db))
    assert bad.exit_code == 2
    out = " ".join(bad.output.split())
    assert "outcomes.os_months is 0.0329x the current version's" in out
    assert "is below 1 month (times in months declared as days" in out
    assert dump(db) == before


def test_cli_rekey_and_key_errors(tmp_path: Path, fake_loader, monkeypatch) -> None:
    src = tmp_path / "alpha"
    src.mkdir()
    (src / "f.csv").write_text("x")
    db = tmp_path / "s.duckdb"
    assert invoke("cohort", "ingest", "-c", "Alpha", str(src), "--store", str(db)).exit_code == 0
    short = tmp_path / "short.key"
    short.write_text("tiny\n")
    result = invoke("cohort", "rekey", "--new-key-file", str(short), "--store", str(db))
    assert result.exit_code == 2 and "too short" in result.output
    new = tmp_path / "new.key"
    new.write_text("a-brand-new-network-key-0123456789abcdef\n")
    result = invoke("cohort", "rekey", "--new-key-file", str(new), "--store", str(db))
    assert result.exit_code == 0, result.output
    assert "1 version(s) re-derived" in result.output and "old key are refused" in result.output
    assert [c for c, _ in fake_loader] == [src, src]  # ingest, then rekey re-read the source
    refused = invoke("cohort", "ingest", "-c", "Alpha", str(src), "--store", str(db))
    assert refused.exit_code == 2 and "is not this store's key" in refused.output
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY", "a-brand-new-network-key-0123456789abcdef")
    again = runner.invoke(app, ["cohort", "ingest", "-c", "Alpha", str(src), "--store", str(db)],
                          env={"COLUMNS": "200"})
    assert again.exit_code == 0 and "unchanged" in again.output


def test_ingest_prints_the_load_report(tmp_path: Path, monkeypatch) -> None:
    def load_source(path, centre=None, strict=False):
        cohort = make_cohort(centre)
        cohort.load_report = {"data_mutations.txt: Mutation_Status=Germline": 3}
        return cohort

    monkeypatch.setitem(sys.modules, "icipredict.cohort.loaders",
                        types.SimpleNamespace(load_source=load_source))
    src = tmp_path / "alpha"
    src.mkdir()
    (src / "f.csv").write_text("x")
    result = invoke("cohort", "ingest", "-c", "Alpha", str(src), "--store",
                    str(tmp_path / "s.duckdb"))
    assert result.exit_code == 0, result.output
    assert "data_mutations.txt: Mutation_Status=Germline" in result.output
    line = next(x for x in result.output.splitlines() if "Mutation_Status=Germline" in x)
    assert line.split()[-1] == "3"


def test_brca_report_and_classified_csv(tmp_path: Path, fake_loader) -> None:
    db = tmp_path / "s.duckdb"
    src = tmp_path / "Alpha"
    src.mkdir()
    (src / "f.csv").write_text("x")
    assert invoke("cohort", "ingest", "-c", "Alpha", str(src), "--store", str(db)).exit_code == 0
    out, html = tmp_path / "brca.csv", tmp_path / "brca.html"
    result = invoke("cohort", "brca", "--store", str(db), "--csv", str(out), "--report",
                    str(html))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out).set_index("hgvsp_short")
    # the hand-made cohort: BRCA2 p.K3326fs (C-terminal exception), BRCA1 p.C61G (curated)
    assert table.loc["p.K3326fs", "classification"] == "likely_benign"
    assert table.loc["p.C61G", "classification"] == "pathogenic"
    assert {"rule", "kb_version", "origin", "second_hit"} <= set(table.columns)
    assert "<h1>BRCA1/2 registry</h1>" in html.read_text()
    assert "1 pathogenic carrier(s)" in result.output
