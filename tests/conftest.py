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
