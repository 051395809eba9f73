"""Opening the store file: one writer at a time, waiting with back-off while another holds it.

DuckDB lets one process write (and no other process read) while it has the file open. Opening
waits up to the lock timeout (:func:`~icipredict.cohort.store.settings.lock_timeout_from_env`)
and then raises :class:`StoreLockedError`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb

from icipredict.cohort.store.settings import LOCK_TIMEOUT_ENV, lock_timeout_from_env
from icipredict.errors import StoreError

log = logging.getLogger(__name__)


class StoreLockedError(StoreError):
    """Another process holds the store file and did not let go within the lock timeout.

    Transient: retrying later can succeed (the REST service answers 503 for it).
    """


def open_store(path: Path, *, read_only: bool,
               lock_timeout: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open the store file, waiting with back-off while another process holds its lock.

    Parameters
    ----------
    path
        The DuckDB file.
    read_only
        Open for reading only (other readers may share the file; no writer may).
    lock_timeout
        Seconds to wait for another process's lock (default :func:`lock_timeout_from_env`).

    Returns
    -------
    duckdb.DuckDBPyConnection

    Raises
    ------
    StoreLockedError
        If the file is still locked after ``lock_timeout`` seconds.
    CohortError
        If the file cannot be opened for another reason.
    """
    timeout = lock_timeout_from_env() if lock_timeout is None else lock_timeout
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise StoreError(f"cannot open the cohort store: {exc}",
                                  file=path) from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreLockedError(
                    f"another process holds the cohort store (waited {timeout:g} s; "
                    f"DuckDB allows one writing process, and no reader beside it): {exc}. "
                    f"Try again when it is done, or wait longer with {LOCK_TIMEOUT_ENV}=SECONDS",
                    file=path) from exc
            if delay == 0.05:
                log.info("store %s is locked by another process; waiting up to %g s",
                         path, timeout)
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)
