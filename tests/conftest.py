"""Shared fixtures: the real public data folder (skip with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from icipredict.config import SHARED_DATA

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder with real public data; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (a fresh clone has no ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def chowell_dir(shared_data: Path) -> Path:
    """The Chowell 2022 / LORIS cohort files."""
    path = shared_data / "ici" / "chowell2022"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed test secret so pseudonyms are reproducible within the suite."""
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY", "test-secret-not-for-production")


@pytest.fixture(autouse=True, scope="module")
def _mlflow_state_per_module():
    """MLflow keeps the active run and experiment in process globals: reset them between modules.

    pytest-xdist runs several modules in one process; without this a module that points MLflow
    at a fresh tracking store inherits the previous module's experiment id, which does not exist
    there.
    """
    yield
    import sys

    if "mlflow" not in sys.modules:
        return
    import mlflow
    from mlflow.tracking import fluent

    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
