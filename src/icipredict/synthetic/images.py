"""Small CT-like lesion images for the synthetic network (see :mod:`icipredict.synthetic`).

Each imaged patient gets one 3-D image (``SHAPE`` voxels, ``SPACING`` mm, int16 Hounsfield units)
and one binary mask per lesion (an ellipsoid of random size). The lesion *texture* carries the
radiomic signal: voxel noise inside the lesions has standard deviation
``TEXTURE_SD_BASE * exp(TEXTURE_SD_SLOPE * texture_z)`` HU, where ``texture_z`` is the patient's
latent texture score that also enters the true response model. Heterogeneous (high ``texture_z``)
lesions therefore have larger first-order standard deviation / entropy and GLCM contrast.

Every patient's image is drawn from its own generator seeded by ``(seed, centre index, patient
index)``, so the files do not depend on the order or the number of worker processes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

log = logging.getLogger(__name__)

#: Image size in voxels as (z, y, x) (numpy order) and spacing in mm as (x, y, z) (ITK order).
SHAPE = (16, 32, 32)
SPACING = (1.0, 1.0, 2.0)
#: Soft-tissue background and lesion intensities (HU).
BODY_HU, BODY_NOISE_SD = 40.0, 8.0
AIR_HU = -1000.0
LESION_HU_MEAN, LESION_HU_SD = 45.0, 10.0
#: Texture noise inside lesions: TEXTURE_SD_BASE * exp(TEXTURE_SD_SLOPE * texture_z) HU.
TEXTURE_SD_BASE, TEXTURE_SD_SLOPE = 18.0, 0.45
#: Bin width used for the precomputed first-order entropy (pyradiomics default binWidth).
BIN_WIDTH = 25.0


@dataclass(frozen=True)
class ImageTask:
    """What to draw and where to write it for one imaged patient."""

    seed: int
    centre_index: int
    patient_index: int
    texture_z: float
    n_lesions: int
    image_path: str | None
    mask_paths: tuple[str, ...] | None


def draw_lesion_image(
    rng: np.random.Generator, texture_z: float, n_lesions: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Draw one CT-like volume with ``n_lesions`` ellipsoidal lesions.

    Parameters
    ----------
    rng
        The patient's random generator.
    texture_z
        Latent texture score; sets the lesion noise SD (the radiomic signal).
    n_lesions
        1 or 2 lesions.

    Returns
    -------
    image : ndarray of int16, shape ``SHAPE``
        Hounsfield units.
    masks : list of ndarray of uint8
        One binary mask per lesion.
    """
    nz, ny, nx = SHAPE
    z, y, x = np.ogrid[:nz, :ny, :nx]
    # An elliptic "body" cylinder of soft tissue surrounded by air.
    body = ((y - ny / 2 + 0.5) / (ny * 0.47)) ** 2 + ((x - nx / 2 + 0.5) / (nx * 0.47)) ** 2 <= 1
    image = np.where(body, BODY_HU, AIR_HU) + rng.normal(0.0, BODY_NOISE_SD, SHAPE)
    image = np.ascontiguousarray(image)
    sd = TEXTURE_SD_BASE * float(np.exp(TEXTURE_SD_SLOPE * texture_z))
    # Lesion centres: first in the left half, second in the right half (never overlapping).
    masks = []
    for k in range(n_lesions):
        ax = rng.uniform(3.0, 6.5)  # semi-axes in voxels (x, y: 1 mm; z: 2 mm)
        ay = rng.uniform(3.0, 6.5)
        az = rng.uniform(1.8, 3.5)
        cx = rng.uniform(8.0, 10.0) if k == 0 else rng.uniform(22.0, 24.0)
        cy = rng.uniform(12.0, 20.0)
        cz = rng.uniform(6.0, 10.0)
        mask = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2 <= 1
        mean = rng.normal(LESION_HU_MEAN, LESION_HU_SD)
        image[mask] = mean + rng.normal(0.0, sd, int(mask.sum()))
        masks.append(mask.astype(np.uint8))
    return np.clip(np.rint(image), -1024, 3071).astype(np.int16), masks


def first_order_features(image: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """A few pyradiomics-named features of one lesion, as a centre would precompute them.

    Parameters
    ----------
    image, mask
        Volume in HU and the lesion's binary mask (same shape).

    Returns
    -------
    dict
        ``original_shape_VoxelVolume`` (mm^3), ``original_firstorder_Mean``,
        ``original_firstorder_StandardDeviation``, ``original_firstorder_Entropy``
        (bin width 25 HU, base 2), ``original_firstorder_Range``.
    """
    values = image[mask.astype(bool)].astype(np.float64)
    voxel_volume = float(np.prod(SPACING))
    bins = np.floor((values - values.min()) / BIN_WIDTH).astype(np.int64)
    p = np.bincount(bins) / values.size
    p = p[p > 0]
    return {
        "original_shape_VoxelVolume": float(values.size * voxel_volume),
        "original_firstorder_Mean": float(values.mean()),
        "original_firstorder_StandardDeviation": float(values.std()),
        "original_firstorder_Entropy": float(-(p * np.log2(p)).sum()),
        "original_firstorder_Range": float(values.max() - values.min()),
    }


def task_rng(task: ImageTask) -> np.random.Generator:
    """The patient's own generator (independent of processing order)."""
    return np.random.default_rng([task.seed, 7919, task.centre_index, task.patient_index])


def _write_one(task: ImageTask) -> None:
    """Draw one patient's image and masks and write them as NIfTI."""
    import SimpleITK as sitk  # optional dependency (extra "imaging"); imported where needed

    assert task.image_path is not None, "write_images needs tasks with image_path set"
    image, masks = draw_lesion_image(task_rng(task), task.texture_z, task.n_lesions)
    img = sitk.GetImageFromArray(image)
    img.SetSpacing(SPACING)
    # Fast zlib level: these small volumes are written by the thousand.
    sitk.WriteImage(img, task.image_path, useCompression=True, compressionLevel=1)
    for mask, path in zip(masks, task.mask_paths or (), strict=True):
        m = sitk.GetImageFromArray(mask)
        m.SetSpacing(SPACING)
        sitk.WriteImage(m, path, useCompression=True, compressionLevel=1)


def _write_chunk(tasks: Sequence[ImageTask]) -> int:
    """Write several patients' images (one worker's share); the number written."""
    for task in tasks:
        _write_one(task)
    return len(tasks)


def write_images(tasks: Iterable[ImageTask], workers: int = 1) -> int:
    """Draw and write NIfTI images and masks for ``tasks``; return the number of patients.

    Parameters
    ----------
    tasks
        One :class:`ImageTask` per imaged patient, with ``image_path`` and ``mask_paths`` set.
    workers
        Processes to use (1 = in this process). Output is identical for any value.
    """
    tasks = list(tasks)
    if not tasks:
        return 0
    try:
        import SimpleITK  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("writing synthetic images needs SimpleITK: "
                          "pip install 'icipredict[imaging]'") from exc
    if workers <= 1 or len(tasks) < 50:
        return _write_chunk(tasks)
    chunks = [tasks[i::workers * 4] for i in range(workers * 4)]
    # spawn, not fork: the parent may hold pyarrow/BLAS threads.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return sum(pool.map(_write_chunk, chunks))


def radiomics_rows(task: ImageTask) -> list[dict[str, float]]:
    """Draw the patient's image (as :func:`write_images` would) and return per-lesion features."""
    image, masks = draw_lesion_image(task_rng(task), task.texture_z, task.n_lesions)
    return [first_order_features(image, m) for m in masks]
