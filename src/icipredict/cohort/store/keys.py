"""One pseudonymisation key per store: check the key in use, and rekey every stored version."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from icipredict.cohort.pseudonym import PseudonymKeyError, check_key, key_fingerprint, load_key
from icipredict.cohort.schema import Cohort, CohortError
from icipredict.cohort.store.sources import source_content_hash
from icipredict.cohort.store.sql import CENTRE_TABLES
from icipredict.cohort.store.tables import (
    drop_version,
    insert,
    log_event,
    prepare,
    store_key,
)

log = logging.getLogger(__name__)


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


def key_for_store(key: bytes | None, stored: str | None, path: Path) -> bytes:
    """The key to pseudonymise with: ``key``, or :func:`load_key` (created only for a new store).

    Parameters
    ----------
    key
        A key given by the caller (checked), or None to load the configured one.
    stored
        Fingerprint of the store's key (None before its first ingest).
    path
        The store file (named in errors).

    Raises
    ------
    PseudonymKeyError
        If the key is too short, or none is configured and the store has a key already (a new
        key would give every patient a new pseudonym).
    """
    if key is not None:
        return check_key(key)
    try:
        return load_key(create=stored is None)
    except PseudonymKeyError as exc:
        if stored is None:
            raise
        raise PseudonymKeyError(
            f"{exc.message}. The store has data under the key with fingerprint {stored}, so "
            "no new key is created (it would give every patient a new pseudonym): use the "
            "store's key, or change it with `icipredict cohort rekey`",
            file=path) from None


def check_store_key(con: duckdb.DuckDBPyConnection, fingerprint: str, path: Path) -> None:
    """Refuse a key that is not the store's key (a store has one key).

    Raises
    ------
    PseudonymKeyError
        If the store has a key and ``fingerprint`` is not its fingerprint.
    """
    stored = store_key(con)
    if stored is not None and stored != fingerprint:
        raise PseudonymKeyError(
            f"the pseudonymisation key in use (fingerprint {fingerprint}) is not this "
            f"store's key (fingerprint {stored}): its pseudonyms would not match the stored "
            "ones. Use the store's key (ICIPREDICT_PSEUDONYM_KEY or the key file), or change "
            "the store's key with `icipredict cohort rekey --new-key-file PATH`",
            file=path)


def rekey_versions(con: duckdb.DuckDBPyConnection, path: Path, new_key: bytes, *,
                   drop_unreproducible: bool, load: Callable[..., Cohort]) -> RekeyResult:
    """Re-derive every stored version under ``new_key`` in one transaction (see
    :meth:`~icipredict.cohort.store.CohortStore.rekey`).

    Parameters
    ----------
    con
        A writing connection (its lock is held throughout: nobody sees half a rekey).
    path
        The store file (named in errors and logs).
    new_key
        The new secret, checked already.
    drop_unreproducible
        Remove versions that cannot be re-derived instead of refusing.
    load
        Source loader ``load(path, centre=...) -> Cohort``.

    Returns
    -------
    RekeyResult

    Raises
    ------
    CohortError
        If a version cannot be re-derived (and may not be dropped), or the new key is the
        store's key already; the store is unchanged.
    """
    new_fp = key_fingerprint(new_key)
    old_fp = store_key(con)
    if old_fp == new_fp:
        raise CohortError(f"the new key is the store's key already (fingerprint {new_fp})",
                          file=path)
    versions = con.execute("SELECT * FROM ingests ORDER BY centre, version").df()
    current = dict(con.execute("SELECT centre, version FROM current_versions").fetchall())
    records = [r for r in versions.to_dict("records")
               if pd.isna(r["rows_kept"]) or bool(r["rows_kept"])]
    bad = [(r["centre"], int(r["version"]), why) for r in records
           if (why := source_changed(r))]
    refuse_unreproducible(bad, current, drop_unreproducible, path)
    con.begin()
    try:
        for rec in records:
            this = (rec["centre"], int(rec["version"]))
            why = next((b[2] for b in bad if b[:2] == this), "")
            why = why or rekey_version(con, rec, new_key, load)
            if why:
                bad = sorted({*bad, (rec["centre"], int(rec["version"]), why)})
                refuse_unreproducible(bad, current, drop_unreproducible, path)
                drop_version(con, rec["centre"], int(rec["version"]))
        con.execute("UPDATE ingests SET key_fingerprint = ?", [new_fp])  # listed too
        con.execute("INSERT INTO store_meta VALUES ('key_fingerprint', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [new_fp])
        dropped = ", ".join(f"{c} v{v}" for c, v, _ in bad)
        log_event(con, "rekey", fingerprint=new_fp, detail=(
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
                path, old_fp, new_fp, len(done), len(bad))
    return RekeyResult(old_fingerprint=old_fp, new_fingerprint=new_fp, rekeyed=done,
                       dropped=tuple(bad))


def refuse_unreproducible(bad: list[tuple[str, int, str]], current: dict[str, int],
                          drop: bool, path: Path) -> None:
    """Raise unless every version in ``bad`` may be dropped.

    Raises
    ------
    CohortError
        If a version in ``bad`` is a centre's current one, or ``drop`` is false.
    """
    stuck = [b for b in bad if current.get(b[0]) == b[1]]
    if not bad or (drop and not stuck):
        return
    raise CohortError(
        "rekey refused, nothing was changed: these versions cannot be re-derived from their "
        "sources:\n  - " + "\n  - ".join(f"{c} version {v}: {why}" for c, v, why in bad)
        + ("\nA centre's current version must be re-derivable: put its source back, or "
           "restore another version first" if stuck else
           "\nPut their sources back, or drop these versions with --drop-unreproducible"
           " (drop_unreproducible=True)"), file=path)


def rekey_version(con: duckdb.DuckDBPyConnection, rec: dict, new_key: bytes,
                  load: Callable[..., Cohort]) -> str:
    """Replace one version's rows by its source's rows under ``new_key``; "" or why not."""
    centre, version, source = rec["centre"], int(rec["version"]), rec["source"]
    try:
        cohort = load(Path(source), centre=centre)
        cohort.validate(source=source)
        tables = prepare(cohort, centre=centre, key=new_key, source=source)
    except CohortError as exc:
        return f"its source no longer loads: {exc}"
    differ = [f"{n} {len(tables[n])} rows instead of {int(rec[f'n_{n}'])}"
              for n in CENTRE_TABLES
              if pd.notna(rec.get(f"n_{n}")) and len(tables[n]) != int(rec[f"n_{n}"])]
    if differ:
        return "its source now loads differently (" + ", ".join(differ) + ")"
    for name in CENTRE_TABLES:
        con.execute(f"DELETE FROM {name} WHERE centre = ? AND version = ?", [centre, version])
        insert(con, name, tables[name].assign(version=version))
    insert(con, "panel_genes", tables["panel_genes"])
    return ""


def source_changed(rec: dict) -> str:
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
