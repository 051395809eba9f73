"""Imaging features: radiomics for a cohort, with provenance, a cache and lesion aggregation.

The way of an image::

    imaging table row ──► hash image + mask ──► cache hit? ──► engine.extract ──► cache
    (patient, lesion,      (sha256)              (keyed by engine, version,
     image_uri, mask_uri)                          settings hash, image/mask hash)

Every feature row carries its provenance (:data:`PROVENANCE_COLUMNS`). Problems with one image
(unreadable file, mask on another grid, empty mask) become a row of the error report; the rest of
the cohort is still processed. Precomputed radiomics tables (a centre that sends features, not
images) enter through :func:`load_precomputed` with the same columns. :func:`radiomics_matrix`
turns the long table into one row per patient by a stated lesion-aggregation rule.

Run ``icipredict features ibsi-report`` to recompute the IBSI digital-phantom
table in ``docs/ibsi_phantom.md``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.cohort.schema import RADIOMICS, CohortError
from icipredict.features.dicom_io import split_uri
from icipredict.features.radiomics_engine import (
    ImageError,
    PyRadiomicsEngine,
    RadiomicsEngine,
    load_settings,
    read_image,
)

logger = logging.getLogger(__name__)

#: Provenance columns carried by every feature row.
PROVENANCE_COLUMNS = ["engine", "engine_version", "settings_hash", "image_sha256", "mask_sha256"]

#: Columns of the long feature table returned by :func:`extract_cohort` / :func:`load_precomputed`.
FEATURE_COLUMNS = RADIOMICS.column_names + PROVENANCE_COLUMNS

#: Columns of the per-image error report.
ERROR_COLUMNS = ["patient_id", "lesion_id", "file", "error"]

#: Lesion aggregation rules understood by :func:`radiomics_matrix`.
AGGREGATION_RULES = ("largest", "volume_weighted")

#: Volume features used to rank/weight lesions, in order of preference (mm^3).
VOLUME_FEATURES = ("original_shape_VoxelVolume", "original_shape_MeshVolume")

#: pyradiomics feature naming: ``<image type>_<class>_<feature>``.
_FEATURE_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9.\-]*_(shape|shape2D|firstorder|glcm|glrlm|glszm|gldm|ngtdm)_[A-Za-z0-9]+$")

__all__ = [
    "AGGREGATION_RULES", "ERROR_COLUMNS", "FEATURE_COLUMNS", "PROVENANCE_COLUMNS", "ImageError",
    "PyRadiomicsEngine", "RadiomicsEngine", "aggregate_lesions", "extract_cohort",
    "file_sha256", "load_precomputed", "load_settings", "radiomics_matrix", "read_image",
]


# --------------------------------------------------------------------------------------------
# Provenance and cache
# --------------------------------------------------------------------------------------------

def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of a DICOM folder (sorted relative names and contents of its files).

    A ``path#selector`` (an RTSTRUCT's ROI, a SEG's segment, a folder's series; see
    :func:`icipredict.features.dicom_io.split_uri`) hashes the file's hash with the selector, so
    two ROIs of one RTSTRUCT never share a cache entry.

    Raises
    ------
    ImageError
        When the path does not exist.
    """
    path = Path(path)
    base, selector = split_uri(path)
    if selector is not None:
        return hashlib.sha256(f"{file_sha256(base)}#{selector}".encode()).hexdigest()
    h = hashlib.sha256()
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(path)).encode() + b"\0")
            _update_from_file(h, f)
    elif path.is_file():
        _update_from_file(h, path)
    else:
        raise ImageError("file not found", file=path)
    return h.hexdigest()


def _update_from_file(h: Any, path: Path) -> None:
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


def _cache_path(cache_dir: Path, prov: dict[str, str], label: int) -> Path:
    # Directory per engine/version/settings so a settings change never reads stale entries.
    key = f"{prov['image_sha256'][:24]}-{prov['mask_sha256'][:24]}-L{label}.json"
    return (cache_dir / f"{prov['engine']}-{prov['engine_version']}" / prov["settings_hash"] / key)


def _read_cache(path: Path, prov: dict[str, str]) -> dict[str, float] | None:
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if payload.get("provenance") != prov:  # a truncated-hash collision or foreign file
        return None
    return {k: float(v) if v is not None else np.nan for k, v in payload["features"].items()}


def _write_cache(path: Path, prov: dict[str, str], features: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"provenance": prov,
               "features": {k: (None if not np.isfinite(v) else v) for k, v in features.items()}}
    # Atomic replace: parallel workers may write the same entry (same image in two rows).
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Cohort extraction
# --------------------------------------------------------------------------------------------

def _resolve(uri: Any, base_dir: Path) -> Path | None:
    if uri is None or (isinstance(uri, float) and np.isnan(uri)) or str(uri).strip() == "":
        return None
    text = str(uri).strip()
    if text.startswith("file://"):
        text = text[len("file://"):]
    p = Path(text)
    return p if p.is_absolute() else base_dir / p


def _lookup(engine: RadiomicsEngine, task: dict[str, Any],
            cache_dir: Path | None) -> dict[str, Any]:
    """Hash the image and mask and read the cache; never raises on bad files."""
    result: dict[str, Any] = {"task": task, "features": None, "provenance": None,
                              "error": None, "file": None, "cached": False, "cache_path": None}
    try:
        prov = {
            "engine": engine.name,
            "engine_version": str(engine.version),
            "settings_hash": engine.settings_hash,
            "image_sha256": file_sha256(task["image"]),
            "mask_sha256": file_sha256(task["mask"]),
        }
    except ImageError as exc:
        result.update(error=exc.message, file=exc.file)
        return result
    result["provenance"] = prov
    if cache_dir is not None:
        cpath = _cache_path(cache_dir, prov, task["label"])
        result["cache_path"] = cpath
        if cpath.is_file():
            features = _read_cache(cpath, prov)
            if features is not None:
                result.update(features=features, cached=True)
    return result


def _compute(engine: RadiomicsEngine, pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the engine on lesions missing from the cache; one bad image never stops the rest."""
    for result in pending:
        task = result["task"]
        try:
            result["features"] = engine.extract(task["image"], task["mask"], label=task["label"])
            if result["cache_path"] is not None:
                _write_cache(result["cache_path"], result["provenance"], result["features"])
        except ImageError as exc:
            result.update(error=exc.message, file=exc.file or str(task["image"]))
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop the cohort
            logger.exception("unexpected failure on %s", task["image"])
            result.update(error=f"{type(exc).__name__}: {exc}", file=str(task["image"]))
    return pending


def extract_cohort(
    imaging_table: pd.DataFrame,
    *,
    base_dir: str | Path = ".",
    engine: RadiomicsEngine | None = None,
    cache_dir: str | Path | None = None,
    n_jobs: int = 2,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute radiomics for every lesion of an imaging table.

    Parameters
    ----------
    imaging_table
        Rows of the ``imaging`` contract: ``patient_id``, ``lesion_id``, and either
        ``image_uri`` + ``mask_uri`` or ``radiomics_uri`` (a precomputed table, see
        :func:`load_precomputed`). The image is a NIfTI/NRRD file or a DICOM series folder
        (``folder#<SeriesInstanceUID>`` when it holds several); the mask a label map, or a DICOM
        RTSTRUCT or SEG naming its ROI or segment after ``#`` (``rs.dcm#GTV-1``; the only one
        when none is named), see :mod:`icipredict.features.dicom_io`. An optional
        ``mask_label`` column gives the lesion's value in a label map (default 1).
    base_dir
        Folder that relative URIs are relative to.
    engine
        Radiomics engine; default :class:`PyRadiomicsEngine` with the default settings.
    cache_dir
        Folder of the feature cache (keyed by engine, version, settings hash, image and mask
        hash); ``None`` disables caching.
    n_jobs
        Worker processes; patients are distributed across them. ``1`` runs in this process.
    progress
        Show a rich progress bar.

    Returns
    -------
    features : DataFrame
        Long table with :data:`FEATURE_COLUMNS` (``patient_id, lesion_id, feature, value`` plus
        provenance), one row per lesion and feature.
    errors : DataFrame
        One row per lesion that could not be processed: ``patient_id, lesion_id, file, error``.
    """
    engine = engine or PyRadiomicsEngine()
    cache = Path(cache_dir) if cache_dir is not None else None
    for col in ("patient_id", "lesion_id"):
        if col not in imaging_table.columns:
            raise CohortError(f"imaging table: required column missing ({col})", column=col)
    by_patient, precomputed, error_rows = _plan_lesions(imaging_table, Path(base_dir))
    results = _run(engine, by_patient, cache, n_jobs=n_jobs, progress=progress)
    frames, n_cached = _result_frames(results, error_rows)
    logger.info("radiomics: %d lesions computed, %d from cache, %d errors",
                len(frames) - n_cached, n_cached, len(error_rows))
    features = pd.concat(frames + precomputed, ignore_index=True) if frames or precomputed else (
        pd.DataFrame(columns=FEATURE_COLUMNS))
    features = features[FEATURE_COLUMNS].sort_values(
        ["patient_id", "lesion_id", "feature"], kind="stable").reset_index(drop=True)
    errors = pd.DataFrame(error_rows, columns=ERROR_COLUMNS)
    return features, errors


def _plan_lesions(imaging_table: pd.DataFrame, base_dir: Path) -> tuple[
        dict[str, list[dict[str, Any]]], list[pd.DataFrame], list[dict[str, Any]]]:
    """Sort the imaging rows into lesions to extract, precomputed rows and error rows.

    Returns the extraction tasks grouped by patient, the precomputed feature rows and the
    error rows of lesions that can be neither extracted nor read.
    """
    by_patient: dict[str, list[dict[str, Any]]] = {}
    error_rows: list[dict[str, Any]] = []
    precomputed: list[pd.DataFrame] = []
    precomputed_files: dict[Path, pd.DataFrame] = {}
    for row in imaging_table.to_dict("records"):
        pid, lid = str(row["patient_id"]), str(row["lesion_id"])
        image = _resolve(row.get("image_uri"), base_dir)
        mask = _resolve(row.get("mask_uri"), base_dir)
        table = _resolve(row.get("radiomics_uri"), base_dir)
        if image is not None and mask is not None:
            label = row.get("mask_label")
            label = 1 if label is None or pd.isna(label) else int(label)
            by_patient.setdefault(pid, []).append(
                {"patient_id": pid, "lesion_id": lid, "image": image, "mask": mask,
                 "label": label})
        elif table is not None:
            try:
                precomputed.append(_precomputed_lesion(table, pid, lid, precomputed_files))
            except CohortError as exc:
                error_rows.append({"patient_id": pid, "lesion_id": lid, "file": str(table),
                                   "error": exc.message})
        else:
            missing = "mask_uri" if image is not None else "image_uri"
            error_rows.append({"patient_id": pid, "lesion_id": lid, "file": None,
                               "error": f"no {missing} (and no radiomics_uri) for this lesion"})
    return by_patient, precomputed, error_rows


def _precomputed_lesion(table: Path, pid: str, lid: str,
                        loaded: dict[Path, pd.DataFrame]) -> pd.DataFrame:
    """The rows of one lesion in a precomputed table; each file is read once (``loaded``)."""
    if table not in loaded:
        # a per-lesion file takes its patient and lesion from this imaging row
        loaded[table] = load_precomputed(table, patient_id=pid, lesion_id=lid)
    pre = loaded[table]
    sel = pre[(pre["patient_id"] == pid) & (pre["lesion_id"] == lid)]
    if sel.empty:
        raise CohortError(f"no rows for patient {pid!r}, lesion {lid!r}", file=table)
    return sel


def _result_frames(results: list[dict[str, Any]],
                   error_rows: list[dict[str, Any]]) -> tuple[list[pd.DataFrame], int]:
    """Long feature frames of the extracted lesions and how many came from the cache.

    Failed lesions are appended to ``error_rows``.
    """
    frames = []
    n_cached = 0
    for res in results:
        task = res["task"]
        if res["error"] is not None:
            error_rows.append({"patient_id": task["patient_id"], "lesion_id": task["lesion_id"],
                               "file": str(res["file"]), "error": res["error"]})
            continue
        n_cached += res["cached"]
        feats = res["features"]
        df = pd.DataFrame({"patient_id": task["patient_id"], "lesion_id": task["lesion_id"],
                           "feature": list(feats), "value": np.asarray(list(feats.values()),
                                                                        dtype=float)})
        for k, v in res["provenance"].items():
            df[k] = v
        frames.append(df)
    return frames, n_cached


def _run(engine: RadiomicsEngine, by_patient: dict[str, list[dict[str, Any]]],
         cache: Path | None, *, n_jobs: int, progress: bool) -> list[dict[str, Any]]:
    """Look up the cache, then compute the misses serially or across a process pool."""
    from rich.progress import Progress

    n_lesions = sum(len(t) for t in by_patient.values())
    results: list[dict[str, Any]] = []
    with Progress(disable=not progress, transient=False) as bar:
        job = bar.add_task("radiomics", total=n_lesions)
        # Hash + cache lookup here (I/O bound, cheap): cached lesions never reach a worker.
        pending_by_patient: dict[str, list[dict[str, Any]]] = {}
        for pid, tasks in by_patient.items():
            for task in tasks:
                res = _lookup(engine, task, cache)
                results.append(res)
                if res["features"] is None and res["error"] is None:
                    pending_by_patient.setdefault(pid, []).append(res)
                else:
                    bar.advance(job)
        groups = list(pending_by_patient.values())
        if n_jobs <= 1 or len(groups) <= 1:
            for group in groups:
                _compute(engine, group)
                bar.advance(job, len(group))
            return results
        # Patients (all lesions of one patient together) in a few chunks per worker: one
        # future per patient costs more in inter-process traffic than small images take.
        n_chunks = min(len(groups), 4 * n_jobs)
        chunks = [sum(groups[i::n_chunks], []) for i in range(n_chunks)]
        # forkserver: forking a process that runs rich's refresh thread is unsafe.
        ctx = multiprocessing.get_context("forkserver")
        by_key = {(r["task"]["patient_id"], r["task"]["lesion_id"], str(r["task"]["mask"])): r
                  for group in groups for r in group}
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
            futures = [pool.submit(_compute, engine, chunk) for chunk in chunks]
            for fut in as_completed(futures):
                for done in fut.result():  # copies from the worker: update ours in place
                    t = done["task"]
                    by_key[(t["patient_id"], t["lesion_id"], str(t["mask"]))].update(done)
                    bar.advance(job)
    return results


# --------------------------------------------------------------------------------------------
# Precomputed tables
# --------------------------------------------------------------------------------------------

def load_precomputed(path: str | Path, *, patient_id: str | None = None,
                     lesion_id: str | None = None) -> pd.DataFrame:
    """Read a precomputed radiomics table (a centre that sends features, not images).

    Parameters
    ----------
    path
        Either a CSV with ``patient_id``, ``lesion_id`` and one column per feature in pyradiomics
        naming (``<image type>_<class>_<feature>``, e.g. ``original_glcm_Contrast``), or a
        per-lesion CSV with the two columns ``feature,value`` (one file per lesion, as the
        imaging table's ``radiomics_uri`` points at; its patient and lesion come from that row,
        so the file itself carries no patient identifier).
    patient_id, lesion_id
        The lesion a per-lesion file belongs to (required for that layout).

    Returns
    -------
    DataFrame
        Long table with :data:`FEATURE_COLUMNS`; provenance ``engine='precomputed'``, unknown
        version and settings (``None``), ``image_sha256`` = SHA-256 of the table file (the
        input the values came from), ``mask_sha256`` = ``None``.

    Raises
    ------
    CohortError
        Missing key columns, a column that is not a pyradiomics feature name, a non-numeric
        value (with its row), or a duplicate (patient, lesion).
    """
    path = Path(path)
    if not path.is_file():
        raise CohortError("precomputed radiomics table not found", file=path)
    wide = pd.read_csv(path, dtype={"patient_id": str, "lesion_id": str})
    if list(wide.columns) == ["feature", "value"]:
        wide = _per_lesion_to_wide(wide, path, patient_id, lesion_id)
    feat_cols = _check_wide(wide, path)
    for col in feat_cols:
        wide[col] = _numeric_column(wide, col, path)
    long = wide.melt(id_vars=["patient_id", "lesion_id"], value_vars=feat_cols,
                     var_name="feature", value_name="value")
    long["value"] = long["value"].astype(float)
    long["engine"] = "precomputed"
    long["engine_version"] = None
    long["settings_hash"] = None
    long["image_sha256"] = file_sha256(path)
    long["mask_sha256"] = None
    return long[FEATURE_COLUMNS].sort_values(["patient_id", "lesion_id", "feature"],
                                             kind="stable").reset_index(drop=True)


def _numeric_column(table: pd.DataFrame, col: str, path: Path) -> pd.Series:
    """The column as numbers; a value that is not one raises with its file row."""
    num = pd.to_numeric(table[col], errors="coerce")
    bad = num.isna() & table[col].notna()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CohortError(f"expected a number, got {table[col].iloc[i]!r}", file=path,
                          row=i + 2, column=col)
    return num


def _per_lesion_to_wide(table: pd.DataFrame, path: Path, patient_id: str | None,
                        lesion_id: str | None) -> pd.DataFrame:
    """A per-lesion ``feature,value`` file as a one-row wide table of its imaging row's lesion."""
    if patient_id is None or lesion_id is None:
        raise CohortError("a per-lesion radiomics file (feature,value) needs the patient_id "
                          "and lesion_id of its imaging row", file=path)
    dup = table["feature"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise CohortError(f"feature {table['feature'].iloc[i]!r} listed twice", file=path,
                          row=i + 2, column="feature")
    num = _numeric_column(table, "value", path)
    wide = pd.DataFrame([num.to_numpy()], columns=table["feature"].astype(str))
    wide.insert(0, "lesion_id", str(lesion_id))
    wide.insert(0, "patient_id", str(patient_id))
    return wide


def _check_wide(wide: pd.DataFrame, path: Path) -> list[str]:
    """Check a wide table's key columns, feature names and unique lesions; its feature columns."""
    for col in ("patient_id", "lesion_id"):
        if col not in wide.columns:
            raise CohortError(f"required column missing ({col})", file=path, column=col)
    feat_cols = [c for c in wide.columns if c not in ("patient_id", "lesion_id")]
    for col in feat_cols:
        if not _FEATURE_NAME.match(col):
            raise CohortError("not a pyradiomics feature name (expected "
                              "<image type>_<class>_<feature>, e.g. original_glcm_Contrast)",
                              file=path, column=col)
    dup = wide.duplicated(["patient_id", "lesion_id"])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise CohortError("duplicate (patient_id, lesion_id); each lesion must appear once",
                          file=path, row=i + 2, column="lesion_id")
    return feat_cols


# --------------------------------------------------------------------------------------------
# Lesion aggregation
# --------------------------------------------------------------------------------------------

def aggregate_lesions(per_lesion: pd.DataFrame, rule: str = "largest") -> pd.DataFrame:
    """Aggregate a per-lesion wide table to one row per patient.

    Parameters
    ----------
    per_lesion
        One row per (patient_id, lesion_id), one column per feature (pyradiomics naming). Must
        hold a volume feature (:data:`VOLUME_FEATURES`).
    rule
        ``"largest"``: the features of the patient's lesion with the largest volume (ties: the
        first lesion_id in sort order). ``"volume_weighted"``: per feature, the mean over the
        patient's lesions weighted by lesion volume (lesions missing that feature are left out
        of its mean).

    Returns
    -------
    DataFrame
        Indexed by ``patient_id``, same feature columns.
    """
    if rule not in AGGREGATION_RULES:
        raise ValueError(f"unknown lesion aggregation rule {rule!r}; expected {AGGREGATION_RULES}")
    vol_col = next((c for c in VOLUME_FEATURES if c in per_lesion.columns), None)
    if vol_col is None:
        raise CohortError(f"lesion aggregation needs a volume feature ({' or '.join(VOLUME_FEATURES)});"
                          " enable the shape class or send it in the precomputed table")
    df = per_lesion.sort_values(["patient_id", "lesion_id"], kind="stable")
    feats = [c for c in df.columns if c not in ("patient_id", "lesion_id")]
    if rule == "largest":
        vol = df[vol_col].fillna(-np.inf)
        idx = vol.groupby(df["patient_id"], sort=True).idxmax()
        return df.loc[idx.values].set_index("patient_id")[feats]
    w = df[vol_col].clip(lower=0)
    values = df[feats]
    mask = values.notna() & w.notna().to_numpy()[:, None]
    num = (values.fillna(0).mul(w.fillna(0), axis=0)).where(mask, 0).groupby(df["patient_id"]).sum()
    den = mask.mul(w.fillna(0), axis=0).groupby(df["patient_id"]).sum()
    return (num / den.replace(0, np.nan))[feats]


def radiomics_matrix(long_table: pd.DataFrame, rule: str = "largest",
                     features: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per patient of radiomics features, lesions aggregated by ``rule``.

    Parameters
    ----------
    long_table
        Long feature table (:func:`extract_cohort` or :func:`load_precomputed` output).
    rule
        Lesion aggregation rule, see :func:`aggregate_lesions`.
    features
        pyradiomics feature names to keep (default: all). The volume feature is used for the
        aggregation even when not kept.

    Returns
    -------
    DataFrame
        Column ``patient_id`` then ``radiomics_<feature>`` columns (sorted by feature name).
    """
    wide = long_table.pivot_table(index=["patient_id", "lesion_id"], columns="feature",
                                  values="value", aggfunc="first", dropna=False)
    wide.columns.name = None
    wide = wide.reset_index()
    if features is not None:
        missing = sorted(set(features) - set(wide.columns))
        if missing:
            raise CohortError(f"radiomics feature(s) not in the table: {missing[:5]}")
    agg = aggregate_lesions(wide, rule=rule)
    keep = sorted(features) if features is not None else sorted(agg.columns)
    out = agg[keep].add_prefix("radiomics_").reset_index()
    return out
