"""DICOM in: an image and its lesion mask as hospitals export them, on one grid.

:func:`read_image_and_mask` is the one door. The image is a NIfTI/NRRD file or a folder holding a
CT/MR DICOM series; the mask is a NIfTI/NRRD label map, a DICOM RTSTRUCT (one named ROI, its
polygons rasterised onto the image grid) or a DICOM SEG (one segment). What comes back is the
image and a ``uint8`` 0/1 mask with exactly the image's size, spacing, origin and direction.

The way of a DICOM series (:mod:`icipredict.features.dicom_series`)::

    folder ──► headers (pydicom, no pixels) ──► one series ──► checks ──► SimpleITK reads the
               RTSTRUCT/SEG files set aside      (the mask's     (orientation, size, pixel spacing,
                                                  reference, or   slices sorted along the normal:
                                                  ``#<UID>``)     duplicated, missing, uneven)

SimpleITK's ``ImageSeriesReader`` (GDCM) reads the checked, sorted files: it applies each slice's
Rescale Slope/Intercept (CT numbers in HU) and decodes compressed transfer syntaxes without
further packages. Masks (:mod:`icipredict.features.dicom_masks`), libraries and why (measured on the IBSI CT phantom, 204×201×60, one ROI of 26
contours, against its NIfTI mask):

- *RTSTRUCT*: rasterised here (:mod:`icipredict.features.dicom_masks`), a voxel is inside when its
  centre is inside the contour (matplotlib's ``Path``), contours of one slice combined by the
  even-odd rule (a contour inside another is a hole, one inside that an island again): Dice 1.0,
  0 voxels differ. rt-utils 1.2.7 was tried and not kept: it fails on contours without the
  optional Contour Image Sequence (the phantom's), returns a (columns, rows) array for non-square
  images, rounds vertices to whole pixels and fills the boundary (Dice 0.986, 3450 extra voxels
  once those were worked around), and needs OpenCV (~150 MB). highdicom has no RTSTRUCT reader.
- *SEG*: highdicom (``segread``, ``get_volume``: sparse frames, fractional segments and label-map
  SEGs), the segment put on the image grid by nearest-neighbour resampling (exact when the SEG's
  voxel centres are the image's, as a SEG made on that series has).

A mask URI may name what it means after ``#`` (when the path with the ``#`` is not itself a file):
``rs.dcm#GTV-1`` (ROI name, else ROI number), ``seg.dcm#2`` (segment label, else number),
``mask.nii.gz#2`` (voxel value); an image folder holding several series takes
``folder#<SeriesInstanceUID>``. This is how the imaging table's ``mask_uri``/``image_uri`` and a
patient record's ``images[].mask``/``image`` name them; nothing else changed in those formats.

Every problem is an :class:`~icipredict.features.radiomics_engine.ImageError` (a
``CohortError``) naming the file or folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from icipredict.features.dicom_series import read_series
from icipredict.features.radiomics_engine import ImageError, check_image_mask, read_image

if TYPE_CHECKING:
    import SimpleITK

logger = logging.getLogger(__name__)

__all__ = ["ImageError", "mask_format", "read_engine_inputs", "read_image_and_mask", "split_uri"]

#: SOP classes of the mask objects understood here.
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
SEG_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation Storage
                   "1.2.840.10008.5.1.4.1.1.66.7")  # Label Map Segmentation Storage

# --------------------------------------------------------------------------------------------
# URIs
# --------------------------------------------------------------------------------------------

def split_uri(uri: str | Path) -> tuple[Path, str | None]:
    """Split ``path#selector`` into the path and what it names.

    A path that exists as given is never split (file names may hold ``#``); otherwise the text
    after the last ``#`` is the selector when the part before it exists.

    Returns
    -------
    (path, selector)
        ``selector`` is None when there is none.
    """
    text = str(uri)
    path = Path(text)
    if path.exists() or "#" not in text:
        return path, None
    base, _, selector = text.rpartition("#")
    if base and Path(base).exists():
        return Path(base), (selector.strip() or None)
    return path, None


def mask_format(mask: str | Path) -> str:
    """What a mask URI points at: ``"rtstruct"``, ``"seg"`` or ``"labelmap"``.

    A folder holding one RTSTRUCT or SEG file counts as that file; a missing path is a
    ``"labelmap"`` (reading it then says it is missing).
    """
    path, _ = split_uri(mask)
    if path.is_dir():
        objects = _mask_objects(path)
        return objects[0][1] if len(objects) == 1 else "labelmap"
    if path.is_file():
        return _dicom_kind(path)
    return "labelmap"


# --------------------------------------------------------------------------------------------
# The one door
# --------------------------------------------------------------------------------------------

def read_image_and_mask(image: str | Path, mask: str | Path, *, roi: str | None = None,
                        label: int | None = None) -> tuple[SimpleITK.Image, SimpleITK.Image]:
    """Read an image and one lesion's mask on the image's grid.

    Parameters
    ----------
    image
        NIfTI/NRRD (any SimpleITK) file, or a folder holding a CT/MR DICOM series. A folder with
        several series: the one the RTSTRUCT/SEG references, else ``folder#<SeriesInstanceUID>``.
    mask
        NIfTI/NRRD label map, DICOM RTSTRUCT or DICOM SEG file (or a folder holding one such
        file). ``path#name`` names the ROI, segment or label (see the module docstring).
    roi
        RTSTRUCT: the ROI name (exact, else ignoring case; a number: the ROI Number). SEG: the
        segment label (or number). None: the only ROI/segment (several are an error that lists
        them).
    label
        Label map: the voxel value of the lesion (None: the only non-zero value). SEG: the
        segment number. RTSTRUCT: the ROI Number.

    Returns
    -------
    (image, mask) : tuple of SimpleITK.Image
        ``mask`` is ``uint8`` 0/1 with the image's size, spacing, origin and direction. CT
        series come in HU (Rescale Slope/Intercept applied).

    Raises
    ------
    ImageError
        Missing or unreadable files; a series with duplicated or missing slices, uneven slice
        spacing, mixed orientations, sizes or pixel spacings; several series without a choice;
        an RTSTRUCT/SEG whose frame of reference is not the series'; an ROI or segment that is
        not there (the message lists those that are); a mask on another grid; an empty mask.
    """
    import SimpleITK as sitk

    from icipredict.features import dicom_masks

    image_path, series_uid = split_uri(image)
    mask_path, selector = split_uri(mask)
    if selector is not None:
        if roi is not None and roi != selector:
            raise ImageError(f"the mask URI names {selector!r} but roi={roi!r} was asked",
                             file=mask_path)
        roi = selector
    if not mask_path.exists():
        raise ImageError("mask file not found", file=mask_path)
    kind, mask_file = _resolve_mask(mask_path)

    header = None
    if kind != "labelmap":
        header = _dcmread(mask_file, stop_before_pixels=kind == "rtstruct")
    if image_path.is_dir():
        prefer = dicom_masks.referenced_series(header) if header is not None else ()
        img, series = read_series(image_path, series_uid=series_uid, prefer=prefer)
    else:
        if series_uid is not None:
            raise ImageError(f"#{series_uid} chooses a series in a DICOM folder; this is a file",
                             file=image_path)
        img, series = read_image(image_path), None

    if kind == "labelmap":
        out = _label_map(img, mask_path, roi=roi, label=label)
    else:
        for_uid = series.frame_of_reference_uid if series is not None else None
        if kind == "rtstruct":
            arr = dicom_masks.rasterise_rtstruct(header, img, mask_file, roi=roi, label=label,
                                                 frame_of_reference_uid=for_uid)
        else:
            arr = dicom_masks.read_seg(header, img, mask_file, roi=roi, label=label,
                                       frame_of_reference_uid=for_uid)
        out = sitk.GetImageFromArray(arr.astype(np.uint8))
        out.CopyInformation(img)
        if not arr.any():
            what = "ROI" if kind == "rtstruct" else "segment"
            raise ImageError(f"mask is empty: no voxel of the image is inside the {what}",
                             file=mask_file)
    return img, out


def read_engine_inputs(image: str | Path, mask: str | Path, *, label: int = 1,
                       tolerance: float = 1e-4) -> tuple[Any, Any, int]:
    """The image, mask and lesion label a radiomics engine computes on.

    Two plain files with a label-map mask are read as they always were (the mask keeps its
    labels; its geometry is checked with ``tolerance``, the engine's ``geometryTolerance``).
    Anything else (a DICOM series folder, an RTSTRUCT or SEG, a ``#`` selector) goes through
    :func:`read_image_and_mask`: ``label`` is then the label map's value, while an RTSTRUCT/SEG
    is chosen by its ``#name`` or as its only ROI/segment (the imaging table's ``mask_label``
    defaults to 1 and names nothing there), and the returned label is 1.

    Returns
    -------
    (image, mask, label)

    Raises
    ------
    ImageError
        As :func:`read_image_and_mask`; a mask on another grid or without the label.
    """
    kind = mask_format(mask)
    if kind == "labelmap" and Path(image).is_file() and Path(mask).is_file():
        img, msk = read_image(image), read_image(mask)
        check_image_mask(img, msk, label=label, mask_path=mask, tolerance=tolerance)
        return img, msk, label
    _, selector = split_uri(mask)
    img, msk = read_image_and_mask(image, mask, label=label if kind == "labelmap" and
                                   selector is None else None)
    return img, msk, 1


def _label_map(img: Any, path: Path, *, roi: str | None, label: int | None):
    """A NIfTI/NRRD (or DICOM-series) label map as 0/1 on the image grid."""
    import SimpleITK as sitk

    if roi is not None:
        try:
            want = int(roi)
        except ValueError:
            raise ImageError(f"a label-map mask is chosen by its voxel value; got {roi!r}",
                             file=path) from None
        if label is not None and label != want:
            raise ImageError(f"the mask URI names label {want} but label={label} was asked",
                             file=path)
        label = want
    mask = read_series(path)[0] if path.is_dir() else read_image(path)
    arr = sitk.GetArrayViewFromImage(mask)
    if label is None:
        values = np.unique(arr)
        values = values[values != 0]
        if len(values) > 1:
            shown = ", ".join(str(v) for v in values[:10])
            raise ImageError(f"mask holds several labels ({shown}); choose one "
                             "(mask_label, or 'mask.nii.gz#<label>')", file=path)
        if len(values) == 0:
            raise ImageError("mask is empty: no non-zero voxel", file=path)
        label = int(values[0])
    check_image_mask(img, mask, label=label, mask_path=path)
    out = sitk.GetImageFromArray((sitk.GetArrayViewFromImage(mask) == label).astype(np.uint8))
    out.CopyInformation(img)
    return out


# --------------------------------------------------------------------------------------------
# DICOM files
# --------------------------------------------------------------------------------------------

def _dcmread(path: Path, **kwargs: Any):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, **kwargs)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError) as exc:
        raise ImageError(f"cannot read DICOM file ({type(exc).__name__}: {exc})",
                         file=path) from exc


def _dicom_kind(path: Path) -> str:
    """``"rtstruct"``, ``"seg"`` or ``"labelmap"`` (not DICOM, or a DICOM image) of one file."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "Modality"])
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError):
        return "labelmap"
    sop = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", "")).upper()
    if sop == RTSTRUCT_SOP_CLASS or modality == "RTSTRUCT":
        return "rtstruct"
    if sop in SEG_SOP_CLASSES or modality == "SEG":
        return "seg"
    return "labelmap"


def _mask_objects(folder: Path) -> list[tuple[Path, str]]:
    """The RTSTRUCT and SEG files directly in ``folder``."""
    found = []
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        kind = _dicom_kind(f)
        if kind != "labelmap":
            found.append((f, kind))
    return found


def _resolve_mask(path: Path) -> tuple[str, Path]:
    """The mask's kind and file (a folder holding one RTSTRUCT/SEG stands for that file)."""
    if path.is_dir():
        objects = _mask_objects(path)
        if len(objects) > 1:
            names = ", ".join(f"{f.name} ({k.upper()})" for f, k in objects)
            raise ImageError(f"folder holds several RTSTRUCT/SEG files ({names}); give the file",
                             file=path)
        if objects:
            return objects[0][1], objects[0][0]
        return "labelmap", path
    return _dicom_kind(path), path
