"""RTSTRUCT and SEG masks onto an image grid (used by :mod:`icipredict.features.dicom_io`).

RTSTRUCT: each closed planar contour of the chosen ROI is mapped to the image's continuous voxel
indices (through the image's origin, spacing and direction, so any orientation works), assigned
to the slice it lies on, and filled where a voxel *centre* is inside it (matplotlib's ``Path``).
The contours of one slice are combined by the even-odd rule (XOR): a contour inside another is a
hole, one inside the hole an island again, whatever the order or winding the exporter used;
``CLOSEDPLANAR_XOR`` contours are defined that way. ``POINT`` and open contours enclose nothing
and are skipped (logged). On the IBSI CT phantom this reproduces the NIfTI mask voxel for voxel.

SEG: highdicom reads it (binary, fractional, label-map SEGs; frames for every slice or only
some); the chosen segment's volume goes onto the image grid by nearest-neighbour resampling
(exact when its voxel centres are the image's). A fractional segment counts where >= 0.5.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from icipredict.features.radiomics_engine import ImageError

logger = logging.getLogger(__name__)

#: A contour lying further than this (in slices) from a slice's centre plane is refused.
SLICE_TOLERANCE = 0.25

_FILLED = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")


def referenced_series(header: Any) -> tuple[str, ...]:
    """SeriesInstanceUIDs an RTSTRUCT or SEG says it was drawn on."""
    uids: list[str] = []
    for ref in header.get("ReferencedFrameOfReferenceSequence", []) or []:
        for study in ref.get("RTReferencedStudySequence", []) or []:
            for series in study.get("RTReferencedSeriesSequence", []) or []:
                uids.append(str(series.get("SeriesInstanceUID", "")))
    for series in header.get("ReferencedSeriesSequence", []) or []:
        uids.append(str(series.get("SeriesInstanceUID", "")))
    return tuple(u for u in uids if u)


def _choose(items: list[tuple[int, str]], *, roi: str | None, label: int | None, what: str,
            file: Path) -> tuple[int, str]:
    """Pick one (number, name) by name (exact, else ignoring case), number, or as the only one."""
    listing = ", ".join(f"{name!r} ({num})" for num, name in items) or "none"
    pick: list[tuple[int, str]] = []
    if roi is not None:
        pick = [it for it in items if it[1] == roi]
        if not pick:
            pick = [it for it in items if it[1].strip().lower() == roi.strip().lower()]
        if not pick and roi.strip().isdigit():
            pick = [it for it in items if it[0] == int(roi)]
        if not pick:
            raise ImageError(f"{what} {roi!r} is not in the file; it holds: {listing}", file=file)
        if len(pick) > 1:
            raise ImageError(f"{what} name {roi!r} is given to {len(pick)} {what}s "
                             f"({listing}); name it by number", file=file)
        if label is not None and pick[0][0] != label:
            raise ImageError(f"{what} {roi!r} is number {pick[0][0]}, not {label}", file=file)
        return pick[0]
    if label is not None:
        pick = [it for it in items if it[0] == label]
        if not pick:
            raise ImageError(f"{what} number {label} is not in the file; it holds: {listing}",
                             file=file)
        return pick[0]
    if len(items) != 1:
        raise ImageError(f"the file holds {len(items)} {what}s; name one (e.g. "
                         f"'{file.name}#<name>'): {listing}", file=file)
    return items[0]


def _check_frame_of_reference(found: str | None, expected: str | None, file: Path) -> None:
    if expected is None:
        logger.info("%s: the image is not a DICOM series; its frame of reference is not checked",
                    file)
        return
    if found and found != expected:
        raise ImageError(f"frame of reference {found} differs from the image series' "
                         f"({expected}): the mask was drawn on another scan", file=file)


def _grid(image: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """(origin, inverse of direction*spacing, size) of a SimpleITK image."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    nx, ny, nz = (int(s) for s in image.GetSize())
    return (np.asarray(image.GetOrigin(), dtype=float), np.linalg.inv(direction * spacing),
            (nx, ny, nz))


def _contour_points(contour: Any) -> np.ndarray:
    """Contour Data as floats; parsed from the raw bytes when still raw (pydicom's DS objects
    cost ~20 µs a value: most of the read time of a real RTSTRUCT)."""
    elem = contour.get_item(0x30060050)  # ContourData
    if elem is None:
        return np.zeros(0)
    raw = getattr(elem, "value", None)
    if isinstance(raw, bytes | bytearray):
        try:
            return np.array(raw.split(b"\\"), dtype=float)
        except ValueError:
            pass  # odd text: let pydicom parse it
    return np.asarray(contour.ContourData, dtype=float)


def rasterise_rtstruct(header: Any, image: Any, file: Path, *, roi: str | None,
                       label: int | None, frame_of_reference_uid: str | None) -> np.ndarray:
    """The chosen ROI of an RTSTRUCT as a boolean array ``(z, y, x)`` on ``image``'s grid.

    Raises
    ------
    ImageError
        ROI not there (the message lists those that are), another frame of reference, no
        closed contour, a contour off the image's slices.
    """
    from matplotlib.path import Path as MplPath

    rois = [(int(r.ROINumber), str(r.get("ROIName", ""))) for r in
            header.get("StructureSetROISequence", []) or []]
    number, name = _choose(rois, roi=roi, label=label, what="ROI", file=file)
    roi_item = next(r for r in header.StructureSetROISequence if int(r.ROINumber) == number)
    found = str(roi_item.get("ReferencedFrameOfReferenceUID", "") or "")
    if not found:
        refs = header.get("ReferencedFrameOfReferenceSequence", []) or []
        found = str(refs[0].get("FrameOfReferenceUID", "")) if len(refs) == 1 else ""
    _check_frame_of_reference(found or None, frame_of_reference_uid, file)

    contours = next((c.get("ContourSequence", []) or [] for c in
                     header.get("ROIContourSequence", []) or []
                     if int(c.get("ReferencedROINumber", -1)) == number), [])
    origin, inverse, (nx, ny, nz) = _grid(image)
    out = np.zeros((nz, ny, nx), dtype=bool)
    skipped = 0
    filled = 0
    for i, contour in enumerate(contours):
        kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR")).upper()
        points = _contour_points(contour)
        if kind not in _FILLED or len(points) < 9:
            skipped += 1
            continue
        idx = (points.reshape(-1, 3) - origin) @ inverse.T
        k = float(idx[:, 2].mean())
        kr = int(round(k))
        if np.abs(idx[:, 2] - k).max() > SLICE_TOLERANCE or abs(k - kr) > SLICE_TOLERANCE:
            raise ImageError(f"ROI {name!r}: contour {i + 1} does not lie on a slice of the "
                             f"image (slice index {idx[:, 2].min():.2f} to "
                             f"{idx[:, 2].max():.2f})", file=file)
        if not 0 <= kr < nz:
            raise ImageError(f"ROI {name!r}: contour {i + 1} lies on slice {kr}, outside the "
                             f"image's {nz} slices", file=file)
        x0, y0 = np.floor(idx[:, :2].min(axis=0)).astype(int)
        x1, y1 = np.ceil(idx[:, :2].max(axis=0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, nx - 1), min(y1, ny - 1)
        filled += 1
        if x0 > x1 or y0 > y1:
            continue  # wholly outside the field of view
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        inside = MplPath(idx[:, :2]).contains_points(np.column_stack([xx.ravel(), yy.ravel()]))
        out[kr, y0:y1 + 1, x0:x1 + 1] ^= inside.reshape(yy.shape)
    if skipped:
        logger.info("%s: ROI %r: %d point/open contour(s) skipped (they enclose no voxel)",
                    file, name, skipped)
    if not filled:
        raise ImageError(f"mask is empty: ROI {name!r} has no closed contour", file=file)
    return out


def read_seg(header: Any, image: Any, file: Path, *, roi: str | None, label: int | None,
             frame_of_reference_uid: str | None) -> np.ndarray:
    """The chosen segment of a DICOM SEG as a boolean array ``(z, y, x)`` on ``image``'s grid.

    Raises
    ------
    ImageError
        Segment not there (the message lists those that are), another frame of reference, a
        SEG highdicom cannot read as a volume.
    """
    import highdicom as hd
    import SimpleITK as sitk

    try:
        seg = hd.seg.Segmentation.from_dataset(header, copy=False)
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        raise ImageError(f"cannot read DICOM SEG ({exc})", file=file) from exc
    segments = [(int(s.SegmentNumber), str(s.get("SegmentLabel", ""))) for s in
                seg.SegmentSequence]
    number, name = _choose(segments, roi=roi, label=label, what="segment", file=file)
    _check_frame_of_reference(str(seg.get("FrameOfReferenceUID", "") or "") or None,
                              frame_of_reference_uid, file)
    try:
        volume = seg.get_volume(segment_numbers=[number]).squeeze_channel()
    except (ValueError, RuntimeError, IndexError) as exc:
        raise ImageError(f"segment {name!r}: cannot place its frames as a volume ({exc})",
                         file=file) from exc
    array = np.asarray(volume.array)
    binary = (array >= 0.5) if array.dtype.kind == "f" else (array > 0)
    part = volume.with_array(binary.astype(np.uint8)).to_simpleitk()
    placed = sitk.Resample(part, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                           sitk.sitkUInt8)
    # Aligned grids: the SEG's voxel steps are whole image voxel steps from whole offsets.
    origin, inverse, _ = _grid(image)
    steps = inverse @ (np.asarray(part.GetDirection(), dtype=float).reshape(3, 3)
                       * np.asarray(part.GetSpacing(), dtype=float))
    offset = inverse @ (np.asarray(part.GetOrigin(), dtype=float) - origin)
    if not (np.allclose(steps, np.round(steps), atol=1e-3)
            and np.allclose(offset, np.round(offset), atol=1e-3)):
        logger.warning("%s: segment %r is on another grid than the image; nearest-neighbour "
                       "resampled", file, name)
    return sitk.GetArrayFromImage(placed).astype(bool)
