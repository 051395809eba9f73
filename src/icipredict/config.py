"""Paths and secrets shared by every stage, read from the environment when asked for.

Every setting is a function, not a module constant: the environment is read at call time, so a
test or a user can point the package elsewhere without re-importing it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the default DuckDB cohort store.
STORE_ENV = "ICIPREDICT_STORE"

#: Environment variable holding the pseudonymisation secret (never stored with the data).
PSEUDONYM_KEY_ENV = "ICIPREDICT_PSEUDONYM_KEY"

#: Environment variable naming the file that holds the pseudonymisation secret.
PSEUDONYM_KEY_FILE_ENV = "ICIPREDICT_PSEUDONYM_KEY_FILE"

#: Environment variable pointing at the real public data folder.
SHARED_DATA_ENV = "ICIPREDICT_SHARED_DATA"


def default_store() -> Path:
    """The default cohort store: ``$ICIPREDICT_STORE``, else ``icipredict.duckdb`` here."""
    return Path(os.environ.get(STORE_ENV) or "icipredict.duckdb")


def config_home() -> Path:
    """The user's configuration folder: ``$XDG_CONFIG_HOME``, else ``~/.config``."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def cache_home() -> Path:
    """The user's cache folder: ``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def pseudonym_key_file() -> Path:
    """The file holding the pseudonymisation secret when the environment variable is not set."""
    override = os.environ.get(PSEUDONYM_KEY_FILE_ENV)
    return Path(override) if override else config_home() / "icipredict" / "pseudonym.key"


def shared_data() -> Path:
    """The real public data folder: ``$ICIPREDICT_SHARED_DATA``, else ``../shared/data``.

    The default is relative to a checkout (``<checkout>/../shared/data``); it is absent on a
    user's fresh clone, and callers that need it say so.
    """
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return Path(os.environ.get(SHARED_DATA_ENV) or default)


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
