"""The training frame of an experiment: one row per patient with inputs, outcomes and radiomics.

:func:`load_training_frame` reads the cohort the config names (a store query, or centre files
through column maps), computes radiomics from the imaging table when the feature spec includes
imaging (cached by settings hash), and flattens it with
:func:`icipredict.features.builder.patient_frame`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.config import cache_home
from icipredict.training.config import ExperimentConfig

logger = logging.getLogger(__name__)

#: Radiomics settings of training runs without a ``radiomics:`` key in their config (recorded
#: in the model's ``radiomics.json``).
RADIOMICS_SETTINGS = "default"
#: Lesion aggregation rule of training runs without a ``radiomics:`` key (``radiomics.json``).
RADIOMICS_RULE = "largest"


def default_cache() -> Path:
    """Default folder of the radiomics feature cache (under the user's cache folder, read now)."""
    return cache_home() / "icipredict" / "radiomics"


def load_training_frame(config: ExperimentConfig, *, cache_dir: str | Path | None = None,
                        progress: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per patient with canonical inputs, outcomes and (for files) the split column,
    in an order that does not depend on the pseudonymisation key
    (:func:`icipredict.features.row_order.stable_patient_order`).

    Returns
    -------
    (frame, source)
        The frame (index ``patient_id``) and a lineage description (``uri``, ``name``,
        ``query``: the store's centres, or the column maps' names and absolute paths, from which
        registration reads the IDs its artifact scan looks for).
    """
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore
    from icipredict.features.builder import patient_frame
    from icipredict.features.row_order import stable_patient_order
    from icipredict.features.spec import read_spec

    spec = read_spec(config.feature_spec_path)
    genes = spec.genes or ()
    # The experiment's radiomics settings and lesion rule (defaults without a radiomics: key).
    settings, rule = config.radiomics_settings, config.radiomics.lesion_rule
    if config.cohort.store is not None:
        st = config.cohort.store
        path = _store_path(config, st.path)
        cohort = CohortStore(path).cohort(st.centres or None)
        rad = cohort_radiomics(cohort, spec, cache_dir, progress, settings=settings, rule=rule)
        frame = patient_frame(cohort, rad, genes=genes, include_outcomes=True)
        source = {"uri": str(path), "name": f"{config.name}-store",
                  "query": {"centres": st.centres or "all"}}
    else:
        frames = []
        for fs, cmap in zip(config.cohort.files or [], config.column_map_paths, strict=True):
            cohort = load_source(cmap)
            rad = cohort_radiomics(cohort, spec, cache_dir, progress, settings=settings,
                                   rule=rule)
            part = patient_frame(cohort, rad, genes=genes, include_outcomes=True)
            if fs.split is not None:
                part["split"] = fs.split
            frames.append(part)
        frame = pd.concat(frames)
        source = {"uri": str(config.column_map_paths[0]), "name": f"{config.name}-files",
                  "query": {"column_maps": [p.name for p in config.column_map_paths],
                            "column_map_paths": [str(p) for p in config.column_map_paths]}}
    if frame.index.duplicated().any():
        raise CohortError(f"{int(frame.index.duplicated().sum())} patient(s) appear twice in "
                          "the cohort sources", file=config.source_path)
    # Not the store's pseudonym order: row subsamples, bootstrap resamples and k-fold splits
    # draw by position, and pseudonyms (so their order) change with the installation's key.
    return stable_patient_order(frame), source


def _store_path(config: ExperimentConfig, path: str | None) -> Path:
    from icipredict import config as base

    if path is None:
        return base.default_store()
    try:
        return config.resolve(path, "cohort.store.path")
    except CohortError:
        return Path(path)  # the store raises its own clear error when it is absent


def cohort_radiomics(cohort, spec, cache_dir, progress: bool, *,  # noqa: ANN001
                     settings: str | Path = RADIOMICS_SETTINGS,
                     rule: str = RADIOMICS_RULE) -> pd.DataFrame | None:
    """Wide radiomics (index patient_id) from the store's table and/or the images.

    ``settings`` (builtin name or pyradiomics YAML path) builds the engine; the feature cache
    keys entries by its settings hash, so runs with other settings never share features.
    ``rule`` combines a patient's lesions (``radiomics_matrix``).
    """
    if "imaging" not in spec.modalities:
        return None
    return radiomics_table(cohort, cache_dir, progress, settings=settings, rule=rule)


def radiomics_table(cohort, cache_dir, progress: bool = False, *,  # noqa: ANN001
                    settings: str | Path = RADIOMICS_SETTINGS,
                    rule: str = RADIOMICS_RULE) -> pd.DataFrame | None:
    """Wide radiomics (index patient_id) of a cohort: its precomputed table and its images
    (computed with ``settings``, cached in ``cache_dir``), lesions combined by ``rule``; None
    when the cohort has neither."""
    from icipredict.features.imaging import extract_cohort, radiomics_matrix
    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    parts = []
    if len(cohort.radiomics):
        parts.append(cohort.radiomics)
    if len(cohort.imaging):
        cache = Path(cache_dir) if cache_dir is not None else default_cache()
        cache.mkdir(parents=True, exist_ok=True)
        long, errors = extract_cohort(cohort.imaging, cache_dir=cache, n_jobs=2,
                                      engine=PyRadiomicsEngine(settings),
                                      progress=progress)
        if len(errors):
            # Never log the error table: image paths can carry source IDs.
            logger.warning("radiomics failed for %d lesion(s) of %d patient(s)", len(errors),
                           errors["patient_id"].nunique())
        if len(long):
            parts.append(long)
    if not parts:
        return None
    cols = ["patient_id", "lesion_id", "feature", "value"]
    long = pd.concat([p[[c for c in cols if c in p.columns]] for p in parts], ignore_index=True)
    return radiomics_matrix(long, rule=rule).set_index("patient_id")


__all__ = ["default_cache", "RADIOMICS_RULE", "RADIOMICS_SETTINGS", "cohort_radiomics",
           "radiomics_table",
           "load_training_frame"]
