"""A centre's versions: store a new one (past the refusal rules), make an earlier one current."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.cohort.store.checks import change_problems
from icipredict.cohort.store.sql import CENTRE_TABLES
from icipredict.cohort.store.tables import (
    current_counts,
    current_version,
    insert,
    log_event,
    next_version,
    record_version,
    set_current,
    store_key,
    utcnow,
    version_tables,
)
from icipredict.errors import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """What an ingest (or a restore) did.

    Attributes
    ----------
    centre
        The centre.
    version
        The centre's version now current in the store (1, 2, ...).
    changed
        False when nothing was written (content identical to the current version, or the
        version to restore was current already).
    content_hash
        SHA-256 of the source files of the current version.
    row_counts
        Rows of the centre per table (``panel_genes``: rows sent, upserted into the shared table).
    ingested_at
        UTC time the current version was stored.
    previous_version
        The version that was current before (None for a centre's first ingest).
    accepted_changes
        The implausible changes that ``accept_changes=True`` let through (empty otherwise).
    """

    centre: str
    version: int
    changed: bool
    content_hash: str
    row_counts: dict[str, int] = field(default_factory=dict)
    ingested_at: datetime | None = None
    previous_version: int | None = None
    accepted_changes: tuple[str, ...] = ()


def store_version(con: duckdb.DuckDBPyConnection, *, centre: str,
                  tables: dict[str, pd.DataFrame], content_hash: str, fingerprint: str,
                  source: str, accept_changes: bool, max_drop: float) -> IngestResult:
    """Store prepared tables as the centre's new current version, unless refused.

    Parameters
    ----------
    con
        A writing connection whose key was checked.
    centre
        The centre.
    tables
        Typed, pseudonymised tables (:func:`~icipredict.cohort.store.tables.prepare`).
    content_hash
        SHA-256 of the source files; the current version's hash is a no-op.
    fingerprint
        Fingerprint of the key the tables were pseudonymised with.
    source
        The source's path, recorded with the version.
    accept_changes
        Store even when :func:`~icipredict.cohort.store.checks.change_problems` finds problems.
    max_drop
        Largest accepted share of a table's current rows missing from the new data.

    Returns
    -------
    IngestResult

    Raises
    ------
    CohortError
        If the changes are implausible and not accepted; nothing is written.
    """
    counts = {name: len(df) for name, df in tables.items()}
    current = current_version(con, centre)
    if current is not None and current[1] == content_hash:
        log.info("centre %s: content unchanged (version %s)", centre, current[0])
        return IngestResult(centre=centre, version=current[0], changed=False,
                            content_hash=content_hash, row_counts=current_counts(con, centre),
                            ingested_at=current[2], previous_version=current[0])
    problems = change_problems(
        {n: tables[n] for n in CENTRE_TABLES},
        None if current is None else version_tables(con, centre, current[0]),
        max_drop=max_drop)
    if problems and not accept_changes:
        was = "" if current is None else f" (current: version {current[0]})"
        raise CohortError(
            f"ingest of centre {centre!r} refused{was}, nothing was written:\n  - "
            + "\n  - ".join(problems)
            + "\nIf this is intended, ingest again with --accept-changes "
            "(accept_changes=True)", file=source or None)
    version, now = write_version(
        con, centre, tables, content_hash=content_hash, fingerprint=fingerprint,
        source=source, previous=None if current is None else current[0],
        problems=problems)
    if problems:
        log.warning("centre %s: version %d stored with accepted changes: %s", centre, version,
                    "; ".join(problems))
    log.info("centre %s: stored version %d (%s)", centre, version,
             ", ".join(f"{k}={v}" for k, v in counts.items()))
    return IngestResult(centre=centre, version=version, changed=True,
                        content_hash=content_hash, row_counts=counts, ingested_at=now,
                        previous_version=None if current is None else current[0],
                        accepted_changes=tuple(problems))


def write_version(con: duckdb.DuckDBPyConnection, centre: str,
                  tables: dict[str, pd.DataFrame], *, content_hash: str, fingerprint: str,
                  source: str, previous: int | None,
                  problems: list[str]) -> tuple[int, datetime]:
    """Store ``tables`` as the centre's next version and make it current: one transaction.

    Returns
    -------
    tuple of (int, datetime)
        The new version and its time (UTC).
    """
    version = next_version(con, centre)
    now = utcnow()
    con.begin()
    try:
        for name in CENTRE_TABLES:
            insert(con, name, tables[name].assign(version=version))
        insert(con, "panel_genes", tables["panel_genes"])
        record_version(con, centre, version, content_hash, fingerprint, now, source,
                       {name: len(df) for name, df in tables.items()})
        if store_key(con) is None:
            con.execute("INSERT INTO store_meta VALUES ('key_fingerprint', ?)", [fingerprint])
        set_current(con, centre, version)
        detail = ("changes accepted: " + "; ".join(problems)) if problems else None
        log_event(con, "ingest", centre=centre, version=version, previous=previous,
                  fingerprint=fingerprint, detail=detail, at=now)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return version, now


def restore_version(con: duckdb.DuckDBPyConnection, path: Path, centre: str,
                    version: int) -> IngestResult:
    """Make a stored version of a centre current again (see
    :meth:`~icipredict.cohort.store.CohortStore.restore`).

    Parameters
    ----------
    con
        A writing connection.
    path
        The store file (named in errors).
    centre, version
        The version to make current.

    Returns
    -------
    IngestResult
        ``changed`` is False when the version was current already.

    Raises
    ------
    CohortError or StoreError
        If the centre or the version does not exist, or the version's rows were not kept.
    """
    stored = [r[0] for r in con.execute(
        "SELECT version FROM ingests WHERE centre = ? ORDER BY version",
        [centre]).fetchall()]
    if not stored:
        known = [r[0] for r in con.execute(
            "SELECT DISTINCT centre FROM ingests ORDER BY centre").fetchall()]
        raise CohortError(f"centre {centre!r} is not in the store (stored: {known})",
                          file=path)
    if int(version) not in stored:
        raise StoreError(f"centre {centre!r} has no version {version} (stored "
                          f"versions: {stored})", file=path)
    current = current_version(con, centre)
    row = con.execute("SELECT content_hash, ingested_at, rows_kept FROM ingests "
                      "WHERE centre = ? AND version = ?", [centre, version]).fetchone()
    assert row is not None  # the version is in ``stored``, read from ``ingests``
    if row[2] is False:
        raise StoreError(f"version {version} of centre {centre!r} cannot be restored: it "
                          "was stored before store schema 2, which kept only each "
                          "centre's latest rows", file=path)
    if current is not None and current[0] == version:
        return IngestResult(centre=centre, version=version, changed=False,
                            content_hash=row[0], row_counts=current_counts(con, centre),
                            ingested_at=row[1], previous_version=version)
    con.begin()
    try:
        set_current(con, centre, version)
        log_event(con, "restore", centre=centre, version=version,
                  previous=None if current is None else current[0],
                  fingerprint=store_key(con))
        con.commit()
    except BaseException:
        con.rollback()
        raise
    counts = current_counts(con, centre)
    log.info("centre %s: version %d restored (was version %s)", centre, version,
             None if current is None else current[0])
    return IngestResult(centre=centre, version=int(version), changed=True,
                        content_hash=row[0], row_counts=counts, ingested_at=row[1],
                        previous_version=None if current is None else current[0])
