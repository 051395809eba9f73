"""Shared fixtures: the real public data folder (skip with a reason when absent).

The whole test run lives in a temporary home: HOME and the XDG folders point at a fresh folder
*before* icipredict is imported (its default paths are read at import), so no test reads or writes
the user's ``~/.config`` or ``~/.cache`` and no result depends on what is there. The pseudonym
key is fixed for the session for the same reason (session fixtures ingest before any
function-scoped fixture runs).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

#: The test suite's pseudonymisation secret (never a production key).
TEST_PSEUDONYM_KEY = "test-secret-not-for-production-0123456789abcdef"

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="icipredict-test-home-"))
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
for _var, _sub in {"HOME": ".", "XDG_CONFIG_HOME": ".config", "XDG_CACHE_HOME": ".cache",
                   "XDG_DATA_HOME": ".local/share", "XDG_STATE_HOME": ".local/state"}.items():
    (_SESSION_HOME / _sub).mkdir(parents=True, exist_ok=True)
    os.environ[_var] = str((_SESSION_HOME / _sub).resolve())
for _var in ("ICIPREDICT_PSEUDONYM_KEY_FILE", "ICIPREDICT_STORE", "ICIPREDICT_RADIOMICS_CACHE",
             "MLFLOW_TRACKING_URI"):
    os.environ.pop(_var, None)
os.environ["ICIPREDICT_PSEUDONYM_KEY"] = TEST_PSEUDONYM_KEY
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
# rich reads the width once, when the CLI's consoles are made: the same wide tables whatever the
# terminal (or none, in CI) the tests run in
os.environ["COLUMNS"] = "200"

from icipredict import config as _config  # noqa: E402  (after the environment is set)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder with real public data; skips the test when it is absent."""
    data = _config.shared_data()
    if not data.is_dir():
        pytest.skip(f"real data folder {data} is absent (a fresh clone has no ../shared)")
    return data


@pytest.fixture(scope="session")
def chowell_dir(shared_data: Path) -> Path:
    """The Chowell 2022 / LORIS cohort files."""
    path = shared_data / "ici" / "chowell2022"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def flower_dir() -> Path:
    """Flower's own environment (``.venv-flower/bin``): required in CI, else a skip."""
    from icipredict.federated.processes import flower_bin
    from icipredict.federated.protocol import FederationError

    try:
        return flower_bin()
    except FederationError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Flower is required in CI (make install builds .venv-flower): {exc}")
        pytest.skip(str(exc))


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed test secret so pseudonyms are reproducible within the suite."""
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)


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
