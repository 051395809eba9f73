"""The store's schema on a writing connection: create it, add new columns, migrate schema 1 -> 2."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from icipredict.cohort.pseudonym import PseudonymKeyError
from icipredict.cohort.schema import CONTRACTS
from icipredict.cohort.store.sql import (
    BRCA_VIEW,
    CENTRE_TABLES,
    CURRENT_DDL,
    HISTORY_DDL,
    INGESTS_DDL,
    SQL_TYPES,
    STORE_SCHEMA_VERSION,
    current_view,
    db_columns,
    table_ddl,
)
from icipredict.cohort.store.tables import log_event, scalar, set_current
from icipredict.errors import StoreError

log = logging.getLogger(__name__)


def schema_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The file's store schema version (0: a new, empty file).

    Parameters
    ----------
    con
        An open connection to the store file.
    path
        The file (named in errors).

    Returns
    -------
    int
        0, 1 or :data:`~icipredict.cohort.store.sql.STORE_SCHEMA_VERSION`.

    Raises
    ------
    StoreError
        If the file is not a cohort store, or a newer icipredict wrote it.
    """
    exists = scalar(con, "SELECT count(*) FROM information_schema.tables "
                         "WHERE table_name = 'store_meta'")
    if not exists:
        if scalar(con, "SELECT count(*) FROM information_schema.tables"):
            raise StoreError("this DuckDB file is not a cohort store (no store_meta table)",
                              file=path)
        return 0
    row = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
    version = STORE_SCHEMA_VERSION if row is None else int(row[0])
    if version not in (1, STORE_SCHEMA_VERSION):
        raise StoreError(
            f"cohort store schema version {version}, but this icipredict reads versions 1 "
            f"(migrated on first use) and {STORE_SCHEMA_VERSION}: a newer icipredict wrote "
            "it; upgrade icipredict", file=path)
    return version


def ensure_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Make the store's tables and views (migrating a schema 1 store first); idempotent.

    Parameters
    ----------
    con
        A writing connection to the store file.
    path
        The file (named in errors and logs).
    """
    version = schema_version(con, path)
    if version == 0:
        con.execute("CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO store_meta VALUES ('schema_version', ?)",
                    [str(STORE_SCHEMA_VERSION)])
    elif version == 1:
        _migrate_v1(con, path)
    for name in CONTRACTS:
        con.execute(table_ddl(name))
        _add_new_columns(con, name)
    con.execute(INGESTS_DDL)
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'ingests'"
    ).fetchall()}
    for name in CONTRACTS:
        if f"n_{name}" not in have:
            con.execute(f"ALTER TABLE ingests ADD COLUMN n_{name} BIGINT")
    if "rows_kept" not in have:
        con.execute("ALTER TABLE ingests ADD COLUMN rows_kept BOOLEAN DEFAULT true")
    con.execute(CURRENT_DDL)
    con.execute(HISTORY_DDL)
    for name in CENTRE_TABLES:
        con.execute(current_view(name))
    con.execute(BRCA_VIEW)


def _add_new_columns(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Add columns a contract gained since the table was made (missing in older rows)."""
    have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = ?", [name]).fetchall()}
    for col in CONTRACTS[name].columns:
        if col.name not in have:
            con.execute(f"ALTER TABLE {name} ADD COLUMN {col.name} {SQL_TYPES[col.kind]}")


def _migrate_v1(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Store schema 1 -> 2 in one transaction, keeping every stored row.

    Schema 1 kept only each centre's latest version: its rows become that version (current);
    earlier versions stay listed with ``rows_kept`` false (they cannot be restored). The
    store's key is the one of the current versions; a store whose centres were stored under
    different keys is refused (it cannot have one key).
    """
    latest = con.execute("SELECT centre, max(version) FROM ingests GROUP BY centre").fetchall()
    keys = dict(con.execute(
        "SELECT i.centre, i.key_fingerprint FROM ingests i JOIN (SELECT centre, max(version) "
        "AS version FROM ingests GROUP BY centre) l USING (centre, version)").fetchall())
    if len(set(keys.values())) > 1:
        raise PseudonymKeyError(
            f"cannot migrate this schema 1 store: its centres were pseudonymised under "
            f"different keys ({', '.join(f'{c}: {k}' for c, k in sorted(keys.items()))}), "
            "and a store has one key. Re-ingest every centre under one key into a new store",
            file=path)
    con.begin()
    try:
        con.execute("DROP VIEW IF EXISTS brca_registry")
        con.execute(CURRENT_DDL)
        for centre, version in latest:
            set_current(con, centre, version)
        for name in CENTRE_TABLES:
            _migrate_table_v1(con, path, name)
        con.execute("ALTER TABLE ingests ADD COLUMN rows_kept BOOLEAN DEFAULT true")
        con.execute("UPDATE ingests SET rows_kept = (version = (SELECT c.version FROM "
                    "current_versions c WHERE c.centre = ingests.centre))")
        if keys:
            con.execute("INSERT INTO store_meta VALUES ('key_fingerprint', ?)",
                        [next(iter(keys.values()))])
        con.execute("UPDATE store_meta SET value = ? WHERE key = 'schema_version'",
                    [str(STORE_SCHEMA_VERSION)])
        con.execute(HISTORY_DDL)
        log_event(con, "migrate", detail=(
            f"store schema 1 -> {STORE_SCHEMA_VERSION}: each centre's latest version kept "
            "as current; earlier versions' rows had not been kept"))
        con.commit()
    except BaseException:
        con.rollback()
        raise
    log.warning("cohort store %s migrated from schema 1 to %d", path, STORE_SCHEMA_VERSION)


def _migrate_table_v1(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> None:
    """Rebuild one per-centre table with a ``version`` column (rows: the current version)."""
    old = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                     "WHERE table_name = ?", [name]).fetchall()]
    if old:
        con.execute(f"ALTER TABLE {name} RENAME TO {name}_v1")
    con.execute(table_ddl(name))
    if not old:
        return
    cols = [c for c in db_columns(name) if c != "version" and c in old]
    con.execute(f"INSERT INTO {name} (version, {', '.join(cols)}) SELECT c.version, "
                + ", ".join(f"t.{c}" for c in cols) + f" FROM {name}_v1 t "
                "JOIN current_versions c ON c.centre = t.centre")
    before = scalar(con, f"SELECT count(*) FROM {name}_v1")
    after = scalar(con, f"SELECT count(*) FROM {name}")
    if before != after:  # rows of a centre without an ingest record: keep the old store
        raise StoreError(f"cannot migrate this schema 1 store: {before - after} row(s) of "
                          f"table {name} belong to no recorded ingest", file=path)
    con.execute(f"DROP TABLE {name}_v1")
