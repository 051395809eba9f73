"""Radiomics for the board: a record's image + mask files, or a stored patient's imaging rows.

Features are computed exactly as training computed them (``tracking.runs._radiomics``): the
imaging rows go through :func:`icipredict.features.imaging.extract_cohort` with the default
:class:`~icipredict.features.radiomics_engine.PyRadiomicsEngine` settings (precomputed
``radiomics_uri`` tables and the store's ``radiomics`` rows join them), and lesions become one row
per patient with :func:`~icipredict.features.imaging.radiomics_matrix` and the training rule
(:data:`TRAINING_RULE`). Other settings would give other numbers for the same image, so a model
fed them would read the wrong scale.

A record's image problems (missing file, empty mask, mask on another grid) are record problems:
:class:`~icipredict.predict.record.RecordError` naming ``images.<i>.image`` or
``images.<i>.mask``, never a crash.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from icipredict.predict.record import PatientRecord, RecordError

logger = logging.getLogger(__name__)

#: Lesion aggregation rule of the training runs (``radiomics_matrix``'s default there).
TRAINING_RULE = "largest"
#: Radiomics settings of the training runs (the engine's builtin default).
TRAINING_SETTINGS = "default"
#: Environment variable naming the feature cache folder (shared with training is safe: entries
#: are keyed by engine, version, settings hash and the image and mask hashes).
CACHE_ENV = "ICIPREDICT_RADIOMICS_CACHE"

_TEMP_CACHE: Path | None = None
_LONG_COLUMNS = ["patient_id", "lesion_id", "feature", "value"]


def cache_dir(path: str | Path | None = None) -> Path:
    """The radiomics cache folder: ``path``, else ``$ICIPREDICT_RADIOMICS_CACHE``, else one
    temporary folder per process."""
    global _TEMP_CACHE
    if path is None and os.environ.get(CACHE_ENV):
        path = os.environ[CACHE_ENV]
    if path is None:
        if _TEMP_CACHE is None:
            _TEMP_CACHE = Path(tempfile.mkdtemp(prefix="icipredict-radiomics-"))
        return _TEMP_CACHE
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def imaging_radiomics(imaging: pd.DataFrame, radiomics: pd.DataFrame | None = None, *,
                      cache: str | Path | None = None, engine: Any = None,
                      rule: str = TRAINING_RULE, base_dir: str | Path = ".",
                      n_jobs: int = 1) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Wide radiomics of imaging rows (+ precomputed long rows), as training built them.

    Parameters
    ----------
    imaging
        Rows of the ``imaging`` contract (``patient_id, lesion_id`` and image/mask URIs or a
        ``radiomics_uri``).
    radiomics
        Precomputed long rows (``patient_id, lesion_id, feature, value``), e.g. the store's.
    cache
        Feature cache folder (see :func:`cache_dir`).
    engine
        Radiomics engine; default ``PyRadiomicsEngine(TRAINING_SETTINGS)``.
    rule
        Lesion aggregation rule.
    base_dir
        Folder relative URIs are relative to.
    n_jobs
        Worker processes (1: a board patient has few lesions; a pool costs more to start).

    Returns
    -------
    (wide, errors)
        ``wide``: index ``patient_id``, columns ``radiomics_<feature>`` (None without any
        feature); ``errors``: one row per lesion that failed (``patient_id, lesion_id, file,
        error``).
    """
    from icipredict.features.imaging import ERROR_COLUMNS, extract_cohort, radiomics_matrix
    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    parts = [radiomics[_LONG_COLUMNS]] if radiomics is not None and len(radiomics) else []
    errors = pd.DataFrame(columns=ERROR_COLUMNS)
    if len(imaging):
        long, errors = extract_cohort(imaging, base_dir=base_dir,
                                      engine=engine or PyRadiomicsEngine(TRAINING_SETTINGS),
                                      cache_dir=cache_dir(cache), n_jobs=n_jobs, progress=False)
        if len(long):
            parts.append(long[_LONG_COLUMNS])
    if not parts:
        return None, errors
    long = pd.concat(parts, ignore_index=True)
    return radiomics_matrix(long, rule=rule).set_index("patient_id"), errors


def _resolve(path: str, base_dir: Path | None, allowed_root: Path | None) -> tuple[Path, str | None]:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (base_dir or Path.cwd()) / p
    if allowed_root is not None:
        root = allowed_root.resolve()
        if not p.resolve().is_relative_to(root):
            return p, "outside the server's image folder (paths are read under it only)"
    return p, None


def with_image_radiomics(records: Sequence[PatientRecord], *,
                         labels: Sequence[str | None] | None = None,
                         cache: str | Path | None = None, engine: Any = None,
                         rule: str = TRAINING_RULE, base_dir: str | Path | None = None,
                         allowed_root: str | Path | None = None,
                         source: str | None = None) -> list[PatientRecord]:
    """Fill the ``radiomics`` of records that give image + mask files.

    Features computed from the images fill the record's ``radiomics``; a feature the record
    also gives precomputed keeps the record's value (it was stated explicitly). Records without
    images are returned unchanged.

    Parameters
    ----------
    records
        Validated records.
    labels
        Per record, a prefix for problem fields (e.g. ``"record 3"``); None: no prefix.
    cache, engine, rule
        As for :func:`imaging_radiomics` (the training settings by default).
    base_dir
        Folder relative image paths are relative to (default the working directory).
    allowed_root
        When given, only files under this folder are read (the service's image folder).
    source
        Name used in error messages.

    Returns
    -------
    list of PatientRecord

    Raises
    ------
    RecordError
        Listing every unreadable image or mask (``images.<i>.image`` / ``images.<i>.mask``).
    """
    labels = list(labels) if labels is not None else [None] * len(records)
    base = Path(base_dir) if base_dir is not None else None
    root = Path(allowed_root) if allowed_root is not None else None
    rows: list[dict[str, Any]] = []
    fields: dict[tuple[str, str], tuple[str, Path, Path]] = {}
    problems: list[dict[str, str]] = []
    for r, (rec, label) in enumerate(zip(records, labels, strict=True)):
        prefix = f"{label}." if label else ""
        for i, lesion in enumerate(rec.images or []):
            image, bad_image = _resolve(lesion.image, base, root)
            mask, bad_mask = _resolve(lesion.mask, base, root)
            if bad_image or bad_mask:
                for what, bad in (("image", bad_image), ("mask", bad_mask)):
                    if bad:
                        problems.append({"field": f"{prefix}images.{i}.{what}", "message": bad})
                continue
            # Internal keys: record position and lesion position (lesion_id may repeat).
            key = (str(r), str(i))
            fields[key] = (f"{prefix}images.{i}", image, mask)
            rows.append({"patient_id": key[0], "lesion_id": key[1], "modality": lesion.modality,
                         "image_uri": str(image), "mask_uri": str(mask), "radiomics_uri": None})
    if not rows and not problems:
        return list(records)
    wide, errors = (imaging_radiomics(pd.DataFrame(rows), cache=cache, engine=engine, rule=rule)
                    if rows else (None, pd.DataFrame()))
    for e in errors.to_dict("records"):
        field, image, mask = fields[(str(e["patient_id"]), str(e["lesion_id"]))]
        what = "mask" if e.get("file") and Path(str(e["file"])) == mask else "image"
        problems.append({"field": f"{field}.{what}", "message": str(e["error"])})
    if problems:
        raise RecordError(problems, source=source)
    out = []
    for r, rec in enumerate(records):
        if not rec.images or wide is None or str(r) not in wide.index:
            out.append(rec)
            continue
        computed = {k.removeprefix("radiomics_"): float(v) for k, v in wide.loc[str(r)].items()
                    if v is not None and math.isfinite(float(v))}
        out.append(rec.model_copy(update={"radiomics": {**computed, **(rec.radiomics or {})}}))
    return out
