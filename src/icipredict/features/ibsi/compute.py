"""Features of an IBSI-processed ROI, computed by pyradiomics' feature classes.

pyradiomics stays the feature engine; three things are handed to it rather than left to it:

- **the bins**: pyradiomics bins fixed-size intervals from the ROI minimum rounded down to a
  multiple of the bin width, where IBSI starts them at a chosen lower bound (the
  re-segmentation range's). Each feature class gets the IBSI bins of
  :func:`~icipredict.features.ibsi.processing.discretise` through a subclass whose
  ``_applyBinning`` returns them unchanged (grey levels present and ``N_g`` as pyradiomics
  derives them from its own bins). Statistical features still use the intensities.
- **the masks**: morphological features use the morphological mask, every other family the
  re-segmented intensity mask (IBSI's two masks).
- **the aggregation**: ``3D`` runs the classes on the volume (GLCM/GLRLM features per
  direction averaged: IBSI's *3D, averaged*; one GLSZM/NGTDM/NGLDM matrix: *3D*); ``2.5D`` on
  the volume with in-plane neighbours (``force2D``: *2.5D, direction-merged* and *2.5D*);
  ``2D`` on each slice with in-plane neighbours, features averaged over the slices (*2D,
  averaged* and *2D*).

Feature names are pyradiomics' (``original_glcm_Contrast``), so everything downstream (lesion
aggregation, the IBSI name mapping) is unchanged.
"""

from __future__ import annotations

import logging
import warnings
from functools import cache
from typing import Any

import numpy as np

from icipredict.features.ibsi.processing import ProcessedROI, process

logger = logging.getLogger(__name__)

#: Feature classes computed when the settings enable none explicitly (pyradiomics' 3D ones).
DEFAULT_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
#: Texture classes (aggregated per the settings' aggregation).
TEXTURE_CLASSES = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _apply_ibsi_binning(self: Any, matrix: np.ndarray) -> np.ndarray:
    """``_applyBinning`` of the IBSI subclasses: the precomputed bins, unchanged."""
    binned = np.array(self.settings["ibsiBins"], dtype=int, copy=True)
    levels = np.unique(binned[self.maskArray])
    self.coefficients["grayLevels"] = levels
    # N_g: the discretisation's number of grey levels; on a slice (2D) still the ROI's, not the
    # slice's highest level (normalised inverse difference / moment divide by it).
    self.coefficients["Ng"] = max(int(self.settings.get("ibsiNg", 0)),
                                  int(levels.max()) if levels.size else 0)
    return binned


@cache
def feature_class(name: str) -> type:
    """pyradiomics' feature class ``name`` with IBSI binning (shape: pyradiomics' own)."""
    import radiomics

    # pyradiomics logs per feature (and warns of symmetric-GLCM redundancies) on its own handler.
    radiomics.setVerbosity(logging.ERROR)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    base = radiomics.getFeatureClasses()[name]
    if name.startswith("shape"):
        return base
    # Keep pyradiomics' module: its classes log to logging.getLogger(self.__module__).
    return type(f"IBSI{base.__name__}", (base,), {"_applyBinning": _apply_ibsi_binning,
                                                  "__module__": base.__module__})


def _to_sitk(array: np.ndarray, roi: ProcessedROI):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(array)
    image.SetSpacing(roi.spacing)
    image.SetOrigin(roi.origin)
    image.SetDirection(roi.direction)
    return image


def _run_class(name: str, features: list[str] | None, image: np.ndarray, mask: np.ndarray,
               bins: np.ndarray, roi: ProcessedROI, kwargs: dict[str, Any]) -> dict[str, float]:
    """One pyradiomics feature class on arrays; failed features are NaN (pyradiomics' rule)."""
    cls = feature_class(name)
    obj = cls(_to_sitk(image, roi), _to_sitk(mask.astype(np.uint8), roi),
              **{**kwargs, "label": 1, "ibsiBins": bins, "ibsiNg": roi.n_bins})
    if features:
        for f in features:
            obj.enableFeatureByName(f)
    else:
        obj.enableAllFeatures()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        values = obj.execute()
    return {f"original_{name}_{k}": float(v) for k, v in values.items()}


def _per_slice(name: str, features: list[str] | None, roi: ProcessedROI, image: np.ndarray,
               mask: np.ndarray, bins: np.ndarray, kwargs: dict[str, Any]) -> dict[str, float]:
    """IBSI 2D: the class on every slice holding ROI voxels, features averaged over slices."""
    per_slice: dict[str, list[float]] = {}
    for z in np.flatnonzero(mask.any(axis=(1, 2))):
        sl = slice(int(z), int(z) + 1)
        for k, v in _run_class(name, features, image[sl], mask[sl], bins[sl], roi,
                               kwargs).items():
            per_slice.setdefault(k, []).append(v)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a feature NaN on every slice
        return {k: float(np.nanmean(v)) for k, v in per_slice.items()}


def compute_features(roi: ProcessedROI, feature_classes: dict[str, list[str] | None],
                     pyradiomics_settings: dict[str, Any], aggregation: str) -> dict[str, float]:
    """Compute pyradiomics features of a processed ROI.

    Parameters
    ----------
    roi
        The processed image and masks (:func:`~icipredict.features.ibsi.processing.process`).
    feature_classes
        ``{class: None or [feature names]}`` (empty: :data:`DEFAULT_CLASSES`, all features).
    pyradiomics_settings
        pyradiomics ``setting`` keys passed to every class (distances, symmetricalGLCM,
        gldm_a, voxelArrayShift, ...); binning and resampling keys are not used.
    aggregation
        ``"2D"``, ``"2.5D"`` or ``"3D"``.

    Returns
    -------
    dict
        ``{original_<class>_<feature>: value}``.
    """
    classes = feature_classes or dict.fromkeys(DEFAULT_CLASSES)
    # One voxel of background around the crop: shape meshes and neighbourhoods stay inside.
    pad = [(1, 1)] * 3
    image = np.pad(roi.image, pad, mode="edge")
    morph = np.pad(roi.morphology, pad)
    intensity = np.pad(roi.intensity, pad)
    bins = np.pad(roi.bins, pad)
    kwargs = {**pyradiomics_settings, "force2D": aggregation != "3D", "force2Ddimension": 0}
    out: dict[str, float] = {}
    for name, features in classes.items():
        if name.startswith("shape"):
            out.update(_run_class(name, features, image, morph, bins, roi, kwargs))
        elif name in TEXTURE_CLASSES and aggregation == "2D":
            out.update(_per_slice(name, features, roi, image, intensity, bins, kwargs))
        else:
            out.update(_run_class(name, features, image, intensity, bins, roi, kwargs))
    return out


def extract_processed(image, mask, *, label: int, settings: Any) -> dict[str, float]:
    """IBSI processing then features, for SimpleITK images.

    Parameters
    ----------
    image, mask
        SimpleITK images on the same grid (checked by the caller).
    label
        Mask value of the ROI.
    settings
        :class:`~icipredict.features.radiomics_engine.RadiomicsSettings` with a ``processing``
        section.

    Returns
    -------
    dict
        ``{original_<class>_<feature>: value}``.

    Raises
    ------
    ValueError
        The ROI is empty after interpolation or re-segmentation, or intensities fall below a
        fixed bin size's lower bound.
    """
    import SimpleITK as sitk

    array = sitk.GetArrayViewFromImage(image)  # no copy: only the ROI's box is converted
    labels = sitk.GetArrayViewFromImage(mask)
    roi_mask = (np.rint(labels) if labels.dtype.kind == "f" else labels) == label
    processed = process(array, roi_mask, image.GetSpacing(), image.GetOrigin(),
                        image.GetDirection(), settings.processing)
    pyr = settings.setting.model_dump(exclude_none=True)
    return compute_features(processed, dict(settings.featureClass), pyr,
                            settings.processing.aggregation)


__all__ = ["DEFAULT_CLASSES", "TEXTURE_CLASSES", "compute_features", "extract_processed",
           "feature_class"]
