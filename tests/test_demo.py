"""The demo's steps on a small network: what `make demo` runs, end to end."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from icipredict.cli import app
from icipredict.cohort.store import CohortStore
from icipredict.demo import DemoContext, run_demo


def test_demo_steps_ingest_all_six_centres(tmp_path: Path) -> None:
    seen: list[str] = []
    ctx = run_demo(DemoContext(workdir=tmp_path, n_patients=120, seed=3),
                   lambda i, title, result: seen.append(title))
    assert len(seen) >= 2
    store = CohortStore(ctx.store_path)
    summary = store.summary().set_index("centre")
    assert len(summary) == 6
    truth_counts = ctx.network.sources.keys()
    assert set(summary.index) == set(truth_counts)
    assert int(summary["patients"].sum()) == 120
    # the BRCA view is a query of the same store
    carriers = store.brca_carriers()
    assert set(carriers["gene"]) <= {"BRCA1", "BRCA2"}


def test_demo_cli_runs_and_is_idempotent(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["demo", "--workdir", str(tmp_path), "--patients", "90", "--seed", "5"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "Cohort summary" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    # same seed, same files: every centre is unchanged at version 1
    versions = CohortStore(tmp_path / "icipredict.duckdb").versions()
    assert versions.groupby("centre")["version"].max().eq(1).all()
