"""The store's settings, read from the environment at call time: lock wait and row-drop share."""

from __future__ import annotations

import os

from icipredict.cohort.schema import CohortError

#: Environment variable: seconds to wait for another process's lock on the store file.
LOCK_TIMEOUT_ENV = "ICIPREDICT_STORE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 30.0

#: Environment variable: largest accepted share of a table's current rows missing in a re-ingest.
MAX_DROP_ENV = "ICIPREDICT_MAX_ROW_DROP"
DEFAULT_MAX_DROP = 0.2


def lock_timeout_from_env() -> float:
    """Seconds to wait for a locked store: ``ICIPREDICT_STORE_LOCK_TIMEOUT`` or 30.

    Raises
    ------
    CohortError
        If the variable is not a number >= 0.
    """
    return _float_env(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT, low=0.0, high=float("inf"))


def max_drop_from_env() -> float:
    """Largest accepted share of dropped rows: ``ICIPREDICT_MAX_ROW_DROP`` or 0.2.

    Raises
    ------
    CohortError
        If the variable is not a number in [0, 1].
    """
    return _float_env(MAX_DROP_ENV, DEFAULT_MAX_DROP, low=0.0, high=1.0)


def _float_env(name: str, default: float, *, low: float, high: float) -> float:
    """A number in ``[low, high]`` from the environment variable ``name``, else ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise CohortError(f"environment variable {name} must be a number in [{low}, {high}], "
                          f"got {raw!r}")
    return value
