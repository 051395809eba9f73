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

Modules
-------
- :mod:`~icipredict.cohort.store.core`: the :class:`CohortStore` class (the public API).
- :mod:`~icipredict.cohort.store.sql`: table layout, DDL and the ``current_*`` and BRCA views.
- :mod:`~icipredict.cohort.store.migrate`: schema version, creation and the 1 -> 2 migration.
- :mod:`~icipredict.cohort.store.locking`: opening the file with a lock wait.
- :mod:`~icipredict.cohort.store.settings`: lock wait and row-drop share from the environment.
- :mod:`~icipredict.cohort.store.tables`: typed, pseudonymised rows in and out of a connection.
- :mod:`~icipredict.cohort.store.versions`: storing a new version, restoring an earlier one.
- :mod:`~icipredict.cohort.store.checks`: the re-ingest refusal rules.
- :mod:`~icipredict.cohort.store.keys`: one key per store, and rekey.
- :mod:`~icipredict.cohort.store.sources`: a source's files and content hash.
- :mod:`~icipredict.cohort.store.queries`: read queries (cohort, patient search, summary).
"""

from icipredict.cohort.store.checks import (
    MIN_VALUES,
    TIME_MEDIAN_RANGE,
    UNIT_CHECKS,
    change_problems,
)
from icipredict.cohort.store.core import CohortStore
from icipredict.cohort.store.keys import RekeyResult
from icipredict.cohort.store.locking import StoreLockedError
from icipredict.cohort.store.queries import reverse_km_median
from icipredict.cohort.store.settings import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_MAX_DROP,
    LOCK_TIMEOUT_ENV,
    MAX_DROP_ENV,
    lock_timeout_from_env,
    max_drop_from_env,
)
from icipredict.cohort.store.sources import file_sha256, source_content_hash, source_files
from icipredict.cohort.store.sql import (
    BRCA_VIEW,
    CENTRE_TABLES,
    NONSYNONYMOUS,
    SQL_TYPES,
    STORE_SCHEMA_VERSION,
)
from icipredict.cohort.store.versions import IngestResult

__all__ = [
    "BRCA_VIEW",
    "CENTRE_TABLES",
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_MAX_DROP",
    "LOCK_TIMEOUT_ENV",
    "MAX_DROP_ENV",
    "MIN_VALUES",
    "NONSYNONYMOUS",
    "SQL_TYPES",
    "STORE_SCHEMA_VERSION",
    "TIME_MEDIAN_RANGE",
    "UNIT_CHECKS",
    "CohortStore",
    "IngestResult",
    "RekeyResult",
    "StoreLockedError",
    "change_problems",
    "file_sha256",
    "lock_timeout_from_env",
    "max_drop_from_env",
    "reverse_km_median",
    "source_content_hash",
    "source_files",
]
