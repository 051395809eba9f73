"""DICOM in: an image and its lesion mask as hospitals export them, on one grid.

:func:`read_image_and_mask` is the one door. The image is a NIfTI/NRRD file or a folder holding a
CT/MR DICOM series; the mask is a NIfTI/NRRD label map, a DICOM RTSTRUCT (one named ROI, its
polygons rasterised onto the image grid) or a DICOM SEG (one segment). What comes back is the
image and a ``uint8`` 0/1 mask with exactly the image's size, spacing, origin and direction.

The way of a DICOM series::

    folder ──► headers (pydicom, no pixels) ──► one series ──► checks ──► SimpleITK reads the
               RTSTRUCT/SEG files set aside      (the mask's     (orientation, size, pixel spacing,
                                                  reference, or   slices sorted along the normal:
                                                  ``#<UID>``)     duplicated, missing, uneven)

SimpleITK's ``ImageSeriesReader`` (GDCM) reads the checked, sorted files: it applies each slice's
Rescale Slope/Intercept (CT numbers in HU) and decodes compressed transfer syntaxes without
further packages. Libraries and why (measured on the IBSI CT phantom, 204×201×60, one ROI of 26
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from icipredict.features.radiomics_engine import ImageError, check_image_mask, read_image

logger = logging.getLogger(__name__)

__all__ = ["ImageError", "mask_format", "read_image_and_mask", "split_uri"]

#: SOP classes of the mask objects understood here.
RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
SEG_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation Storage
                   "1.2.840.10008.5.1.4.1.1.66.7")  # Label Map Segmentation Storage

#: Relative tolerance on slice gaps: a gap further than this from the series' spacing is refused.
SPACING_RTOL = 0.01
#: Tolerance (mm) on orientation cosines and in-plane pixel spacing between slices.
GEOMETRY_ATOL = 1e-4


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
                        label: int | None = None):
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
            raise ImageError("mask is empty: no voxel of the image is inside the ROI",
                             file=mask_file)
    return img, out


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


@dataclass
class SeriesInfo:
    """What is known of a DICOM series read by :func:`read_series`."""

    folder: Path
    series_uid: str
    frame_of_reference_uid: str | None
    modality: str
    files: list[Path] = field(default_factory=list)
    sop_instance_uids: list[str] = field(default_factory=list)


def _scan_series(folder: Path) -> tuple[dict[str, list[tuple[Path, Any]]], list[str]]:
    """Image headers of the folder's files grouped by SeriesInstanceUID, and what was set aside."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    series: dict[str, list[tuple[Path, Any]]] = {}
    other: list[str] = []
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError, KeyError) as exc:
            with f.open("rb") as fh:
                if fh.read(132)[128:] == b"DICM":  # a DICOM file that cannot be read
                    raise ImageError(f"cannot read DICOM file ({type(exc).__name__}: {exc})",
                                     file=f) from exc
            continue
        if "ImagePositionPatient" not in ds or "Rows" not in ds:
            other.append(f"{f.name} ({ds.get('Modality', 'no modality')})")
            continue
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((f, ds))
    return series, other


def _describe(uid: str, items: list[tuple[Path, Any]]) -> str:
    ds = items[0][1]
    desc = str(ds.get("SeriesDescription", "") or "").strip()
    return (f"{uid} ({ds.get('Modality', '?')}" + (f", '{desc}'" if desc else "")
            + f", {len(items)} file(s))")


def read_series(folder: str | Path, *, series_uid: str | None = None,
                prefer: Sequence[str] = ()) -> tuple[Any, SeriesInfo]:
    """Read one DICOM image series from a folder, after checking that it is a regular volume.

    Parameters
    ----------
    folder
        Folder holding the series' files (other files, RTSTRUCT/SEG included, are set aside).
    series_uid
        The SeriesInstanceUID to read when the folder holds several.
    prefer
        SeriesInstanceUIDs referenced by the mask: the one present is read when there are
        several and ``series_uid`` is None.

    Returns
    -------
    (SimpleITK.Image, SeriesInfo)

    Raises
    ------
    ImageError
        No image series; several without a choice; the chosen one absent; mixed orientation,
        size or pixel spacing; duplicated or missing slices; uneven slice spacing.
    """
    import SimpleITK as sitk

    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError("DICOM folder not found", file=folder)
    groups, other = _scan_series(folder)
    if not groups:
        extra = f"; it holds {', '.join(other[:5])}" if other else ""
        raise ImageError(f"folder holds no DICOM image series{extra}", file=folder)
    listing = "; ".join(_describe(u, items) for u, items in groups.items())
    if series_uid is not None:
        if series_uid not in groups:
            raise ImageError(f"series {series_uid} is not in the folder; it holds: {listing}",
                             file=folder)
        uid = series_uid
    elif len(groups) == 1:
        uid = next(iter(groups))
    else:
        hits = [u for u in prefer if u in groups]
        if not hits:
            raise ImageError(f"folder holds {len(groups)} DICOM series; choose one by appending "
                             f"'#<SeriesInstanceUID>' to the folder: {listing}", file=folder)
        uid = hits[0]
    files, positions = _check_series(folder, groups[uid])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f, _ in files])
    slopes = {(float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0))
              for _, ds in files}
    if len(slopes) > 1 or any(s != int(s) or i != int(i) for s, i in slopes):
        reader.SetOutputPixelType(sitk.sitkFloat32)
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        detail = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), str(exc))
        raise ImageError(f"cannot read DICOM series ({detail[:200]})", file=folder) from exc
    if len(files) > 1:  # the spacing checked above, not GDCM's first-two-slices estimate
        sp = list(img.GetSpacing())
        sp[2] = float(np.median(np.diff(positions)))
        img.SetSpacing(sp)
    first = files[0][1]
    info = SeriesInfo(folder=folder, series_uid=uid,
                      frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")) or None,
                      modality=str(first.get("Modality", "")),
                      files=[f for f, _ in files],
                      sop_instance_uids=[str(ds.get("SOPInstanceUID", "")) for _, ds in files])
    return img, info


def _check_series(folder: Path, items: list[tuple[Path, Any]]
                  ) -> tuple[list[tuple[Path, Any]], np.ndarray]:
    """Sort a series' slices along their normal; refuse anything that is not a regular volume."""
    frames = [int(ds.get("NumberOfFrames", 1) or 1) for _, ds in items]
    if max(frames) > 1:
        raise ImageError("multi-frame (enhanced) DICOM images are not read; export the series as "
                         "one file per slice", file=items[int(np.argmax(frames))][0])
    iop = np.array([[float(v) for v in ds.ImageOrientationPatient] for _, ds in items])
    bad = np.flatnonzero(np.abs(iop - iop[0]).max(axis=1) > GEOMETRY_ATOL)
    if len(bad):
        raise ImageError(f"slices of one series have different orientations ({items[0][0].name}: "
                         f"{iop[0].round(4).tolist()}, {items[bad[0]][0].name}: "
                         f"{iop[bad[0]].round(4).tolist()})", file=folder)
    for what in ("Rows", "Columns", "PixelSpacing"):
        values = [tuple(np.atleast_1d(np.asarray(ds.get(what, 0), dtype=float)))
                  for _, ds in items]
        diff = [i for i, v in enumerate(values)
                if len(v) != len(values[0]) or not np.allclose(v, values[0], atol=GEOMETRY_ATOL)]
        if diff:
            i = diff[0]
            raise ImageError(f"slices of one series differ in {what} ({items[0][0].name}: "
                             f"{values[0]}, {items[i][0].name}: {values[i]})", file=folder)
    normal = np.cross(iop[0][:3], iop[0][3:])
    ipp = np.array([[float(v) for v in ds.ImagePositionPatient] for _, ds in items])
    pos = ipp @ normal
    order = np.argsort(pos, kind="stable")
    items = [items[i] for i in order]
    pos = pos[order]
    if len(items) == 1:
        return items, pos
    gaps = np.diff(pos)
    pixel = float(np.asarray(items[0][1].get("PixelSpacing", [1, 1]), dtype=float).min())
    dup = np.flatnonzero(gaps < max(1e-3, 1e-3 * pixel))
    if len(dup):
        i = dup[0]
        raise ImageError(f"duplicated slice: {items[i][0].name} and {items[i + 1][0].name} are "
                         f"both at {pos[i]:.3f} mm along the slice normal "
                         f"({len(dup)} duplicate(s) in all)", file=folder)
    spacing = float(np.median(gaps))
    off = np.flatnonzero(np.abs(gaps - spacing) > SPACING_RTOL * spacing)
    if len(off):
        i = off[0]
        ratio = gaps[i] / spacing
        where = (f"between {items[i][0].name} ({pos[i]:.3f} mm) and {items[i + 1][0].name} "
                 f"({pos[i + 1]:.3f} mm)")
        if ratio > 1.5 and abs(ratio - round(ratio)) < SPACING_RTOL * round(ratio):
            raise ImageError(f"missing slice(s): a gap of {gaps[i]:.3f} mm {where} where the "
                             f"series' spacing is {spacing:.3f} mm ({round(ratio) - 1} slice(s) "
                             f"missing; {len(off)} irregular gap(s) in all)", file=folder)
        shown = ", ".join(f"{g:.3f}" for g in np.unique(gaps.round(3))[:8])
        raise ImageError(f"inconsistent slice spacing: gaps of {shown} mm (first odd one "
                         f"{where})", file=folder)
    # The positions must stack along the normal (a sheared stack is a gantry tilt).
    lateral = ipp[order] - np.outer(pos, normal)
    if np.abs(lateral - lateral[0]).max() > max(1e-2, 0.01 * pixel):
        raise ImageError("slices are not stacked along their normal (gantry tilt or sheared "
                         "series); resample it to a regular volume first", file=folder)
    return items, pos
