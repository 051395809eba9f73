"""Rows on an open connection: typed, pseudonymised tables in; versions, counts, events out.

The building blocks that ingest, restore, rekey and the schema migration share. Every function
takes an open DuckDB connection and leaves transactions to its caller.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from icipredict.cohort.pseudonym import pseudonymise_series
from icipredict.cohort.schema import CONTRACTS, ID_COLUMNS, SOURCE_ROW, Cohort, CohortError
from icipredict.cohort.store.checks import compared_columns
from icipredict.cohort.store.sql import CENTRE_TABLES, db_columns

log = logging.getLogger(__name__)

_ID_KIND = {"patient_id": "patient", "sample_id": "sample"}


def typed_table(df: pd.DataFrame, name: str, source: str | None) -> pd.DataFrame:
    """Coerce a validated table to its contract dtypes (so DuckDB stores typed columns)."""
    out = {}
    for col in CONTRACTS[name].columns:
        values = df[col.name] if col.name in df.columns else pd.Series(None, index=df.index)
        if col.kind == "float":
            out[col.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif col.kind in ("int", "bool01"):
            out[col.name] = pd.to_numeric(values, errors="coerce").round().astype("Int64")
        elif col.kind == "date":
            try:
                out[col.name] = pd.to_datetime(values)
            except (ValueError, TypeError) as exc:
                raise CohortError(f"{name}: expected dates: {exc}", file=source,
                                  column=col.name) from exc
        else:
            out[col.name] = values.astype(object).where(values.notna(), None).map(
                lambda v: v if v is None else str(v))
    return pd.DataFrame(out, index=df.index)


def store_key(con: duckdb.DuckDBPyConnection) -> str | None:
    """Fingerprint of the store's pseudonymisation key (None before the first ingest)."""
    row = con.execute("SELECT value FROM store_meta WHERE key = 'key_fingerprint'").fetchone()
    return None if row is None else row[0]


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> Any:
    """The value of a query that always returns one row (``count(*)``, ``max(...)``)."""
    row = con.execute(sql, params).fetchone()
    assert row is not None, f"no row from {sql!r}"  # an aggregate without GROUP BY has one
    return row[0]


def current_version(con: duckdb.DuckDBPyConnection, centre: str) -> tuple | None:
    """``(version, content_hash, ingested_at)`` of the centre's current version, or None."""
    return con.execute(
        "SELECT i.version, i.content_hash, i.ingested_at FROM current_versions c "
        "JOIN ingests i ON i.centre = c.centre AND i.version = c.version "
        "WHERE c.centre = ?", [centre]).fetchone()


def next_version(con: duckdb.DuckDBPyConnection, centre: str) -> int:
    """The number the centre's next stored version gets (1 for its first)."""
    return scalar(con, "SELECT coalesce(max(version), 0) + 1 FROM ingests WHERE centre = ?",
                       [centre])


def version_tables(con: duckdb.DuckDBPyConnection, centre: str,
                   version: int) -> dict[str, pd.DataFrame]:
    """The columns :func:`~icipredict.cohort.store.checks.change_problems` compares, of one
    stored version of a centre."""
    out = {}
    for name in CENTRE_TABLES:
        cols = compared_columns(name)
        if cols:
            out[name] = con.execute(f"SELECT {', '.join(cols)} FROM {name} "
                                    "WHERE centre = ? AND version = ?", [centre, version]).df()
        else:
            n = scalar(con, f"SELECT count(*) FROM {name} WHERE centre = ? AND version = ?",
                            [centre, version])
            out[name] = pd.DataFrame(index=range(n))
    return out


def record_version(con: duckdb.DuckDBPyConnection, centre: str, version: int,
                   content_hash: str, fingerprint: str, at: datetime, source: str,
                   counts: dict[str, int]) -> None:
    """Add one row to ``ingests``: the version's hash, key, time, source and row counts."""
    ingest_id = scalar(con, "SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests")
    names = list(CONTRACTS)
    con.execute(
        "INSERT INTO ingests (ingest_id, centre, version, content_hash, key_fingerprint, "
        "ingested_at, source, " + ", ".join(f"n_{n}" for n in names)
        + ") VALUES (?, ?, ?, ?, ?, ?, ?, " + ", ".join("?" for _ in names) + ")",
        [ingest_id, centre, version, content_hash, fingerprint, at, source,
         *[counts[n] for n in names]])


def set_current(con: duckdb.DuckDBPyConnection, centre: str, version: int) -> None:
    """Make ``version`` the centre's current version."""
    con.execute("INSERT INTO current_versions VALUES (?, ?) "
                "ON CONFLICT (centre) DO UPDATE SET version = excluded.version",
                [centre, version])


def log_event(con: duckdb.DuckDBPyConnection, event: str, *, centre: str | None = None,
              version: int | None = None, previous: int | None = None,
              fingerprint: str | None = None, detail: str | None = None,
              at: datetime | None = None) -> None:
    """Add one row to ``history`` (``ingest``, ``restore``, ``rekey`` or ``migrate``)."""
    event_id = scalar(con, "SELECT coalesce(max(event_id), 0) + 1 FROM history")
    con.execute("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [event_id, at or utcnow(), event, centre, version, previous, fingerprint,
                 detail])


def prepare(cohort: Cohort, *, centre: str, key: bytes,
            source: str | None) -> dict[str, pd.DataFrame]:
    """Typed, pseudonymised copies of the cohort's tables (centre set, no version yet)."""
    out: dict[str, pd.DataFrame] = {}
    for name, df in cohort.tables().items():
        df = df.drop(columns=[SOURCE_ROW], errors="ignore")
        typed = typed_table(df, name, source)
        if name == "imaging":
            _warn_ids_in_uris(typed)
        for col in ID_COLUMNS.get(name, ()):
            typed[col] = pseudonymise_series(typed[col], centre=centre,
                                             kind=_ID_KIND[col], key=key)
        if name in CENTRE_TABLES:
            typed["centre"] = centre
        cols = [c for c in db_columns(name) if c != "version"]
        out[name] = typed.reset_index(drop=True)[cols]
    return out


def insert(con: duckdb.DuckDBPyConnection, name: str, df: pd.DataFrame) -> None:
    """Append rows to a store table (``panel_genes``: rows it has already are skipped)."""
    if df.empty:
        return
    con.register("_ingest_rows", df)
    try:
        cols = ", ".join(df.columns)
        conflict = " ON CONFLICT DO NOTHING" if name == "panel_genes" else ""
        con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _ingest_rows{conflict}")
    finally:
        con.unregister("_ingest_rows")


def current_counts(con: duckdb.DuckDBPyConnection, centre: str) -> dict[str, int]:
    """Rows of the centre's current version per table (``panel_genes``: rows it sent)."""
    counts = {
        name: scalar(con, f"SELECT count(*) FROM current_{name} WHERE centre = ?",
                          [centre])
        for name in CENTRE_TABLES
    }
    row = con.execute(
        "SELECT i.n_panel_genes FROM current_versions c JOIN ingests i "
        "ON i.centre = c.centre AND i.version = c.version WHERE c.centre = ?",
        [centre]).fetchone()
    counts["panel_genes"] = int(row[0]) if row and row[0] is not None else 0
    return counts


def drop_version(con: duckdb.DuckDBPyConnection, centre: str, version: int) -> None:
    """Delete one stored version of a centre: its rows and its ``ingests`` record."""
    for name in CENTRE_TABLES:
        con.execute(f"DELETE FROM {name} WHERE centre = ? AND version = ?", [centre, version])
    con.execute("DELETE FROM ingests WHERE centre = ? AND version = ?", [centre, version])


def utcnow() -> datetime:
    """Now in UTC, without tzinfo (as stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _warn_ids_in_uris(imaging: pd.DataFrame) -> None:
    """Warn when an image path contains the patient's source ID (it is stored as given)."""
    if imaging.empty:
        return
    leaks = 0
    for col in ("image_uri", "mask_uri", "radiomics_uri"):
        uri = imaging[col].fillna("")
        pid = imaging["patient_id"].fillna("\0").astype(str)
        leaks += sum(p in u for p, u in zip(pid, uri, strict=True) if u)
    if leaks:
        log.warning("%d image/mask/radiomics URI(s) contain the patient's source ID; URIs are "
                    "stored as given (the feature stage needs them), so rename such files "
                    "to keep the store pseudonymous", leaks)
