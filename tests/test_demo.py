"""The demo's steps on a small network: what `make demo` runs, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import TEST_PSEUDONYM_KEY
from icipredict.cli import app
from icipredict.cohort.store import CohortStore
from icipredict.demo import STEPS, DemoContext, harmonisation_table, run_demo, step_ingest


def test_demo_steps_ingest_all_six_centres(tmp_path: Path) -> None:
    seen: list[str] = []
    ctx = run_demo(DemoContext(workdir=tmp_path, n_patients=120, seed=3),
                   lambda i, title, result: seen.append(title), steps=STEPS[:2])
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
    # per-step timings are recorded
    assert [t for t, _ in ctx.timings] == seen


def test_harmonisation_table_names_each_centres_quirk(tmp_path: Path) -> None:
    ctx = run_demo(DemoContext(workdir=tmp_path, n_patients=60, seed=4), steps=STEPS[:1])
    table = harmonisation_table(ctx.network_dir).set_index("centre")["conversions"]
    assert "albumin: g/L x 0.1" in table["lindenhof"]
    assert "os_months: days" in table["riverside"]
    assert "1 = censored recoded" in table["alpenrose"]
    assert "NLR derived" in table["alpenrose"]
    assert "binary responder only" in table["coastline"]
    assert "not profiled" in table["harbour"]


# --------------------------------------------------------------------------- the full demo

@pytest.fixture(scope="module")
def full_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoContext:
    """The whole demo on a 150-patient network (a pre-migrated MLflow database saves time)."""
    from mlflow_helpers import fresh_tracking_uri

    workdir = tmp_path_factory.mktemp("demo")
    fresh_tracking_uri(workdir)  # workdir/mlflow.db, where the demo tracks
    with pytest.MonkeyPatch.context() as mp:  # module scope: conftest's key is not set yet
        mp.setenv("ICIPREDICT_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)
        return run_demo(DemoContext(workdir=workdir, n_patients=150, seed=11, n_weekly=8))


@pytest.mark.slow
def test_full_demo_store_run_champion(full_demo: DemoContext) -> None:
    import mlflow
    from mlflow import MlflowClient

    ctx = full_demo
    assert [t for t, _ in ctx.timings] == [t for t, _ in STEPS]
    centres = set(CohortStore(ctx.store_path).summary()["centre"])
    assert len(centres) == 6
    # the training run: leave-one-centre-out, one nested fold run per centre, pooled metrics
    mlflow.set_tracking_uri(ctx.tracking_uri)
    run = mlflow.get_run(ctx.run_id)
    assert run.data.tags["validation_scheme"] == "leave_one_centre_out"
    assert 0.0 <= run.data.metrics["cv_response_auc"] <= 1.0
    assert "cv_os_harrell_c" in run.data.metrics
    assert set(ctx.folds["held_out"]) == centres
    assert ctx.folds["n_test"].sum() == 150
    # the champion alias resolves to this run's registered version
    client = MlflowClient(tracking_uri=ctx.tracking_uri, registry_uri=ctx.tracking_uri)
    mv = client.get_model_version_by_alias(ctx.model_name, "champion")
    assert str(mv.version) == ctx.version
    assert mv.run_id == ctx.run_id
    tags = mv.tags
    assert tags["promotion.decision"] == "promoted"
    # a forced promotion always carries its reason
    assert ctx.forced == ("promotion.forced_reason" in tags)
    assert (ctx.workdir / "cache" / "radiomics").is_dir()


@pytest.mark.slow
def test_full_demo_board_reports(full_demo: DemoContext) -> None:
    board = full_demo.board_dir
    scores = {}
    for label in ("complete", "no_imaging", "out_of_domain"):
        assert (board / f"{label}.html").stat().st_size > 1000
        scores[label] = json.loads((board / f"{label}.json").read_text())
    codes = {k: {w["code"] for w in s["warnings"]} for k, s in scores.items()}
    assert codes["out_of_domain"] & {"value_out_of_range", "cancer_type_unseen"}
    assert "modality_missing" in codes["no_imaging"]
    assert "imaging" in scores["no_imaging"]["missing_modalities"]
    assert "imaging" not in scores["complete"]["missing_modalities"]
    assert scores["complete"]["completeness"]["imaging"] == 1.0
    for s in scores.values():
        assert 0.0 <= s["response"]["probability"] <= 1.0
        assert s["model"]["alias"] == "champion"
    # the weekly list: every patient once, highest response probability first
    weekly = pd.read_csv(board / "weekly" / "list.csv")
    assert len(weekly) == 8 + 3
    assert weekly["patient_id"].is_unique
    assert weekly["rank"].tolist() == list(range(1, len(weekly) + 1))
    probs = weekly["response_probability"].to_numpy()
    assert (probs[:-1] >= probs[1:]).all()
    assert (board / "weekly" / "list.html").is_file()


@pytest.mark.slow
def test_demo_cli_rerun_is_idempotent(full_demo: DemoContext) -> None:
    """Re-running on the same folder stores nothing new, reuses the run and the champion."""
    from mlflow import MlflowClient

    ctx = full_demo
    args = ["demo", "--workdir", str(ctx.workdir), "--patients", "150", "--seed", "11"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "Cohort summary" in out
    assert "Harmonisation done per centre" in out
    assert f"reused unchanged run {ctx.run_id}" in out
    assert "0 computed" in out  # every lesion's radiomics from the cache
    assert f"mlflow ui --backend-store-uri {ctx.tracking_uri}" in out
    assert "icipredict serve" in out
    versions = CohortStore(ctx.store_path).versions()
    assert versions.groupby("centre")["version"].max().eq(1).all()
    client = MlflowClient(tracking_uri=ctx.tracking_uri, registry_uri=ctx.tracking_uri)
    assert len(client.search_model_versions(f"name = '{ctx.model_name}'")) == 1


def test_step_tables_after_ingest(tmp_path: Path) -> None:
    from icipredict.demo import step_tables

    ctx = run_demo(DemoContext(workdir=tmp_path, n_patients=60, seed=5), steps=STEPS[:2])
    titles = [t for t, _ in step_tables(ctx, step_ingest)]
    assert titles == ["Ingested (rows per table)", "Cohort summary"]


def test_demo_pseudonyms_come_from_its_fixed_key(tmp_path, monkeypatch) -> None:
    """The demo's store uses the published demo key, the same everywhere, and never reads,
    creates or needs the user's key; a store left under another key is rebuilt."""
    from icipredict.cohort.pseudonym import key_fingerprint, pseudonym
    from icipredict.demo import DEMO_PSEUDONYM_KEY, step_generate, step_ingest

    assert len(DEMO_PSEUDONYM_KEY) >= 32
    key_file = tmp_path / "config" / "pseudonym.key"
    monkeypatch.delenv("ICIPREDICT_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY_FILE", str(key_file))
    ctx = DemoContext(workdir=tmp_path / "demo", n_patients=60, seed=3)
    run_demo(ctx, steps=[("generate", step_generate)])
    # a store from an earlier demo under another key: rebuilt, not refused
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import source_content_hash

    centre, source = next(iter(ctx.network.sources.items()))
    CohortStore(ctx.store_path).ingest(load_source(source, centre=centre), centre=centre,
                                       content_hash=source_content_hash(source),
                                       key=b"another-users-key-0123456789abcdefghijkl")
    run_demo(ctx, steps=[("ingest", step_ingest)])
    store = CohortStore(ctx.store_path)
    assert store.key_fingerprint() == key_fingerprint(DEMO_PSEUDONYM_KEY)
    assert not key_file.exists()
    patients = store.cohort().patients
    truth = pd.read_parquet(ctx.network_dir / "truth.parquet")
    row = truth.iloc[0]
    expected = pseudonym(row["source_patient_id"], centre=row["centre"],
                         key=DEMO_PSEUDONYM_KEY)
    assert expected in set(patients["patient_id"])
