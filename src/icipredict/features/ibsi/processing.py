"""IBSI-1 image processing: interpolation, mask partial volume, re-segmentation, discretisation.

Each step follows the IBSI reference manual (chapter "Image processing", identifiers in
brackets):

- **Interpolation** [VTM2] on the *align grid centers* grid [3WE3]: per axis
  ``n_b = ceil(n_a s_a / s_b)`` points [026Q], the first at grid coordinate
  ``(n_a - 1 - (s_b / s_a)(n_b - 1)) / 2`` [QCY4]; intensities outside the original grid take
  the nearest boundary intensity (scipy's ``mode="nearest"``), as IBSI recommends. Linear is
  trilinear (bilinear in-plane), ``cubic_spline`` the cubic B-spline interpolation (scipy
  ``order=3`` with its prefilter). Arithmetic in float64.
- **Intensity rounding** [68QD] to the nearest integer after interpolation (optional).
- **Mask interpolation** [E8H9]: the 0/1 mask is interpolated like the image (linear or
  nearest) and a voxel belongs to the ROI when its value is at least the partial-volume
  threshold (0.5); the comparison allows 1e-9 below it, so a value that is 0.5 in exact
  arithmetic but 0.4999999999 in floating point is kept, as IBSI warns.
- **Re-segmentation** [IF9H] of the *intensity* mask only (the morphological mask keeps the
  interpolated ROI [ECJF]): by range [USB3] and/or outlier filtering at mean +/- k sd of the
  ROI [7ACA]; both together keep the intersection of the two intervals.
- **Discretisation** [4R0B]: fixed bin number [K15C], or fixed bin size [Q3RU] starting at the
  chosen lower bound (by default the re-segmentation range's lower bound).

Only the ROI's neighbourhood is interpolated: the interpolation grid is that of the whole image,
evaluated at the grid points near the ROI, so the result is the same as interpolating the whole
image (512 x 512 slices cost the same as the lesion's box).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from icipredict.features.ibsi.settings import Discretisation, ProcessingSettings

#: Interpolation order of scipy.ndimage per method.
_ORDER = {"nearest": 0, "linear": 1, "cubic_spline": 3}
#: Original voxels kept around the ROI before interpolating (the cubic spline prefilter is
#: global but decays as 0.268^k: 12 voxels leave < 2e-7 of a boundary's influence).
_MARGIN = {0: 2, 1: 2, 3: 12}
#: Allowance below the partial-volume threshold for floating-point error.
_PV_EPS = 1e-9


@dataclass
class ProcessedROI:
    """An image and its ROI after IBSI processing, cropped to the ROI's neighbourhood.

    Attributes
    ----------
    image
        Intensities (z, y, x), float64, on the processed grid.
    morphology
        Morphological mask (interpolated ROI, not re-segmented).
    intensity
        Intensity mask (morphological mask after re-segmentation).
    bins
        Discretised intensities (1 = first bin) inside the intensity mask, 0 elsewhere.
    n_bins
        Number of grey levels of the discretisation inside the ROI (highest bin present).
    spacing
        Voxel spacing (x, y, z) in mm.
    origin, direction
        World position of voxel (0, 0, 0) of the crop and the image's direction cosines.
    """

    image: np.ndarray
    morphology: np.ndarray
    intensity: np.ndarray
    bins: np.ndarray
    n_bins: int
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]


# -------------------------------------------------------------------------------- grid

def aligned_grid(n_a: int, s_a: float, s_b: float) -> tuple[int, float, float]:
    """The *align grid centers* interpolation grid along one axis.

    Parameters
    ----------
    n_a
        Number of points of the original grid.
    s_a, s_b
        Original and desired spacing (world units).

    Returns
    -------
    (n_b, first, step)
        Number of points of the new grid, grid coordinate of its first point and its step in
        original grid coordinates (``s_b / s_a``).
    """
    # Round the ratio first: 60 x 3.0 / 2.0 must be exactly 90 points, not ceil(90.0000001).
    n_b = max(1, math.ceil(round(n_a * s_a / s_b, 9)))
    step = s_b / s_a
    return n_b, (n_a - 1 - step * (n_b - 1)) / 2.0, step


def _axis_window(lo: int, hi: int, n_a: int, grid: tuple[int, float, float],
                 margin: int) -> tuple[int, int, int, int]:
    """New-grid points near the ROI's extent [lo, hi] and the original slab they need."""
    n_b, first, step = grid
    k0 = max(0, math.ceil((lo - 1 - first) / step))
    k1 = min(n_b - 1, math.floor((hi + 1 - first) / step))
    a0 = max(0, math.floor(first + k0 * step) - margin)
    a1 = min(n_a - 1, math.ceil(first + k1 * step) + margin)
    return k0, k1, a0, a1


def _bounding_box(roi: np.ndarray) -> tuple[list[int], list[int]]:
    """First and last index of the ROI along each axis (projections: no full nonzero)."""
    lo, hi = [], []
    for ax in range(roi.ndim):
        hit = np.flatnonzero(roi.any(axis=tuple(a for a in range(roi.ndim) if a != ax)))
        lo.append(int(hit[0]))
        hi.append(int(hit[-1]))
    return lo, hi


def _three(values: Iterable[float]) -> tuple[float, float, float]:
    """The three values of a per-axis iterable as a tuple (an image here is always 3D)."""
    a, b, c = values
    return a, b, c


def interpolate(image: np.ndarray, roi: np.ndarray, spacing_xyz: tuple[float, float, float],
                settings: ProcessingSettings) -> tuple[np.ndarray, np.ndarray,
                                                       tuple[float, float, float],
                                                       tuple[float, float, float]]:
    """Interpolate the image and the ROI mask near the ROI (or crop them when no interpolation).

    Parameters
    ----------
    image
        Intensities (z, y, x) on the original grid (any numeric type; only the ROI's
        neighbourhood is converted to float64).
    roi
        Boolean ROI mask on the same grid (not empty).
    spacing_xyz
        Original spacing (x, y, z) in mm.
    settings
        The processing settings.

    Returns
    -------
    (image, morphology, start, spacing)
        Interpolated intensities (float64, rounded when asked) and morphological mask on the
        crop of the new grid, the crop's first point in *original grid coordinates* (z, y, x)
        and the new spacing (x, y, z).
    """
    interp = settings.interpolation
    lo, hi = _bounding_box(roi)
    spacing_zyx = tuple(spacing_xyz[::-1])
    if interp is None:
        sl = tuple(slice(max(0, a - 1), min(n, b + 2)) for a, b, n in zip(lo, hi, image.shape,
                                                                        strict=True))
        start = _three(float(s.start) for s in sl)
        return image[sl].astype(np.float64), roi[sl].copy(), start, _three(spacing_xyz)
    new_xyz = list(interp.spacing) + ([spacing_xyz[2]] if interp.in_plane else [])
    new_zyx = new_xyz[::-1]
    order = _ORDER[interp.method]
    windows, grids = [], []
    for ax in range(3):
        grid = aligned_grid(image.shape[ax], spacing_zyx[ax], new_zyx[ax])
        grids.append(grid)
        windows.append(_axis_window(lo[ax], hi[ax], image.shape[ax], grid,
                                    max(_MARGIN[order], _MARGIN[1])))
    crop = tuple(slice(a0, a1 + 1) for _, _, a0, a1 in windows)
    out_shape = tuple(k1 - k0 + 1 for k0, k1, _, _ in windows)
    steps = [g[2] for g in grids]
    offset = [g[1] + w[0] * g[2] - w[2] for g, w in zip(grids, windows, strict=True)]
    img = ndimage.affine_transform(image[crop].astype(np.float64), steps, offset=offset,
                                   output_shape=out_shape, order=order, mode="nearest")
    if interp.round_intensities:
        img = np.round(img)
    mask_order = _ORDER[interp.mask_method]
    mask = ndimage.affine_transform(roi[crop].astype(np.float64), steps, offset=offset,
                                    output_shape=out_shape, order=mask_order, mode="nearest")
    morph = mask >= interp.partial_volume_threshold - _PV_EPS
    start = _three(g[1] + w[0] * g[2] for g, w in zip(grids, windows, strict=True))
    return img, morph, start, _three(float(s) for s in new_xyz)


# ----------------------------------------------------------------------- re-segmentation

def resegment(image: np.ndarray, morphology: np.ndarray,
              settings: ProcessingSettings) -> np.ndarray:
    """The intensity mask: the morphological mask re-segmented by range and/or outliers.

    Returns
    -------
    ndarray of bool
        Voxels of ``morphology`` whose intensity lies in the range and within
        mean +/- ``outlier_sigma`` sd of the ROI's intensities (population sd); with both,
        the intersection of the two intervals.
    """
    reseg = settings.resegmentation
    lower, upper = -np.inf, np.inf
    if reseg.range is not None:
        lower = reseg.range[0] if reseg.range[0] is not None else -np.inf
        upper = reseg.range[1] if reseg.range[1] is not None else np.inf
    if reseg.outlier_sigma is not None:
        values = image[morphology]
        mu, sd = float(values.mean()), float(values.std())
        lower = max(lower, mu - reseg.outlier_sigma * sd)
        upper = min(upper, mu + reseg.outlier_sigma * sd)
    return morphology & (image >= lower) & (image <= upper)


# ------------------------------------------------------------------------ discretisation

def discretise(values: np.ndarray, settings: ProcessingSettings) -> tuple[np.ndarray, int]:
    """Discretise ROI intensities as IBSI defines (the lowest bin is 1).

    Parameters
    ----------
    values
        Intensities of the voxels of the intensity mask (any shape).
    settings
        The processing settings (``discretisation`` and, for the lower bound, the range).

    Returns
    -------
    (bins, n_bins)
        Integer bins of ``values`` and the number of grey levels (the highest bin).

    Notes
    -----
    Fixed bin number: ``floor(N_g (x - min) / (max - min)) + 1``, with the maximum in bin
    ``N_g`` (a flat ROI is one bin). Fixed bin size: ``floor((x - x_min) / w_b) + 1`` with
    ``x_min`` the lower bound chosen in the settings.
    """
    d: Discretisation = settings.discretisation
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return np.zeros(x.shape, dtype=np.int32), 0
    if d.method == "fixed_bin_number":
        n_g = d.bin_number
        assert n_g is not None  # Discretisation's validator requires it for this method
        lo, hi = float(x.min()), float(x.max())
        if hi == lo:
            return np.ones(x.shape, dtype=np.int32), 1
        bins = np.floor(n_g * (x - lo) / (hi - lo)).astype(np.int64) + 1
        bins = np.minimum(bins, n_g)
        return bins.astype(np.int32), int(n_g)
    w_b = d.bin_size
    assert w_b is not None  # Discretisation's validator requires it for fixed_bin_size
    lower = fbs_lower_bound(x, settings)
    bins = np.floor((x - lower) / w_b).astype(np.int64) + 1
    if bins.min() < 1:
        raise ValueError(f"intensities below the discretisation lower bound {lower}: "
                         "re-segment with a range starting there")
    return bins.astype(np.int32), int(bins.max())


def fbs_lower_bound(values: np.ndarray, settings: ProcessingSettings) -> float:
    """Where fixed-size bins start: the range's lower bound, the ROI minimum or a number."""
    bound = settings.discretisation.lower_bound
    if bound == "range":
        lower = settings.resegmentation.lower
        # ProcessingSettings' validator requires a range lower bound for fixed_bin_size
        assert lower is not None
        return float(lower)
    if bound == "roi_minimum":
        return float(np.min(values))
    return float(bound)


# ---------------------------------------------------------------------------- all steps

def process(image: np.ndarray, roi: np.ndarray, spacing_xyz: tuple[float, float, float],
            origin: tuple[float, float, float], direction: tuple[float, ...],
            settings: ProcessingSettings) -> ProcessedROI:
    """Run every IBSI processing step on one image and ROI.

    Parameters
    ----------
    image
        Intensities (z, y, x).
    roi
        Boolean ROI mask on the image's grid (not empty).
    spacing_xyz, origin, direction
        The image's geometry (SimpleITK order: x, y, z).
    settings
        The processing settings.

    Returns
    -------
    ProcessedROI

    Raises
    ------
    ValueError
        When the ROI is empty after interpolation or after re-segmentation.
    """
    img, morph, start, spacing = interpolate(image, roi, spacing_xyz, settings)
    if not morph.any():
        raise ValueError("the ROI is empty after interpolation (partial-volume threshold)")
    intensity = resegment(img, morph, settings)
    if not intensity.any():
        raise ValueError("the ROI is empty after re-segmentation")
    values, n_bins = discretise(img[intensity], settings)
    bins = np.zeros(img.shape, dtype=np.int32)
    bins[intensity] = values
    # World origin of the crop: original origin + direction @ (start index * original spacing).
    dmat = np.asarray(direction, dtype=float).reshape(3, 3)
    offset_xyz = np.asarray(start[::-1]) * np.asarray(spacing_xyz)
    new_origin = _three(float(v) for v in np.asarray(origin) + dmat @ offset_xyz)
    return ProcessedROI(image=img, morphology=morph, intensity=intensity, bins=bins,
                        n_bins=n_bins, spacing=spacing, origin=new_origin,
                        direction=tuple(direction))


__all__ = ["ProcessedROI", "aligned_grid", "discretise", "fbs_lower_bound", "interpolate",
           "process", "resegment"]
