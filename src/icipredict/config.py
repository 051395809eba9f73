"""Paths and secrets shared by every stage, read from the environment with sensible defaults."""

from __future__ import annotations

import os
from pathlib import Path

#: Default DuckDB cohort store (override with ICIPREDICT_STORE or --store).
DEFAULT_STORE = Path(os.environ.get("ICIPREDICT_STORE", "icipredict.duckdb"))

#: Environment variable holding the pseudonymisation secret (never stored with the data).
PSEUDONYM_KEY_ENV = "ICIPREDICT_PSEUDONYM_KEY"

#: The user's configuration and cache folders (XDG base directories, else ~/.config, ~/.cache).
CONFIG_HOME = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")

#: File holding the pseudonymisation secret when the environment variable is not set.
PSEUDONYM_KEY_FILE = Path(
    os.environ.get("ICIPREDICT_PSEUDONYM_KEY_FILE", CONFIG_HOME / "icipredict" / "pseudonym.key")
)

#: Default MLflow tracking URI (a local SQLite file: the plain file store is refused by MLflow).
#: Used only when neither ``--tracking-uri``, ``MLFLOW_TRACKING_URI`` nor the experiment config
#: names one (see :func:`resolve_tracking_uri`).
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

#: The environment variable MLflow itself reads for the tracking URI.
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"


def resolve_tracking_uri(flag: str | None = None, config: str | None = None) -> str:
    """The tracking URI by MLflow's precedence: flag > environment > config > default.

    Parameters
    ----------
    flag
        ``--tracking-uri`` as given on the command line (or a caller's explicit URI).
    config
        The experiment config's ``tracking.tracking_uri`` (None when it names none).

    Returns
    -------
    str
        ``flag``, else ``MLFLOW_TRACKING_URI`` (read now, not at import), else ``config``,
        else :data:`DEFAULT_TRACKING_URI`.
    """
    return flag or os.environ.get(TRACKING_URI_ENV) or config or DEFAULT_TRACKING_URI

#: Where the real public data live relative to a checkout (absent on a user's fresh clone).
SHARED_DATA = Path(os.environ.get("ICIPREDICT_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
