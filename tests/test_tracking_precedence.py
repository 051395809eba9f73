"""MLflow's precedence for the tracking URI: --tracking-uri > MLFLOW_TRACKING_URI > the
experiment config's tracking_uri > sqlite:///mlflow.db; and the run links commands print."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from typer.testing import CliRunner

from icipredict.cli import app
from icipredict.cohort.schema import CohortError
from icipredict.config import DEFAULT_TRACKING_URI, resolve_tracking_uri
from icipredict.tracking import runs
from icipredict.tracking.mlflow_setup import configure_tracking, run_ui_link
from icipredict.training.config import load_experiment

DEMO = Path(__file__).resolve().parents[1] / "experiments" / "demo_synthetic.yaml"
CONFIG_URI = "sqlite:///icipredict-demo/mlflow.db"  # what the demo experiment names
runner = CliRunner()


@pytest.fixture()
def seen(monkeypatch):
    """Stop `icipredict train` right where it points MLflow, and record the URI it chose."""
    got: list[str] = []

    def fake_configure(uri, *args, **kwargs):
        got.append(uri)
        raise CohortError("stopped by the test")

    monkeypatch.setattr(runs, "configure_tracking", fake_configure)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return got


def _train(*extra: str) -> None:
    result = runner.invoke(app, ["train", str(DEMO), "--no-progress", *extra])
    assert result.exit_code == 2 and "stopped by the test" in result.output, result.output


def test_demo_config_names_its_tracking_uri():
    assert load_experiment(DEMO, check_paths=False).tracking.tracking_uri == CONFIG_URI


def test_train_config_wins_without_environment_or_flag(seen):
    _train()
    assert seen == [CONFIG_URI]


def test_train_environment_beats_config(seen, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    _train()
    assert seen == ["http://127.0.0.1:5000"]


def test_train_flag_beats_environment_and_config(seen, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    _train("--tracking-uri", "sqlite:///flag.db")
    assert seen == ["sqlite:///flag.db"]


def test_train_default_when_nothing_names_one(seen):
    config = load_experiment(DEMO, check_paths=False).model_copy(deep=True)
    config.tracking.tracking_uri = None
    with pytest.raises(CohortError):
        runs.train_experiment(config, progress=False)
    assert seen == [DEFAULT_TRACKING_URI]


def test_resolve_order(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == DEFAULT_TRACKING_URI == "sqlite:///mlflow.db"
    assert resolve_tracking_uri(config="sqlite:///c.db") == "sqlite:///c.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")  # read at call time
    assert resolve_tracking_uri(config="sqlite:///c.db") == "sqlite:///env.db"
    assert resolve_tracking_uri("sqlite:///f.db", "sqlite:///c.db") == "sqlite:///f.db"


def test_configure_tracking_reads_environment_at_call_time(monkeypatch, tmp_path):
    uri = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    try:
        configure_tracking(None, experiment=None)
        assert mlflow.get_tracking_uri() == uri and mlflow.get_registry_uri() == uri
    finally:
        mlflow.set_tracking_uri(None)


def test_board_commands_follow_environment_then_flag(monkeypatch):
    from icipredict.cli import _set_tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    try:
        _set_tracking(None)
        assert mlflow.get_tracking_uri() == "sqlite:///env.db"
        _set_tracking("sqlite:///flag.db")
        assert mlflow.get_registry_uri() == "sqlite:///flag.db"
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def test_run_ui_links():
    assert run_ui_link("http://127.0.0.1:5000/", "3", "abc") == \
        "http://127.0.0.1:5000/#/experiments/3/runs/abc"
    assert run_ui_link("https://mlflow.example", "1", "r") == \
        "https://mlflow.example/#/experiments/1/runs/r"
    local = run_ui_link("sqlite:///x/mlflow.db", "2", "r")
    assert local.startswith("mlflow ui --backend-store-uri sqlite:///x/mlflow.db")
    assert "#/experiments/2/runs/r" in local
