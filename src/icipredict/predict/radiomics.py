"""Radiomics for the board: a record's image + mask files, or a stored patient's imaging rows.

Features are computed exactly as training computed them (``training.data.cohort_radiomics``): the
imaging rows go through :func:`icipredict.features.imaging.extract_cohort` with the
:class:`~icipredict.features.radiomics_engine.PyRadiomicsEngine` settings the model records in
its ``radiomics.json`` (precomputed ``radiomics_uri`` tables and the store's ``radiomics`` rows
join them), and lesions become one row per patient with
:func:`~icipredict.features.imaging.radiomics_matrix` and the model's rule. Other settings would
give other numbers for the same image, so a model fed them would read the wrong scale:
:func:`model_radiomics` rebuilds the engine and reports any engine version or settings-hash
difference. Models without ``radiomics.json`` (older ones) get the defaults training always used
(:data:`TRAINING_SETTINGS`, :data:`TRAINING_RULE`).

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
import yaml

from icipredict.cohort.schema import CohortError
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


def model_radiomics(record: dict[str, Any] | None) -> tuple[Any, str, list[str]]:
    """The radiomics engine and lesion rule a model was trained with, and any mismatch.

    Parameters
    ----------
    record
        The model's ``radiomics.json`` (see ``registry.bundle.radiomics_record``); None or
        empty for models that predate it (the training defaults are used, without warning).

    Returns
    -------
    (engine, rule, problems)
        ``problems``: plain sentences for the board when the installed engine cannot reproduce
        the training features exactly (other engine, engine version or settings hash).
    """
    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    if not record:
        return _engine(TRAINING_SETTINGS), TRAINING_RULE, []
    from icipredict.features.imaging import AGGREGATION_RULES

    rule = str(record.get("rule") or TRAINING_RULE)
    source = record.get("settings_source", TRAINING_SETTINGS)
    problems: list[str] = []
    if rule not in AGGREGATION_RULES:
        problems.append(f"The model's lesion rule {rule!r} is unknown here; the largest lesion "
                        "was used instead.")
        rule = TRAINING_RULE
    try:
        if isinstance(source, dict):
            settings: Any = yaml.safe_load(str(source.get("content") or "")) or {}
            name = source.get("file", "settings file")
        else:
            settings = name = str(source)
        engine = _engine(settings)
    except (CohortError, yaml.YAMLError, TypeError) as exc:
        engine = _engine(TRAINING_SETTINGS)
        problems.append(f"The model's radiomics settings ({name}) cannot be used here ({exc}); "
                        "image features were computed with the default settings instead.")
    want_engine = record.get("engine", PyRadiomicsEngine.name)
    if want_engine != engine.name:
        problems.append(f"The model's radiomics were computed with {want_engine}, here with "
                        f"{engine.name}: image features may not match the training scale.")
    want_version = record.get("engine_version")
    if want_version is not None and str(want_version) != engine.version:
        problems.append(f"The model's radiomics were computed with {engine.name} "
                        f"{want_version}, here with {engine.version}: image features may not "
                        "match the training scale.")
    want_hash = record.get("settings_hash")
    if not problems and want_hash is not None and want_hash != engine.settings_hash:
        problems.append(f"The radiomics settings here (hash {engine.settings_hash}) differ from "
                        f"the model's (hash {want_hash}): image features may not match the "
                        "training scale.")
    return engine, rule, problems


def _engine(settings: Any) -> Any:
    """A new PyRadiomicsEngine (one per call: its extractor is not shared between threads)."""
    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    return PyRadiomicsEngine(settings)


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
        Radiomics engine; default ``PyRadiomicsEngine(TRAINING_SETTINGS)`` (pass the model's,
        from :func:`model_radiomics`).
    rule
        Lesion aggregation rule (the model's, from :func:`model_radiomics`).
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

    parts = [radiomics[_LONG_COLUMNS]] if radiomics is not None and len(radiomics) else []
    errors = pd.DataFrame(columns=ERROR_COLUMNS)
    if len(imaging):
        long, errors = extract_cohort(imaging, base_dir=base_dir,
                                      engine=engine or _engine(TRAINING_SETTINGS),
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


def _which_file(file: Any, image: Path, mask: Path) -> str:
    """``"mask"`` when an error names the mask (its file, or a file in its folder, without any
    ``#`` selector), else ``"image"``."""
    from icipredict.features.dicom_io import split_uri

    if not file or (isinstance(file, float) and math.isnan(file)):
        return "image"
    f, image_base, mask_base = Path(str(file)), split_uri(image)[0], split_uri(mask)[0]
    if f == image_base:
        return "image"
    return "mask" if f == mask_base or mask_base in f.parents else "image"


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
        what = _which_file(e.get("file"), image, mask)
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
