"""The cohort store: one embedded DuckDB file holding every centre's pseudonymised cohort.

Layout (store schema version :data:`STORE_SCHEMA_VERSION`)
-----------------------------------------------------------
- One table per contract table of :mod:`icipredict.cohort.schema` (any table in ``CONTRACTS``),
  with typed columns. Every per-centre table carries ``centre`` and ``version`` columns and keeps
  the rows of **every stored version** of each centre; ``panel_genes`` is shared by all centres
  (rows are added, never removed).
- ``current_versions``: the version of each centre that is current. The views
  ``current_<table>`` (e.g. ``current_patients``) hold only current rows, without the ``version``
  column; every query of this class reads them, and so should SQL users of the file (the bare
  tables hold every version). The view ``brca_registry`` is built on them.
- ``ingests``: one row per stored version (content hash, key fingerprint, row counts, time,
  source). ``history``: one row per event that changed what is current (``ingest``, ``restore``,
  ``rekey``, ``migrate``), with the accepted warnings of an ingest made with ``accept_changes``.
- ``store_meta``: schema version and the fingerprint of the store's pseudonymisation key.

A schema 1 store (which kept only each centre's latest rows) is migrated in place on first use,
in one transaction: its rows become each centre's current version, earlier versions stay listed
with ``rows_kept`` false (not restorable), and its key fingerprint becomes the store's key (a
schema 1 store whose centres used different keys is refused with a clear error instead).

Rules
-----
- **All-or-nothing**: an ingest, a restore or a rekey happens in ONE transaction; bad input or a
  failure mid-write leaves the store as it was. Re-sending identical content (same content hash)
  changes nothing.
- **Versions are kept**: an ingest adds a version and makes it current; ``restore`` makes an
  earlier one current again (logged in ``history``).
- **Implausible re-ingests are refused** unless ``accept_changes`` (see :func:`change_problems`):
  more than ``max_drop`` (default :data:`DEFAULT_MAX_DROP`, env ``ICIPREDICT_MAX_ROW_DROP``) of a
  table's rows of the current version missing, a unit-bearing value whose typical size changes by
  more than its factor in :data:`UNIT_CHECKS`, or survival times whose median is outside
  :data:`TIME_MEDIAN_RANGE`.
- **One pseudonymisation key per store**: its fingerprint is recorded at the first ingest; another
  key is refused (:class:`~icipredict.cohort.pseudonym.PseudonymKeyError`), and no key is created
  for a store that exists already. :meth:`CohortStore.rekey` changes it explicitly.
- **One writer at a time**: DuckDB lets one process write (and no other process read) while it
  has the file open. Opening waits with back-off up to ``lock_timeout`` seconds (default
  :data:`DEFAULT_LOCK_TIMEOUT`, env ``ICIPREDICT_STORE_LOCK_TIMEOUT``) and then raises
  :class:`StoreLockedError`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from icipredict import config
from icipredict.cohort.pseudonym import (
    PseudonymKeyError,
    check_key,
    key_fingerprint,
    load_key,
    pseudonymise_series,
)
from icipredict.cohort.schema import (
    CONTRACTS,
    ID_COLUMNS,
    SOURCE_ROW,
    Cohort,
    CohortError,
    empty_table,
)

log = logging.getLogger(__name__)

#: Bumped when the store's table layout changes (2: versions kept, one key per store).
STORE_SCHEMA_VERSION = 2

#: Contract column kind -> DuckDB type.
SQL_TYPES: dict[str, str] = {
    "str": "VARCHAR", "float": "DOUBLE", "int": "BIGINT", "bool01": "TINYINT", "date": "DATE",
}

#: Tables holding one centre's rows (one set of rows per stored version of that centre).
CENTRE_TABLES: tuple[str, ...] = tuple(n for n in CONTRACTS if n != "panel_genes")

#: Variant classes that count as a BRCA1/2 carrier in the registry: the protein-altering
#: ("non-synonymous") MAF classes, as maftools' default ``vc_nonSyn`` and cBioPortal's TMB do.
#: Silent, Intron, 3'/5'UTR, 3'/5'Flank, IGR, RNA and Splice_Region variants do not alter the
#: protein and are left out (a silent BRCA2 variant is not a carrier).
NONSYNONYMOUS: tuple[str, ...] = (
    "Missense_Mutation", "Nonsense_Mutation", "Frame_Shift_Del", "Frame_Shift_Ins",
    "In_Frame_Del", "In_Frame_Ins", "Splice_Site", "Nonstop_Mutation", "Translation_Start_Site",
)

#: Environment variable: seconds to wait for another process's lock on the store file.
LOCK_TIMEOUT_ENV = "ICIPREDICT_STORE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 30.0

#: Environment variable: largest accepted share of a table's current rows missing in a re-ingest.
MAX_DROP_ENV = "ICIPREDICT_MAX_ROW_DROP"
DEFAULT_MAX_DROP = 0.2

#: (table, column) -> largest plausible factor between a re-ingest's values and the current
#: version's. Values are compared per patient (median of new/old over the patients in both) or,
#: with fewer than :data:`MIN_VALUES` such patients, as the ratio of the two medians. The factors
#: lie below the unit errors they catch and above real change: survival times 3 (catches days vs
#: months x30.4, years vs months x12, weeks vs months x4.35; follow-up that matures by more than
#: 3x between two sends needs ``accept_changes``); age, BMI, albumin, haemoglobin 1.5 (baseline
#: values of the same patients do not change; catches g/L vs g/dL x10, months vs years x12,
#: mmol/L vs g/dL x1.6); blood counts and LDH 2 (x1000 for /uL vs 10^9/L, x60 for ukat/L vs U/L).
UNIT_CHECKS: dict[tuple[str, str], float] = {
    ("outcomes", "os_months"): 3.0, ("outcomes", "pfs_months"): 3.0,
    ("patients", "age"): 1.5, ("patients", "bmi"): 1.5,
    ("labs", "albumin"): 1.5, ("labs", "haemoglobin"): 1.5,
    ("labs", "neutrophils"): 2.0, ("labs", "lymphocytes"): 2.0, ("labs", "platelets"): 2.0,
    ("labs", "ldh"): 2.0,
}

#: Fewest values (or patients with a value in both versions) for a distribution rule to apply.
MIN_VALUES = 10

#: Plausible range (months) of a centre's median OS/PFS time, checked at every ingest: an ICI
#: cohort's median follow-up below a month means months declared as days (divided by 30.4);
#: above 10 years (ICIs are used since ~2011) means days or weeks declared as months.
TIME_MEDIAN_RANGE: tuple[float, float] = (1.0, 120.0)
_TIME_COLUMNS = ("os_months", "pfs_months")

_ID_KIND = {"patient_id": "patient", "sample_id": "sample"}
_LAB_VALUES = ("neutrophils", "lymphocytes", "nlr", "albumin", "platelets", "haemoglobin", "ldh")


class StoreLockedError(CohortError):
    """Another process holds the store file and did not let go within the lock timeout.

    Transient: retrying later can succeed (the REST service answers 503 for it).
    """


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


@dataclass(frozen=True)
class RekeyResult:
    """What a rekey did.

    Attributes
    ----------
    old_fingerprint, new_fingerprint
        Fingerprints of the store's key before and after.
    rekeyed
        ``(centre, version)`` of every version re-derived under the new key.
    dropped
        ``(centre, version, reason)`` of every version that could not be re-derived and was
        removed (only with ``drop_unreproducible=True``).
    """

    old_fingerprint: str | None
    new_fingerprint: str
    rekeyed: tuple[tuple[str, int], ...]
    dropped: tuple[tuple[str, int, str], ...] = ()


def _db_columns(name: str) -> list[str]:
    """Columns of a store table: ``centre`` and ``version`` first for per-centre tables."""
    cols = CONTRACTS[name].column_names
    if name not in CENTRE_TABLES:
        return cols
    return ([] if "centre" in cols else ["centre"]) + ["version"] + cols


def _ddl(name: str) -> str:
    contract = CONTRACTS[name]
    parts = []
    if name in CENTRE_TABLES:
        if "centre" not in contract.column_names:
            parts.append("centre VARCHAR NOT NULL")
        parts.append("version INTEGER NOT NULL")
    for col in contract.columns:
        null = "" if col.nullable else " NOT NULL"
        parts.append(f"{col.name} {SQL_TYPES[col.kind]}{null}")
    if contract.key:
        key = list(contract.key) if name == "panel_genes" else ["centre", "version", *contract.key]
        parts.append(f"PRIMARY KEY ({', '.join(key)})")
    return f"CREATE TABLE IF NOT EXISTS {name} (\n  " + ",\n  ".join(parts) + "\n)"


def _current_view(name: str) -> str:
    return (f"CREATE OR REPLACE VIEW current_{name} AS SELECT t.* EXCLUDE (version) FROM {name} t "
            "JOIN current_versions c ON c.centre = t.centre AND c.version = t.version")


_INGESTS_DDL = (
    "CREATE TABLE IF NOT EXISTS ingests (\n"
    "  ingest_id BIGINT PRIMARY KEY,\n"
    "  centre VARCHAR NOT NULL,\n"
    "  version INTEGER NOT NULL,\n"
    "  content_hash VARCHAR NOT NULL,\n"
    "  key_fingerprint VARCHAR NOT NULL,\n"
    "  ingested_at TIMESTAMP NOT NULL,  -- UTC\n"
    "  source VARCHAR,\n"
    "  rows_kept BOOLEAN DEFAULT true,  -- false: listed only (stored before schema 2)\n"
    "  UNIQUE (centre, version)\n)"
)
# Row counts per contract table (n_<table>) are added by _ensure_schema, so a table added to
# CONTRACTS later gets its column in an existing store (NULL for older versions).

_CURRENT_DDL = ("CREATE TABLE IF NOT EXISTS current_versions "
                "(centre VARCHAR PRIMARY KEY, version INTEGER NOT NULL)")

_HISTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS history (\n"
    "  event_id BIGINT PRIMARY KEY,\n"
    "  event_at TIMESTAMP NOT NULL,  -- UTC\n"
    "  event VARCHAR NOT NULL,  -- ingest | restore | rekey | migrate\n"
    "  centre VARCHAR,\n"
    "  version INTEGER,\n"
    "  previous_version INTEGER,\n"
    "  key_fingerprint VARCHAR,\n"
    "  detail VARCHAR\n)"
)

_NONSYN_SQL = ", ".join(f"'{v.lower()}'" for v in NONSYNONYMOUS)

#: The network's BRCA1/2 somatic registry: every protein-altering BRCA1/BRCA2 variant of every
#: patient (current versions), with the patient's cancer type, ICI treatment and outcome.
BRCA_VIEW = f"""
CREATE OR REPLACE VIEW brca_registry AS
SELECT p.centre, p.patient_id, s.sample_id, m.hugo_symbol AS gene, m.hgvsp_short,
       m.variant_classification, m.vaf, p.cancer_type, t.drug, t.drug_class,
       t.prior_systemic_therapy, o.bor, o.responder, o.os_months, o.os_event,
       o.pfs_months, o.pfs_event
FROM current_mutations m
JOIN current_samples s ON s.centre = m.centre AND s.sample_id = m.sample_id
JOIN current_patients p ON p.centre = s.centre AND p.patient_id = s.patient_id
LEFT JOIN current_treatments t ON t.centre = p.centre AND t.patient_id = p.patient_id
LEFT JOIN current_outcomes o ON o.centre = p.centre AND o.patient_id = p.patient_id
WHERE upper(m.hugo_symbol) IN ('BRCA1', 'BRCA2')
  AND lower(m.variant_classification) IN ({_NONSYN_SQL})
"""

_SUMMARY_SQL = f"""
WITH v AS (
  SELECT c.centre, c.version, i.ingested_at
  FROM current_versions c JOIN ingests i ON i.centre = c.centre AND i.version = c.version),
p AS (SELECT centre, count(*) AS n FROM current_patients GROUP BY centre),
s AS (SELECT centre, count(*) AS n FROM current_samples GROUP BY centre),
mut AS (
  SELECT s.centre, count(DISTINCT s.patient_id) AS n
  FROM current_mutations m
  JOIN current_samples s ON s.centre = m.centre AND s.sample_id = m.sample_id
  GROUP BY s.centre),
img AS (
  SELECT centre, count(DISTINCT patient_id) AS n FROM (
    SELECT centre, patient_id FROM current_imaging
    UNION ALL SELECT centre, patient_id FROM current_radiomics)
  GROUP BY centre),
lab AS (
  SELECT centre, count(DISTINCT patient_id) AS n FROM current_labs
  WHERE coalesce({", ".join(_LAB_VALUES)}) IS NOT NULL GROUP BY centre),
o AS (
  SELECT centre, sum(responder) AS responders, count(responder) AS evaluable,
         sum(os_event) AS os_events, sum(pfs_event) AS pfs_events
  FROM current_outcomes GROUP BY centre)
SELECT v.centre,
       coalesce(p.n, 0) AS patients,
       coalesce(s.n, 0) AS samples,
       coalesce(mut.n, 0) AS with_mutations,
       coalesce(img.n, 0) AS with_imaging,
       coalesce(lab.n, 0) AS with_labs,
       coalesce(o.responders, 0) AS responders,
       coalesce(o.evaluable, 0) AS evaluable,
       coalesce(o.os_events, 0) AS os_events,
       coalesce(o.pfs_events, 0) AS pfs_events,
       v.version, v.ingested_at
FROM v
LEFT JOIN p USING (centre) LEFT JOIN s USING (centre) LEFT JOIN mut USING (centre)
LEFT JOIN img USING (centre) LEFT JOIN lab USING (centre) LEFT JOIN o USING (centre)
ORDER BY v.centre
"""


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


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of one file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def source_files(path: str | Path) -> dict[str, Path]:
    """Every file a source consists of, by a stable label.

    A folder: all its files (recursively, hidden files skipped), labelled by relative path. A
    column map (``.yaml``/``.yml``): the map plus every data file and MAF it names, labelled as
    written in the map. Any other file: itself.

    Raises
    ------
    CohortError
        If the source does not exist (or a column map is invalid).
    """
    path = Path(path)
    if path.is_dir():
        return {
            f.relative_to(path).as_posix(): f
            for f in sorted(path.rglob("*"))
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
        }
    if not path.is_file():
        raise CohortError("source not found (expected a folder, a column map or a data file)",
                          file=path)
    if path.suffix.lower() in (".yaml", ".yml"):
        from icipredict.cohort.column_map import read_column_map
        from icipredict.cohort.loaders import resolve_data_path  # paths as the loader sees them

        cmap = read_column_map(path)
        files = {"<column map>": path}
        for name in [fm.path for fm in cmap.files if fm.path] + [cmap.mutations or ""]:
            if name:
                files[name] = resolve_data_path(cmap, name)
        return files
    return {path.name: path}


def source_content_hash(path: str | Path) -> str:
    """SHA-256 over every file of a source (see :func:`source_files`): names and contents.

    Missing files named by a column map are hashed as missing (the loader reports them).
    """
    digest = hashlib.sha256()
    for label, file in sorted(source_files(path).items()):
        content = file_sha256(file) if file.is_file() else "<missing>"
        digest.update(f"{label}\0{content}\n".encode())
    return digest.hexdigest()


def _typed(df: pd.DataFrame, name: str, source: str | None) -> pd.DataFrame:
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


class CohortStore:
    """The network's cohort store: an embedded DuckDB file.

    Parameters
    ----------
    path
        Database file (default :data:`icipredict.config.DEFAULT_STORE`). Created on first ingest.
    lock_timeout
        Seconds to wait when another process holds the file (default
        :func:`lock_timeout_from_env`), then :class:`StoreLockedError`.

    Examples
    --------
    >>> store = CohortStore("cohort.duckdb")                      # doctest: +SKIP
    >>> store.ingest(cohort, centre="Leiden", content_hash=h, source="leiden/")  # doctest: +SKIP
    >>> store.summary()                                           # doctest: +SKIP
    """

    def __init__(self, path: str | Path | None = None, *,
                 lock_timeout: float | None = None) -> None:
        self.path = Path(path) if path is not None else Path(config.DEFAULT_STORE)
        self.lock_timeout = lock_timeout

    # ------------------------------------------------------------------ connections and schema
    @contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.path.exists():
            raise CohortError("no cohort store here yet; ingest a centre first "
                              "(icipredict cohort ingest --centre NAME SOURCE)", file=self.path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(read_only=read_only)
        try:
            version = self._schema_version(con) if read_only else None
            if version == 0:
                raise CohortError("no cohort store in this file yet (no centre was ingested)",
                                  file=self.path)
            if version == 1:
                con.close()  # a version 1 store is migrated once, by a writing connection
                with self._connect():
                    pass
                con = self._open(read_only=True)
            if not read_only:
                self._ensure_schema(con)
            yield con
        finally:
            con.close()

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Open the file, waiting with back-off while another process holds its lock."""
        timeout = lock_timeout_from_env() if self.lock_timeout is None else self.lock_timeout
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise CohortError(f"cannot open the cohort store: {exc}",
                                      file=self.path) from exc
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreLockedError(
                        f"another process holds the cohort store (waited {timeout:g} s; "
                        f"DuckDB allows one writing process, and no reader beside it): {exc}. "
                        f"Try again when it is done, or wait longer with {LOCK_TIMEOUT_ENV}=SECONDS",
                        file=self.path) from exc
                if delay == 0.05:
                    log.info("store %s is locked by another process; waiting up to %g s",
                             self.path, timeout)
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 1.0)

    def _schema_version(self, con: duckdb.DuckDBPyConnection) -> int:
        """The file's store schema version (0: a new, empty file); errors for anything else."""
        exists = con.execute("SELECT count(*) FROM information_schema.tables "
                             "WHERE table_name = 'store_meta'").fetchone()[0]
        if not exists:
            if con.execute("SELECT count(*) FROM information_schema.tables").fetchone()[0]:
                raise CohortError("this DuckDB file is not a cohort store (no store_meta table)",
                                  file=self.path)
            return 0
        row = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        version = STORE_SCHEMA_VERSION if row is None else int(row[0])
        if version not in (1, STORE_SCHEMA_VERSION):
            raise CohortError(
                f"cohort store schema version {version}, but this icipredict reads versions 1 "
                f"(migrated on first use) and {STORE_SCHEMA_VERSION}: a newer icipredict wrote "
                "it; upgrade icipredict", file=self.path)
        return version

    def _ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        version = self._schema_version(con)
        if version == 0:
            con.execute("CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            con.execute("INSERT INTO store_meta VALUES ('schema_version', ?)",
                        [str(STORE_SCHEMA_VERSION)])
        elif version == 1:
            self._migrate_v1(con)
        for name in CONTRACTS:
            con.execute(_ddl(name))
            self._add_new_columns(con, name)
        con.execute(_INGESTS_DDL)
        have = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'ingests'"
        ).fetchall()}
        for name in CONTRACTS:
            if f"n_{name}" not in have:
                con.execute(f"ALTER TABLE ingests ADD COLUMN n_{name} BIGINT")
        if "rows_kept" not in have:
            con.execute("ALTER TABLE ingests ADD COLUMN rows_kept BOOLEAN DEFAULT true")
        con.execute(_CURRENT_DDL)
        con.execute(_HISTORY_DDL)
        for name in CENTRE_TABLES:
            con.execute(_current_view(name))
        con.execute(BRCA_VIEW)

    @staticmethod
    def _add_new_columns(con: duckdb.DuckDBPyConnection, name: str) -> None:
        """Add columns a contract gained since the table was made (missing in older rows)."""
        have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                          "WHERE table_name = ?", [name]).fetchall()}
        for col in CONTRACTS[name].columns:
            if col.name not in have:
                con.execute(f"ALTER TABLE {name} ADD COLUMN {col.name} {SQL_TYPES[col.kind]}")

    def _migrate_v1(self, con: duckdb.DuckDBPyConnection) -> None:
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
                file=self.path)
        con.begin()
        try:
            con.execute("DROP VIEW IF EXISTS brca_registry")
            con.execute(_CURRENT_DDL)
            for centre, version in latest:
                self._set_current(con, centre, version)
            for name in CENTRE_TABLES:
                self._migrate_table_v1(con, name)
            con.execute("ALTER TABLE ingests ADD COLUMN rows_kept BOOLEAN DEFAULT true")
            con.execute("UPDATE ingests SET rows_kept = (version = (SELECT c.version FROM "
                        "current_versions c WHERE c.centre = ingests.centre))")
            if keys:
                con.execute("INSERT INTO store_meta VALUES ('key_fingerprint', ?)",
                            [next(iter(keys.values()))])
            con.execute("UPDATE store_meta SET value = ? WHERE key = 'schema_version'",
                        [str(STORE_SCHEMA_VERSION)])
            con.execute(_HISTORY_DDL)
            self._log_event(con, "migrate", detail=(
                f"store schema 1 -> {STORE_SCHEMA_VERSION}: each centre's latest version kept "
                "as current; earlier versions' rows had not been kept"))
            con.commit()
        except BaseException:
            con.rollback()
            raise
        log.warning("cohort store %s migrated from schema 1 to %d", self.path, STORE_SCHEMA_VERSION)

    def _migrate_table_v1(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        """Rebuild one per-centre table with a ``version`` column (rows: the current version)."""
        old = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = ?", [name]).fetchall()]
        if old:
            con.execute(f"ALTER TABLE {name} RENAME TO {name}_v1")
        con.execute(_ddl(name))
        if not old:
            return
        cols = [c for c in _db_columns(name) if c != "version" and c in old]
        con.execute(f"INSERT INTO {name} (version, {', '.join(cols)}) SELECT c.version, "
                    + ", ".join(f"t.{c}" for c in cols) + f" FROM {name}_v1 t "
                    "JOIN current_versions c ON c.centre = t.centre")
        before = con.execute(f"SELECT count(*) FROM {name}_v1").fetchone()[0]
        after = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        if before != after:  # rows of a centre without an ingest record: keep the old store
            raise CohortError(f"cannot migrate this schema 1 store: {before - after} row(s) of "
                              f"table {name} belong to no recorded ingest", file=self.path)
        con.execute(f"DROP TABLE {name}_v1")

    # ------------------------------------------------------------------ key
    @staticmethod
    def _store_key(con: duckdb.DuckDBPyConnection) -> str | None:
        row = con.execute("SELECT value FROM store_meta WHERE key = 'key_fingerprint'").fetchone()
        return None if row is None else row[0]

    def key_fingerprint(self) -> str | None:
        """Fingerprint of the store's pseudonymisation key (None before the first ingest)."""
        if not self.path.exists():
            return None
        with self._connect(read_only=True) as con:
            return self._store_key(con)

    def _load_key(self, key: bytes | None) -> bytes:
        """The given key or :func:`load_key`; never creates a key for a store that has one."""
        if key is not None:
            return check_key(key)
        stored = self.key_fingerprint()
        try:
            return load_key(create=stored is None)
        except PseudonymKeyError as exc:
            if stored is None:
                raise
            raise PseudonymKeyError(
                f"{exc.message}. The store has data under the key with fingerprint {stored}, so "
                "no new key is created (it would give every patient a new pseudonym): use the "
                "store's key, or change it with `icipredict cohort rekey`",
                file=self.path) from None

    def _check_key(self, con: duckdb.DuckDBPyConnection, fingerprint: str) -> None:
        stored = self._store_key(con)
        if stored is not None and stored != fingerprint:
            raise PseudonymKeyError(
                f"the pseudonymisation key in use (fingerprint {fingerprint}) is not this "
                f"store's key (fingerprint {stored}): its pseudonyms would not match the stored "
                "ones. Use the store's key (ICIPREDICT_PSEUDONYM_KEY or the key file), or change "
                "the store's key with `icipredict cohort rekey --new-key-file PATH`",
                file=self.path)

    # ------------------------------------------------------------------ ingest
    def ingest(self, cohort: Cohort, *, centre: str, content_hash: str, source: str = "",
               key: bytes | None = None, accept_changes: bool = False,
               max_drop: float | None = None) -> IngestResult:
        """Validate, pseudonymise and store one centre's cohort as its new current version.

        Parameters
        ----------
        cohort
            The centre's harmonised cohort with the centre's own IDs.
        centre
            Centre name.
        content_hash
            SHA-256 of the source files (:func:`source_content_hash`). Identical content as the
            centre's current version is a no-op.
        source
            The source's path (``rekey`` re-reads it), recorded with the version.
        key
            Pseudonymisation secret (default :func:`icipredict.cohort.pseudonym.load_key`; it is
            created only for a store that does not exist yet).
        accept_changes
            Store the version even when :func:`change_problems` finds implausible changes
            (they are logged in ``history``).
        max_drop
            Largest accepted share of a table's current rows missing from the new data (default
            :func:`max_drop_from_env`).

        Returns
        -------
        IngestResult

        Raises
        ------
        CohortError
            If the cohort fails validation, names another centre, or changes implausibly; the
            store is unchanged.
        PseudonymKeyError
            If the key is too short or not the store's key.
        StoreLockedError
            If another process holds the store beyond the lock timeout.

        Notes
        -----
        The cohort is the centre's *whole* data: a table it leaves empty (e.g. a MAF-only source
        has no patients) is empty in the new version. ``panel_genes`` rows are added to the
        shared table, never removed. Image/mask URIs are stored as given (the feature stage opens
        them); a warning is logged when one contains the patient's source ID.
        """
        if not centre or not centre.strip():
            raise CohortError("centre name is empty")
        cohort.validate(source=source or None)
        patients_centre = cohort.patients["centre"].dropna().astype(str)
        other = sorted(set(patients_centre) - {centre})
        if other:
            raise CohortError(f"patients belong to centre(s) {other}, not to the centre being "
                              f"ingested {centre!r}", file=source or None, column="centre")
        max_drop = max_drop_from_env() if max_drop is None else float(max_drop)
        key = self._load_key(key)
        fingerprint = key_fingerprint(key)
        tables = self._prepare(cohort, centre=centre, key=key, source=source or None)
        counts = {name: len(df) for name, df in tables.items()}

        with self._connect() as con:
            self._check_key(con, fingerprint)
            current = self._current(con, centre)
            if current is not None and current[1] == content_hash:
                log.info("centre %s: content unchanged (version %s)", centre, current[0])
                return IngestResult(centre=centre, version=current[0], changed=False,
                                    content_hash=content_hash, row_counts=self._counts(con, centre),
                                    ingested_at=current[2], previous_version=current[0])
            problems = change_problems(
                {n: tables[n] for n in CENTRE_TABLES},
                None if current is None else self._version_tables(con, centre, current[0]),
                max_drop=max_drop)
            if problems and not accept_changes:
                was = "" if current is None else f" (current: version {current[0]})"
                raise CohortError(
                    f"ingest of centre {centre!r} refused{was}, nothing was written:\n  - "
                    + "\n  - ".join(problems)
                    + "\nIf this is intended, ingest again with --accept-changes "
                    "(accept_changes=True)", file=source or None)
            version, now = self._write_version(
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

    def _write_version(self, con: duckdb.DuckDBPyConnection, centre: str,
                       tables: dict[str, pd.DataFrame], *, content_hash: str, fingerprint: str,
                       source: str, previous: int | None,
                       problems: list[str]) -> tuple[int, datetime]:
        """Store ``tables`` as the centre's next version and make it current: one transaction."""
        version = self._next_version(con, centre)
        now = _utcnow()
        con.begin()
        try:
            for name in CENTRE_TABLES:
                self._insert(con, name, tables[name].assign(version=version))
            self._insert(con, "panel_genes", tables["panel_genes"])
            self._record_version(con, centre, version, content_hash, fingerprint, now, source,
                                 {name: len(df) for name, df in tables.items()})
            if self._store_key(con) is None:
                con.execute("INSERT INTO store_meta VALUES ('key_fingerprint', ?)", [fingerprint])
            self._set_current(con, centre, version)
            detail = ("changes accepted: " + "; ".join(problems)) if problems else None
            self._log_event(con, "ingest", centre=centre, version=version, previous=previous,
                            fingerprint=fingerprint, detail=detail, at=now)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return version, now

    @staticmethod
    def _current(con: duckdb.DuckDBPyConnection, centre: str) -> tuple | None:
        """``(version, content_hash, ingested_at)`` of the centre's current version, or None."""
        return con.execute(
            "SELECT i.version, i.content_hash, i.ingested_at FROM current_versions c "
            "JOIN ingests i ON i.centre = c.centre AND i.version = c.version "
            "WHERE c.centre = ?", [centre]).fetchone()

    @staticmethod
    def _next_version(con: duckdb.DuckDBPyConnection, centre: str) -> int:
        return con.execute("SELECT coalesce(max(version), 0) + 1 FROM ingests WHERE centre = ?",
                           [centre]).fetchone()[0]

    @staticmethod
    def _version_tables(con: duckdb.DuckDBPyConnection, centre: str,
                        version: int) -> dict[str, pd.DataFrame]:
        """The columns :func:`change_problems` compares, of one stored version of a centre."""
        out = {}
        for name in CENTRE_TABLES:
            cols = _compared_columns(name)
            if cols:
                out[name] = con.execute(f"SELECT {', '.join(cols)} FROM {name} "
                                        "WHERE centre = ? AND version = ?", [centre, version]).df()
            else:
                n = con.execute(f"SELECT count(*) FROM {name} WHERE centre = ? AND version = ?",
                                [centre, version]).fetchone()[0]
                out[name] = pd.DataFrame(index=range(n))
        return out

    @staticmethod
    def _record_version(con: duckdb.DuckDBPyConnection, centre: str, version: int,
                        content_hash: str, fingerprint: str, at: datetime, source: str,
                        counts: dict[str, int]) -> None:
        ingest_id = con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchone()[0]
        names = list(CONTRACTS)
        con.execute(
            "INSERT INTO ingests (ingest_id, centre, version, content_hash, key_fingerprint, "
            "ingested_at, source, " + ", ".join(f"n_{n}" for n in names)
            + ") VALUES (?, ?, ?, ?, ?, ?, ?, " + ", ".join("?" for _ in names) + ")",
            [ingest_id, centre, version, content_hash, fingerprint, at, source,
             *[counts[n] for n in names]])

    @staticmethod
    def _set_current(con: duckdb.DuckDBPyConnection, centre: str, version: int) -> None:
        con.execute("INSERT INTO current_versions VALUES (?, ?) "
                    "ON CONFLICT (centre) DO UPDATE SET version = excluded.version",
                    [centre, version])

    @staticmethod
    def _log_event(con: duckdb.DuckDBPyConnection, event: str, *, centre: str | None = None,
                   version: int | None = None, previous: int | None = None,
                   fingerprint: str | None = None, detail: str | None = None,
                   at: datetime | None = None) -> None:
        event_id = con.execute("SELECT coalesce(max(event_id), 0) + 1 FROM history").fetchone()[0]
        con.execute("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [event_id, at or _utcnow(), event, centre, version, previous, fingerprint,
                     detail])

    @staticmethod
    def _prepare(cohort: Cohort, *, centre: str, key: bytes,
                 source: str | None) -> dict[str, pd.DataFrame]:
        """Typed, pseudonymised copies of the cohort's tables (centre set, no version yet)."""
        out: dict[str, pd.DataFrame] = {}
        for name, df in cohort.tables().items():
            df = df.drop(columns=[SOURCE_ROW], errors="ignore")
            typed = _typed(df, name, source)
            if name == "imaging":
                _warn_ids_in_uris(typed)
            for col in ID_COLUMNS.get(name, ()):
                typed[col] = pseudonymise_series(typed[col], centre=centre,
                                                 kind=_ID_KIND[col], key=key)
            if name in CENTRE_TABLES:
                typed["centre"] = centre
            cols = [c for c in _db_columns(name) if c != "version"]
            out[name] = typed.reset_index(drop=True)[cols]
        return out

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, name: str, df: pd.DataFrame) -> None:
        if df.empty:
            return
        con.register("_ingest_rows", df)
        try:
            cols = ", ".join(df.columns)
            conflict = " ON CONFLICT DO NOTHING" if name == "panel_genes" else ""
            con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _ingest_rows{conflict}")
        finally:
            con.unregister("_ingest_rows")

    @staticmethod
    def _counts(con: duckdb.DuckDBPyConnection, centre: str) -> dict[str, int]:
        """Rows of the centre's current version per table (``panel_genes``: rows it sent)."""
        counts = {
            name: con.execute(f"SELECT count(*) FROM current_{name} WHERE centre = ?",
                              [centre]).fetchone()[0]
            for name in CENTRE_TABLES
        }
        row = con.execute(
            "SELECT i.n_panel_genes FROM current_versions c JOIN ingests i "
            "ON i.centre = c.centre AND i.version = c.version WHERE c.centre = ?",
            [centre]).fetchone()
        counts["panel_genes"] = int(row[0]) if row and row[0] is not None else 0
        return counts

    # ------------------------------------------------------------------ restore and rekey
    def restore(self, centre: str, version: int) -> IngestResult:
        """Make a stored version of a centre current again (logged as a ``restore`` event).

        Parameters
        ----------
        centre
            The centre.
        version
            One of its stored versions (:meth:`versions`).

        Returns
        -------
        IngestResult
            ``changed`` is False when the version was current already.

        Raises
        ------
        CohortError
            If the store, the centre or the version does not exist.
        """
        if not self.path.exists():
            raise CohortError("no cohort store here yet; nothing to restore", file=self.path)
        with self._connect() as con:
            stored = [r[0] for r in con.execute(
                "SELECT version FROM ingests WHERE centre = ? ORDER BY version",
                [centre]).fetchall()]
            if not stored:
                known = [r[0] for r in con.execute(
                    "SELECT DISTINCT centre FROM ingests ORDER BY centre").fetchall()]
                raise CohortError(f"centre {centre!r} is not in the store (stored: {known})",
                                  file=self.path)
            if int(version) not in stored:
                raise CohortError(f"centre {centre!r} has no version {version} (stored "
                                  f"versions: {stored})", file=self.path)
            current = self._current(con, centre)
            row = con.execute("SELECT content_hash, ingested_at, rows_kept FROM ingests "
                              "WHERE centre = ? AND version = ?", [centre, version]).fetchone()
            if row[2] is False:
                raise CohortError(f"version {version} of centre {centre!r} cannot be restored: it "
                                  "was stored before store schema 2, which kept only each "
                                  "centre's latest rows", file=self.path)
            if current is not None and current[0] == version:
                return IngestResult(centre=centre, version=version, changed=False,
                                    content_hash=row[0], row_counts=self._counts(con, centre),
                                    ingested_at=row[1], previous_version=version)
            con.begin()
            try:
                self._set_current(con, centre, version)
                self._log_event(con, "restore", centre=centre, version=version,
                                previous=None if current is None else current[0],
                                fingerprint=self._store_key(con))
                con.commit()
            except BaseException:
                con.rollback()
                raise
            counts = self._counts(con, centre)
        log.info("centre %s: version %d restored (was version %s)", centre, version,
                    None if current is None else current[0])
        return IngestResult(centre=centre, version=int(version), changed=True,
                            content_hash=row[0], row_counts=counts, ingested_at=row[1],
                            previous_version=None if current is None else current[0])

    def rekey(self, new_key: bytes, *, drop_unreproducible: bool = False,
              load: Callable[..., Cohort] | None = None) -> RekeyResult:
        """Re-pseudonymise every stored version under a new key, all-or-nothing.

        Pseudonyms are one-way (HMAC of the centre's own ID) and the store keeps no source ID,
        so a stored pseudonym cannot be turned into the new key's pseudonym. Each version is
        therefore re-derived from its recorded source (the path in ``ingests.source``): the
        source must still hold the same content (its content hash is checked) and load to the
        same row counts; its rows are then replaced by the same rows under the new key. The old
        key is not needed (a lost key can be replaced this way).

        Parameters
        ----------
        new_key
            The new secret (at least :data:`~icipredict.cohort.pseudonym.MIN_KEY_LENGTH`
            characters).
        drop_unreproducible
            Remove versions that cannot be re-derived (source gone or changed) instead of
            refusing the whole rekey. A centre's current version is never dropped.
        load
            Source loader ``load(path, centre=...) -> Cohort`` (default
            :func:`icipredict.cohort.loaders.load_source`).

        Returns
        -------
        RekeyResult

        Raises
        ------
        CohortError
            If a version cannot be re-derived (and may not be dropped), or the new key is the
            store's key already; the store is unchanged.
        """
        check_key(new_key, origin="the new pseudonymisation key")
        if not self.path.exists():
            raise CohortError("no cohort store here yet; nothing to rekey", file=self.path)
        if load is None:
            from icipredict.cohort.loaders import load_source as load
        new_fp = key_fingerprint(new_key)
        with self._connect() as con:  # the write lock is held throughout: nobody sees half
            old_fp = self._store_key(con)
            if old_fp == new_fp:
                raise CohortError(f"the new key is the store's key already (fingerprint {new_fp})",
                                  file=self.path)
            versions = con.execute("SELECT * FROM ingests ORDER BY centre, version").df()
            current = dict(con.execute("SELECT centre, version FROM current_versions").fetchall())
            records = [r for r in versions.to_dict("records")
                       if pd.isna(r["rows_kept"]) or bool(r["rows_kept"])]
            bad = [(r["centre"], int(r["version"]), why) for r in records
                   if (why := _source_changed(r))]
            self._refuse_unreproducible(bad, current, drop_unreproducible)
            con.begin()
            try:
                for rec in records:
                    this = (rec["centre"], int(rec["version"]))
                    why = next((b[2] for b in bad if b[:2] == this), "")
                    why = why or self._rekey_version(con, rec, new_key, load)
                    if why:
                        bad = sorted({*bad, (rec["centre"], int(rec["version"]), why)})
                        self._refuse_unreproducible(bad, current, drop_unreproducible)
                        self._drop_version(con, rec["centre"], int(rec["version"]))
                con.execute("UPDATE ingests SET key_fingerprint = ?", [new_fp])  # listed too
                con.execute("INSERT INTO store_meta VALUES ('key_fingerprint', ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [new_fp])
                dropped = ", ".join(f"{c} v{v}" for c, v, _ in bad)
                self._log_event(con, "rekey", fingerprint=new_fp, detail=(
                    f"key {old_fp} -> {new_fp}; {len(records) - len(bad)} version(s) re-derived "
                    "from their sources" + (f"; dropped (not re-derivable): {dropped}"
                                            if bad else "")))
                con.commit()
            except BaseException:
                con.rollback()
                raise
        done = tuple((r["centre"], int(r["version"])) for r in records
                     if (r["centre"], int(r["version"])) not in {b[:2] for b in bad})
        log.warning("store %s rekeyed from %s to %s: %d version(s) re-derived, %d dropped",
                    self.path, old_fp, new_fp, len(done), len(bad))
        return RekeyResult(old_fingerprint=old_fp, new_fingerprint=new_fp, rekeyed=done,
                           dropped=tuple(bad))

    def _refuse_unreproducible(self, bad: list[tuple[str, int, str]], current: dict[str, int],
                               drop: bool) -> None:
        """Raise unless every version in ``bad`` may be dropped."""
        stuck = [b for b in bad if current.get(b[0]) == b[1]]
        if not bad or (drop and not stuck):
            return
        raise CohortError(
            "rekey refused, nothing was changed: these versions cannot be re-derived from their "
            "sources:\n  - " + "\n  - ".join(f"{c} version {v}: {why}" for c, v, why in bad)
            + ("\nA centre's current version must be re-derivable: put its source back, or "
               "restore another version first" if stuck else
               "\nPut their sources back, or drop these versions with --drop-unreproducible"
               " (drop_unreproducible=True)"), file=self.path)

    def _rekey_version(self, con: duckdb.DuckDBPyConnection, rec: dict, new_key: bytes,
                       load: Callable[..., Cohort]) -> str:
        """Replace one version's rows by its source's rows under ``new_key``; "" or why not."""
        centre, version, source = rec["centre"], int(rec["version"]), rec["source"]
        try:
            cohort = load(Path(source), centre=centre)
            cohort.validate(source=source)
            tables = self._prepare(cohort, centre=centre, key=new_key, source=source)
        except CohortError as exc:
            return f"its source no longer loads: {exc}"
        differ = [f"{n} {len(tables[n])} rows instead of {int(rec[f'n_{n}'])}"
                  for n in CENTRE_TABLES
                  if pd.notna(rec.get(f"n_{n}")) and len(tables[n]) != int(rec[f"n_{n}"])]
        if differ:
            return "its source now loads differently (" + ", ".join(differ) + ")"
        for name in CENTRE_TABLES:
            con.execute(f"DELETE FROM {name} WHERE centre = ? AND version = ?", [centre, version])
            self._insert(con, name, tables[name].assign(version=version))
        self._insert(con, "panel_genes", tables["panel_genes"])
        return ""

    @staticmethod
    def _drop_version(con: duckdb.DuckDBPyConnection, centre: str, version: int) -> None:
        for name in CENTRE_TABLES:
            con.execute(f"DELETE FROM {name} WHERE centre = ? AND version = ?", [centre, version])
        con.execute("DELETE FROM ingests WHERE centre = ? AND version = ?", [centre, version])

    # ------------------------------------------------------------------ queries
    def centres(self) -> list[str]:
        """Centres with a current version in the store, sorted."""
        with self._connect(read_only=True) as con:
            return [r[0] for r in con.execute(
                "SELECT centre FROM current_versions ORDER BY centre").fetchall()]

    def find_patients(self, *, patient_ids: Sequence[str] | None = None,
                      centres: Sequence[str] | None = None,
                      cancer_types: Sequence[str] | None = None,
                      started_from: str | date | None = None,
                      started_to: str | date | None = None,
                      without_outcome: bool = False) -> list[str]:
        """Pseudonymous IDs of the stored patients (current versions) matching every condition.

        The tumour board's store query (e.g. this week's new patients of one centre).

        Parameters
        ----------
        patient_ids
            Only these IDs; an ID not in the store raises (naming every unknown one).
        centres, cancer_types
            Only patients of these centres / cancer types (OncoTree codes as stored).
        started_from, started_to
            ICI start date (``treatments.start_date``) on or after / on or before this day
            (ISO ``YYYY-MM-DD``); patients without a start date are then left out.
        without_outcome
            Only patients with no recorded outcome yet (no response and no survival time).

        Returns
        -------
        list of str
            Patient IDs ordered by centre, then ID.
        """
        where, params = [], []
        if centres is not None:
            centres = [str(c) for c in centres]
            unknown = sorted(set(centres) - set(self.centres()))
            if unknown:
                raise CohortError(f"centre(s) {unknown} not in the store "
                                  f"(stored: {self.centres()})", column="centre")
            where.append("list_contains(?, p.centre)")
            params.append(centres)
        if cancer_types is not None:
            where.append("list_contains(?, p.cancer_type)")
            params.append([str(c) for c in cancer_types])
        bounds = {"started_from": started_from, "started_to": started_to}
        for name, op in (("started_from", ">="), ("started_to", "<=")):
            if bounds[name] is not None:
                where.append(f"t.start_date {op} ?")
                params.append(_as_day(bounds[name], name))
        if without_outcome:
            where.append("(o.patient_id IS NULL OR (o.bor IS NULL AND o.responder IS NULL "
                         "AND o.os_months IS NULL AND o.pfs_months IS NULL))")
        ids = None if patient_ids is None else list(dict.fromkeys(str(p) for p in patient_ids))
        if ids is not None:
            where.append("list_contains(?, p.patient_id)")
            params.append(ids)
        sql = ("SELECT p.patient_id FROM current_patients p "
               "LEFT JOIN current_treatments t ON t.centre = p.centre "
               "AND t.patient_id = p.patient_id "
               "LEFT JOIN current_outcomes o ON o.centre = p.centre AND o.patient_id = p.patient_id"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY p.centre, p.patient_id")
        with self._connect(read_only=True) as con:
            found = [r[0] for r in con.execute(sql, params).fetchall()]
            if ids is not None:
                known = {r[0] for r in con.execute(
                    "SELECT patient_id FROM current_patients WHERE list_contains(?, patient_id)",
                    [ids]).fetchall()}
                unknown = [p for p in ids if p not in known]
                if unknown:
                    raise CohortError(f"patient ID(s) not in the cohort store: {unknown[:10]}"
                                      f"{' ...' if len(unknown) > 10 else ''} (IDs are the "
                                      "store's pseudonyms, e.g. P-1a2b...)", file=self.path,
                                      column="patient_id")
        return found

    def table(self, name: str, *, all_versions: bool = False) -> pd.DataFrame:
        """One store table with its ``centre`` column: current rows, or every version's.

        Parameters
        ----------
        name
            A contract table, ``ingests``, ``history``, ``current_versions`` or
            ``brca_registry``.
        all_versions
            For a per-centre table: every stored version's rows, with a ``version`` column.
        """
        if name not in CONTRACTS and name not in ("ingests", "history", "current_versions",
                                                  "brca_registry"):
            raise KeyError(name)
        source = f"current_{name}" if name in CENTRE_TABLES and not all_versions else name
        with self._connect(read_only=True) as con:
            return con.execute(f"SELECT * FROM {source}").df()

    def cohort(self, centres: Sequence[str] | None = None, *,
               patient_ids: Sequence[str] | None = None) -> Cohort:
        """The stored (pseudonymised) cohort, current versions, as contract DataFrames.

        Parameters
        ----------
        centres
            Centres to include (default: all). ``panel_genes`` then holds the panels their
            samples use.
        patient_ids
            Only these (pseudonymous) patients, e.g. one patient scored at the tumour board;
            their samples' mutations and panels come along. Unknown IDs are simply absent.

        Returns
        -------
        Cohort
            Tables with contract columns and dtypes, rows ordered by centre and key.
        """
        if centres is not None:
            centres = list(centres)
            unknown = sorted(set(centres) - set(self.centres()))
            if unknown:
                raise CohortError(f"centre(s) {unknown} not in the store")
        with self._connect(read_only=True) as con:
            tables = {name: _as_contract(con.execute(*_cohort_query(name, centres, patient_ids))
                                         .df(), name) for name in CONTRACTS}
        return Cohort(**tables)

    def summary(self) -> pd.DataFrame:
        """Per centre (current version): patients, samples, modalities, responders, events.

        Columns: ``centre, patients, samples, with_mutations`` (patients with at least one
        variant), ``with_imaging`` (patients with an imaged lesion or radiomics), ``with_labs``
        (patients with at least one lab value), ``responders``, ``evaluable`` (patients with a
        known ``responder``), ``os_events, pfs_events``, ``median_followup_months`` (reverse
        Kaplan-Meier on OS: censoring as the event; NaN when not estimable), ``version`` (the
        current one), ``ingested_at``.
        """
        with self._connect(read_only=True) as con:
            df = con.execute(_SUMMARY_SQL).df()
            times = con.execute(
                "SELECT centre, os_months, os_event FROM current_outcomes "
                "WHERE os_months IS NOT NULL AND os_event IS NOT NULL").df()
        followup = {c: reverse_km_median(g["os_months"], g["os_event"])
                    for c, g in times.groupby("centre")}
        df.insert(df.columns.get_loc("version"), "median_followup_months",
                  df["centre"].map(followup).astype("float64"))
        int_cols = [c for c in df.columns if c not in
                    ("centre", "median_followup_months", "ingested_at")]
        df[int_cols] = df[int_cols].astype("int64")
        return df

    def brca_carriers(self) -> pd.DataFrame:
        """The BRCA1/2 somatic registry: one row per carrier variant across centres.

        Counts protein-altering variants only (:data:`NONSYNONYMOUS`), current versions only.
        Columns: ``centre, patient_id, sample_id, gene, hgvsp_short, variant_classification,
        vaf, cancer_type, drug, drug_class, prior_systemic_therapy, bor, responder, os_months,
        os_event, pfs_months, pfs_event``.
        """
        with self._connect(read_only=True) as con:
            df = con.execute("SELECT * FROM brca_registry "
                             "ORDER BY centre, patient_id, gene, hgvsp_short").df()
        for col in ("prior_systemic_therapy", "responder", "os_event", "pfs_event"):
            df[col] = df[col].astype("Int64")
        return df

    def versions(self, centre: str | None = None) -> pd.DataFrame:
        """Every stored version (all centres or one), oldest first, ``current`` marked.

        Columns: ``centre, version, current`` (bool), ``ingested_at`` (UTC), ``content_hash,
        key_fingerprint, source``, ``rows_kept`` (False: only listed, not restorable: stored
        before store schema 2) and ``n_<table>`` (rows per table).
        """
        where, params = ("WHERE i.centre = ?", [centre]) if centre else ("", [])
        with self._connect(read_only=True) as con:
            df = con.execute(
                "SELECT i.centre, i.version, c.version IS NOT NULL AS current, i.ingested_at, "
                "i.content_hash, i.key_fingerprint, i.source, i.rows_kept, "
                + ", ".join(f"i.n_{n}" for n in CONTRACTS)
                + " FROM ingests i LEFT JOIN current_versions c ON c.centre = i.centre AND "
                f"c.version = i.version {where} ORDER BY i.centre, i.version", params).df()
        return df

    def history(self, centre: str | None = None) -> pd.DataFrame:
        """Every event that changed the store (``ingest``, ``restore``, ``rekey``, ``migrate``).

        Columns: ``event_id, event_at`` (UTC), ``event, centre, version, previous_version,
        key_fingerprint, detail``. A rekey concerns every centre (``centre`` is missing).
        """
        where, params = ("WHERE centre = ? OR centre IS NULL", [centre]) if centre else ("", [])
        with self._connect(read_only=True) as con:
            return con.execute(f"SELECT * FROM history {where} ORDER BY event_id", params).df()


def _cohort_query(name: str, centres: list[str] | None,
                  patient_ids: Sequence[str] | None) -> tuple[str, list]:
    """SQL and parameters reading one contract table's current rows for :meth:`cohort`."""
    cols = ", ".join(CONTRACTS[name].column_names)
    params: list = []
    if name == "panel_genes":
        where = ""
        if centres is not None:
            where = (" WHERE panel IN (SELECT panel FROM current_samples "
                     "WHERE list_contains(?, centre))")
            params = [centres]
        order = " ORDER BY panel, hugo_symbol"
        source = name
    else:
        where = " WHERE list_contains(?, centre)" if centres is not None else ""
        params = [centres] if centres is not None else []
        key = CONTRACTS[name].key or ("sample_id", "hugo_symbol", "start_position")
        order = " ORDER BY centre, " + ", ".join(key)
        source = f"current_{name}"
    if patient_ids is not None:
        ids = [str(p) for p in patient_ids]
        in_samples = "(SELECT {} FROM current_samples WHERE list_contains(?, patient_id))"
        if "patient_id" in CONTRACTS[name].column_names:
            cond = "list_contains(?, patient_id)"
        elif "sample_id" in CONTRACTS[name].column_names:
            cond = f"sample_id IN {in_samples.format('sample_id')}"
        else:
            cond = f"panel IN {in_samples.format('panel')}"
        where += (" AND " if where else " WHERE ") + cond
        params = [*params, ids]
    return f"SELECT {cols} FROM {source}{where}{order}", params


def _utcnow() -> datetime:
    """Now in UTC, without tzinfo (as stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _source_changed(rec: dict) -> str:
    """Why a version's recorded source cannot re-derive it ("" when it still can)."""
    source = rec.get("source") or ""
    if not source:
        return "no source path was recorded"
    try:
        now = source_content_hash(source)
    except CohortError:
        return f"its source {source} is gone"
    if now != rec["content_hash"]:
        return f"its source {source} has changed since (content hash {now[:12]}, " \
               f"stored {str(rec['content_hash'])[:12]})"
    return ""


# ---------------------------------------------------------------------------------- plausibility
def _compared_columns(name: str) -> list[str]:
    """Columns of a table that :func:`change_problems` reads: its key and checked values."""
    key = list(CONTRACTS[name].key)
    values = [col for (table, col) in UNIT_CHECKS if table == name]
    return key + [c for c in values if c not in key]


def change_problems(new: dict[str, pd.DataFrame], old: dict[str, pd.DataFrame] | None, *,
                    max_drop: float = DEFAULT_MAX_DROP) -> list[str]:
    """Implausible changes of a centre's new data, against its current version.

    Rules (each gives one message naming the table, column, numbers and likely cause):

    1. **Dropped rows**: in a table with a key (patients, samples, labs, ...), the share of the
       current version's keys (pseudonymous IDs) absent from the new data; in a table without
       (mutations), the share by which the row count fell. More than ``max_drop`` is refused: a
       truncated file, a lost modality, or IDs that changed form (all pseudonyms change).
    2. **Unit shift**: for each column of :data:`UNIT_CHECKS`, the median of new/old over the
       patients present in both with positive values (>= :data:`MIN_VALUES` of them), else the
       ratio of the two medians (>= :data:`MIN_VALUES` values each); beyond the column's factor
       either way is refused.
    3. **Implausible times** (also at a centre's first ingest): the median ``os_months`` or
       ``pfs_months`` (>= :data:`MIN_VALUES` values) outside :data:`TIME_MEDIAN_RANGE`.

    Parameters
    ----------
    new
        The new data per centre table (store columns, at least those compared).
    old
        The current version's compared columns per table (None at a first ingest).
    max_drop
        Largest accepted share of dropped rows (0-1).

    Returns
    -------
    list of str
        One message per problem (empty: plausible).
    """
    problems = _time_range_problems(new.get("outcomes"))
    if old is None:
        return problems
    for name in CENTRE_TABLES:
        if name in old and name in new:
            problems += _drop_problems(name, new[name], old[name], max_drop)
    for (name, col), factor in UNIT_CHECKS.items():
        if name in old and name in new and col in new[name] and col in old[name]:
            problems += _unit_problems(name, col, factor, new[name], old[name])
    return problems


def _drop_problems(name: str, new: pd.DataFrame, old: pd.DataFrame, max_drop: float) -> list[str]:
    n_old = len(old)
    if n_old == 0:
        return []
    key = list(CONTRACTS[name].key)
    if key:
        old_keys = set(old[key].itertuples(index=False, name=None))
        lost = len(old_keys - set(new[key].itertuples(index=False, name=None)))
        what = (f"{lost} of the current version's {n_old} {name} rows are missing from the new "
                "data (or their IDs changed form)")
    else:
        lost = max(n_old - len(new), 0)
        what = f"{len(new)} {name} rows instead of the current version's {n_old}"
    share = lost / n_old
    if share <= max_drop:
        return []
    return [f"{what}: {share:.0%} fewer, more than the {max_drop:.0%} allowed (a truncated or "
            "partial file?)"]


def _unit_problems(name: str, col: str, factor: float, new: pd.DataFrame,
                   old: pd.DataFrame) -> list[str]:
    key = list(CONTRACTS[name].key)
    ratio, basis = None, ""
    if key:
        both = new[[*key, col]].merge(old[[*key, col]], on=key, suffixes=("_new", "_old"))
        a = pd.to_numeric(both[f"{col}_new"], errors="coerce")
        b = pd.to_numeric(both[f"{col}_old"], errors="coerce")
        ok = (a > 0) & (b > 0)
        if ok.sum() >= MIN_VALUES:
            ratio = float(np.median(a[ok] / b[ok]))
            basis = f"median ratio over the {int(ok.sum())} patients in both versions"
    if ratio is None:
        a = pd.to_numeric(new[col], errors="coerce").dropna()
        b = pd.to_numeric(old[col], errors="coerce").dropna()
        if len(a) < MIN_VALUES or len(b) < MIN_VALUES or not b.median() > 0:
            return []
        ratio = float(a.median() / b.median())
        basis = f"median {a.median():.3g} vs {b.median():.3g}"
    if 1 / factor <= ratio <= factor:
        return []
    unit = CONTRACTS[name].column(col).unit or "its unit"
    return [f"{name}.{col} is {ratio:.3g}x the current version's ({basis}); a change beyond "
            f"{factor:g}x either way signals a unit error (values not in {unit}: e.g. days "
            "vs months is 30.4x, g/L vs g/dL 10x)"]


def _time_range_problems(outcomes: pd.DataFrame | None) -> list[str]:
    if outcomes is None:
        return []
    low, high = TIME_MEDIAN_RANGE
    out = []
    for col in _TIME_COLUMNS:
        if col not in outcomes:
            continue
        values = pd.to_numeric(outcomes[col], errors="coerce").dropna()
        if len(values) < MIN_VALUES:
            continue
        median = float(values.median())
        if median < low:
            out.append(f"outcomes.{col}: median {median:.3g} months over {len(values)} patients "
                       f"is below {low:g} month (times in months declared as days, divided by "
                       "30.4?)")
        elif median > high:
            out.append(f"outcomes.{col}: median {median:.3g} months over {len(values)} patients "
                       f"is above {high:g} months (times in days or weeks declared as months?)")
    return out


def _as_day(value: str | date, name: str) -> date:
    """An ISO day (``YYYY-MM-DD``) or a date; a clear error naming the option otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise CohortError(f"{name} must be a day as YYYY-MM-DD, got {value!r}",
                          column=name) from None


def reverse_km_median(time: pd.Series, event: pd.Series) -> float:
    """Median follow-up by reverse Kaplan-Meier (censoring is the 'event'); NaN if not reached.

    Parameters
    ----------
    time
        Follow-up times (months).
    event
        1 = event (death), 0 = censored.
    """
    from lifelines import KaplanMeierFitter

    time = pd.to_numeric(time, errors="coerce")
    event = pd.to_numeric(event, errors="coerce")
    ok = time.notna() & event.notna()
    if not ok.any():
        return float("nan")
    kmf = KaplanMeierFitter().fit(time[ok], event_observed=1 - event[ok].astype(int))
    median = float(kmf.median_survival_time_)
    return median if np.isfinite(median) else float("nan")


def _as_contract(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Cast a table read from DuckDB to the contract dtypes of :func:`empty_table`."""
    dtypes = empty_table(name).dtypes
    out = df.copy()
    for col, dtype in dtypes.items():
        if str(dtype) == "object":
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        else:
            out[col] = out[col].astype(dtype)
    return out


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
