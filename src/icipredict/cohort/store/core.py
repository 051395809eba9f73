"""The :class:`CohortStore` class: the store's public API over the modules of this package."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from icipredict import config
from icipredict.cohort.pseudonym import check_key, key_fingerprint
from icipredict.cohort.schema import CONTRACTS, Cohort, CohortError
from icipredict.cohort.store.keys import RekeyResult, check_store_key, key_for_store, rekey_versions
from icipredict.cohort.store.locking import open_store
from icipredict.cohort.store.migrate import ensure_schema, schema_version
from icipredict.cohort.store.queries import (
    SUMMARY_SQL,
    as_contract,
    cohort_query,
    patient_query,
    reverse_km_median,
)
from icipredict.cohort.store.settings import max_drop_from_env
from icipredict.cohort.store.sql import CENTRE_TABLES
from icipredict.cohort.store.tables import prepare, store_key
from icipredict.cohort.store.versions import IngestResult, restore_version, store_version
from icipredict.errors import StoreError


class CohortStore:
    """The network's cohort store: an embedded DuckDB file.

    Parameters
    ----------
    path
        Database file (default :func:`icipredict.config.default_store`). Created on first ingest.
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
        self.path = Path(path) if path is not None else config.default_store()
        self.lock_timeout = lock_timeout

    # ------------------------------------------------------------------ connections and schema
    @contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the store file (a writing one makes the schema; a schema 1 store is
        migrated by the first connection), closed on exit."""
        if read_only and not self.path.exists():
            raise StoreError("no cohort store here yet; ingest a centre first "
                              "(icipredict cohort ingest --centre NAME SOURCE)", file=self.path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = open_store(self.path, read_only=read_only, lock_timeout=self.lock_timeout)
        try:
            version = schema_version(con, self.path) if read_only else None
            if version == 0:
                raise StoreError("no cohort store in this file yet (no centre was ingested)",
                                  file=self.path)
            if version == 1:
                con.close()  # a version 1 store is migrated once, by a writing connection
                with self._connect():
                    pass
                con = open_store(self.path, read_only=True, lock_timeout=self.lock_timeout)
            if not read_only:
                ensure_schema(con, self.path)
            yield con
        finally:
            con.close()

    # ------------------------------------------------------------------ key
    def key_fingerprint(self) -> str | None:
        """Fingerprint of the store's pseudonymisation key (None before the first ingest)."""
        if not self.path.exists():
            return None
        with self._connect(read_only=True) as con:
            return store_key(con)

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
        key = key_for_store(key, self.key_fingerprint(), self.path)
        fingerprint = key_fingerprint(key)
        tables = prepare(cohort, centre=centre, key=key, source=source or None)
        with self._connect() as con:
            check_store_key(con, fingerprint, self.path)
            return store_version(con, centre=centre, tables=tables, content_hash=content_hash,
                                 fingerprint=fingerprint, source=source,
                                 accept_changes=accept_changes, max_drop=max_drop)

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
        StoreError
            If the store, the centre or the version does not exist.
        """
        if not self.path.exists():
            raise StoreError("no cohort store here yet; nothing to restore", file=self.path)
        with self._connect() as con:
            return restore_version(con, self.path, centre, version)

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
        StoreError
            If a version cannot be re-derived (and may not be dropped), or the new key is the
            store's key already; the store is unchanged.
        """
        check_key(new_key, origin="the new pseudonymisation key")
        if not self.path.exists():
            raise StoreError("no cohort store here yet; nothing to rekey", file=self.path)
        if load is None:
            from icipredict.cohort.loaders import load_source

            load = load_source
        with self._connect() as con:  # the write lock is held throughout: nobody sees half
            return rekey_versions(con, self.path, new_key,
                                  drop_unreproducible=drop_unreproducible, load=load)

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
        if centres is not None:
            centres = [str(c) for c in centres]
            unknown = sorted(set(centres) - set(self.centres()))
            if unknown:
                raise CohortError(f"centre(s) {unknown} not in the store "
                                  f"(stored: {self.centres()})", column="centre")
        ids = None if patient_ids is None else list(dict.fromkeys(str(p) for p in patient_ids))
        sql, params = patient_query(centres=centres, cancer_types=cancer_types,
                                    started_from=started_from, started_to=started_to,
                                    without_outcome=without_outcome, patient_ids=ids)
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
            tables = {name: as_contract(con.execute(*cohort_query(name, centres, patient_ids))
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
            df = con.execute(SUMMARY_SQL).df()
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
