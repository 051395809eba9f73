"""Scan everything a run stored for patient or sample IDs that must never leave the cohort store.

Downloads every artifact of a run, and of the models the run logged (MLflow 3 keeps logged models
apart from run artifacts), and searches them, plus the run's params, tags, metric names and
dataset inputs, for any of the given ID strings. Zip archives (skops files, ``.mlflow`` bundles),
gzip files and Parquet tables are opened, so a compressed ID is still found.

IDs match as whole tokens: not inside a longer alphanumeric token, and a numeric ID not as part
of a decimal number (``0.8384`` is not sample ``8384``). Short numeric IDs (real cohorts use
4-digit sample numbers) also occur by chance in any file with numbers, so such *weak* IDs count as
a leak only when one file holds at least ``weak_min_distinct`` different ones, which is what a
leaked patient table looks like; every other (strong) ID fails on a single hit.

Registration (:func:`icipredict.tracking.registry.register`) scans every run before it registers
its model, for the IDs of the cohort the run was trained on (:func:`cohort_ids`, read from the
run's training lineage); a hit blocks it.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from icipredict.errors import IcipredictError, RegistryError

logger = logging.getLogger(__name__)


class ArtifactLeakError(RegistryError):
    """A run stored one or more forbidden IDs (registration refuses it)."""


@dataclass(frozen=True)
class Hit:
    """One forbidden ID found in a run: where (artifact path, member, or run field) and which."""

    location: str
    found: str

    def __str__(self) -> str:
        return f"{self.location}: {self.found!r}"


#: Numeric IDs with fewer digits than this are weak (see the module docstring).
WEAK_DIGITS = 6
#: Distinct weak IDs one file must hold to count as a leak.
WEAK_MIN_DISTINCT = 3


def is_weak(identifier: str) -> bool:
    """Whether an ID is a short number that also turns up by chance (e.g. ``8384``)."""
    return identifier.isdigit() and len(identifier) < WEAK_DIGITS


def _pattern(ids: Iterable[str]) -> re.Pattern[bytes] | None:
    """One regex over bytes matching any ID as a whole token (not inside a word or decimal)."""
    unique = sorted({str(i).strip() for i in ids if str(i).strip()}, key=len, reverse=True)
    if not unique:
        return None
    body = b"|".join(re.escape(i.encode()) for i in unique)
    return re.compile(rb"(?<![A-Za-z0-9.])(?:" + body + rb")(?![A-Za-z0-9])(?!\.[0-9])")


def _significant(hits: list[Hit], weak_min_distinct: int) -> list[Hit]:
    """Drop weak-ID hits in files with fewer than ``weak_min_distinct`` distinct weak IDs."""
    by_file: dict[str, set[str]] = {}
    for h in hits:
        if is_weak(h.found):
            by_file.setdefault(h.location.split("!")[0], set()).add(h.found)
    return [h for h in hits if not is_weak(h.found)
            or len(by_file[h.location.split("!")[0]]) >= weak_min_distinct]


def scan_bytes(data: bytes, pattern: re.Pattern[bytes], location: str) -> list[Hit]:
    """Search raw bytes (and, for zip/gzip/Parquet, their decoded content)."""
    hits = [Hit(location, m.group().decode(errors="replace")) for m in pattern.finditer(data)]
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for member in zf.namelist():
                    hits += scan_bytes(zf.read(member), pattern, f"{location}!{member}")
        except zipfile.BadZipFile:
            pass
    elif data[:2] == b"\x1f\x8b":
        try:
            hits += scan_bytes(gzip.decompress(data), pattern, f"{location}!gunzip")
        except OSError:
            pass
    elif data[:4] == b"PAR1":
        hits += scan_bytes(_parquet_text(data), pattern, f"{location}!parquet")
    # UTF-16 text (e.g. some Windows exports) would hide ASCII IDs behind NUL bytes.
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            text = data.decode("utf-16").encode()
            hits += scan_bytes(text, pattern, f"{location}!utf16")
        except UnicodeDecodeError:
            pass
    return hits


def _parquet_text(data: bytes) -> bytes:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    return table.to_pandas().to_csv(index=False).encode()


def scan_directory(root: str | Path, ids: Iterable[str]) -> list[Hit]:
    """Search every file under ``root`` for the IDs; returns every hit (weak ones unfiltered)."""
    pattern = _pattern(ids)
    if pattern is None:
        return []
    root = Path(root)
    hits: list[Hit] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        hits += scan_bytes(path.read_bytes(), pattern, str(path.relative_to(root)))
    return hits


def _run_text(run, logged_models) -> bytes:
    """The run's params, tags, metric names and dataset inputs as text to scan."""
    parts = [f"{k}={v}" for k, v in run.data.params.items()]
    parts += [f"{k}={v}" for k, v in run.data.tags.items()]
    parts += list(run.data.metrics)
    for dataset_input in (run.inputs.dataset_inputs if run.inputs else []):
        d = dataset_input.dataset
        parts += [d.name or "", d.source or "", d.schema or "", d.profile or "", d.digest or ""]
    for model in logged_models:
        parts += [f"{k}={v}" for k, v in (model.tags or {}).items()]
        parts += [f"{k}={v}" for k, v in (model.params or {}).items()]
    return "\n".join(parts).encode()


def scan_run(run_id: str, ids: Iterable[str], *, dst: str | Path | None = None,
             weak_min_distinct: int = WEAK_MIN_DISTINCT) -> list[Hit]:
    """Download every artifact of a run (and its logged models) and search them for the IDs.

    Parameters
    ----------
    run_id
        The MLflow run (the current tracking URI is used).
    ids
        Forbidden strings, e.g. every ``patient_id`` and ``sample_id`` of the cohort, raw and
        pseudonymised.
    dst
        Folder to download into (default: a temporary folder removed afterwards).
    weak_min_distinct
        Distinct short numeric IDs one file must hold to count (1: every hit counts).

    Returns
    -------
    list of Hit
        Every occurrence found; empty when the run is clean.
    """
    import mlflow

    ids = list(ids)
    pattern = _pattern(ids)
    if pattern is None:
        return []
    run = mlflow.get_run(run_id)
    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}'",
        output_format="list",
    )
    hits = scan_bytes(_run_text(run, models), pattern, "run metadata")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(dst) if dst is not None else Path(tmp)
        run_dir = root / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        if mlflow.MlflowClient().list_artifacts(run_id):
            mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(run_dir))
        hits += [Hit(f"run artifacts/{h.location}", h.found) for h in scan_directory(run_dir, ids)]
        for model in models:
            model_dir = root / "models" / model.model_id
            model_dir.mkdir(parents=True, exist_ok=True)
            mlflow.artifacts.download_artifacts(artifact_uri=model.artifact_location,
                                                dst_path=str(model_dir))
            hits += [Hit(f"model {model.name}/{h.location}", h.found)
                     for h in scan_directory(model_dir, ids)]
    hits = _significant(hits, weak_min_distinct)
    logger.info("scanned run %s for %d IDs: %d hit(s)", run_id, len(set(ids)), len(hits))
    return hits


def _training_sources(run_id: str) -> list[tuple[str, Path]]:
    """``(kind, path)`` of every cohort source in the run's training lineage: ``store`` (the
    DuckDB file) or ``files`` (a column map)."""
    from icipredict.tracking.lineage import lineage_of_run

    out: list[tuple[str, Path]] = []
    for dataset in lineage_of_run(run_id):
        if dataset["context"] != "training":
            continue
        query = dataset["profile"].get("query") or {}
        if query.get("column_map_paths"):
            out += [("files", Path(p)) for p in query["column_map_paths"]]
            continue
        uri = str(dataset["source"])
        path = Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)
        if "centres" in query or path.suffix == ".duckdb":
            out.append(("store", path))
        else:
            logger.warning("run %s: training source %s is neither a store nor column maps; "
                           "its IDs are not scanned for", run_id, path.name)
    return out


def cohort_ids(run_id: str) -> set[str]:
    """Patient and sample IDs of the cohort a run was trained on: what its artifacts may not hold.

    Read from the run's training lineage (:mod:`icipredict.tracking.lineage`): for a store, every
    pseudonymous patient and sample ID it holds (all versions, all centres); for column maps,
    the source files' own IDs. Empty for a run without training lineage.

    Raises
    ------
    ValueError
        When a recorded source cannot be read (moved, deleted, locked): the run cannot be
        checked, so it must not be registered.
    """
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore

    ids: set[str] = set()
    for kind, path in _training_sources(run_id):
        try:
            if kind == "store":
                store = CohortStore(path)
                tables = [store.table("patients", all_versions=True)["patient_id"],
                          store.table("samples", all_versions=True)["sample_id"]]
            else:
                cohort = load_source(path)
                tables = [cohort.patients["patient_id"], cohort.samples["sample_id"]]
        except (IcipredictError, OSError) as exc:
            raise ValueError(f"run {run_id} cannot be scanned for patient IDs: its training "
                             f"cohort {path} cannot be read ({exc})") from exc
        for column in tables:
            ids.update(str(v) for v in column.dropna())
    return ids


def assert_run_clean(run_id: str, ids: Iterable[str], *, max_shown: int = 20,
                     weak_min_distinct: int = WEAK_MIN_DISTINCT) -> None:
    """Raise :class:`ArtifactLeakError` listing the hits when the run stored any forbidden ID."""
    hits = scan_run(run_id, ids, weak_min_distinct=weak_min_distinct)
    if hits:
        shown = "\n".join(f"  - {h}" for h in hits[:max_shown])
        more = f"\n  ... and {len(hits) - max_shown} more" if len(hits) > max_shown else ""
        raise ArtifactLeakError(
            f"run {run_id} stored {len(hits)} forbidden ID occurrence(s):\n{shown}{more}"
        )
