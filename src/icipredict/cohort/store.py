"""The cohort store: one embedded DuckDB file holding every centre's pseudonymised cohort.

Tables are the contract tables of :mod:`icipredict.cohort.schema` with typed columns, each
per-centre table carrying a ``centre`` column (``panel_genes`` is shared by all centres), plus
``ingests`` (one row per stored version of a centre's data: content hash, key fingerprint, row
counts, time, source) and the view ``brca_registry``.

An ingest validates the cohort, pseudonymises its IDs (:mod:`icipredict.cohort.pseudonym`) and
replaces that centre's rows in every table inside ONE transaction: it either fully happens or
leaves the store as it was. Re-sending identical content (same content hash, same key) changes
nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from icipredict import config
from icipredict.cohort.pseudonym import key_fingerprint, load_key, pseudonymise_series
from icipredict.cohort.schema import (
    CONTRACTS,
    ID_COLUMNS,
    SOURCE_ROW,
    Cohort,
    CohortError,
    empty_table,
)

log = logging.getLogger(__name__)

#: Bumped when the store's table layout changes.
STORE_SCHEMA_VERSION = 1

#: Contract column kind -> DuckDB type.
SQL_TYPES: dict[str, str] = {
    "str": "VARCHAR", "float": "DOUBLE", "int": "BIGINT", "bool01": "TINYINT", "date": "DATE",
}

#: Tables holding one centre's rows (replaced on each ingest of that centre).
CENTRE_TABLES: tuple[str, ...] = tuple(n for n in CONTRACTS if n != "panel_genes")

#: Variant classes that count as a BRCA1/2 carrier in the registry: the protein-altering
#: ("non-synonymous") MAF classes, as maftools' default ``vc_nonSyn`` and cBioPortal's TMB do.
#: Silent, Intron, 3'/5'UTR, 3'/5'Flank, IGR, RNA and Splice_Region variants do not alter the
#: protein and are left out (a silent BRCA2 variant is not a carrier).
NONSYNONYMOUS: tuple[str, ...] = (
    "Missense_Mutation", "Nonsense_Mutation", "Frame_Shift_Del", "Frame_Shift_Ins",
    "In_Frame_Del", "In_Frame_Ins", "Splice_Site", "Nonstop_Mutation", "Translation_Start_Site",
)

_ID_KIND = {"patient_id": "patient", "sample_id": "sample"}
_LAB_VALUES = ("neutrophils", "lymphocytes", "nlr", "albumin", "platelets", "haemoglobin", "ldh")


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did.

    Attributes
    ----------
    centre
        The centre.
    version
        The centre's version now current in the store (1, 2, ...).
    changed
        False when the content was identical to the current version (nothing written).
    content_hash
        SHA-256 of the source files.
    row_counts
        Rows of the centre per table (``panel_genes``: rows sent, upserted into the shared table).
    ingested_at
        UTC time of the stored version.
    previous_version
        The version that was current before (None for a centre's first ingest).
    """

    centre: str
    version: int
    changed: bool
    content_hash: str
    row_counts: dict[str, int] = field(default_factory=dict)
    ingested_at: datetime | None = None
    previous_version: int | None = None


def _db_columns(name: str) -> list[str]:
    cols = CONTRACTS[name].column_names
    if name in CENTRE_TABLES and "centre" not in cols:
        cols = ["centre", *cols]
    return cols


def _ddl(name: str) -> str:
    contract = CONTRACTS[name]
    parts = []
    if name in CENTRE_TABLES and "centre" not in contract.column_names:
        parts.append("centre VARCHAR NOT NULL")
    for col in contract.columns:
        null = "" if col.nullable else " NOT NULL"
        parts.append(f"{col.name} {SQL_TYPES[col.kind]}{null}")
    if contract.key:
        key = list(contract.key) if name == "panel_genes" else ["centre", *contract.key]
        parts.append(f"PRIMARY KEY ({', '.join(key)})")
    return f"CREATE TABLE IF NOT EXISTS {name} (\n  " + ",\n  ".join(parts) + "\n)"


_INGESTS_DDL = (
    "CREATE TABLE IF NOT EXISTS ingests (\n"
    "  ingest_id BIGINT PRIMARY KEY,\n"
    "  centre VARCHAR NOT NULL,\n"
    "  version INTEGER NOT NULL,\n"
    "  content_hash VARCHAR NOT NULL,\n"
    "  key_fingerprint VARCHAR NOT NULL,\n"
    "  ingested_at TIMESTAMP NOT NULL,  -- UTC\n"
    "  source VARCHAR,\n"
    + "".join(f"  n_{name} BIGINT NOT NULL,\n" for name in CONTRACTS)
    + "  UNIQUE (centre, version)\n)"
)

_NONSYN_SQL = ", ".join(f"'{v.lower()}'" for v in NONSYNONYMOUS)

#: The network's BRCA1/2 somatic registry: every protein-altering BRCA1/BRCA2 variant of every
#: patient, with the patient's cancer type, ICI treatment and outcome.
BRCA_VIEW = f"""
CREATE OR REPLACE VIEW brca_registry AS
SELECT p.centre, p.patient_id, s.sample_id, m.hugo_symbol AS gene, m.hgvsp_short,
       m.variant_classification, m.vaf, p.cancer_type, t.drug, t.drug_class,
       t.prior_systemic_therapy, o.bor, o.responder, o.os_months, o.os_event,
       o.pfs_months, o.pfs_event
FROM mutations m
JOIN samples s ON s.centre = m.centre AND s.sample_id = m.sample_id
JOIN patients p ON p.centre = s.centre AND p.patient_id = s.patient_id
LEFT JOIN treatments t ON t.centre = p.centre AND t.patient_id = p.patient_id
LEFT JOIN outcomes o ON o.centre = p.centre AND o.patient_id = p.patient_id
WHERE upper(m.hugo_symbol) IN ('BRCA1', 'BRCA2')
  AND lower(m.variant_classification) IN ({_NONSYN_SQL})
"""

_SUMMARY_SQL = f"""
WITH v AS (
  SELECT centre, max(version) AS version, max(ingested_at) AS ingested_at
  FROM ingests GROUP BY centre),
p AS (SELECT centre, count(*) AS n FROM patients GROUP BY centre),
s AS (SELECT centre, count(*) AS n FROM samples GROUP BY centre),
mut AS (
  SELECT s.centre, count(DISTINCT s.patient_id) AS n
  FROM mutations m JOIN samples s ON s.centre = m.centre AND s.sample_id = m.sample_id
  GROUP BY s.centre),
img AS (
  SELECT centre, count(DISTINCT patient_id) AS n FROM (
    SELECT centre, patient_id FROM imaging UNION ALL SELECT centre, patient_id FROM radiomics)
  GROUP BY centre),
lab AS (
  SELECT centre, count(DISTINCT patient_id) AS n FROM labs
  WHERE coalesce({", ".join(_LAB_VALUES)}) IS NOT NULL GROUP BY centre),
o AS (
  SELECT centre, sum(responder) AS responders, count(responder) AS evaluable,
         sum(os_event) AS os_events, sum(pfs_event) AS pfs_events
  FROM outcomes GROUP BY centre)
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

    Examples
    --------
    >>> store = CohortStore("cohort.duckdb")                      # doctest: +SKIP
    >>> store.ingest(cohort, centre="Leiden", content_hash=h, source="leiden/")  # doctest: +SKIP
    >>> store.summary()                                           # doctest: +SKIP
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else Path(config.DEFAULT_STORE)

    # ------------------------------------------------------------------ connections and schema
    @contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.path.exists():
            raise CohortError("no cohort store here yet; ingest a centre first "
                              "(icipredict cohort ingest --centre NAME SOURCE)", file=self.path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path), read_only=read_only)
        try:
            if not read_only:
                self._ensure_schema(con)
            yield con
        finally:
            con.close()

    @staticmethod
    def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        row = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            con.execute("INSERT INTO store_meta VALUES ('schema_version', ?)",
                        [str(STORE_SCHEMA_VERSION)])
        elif int(row[0]) != STORE_SCHEMA_VERSION:
            raise CohortError(f"store schema version {row[0]} is not the supported "
                              f"{STORE_SCHEMA_VERSION}")
        for name in CONTRACTS:
            con.execute(_ddl(name))
        con.execute(_INGESTS_DDL)
        con.execute(BRCA_VIEW)

    # ------------------------------------------------------------------ ingest
    def ingest(self, cohort: Cohort, *, centre: str, content_hash: str, source: str = "",
               key: bytes | None = None) -> IngestResult:
        """Validate, pseudonymise and store one centre's cohort, all-or-nothing.

        Parameters
        ----------
        cohort
            The centre's harmonised cohort with the centre's own IDs.
        centre
            Centre name; its rows in every table are replaced.
        content_hash
            SHA-256 of the source files (:func:`source_content_hash`). Identical content (and the
            same pseudonymisation key) as the centre's current version is a no-op.
        source
            Human-readable description of the source (path), recorded with the version.
        key
            Pseudonymisation secret (default :func:`icipredict.cohort.pseudonym.load_key`).

        Returns
        -------
        IngestResult

        Raises
        ------
        CohortError
            If the cohort fails validation or names another centre; the store is unchanged.

        Notes
        -----
        The cohort is the centre's *whole* data: a table it leaves empty (e.g. a MAF-only source
        has no patients) empties that table for the centre. ``panel_genes`` rows are added to the
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
        key = load_key() if key is None else key
        fingerprint = key_fingerprint(key)
        tables = self._prepare(cohort, centre=centre, key=key, source=source or None)
        counts = {name: len(df) for name, df in tables.items()}

        with self._connect() as con:
            current = con.execute(
                "SELECT version, content_hash, key_fingerprint, ingested_at FROM ingests "
                "WHERE centre = ? ORDER BY version DESC LIMIT 1", [centre]).fetchone()
            if current is not None and current[1] == content_hash and current[2] == fingerprint:
                log.info("centre %s: content unchanged (version %s)", centre, current[0])
                return IngestResult(centre=centre, version=current[0], changed=False,
                                    content_hash=content_hash, row_counts=self._counts(con, centre),
                                    ingested_at=current[3], previous_version=current[0])
            version = 1 if current is None else current[0] + 1
            now = datetime.now(UTC).replace(tzinfo=None)
            con.begin()
            try:
                for name in CENTRE_TABLES:
                    con.execute(f"DELETE FROM {name} WHERE centre = ?", [centre])
                    self._insert(con, name, tables[name])
                self._insert(con, "panel_genes", tables["panel_genes"])
                ingest_id = con.execute(
                    "SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchone()[0]
                names = list(CONTRACTS)
                con.execute(
                    "INSERT INTO ingests (ingest_id, centre, version, content_hash, "
                    "key_fingerprint, ingested_at, source, "
                    + ", ".join(f"n_{n}" for n in names) + ") VALUES (?, ?, ?, ?, ?, ?, ?, "
                    + ", ".join("?" for _ in names) + ")",
                    [ingest_id, centre, version, content_hash, fingerprint, now, source,
                     *[counts[n] for n in names]])
                con.commit()
            except BaseException:
                con.rollback()
                raise
        log.info("centre %s: stored version %d (%s)", centre, version,
                 ", ".join(f"{k}={v}" for k, v in counts.items()))
        return IngestResult(centre=centre, version=version, changed=True,
                            content_hash=content_hash, row_counts=counts, ingested_at=now,
                            previous_version=None if current is None else current[0])

    @staticmethod
    def _prepare(cohort: Cohort, *, centre: str, key: bytes,
                 source: str | None) -> dict[str, pd.DataFrame]:
        """Typed, pseudonymised copies of the cohort's tables in store column order."""
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
            out[name] = typed.reset_index(drop=True)[_db_columns(name)]
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
        counts = {
            name: con.execute(f"SELECT count(*) FROM {name} WHERE centre = ?", [centre]).fetchone()[0]
            for name in CENTRE_TABLES
        }
        counts["panel_genes"] = con.execute(
            "SELECT n_panel_genes FROM ingests WHERE centre = ? ORDER BY version DESC LIMIT 1",
            [centre]).fetchone()[0]
        return counts

    # ------------------------------------------------------------------ queries
    def centres(self) -> list[str]:
        """Centres with data in the store, sorted."""
        with self._connect(read_only=True) as con:
            return [r[0] for r in con.execute(
                "SELECT DISTINCT centre FROM ingests ORDER BY centre").fetchall()]

    def find_patients(self, *, patient_ids: Sequence[str] | None = None,
                      centres: Sequence[str] | None = None,
                      cancer_types: Sequence[str] | None = None,
                      started_from: str | date | None = None,
                      started_to: str | date | None = None,
                      without_outcome: bool = False) -> list[str]:
        """Pseudonymous IDs of the stored patients matching every given condition.

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
        sql = ("SELECT p.patient_id FROM patients p "
               "LEFT JOIN treatments t ON t.centre = p.centre AND t.patient_id = p.patient_id "
               "LEFT JOIN outcomes o ON o.centre = p.centre AND o.patient_id = p.patient_id"
               + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY p.centre, p.patient_id")
        with self._connect(read_only=True) as con:
            found = [r[0] for r in con.execute(sql, params).fetchall()]
            if ids is not None:
                known = {r[0] for r in con.execute(
                    "SELECT patient_id FROM patients WHERE list_contains(?, patient_id)",
                    [ids]).fetchall()}
                unknown = [p for p in ids if p not in known]
                if unknown:
                    raise CohortError(f"patient ID(s) not in the cohort store: {unknown[:10]}"
                                      f"{' ...' if len(unknown) > 10 else ''} (IDs are the "
                                      "store's pseudonyms, e.g. P-1a2b...)", file=self.path,
                                      column="patient_id")
        return found

    def table(self, name: str) -> pd.DataFrame:
        """One store table (or ``ingests``) as stored, including the ``centre`` column."""
        if name not in CONTRACTS and name not in ("ingests", "brca_registry"):
            raise KeyError(name)
        with self._connect(read_only=True) as con:
            return con.execute(f"SELECT * FROM {name}").df()

    def cohort(self, centres: Sequence[str] | None = None, *,
               patient_ids: Sequence[str] | None = None) -> Cohort:
        """The stored (pseudonymised) cohort as contract DataFrames, for the feature stage.

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
        tables = {}
        with self._connect(read_only=True) as con:
            for name in CONTRACTS:
                cols = ", ".join(CONTRACTS[name].column_names)
                params: list = []
                if name == "panel_genes":
                    where = ""
                    if centres is not None:
                        where = (" WHERE panel IN (SELECT panel FROM samples "
                                 "WHERE list_contains(?, centre))")
                        params = [centres]
                    order = " ORDER BY panel, hugo_symbol"
                else:
                    where = " WHERE list_contains(?, centre)" if centres is not None else ""
                    params = [centres] if centres is not None else []
                    key = CONTRACTS[name].key or ("sample_id", "hugo_symbol", "start_position")
                    order = " ORDER BY centre, " + ", ".join(key)
                if patient_ids is not None:
                    ids = [str(p) for p in patient_ids]
                    in_samples = "(SELECT {} FROM samples WHERE list_contains(?, patient_id))"
                    cond = ("list_contains(?, patient_id)" if "patient_id" in
                            CONTRACTS[name].column_names
                            else f"sample_id IN {in_samples.format('sample_id')}"
                            if name in ("mutations", "germline_mutations")
                            else f"panel IN {in_samples.format('panel')}")
                    where += (" AND " if where else " WHERE ") + cond
                    params = [*params, ids]
                df = con.execute(f"SELECT {cols} FROM {name}{where}{order}", params).df()
                tables[name] = _as_contract(df, name)
        return Cohort(**tables)

    def summary(self) -> pd.DataFrame:
        """Per centre: patients, samples, modalities present, responders, events, follow-up.

        Columns: ``centre, patients, samples, with_mutations`` (patients with at least one
        variant), ``with_imaging`` (patients with an imaged lesion or radiomics), ``with_labs``
        (patients with at least one lab value), ``responders``, ``evaluable`` (patients with a
        known ``responder``), ``os_events, pfs_events``, ``median_followup_months`` (reverse
        Kaplan-Meier on OS: censoring as the event; NaN when not estimable), ``version``,
        ``ingested_at``.
        """
        with self._connect(read_only=True) as con:
            df = con.execute(_SUMMARY_SQL).df()
            times = con.execute(
                "SELECT centre, os_months, os_event FROM outcomes "
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

        Counts protein-altering variants only (:data:`NONSYNONYMOUS`). Columns: ``centre,
        patient_id, sample_id, gene, hgvsp_short, variant_classification, vaf, cancer_type, drug,
        drug_class, prior_systemic_therapy, bor, responder, os_months, os_event, pfs_months,
        pfs_event``.
        """
        with self._connect(read_only=True) as con:
            df = con.execute("SELECT * FROM brca_registry "
                             "ORDER BY centre, patient_id, gene, hgvsp_short").df()
        for col in ("prior_systemic_therapy", "responder", "os_event", "pfs_event"):
            df[col] = df[col].astype("Int64")
        return df

    def versions(self, centre: str | None = None) -> pd.DataFrame:
        """Every stored version (all centres or one), oldest first."""
        where, params = ("WHERE centre = ?", [centre]) if centre else ("", [])
        with self._connect(read_only=True) as con:
            return con.execute(
                "SELECT centre, version, ingested_at, content_hash, key_fingerprint, source, "
                + ", ".join(f"n_{n}" for n in CONTRACTS)
                + f" FROM ingests {where} ORDER BY centre, version", params).df()


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
