"""DICOM image series: one series of a folder, checked to be a regular volume, read by SimpleITK.

Headers are read with pydicom (no pixels); RTSTRUCT, SEG and other non-image files are set
aside. A folder with several series needs a choice (``folder#<SeriesInstanceUID>``, or the
series the mask references). The chosen series' slices are sorted along their normal and
refused when orientation, size or pixel spacing differ, when two share a position, when a gap
is a multiple of the spacing (missing slices) or otherwise uneven, or when the stack is sheared
(gantry tilt). SimpleITK's ``ImageSeriesReader`` (GDCM) then reads the sorted files: it applies
each slice's Rescale Slope/Intercept (HU for CT) and decodes compressed transfer syntaxes.
Used by :func:`icipredict.features.dicom_io.read_image_and_mask`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from icipredict.features.radiomics_engine import ImageError

__all__ = ["SeriesInfo", "read_series"]

#: Relative tolerance on slice gaps: a gap further than this from the series' spacing is refused.
SPACING_RTOL = 0.01
#: Tolerance on orientation cosines and in-plane pixel spacing (mm) between slices.
GEOMETRY_ATOL = 1e-4


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
