"""Small DICOM files written in a test's tmp_path: a CT series, an RTSTRUCT, a SEG.

Nothing here is shipped data: every file is generated, so error cases (a missing slice, another
frame of reference, a hole in a contour) are one argument away.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"


def _meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def write_series(folder: Path, *, n_slices: int = 6, rows: int = 12, cols: int = 16,
                 pixel: float = 0.8, z: Sequence[float] | None = None,
                 orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
                 origin: Sequence[float] = (-6.0, -4.0, 10.0), thickness: float = 2.5,
                 series_uid: str | None = None, frame_uid: str | None = None,
                 study_uid: str | None = None, slope: float = 1.0,
                 intercept: float = -1024.0, prefix: str = "CT") -> dict:
    """Write a CT series (one file per slice) and return its UIDs, positions and stored values.

    ``z`` gives each slice's offset along the normal (default ``i * thickness``); stored values
    are ``100 * slice + column`` so a test can recompute HU.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    frame_uid = frame_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    offsets = list(z) if z is not None else [i * thickness for i in range(n_slices)]
    iop = np.asarray(orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    sop_uids = []
    for i, dz in enumerate(offsets):
        sop = generate_uid()
        sop_uids.append(sop)
        ds = Dataset()
        ds.file_meta = _meta(CT_IMAGE, sop)
        ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE, sop
        ds.Modality = "CT"
        ds.PatientID, ds.PatientName = "TEST", "TEST^ONE"
        ds.PatientBirthDate, ds.PatientSex = "", ""
        ds.StudyDate, ds.StudyTime, ds.StudyID = "20260101", "120000", "1"
        ds.AccessionNumber, ds.ReferringPhysicianName = "", ""
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.SeriesDescription = prefix
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [float(v) for v in np.asarray(origin) + dz * normal]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = [pixel, pixel]
        ds.SliceThickness = thickness
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        values = (100 * i + np.arange(cols)[None, :] + 0 * np.arange(rows)[:, None])
        ds.PixelData = values.astype(np.int16).tobytes()
        ds.save_as(folder / f"{prefix}_{i:03d}.dcm", enforce_file_format=True)
    return {"series_uid": series_uid, "frame_uid": frame_uid, "study_uid": study_uid,
            "sop_uids": sop_uids, "offsets": offsets, "origin": tuple(origin),
            "normal": normal, "orientation": tuple(orientation)}


def write_rtstruct(path: Path, series: dict, rois: dict[str, list[tuple[float, np.ndarray]]],
                   *, frame_uid: str | None = None, kinds: dict[str, str] | None = None) -> Path:
    """Write an RTSTRUCT whose ROIs are ``{name: [(slice offset, (n, 2) in-plane mm), ...]}``.

    In-plane points are along the series' row and column directions from its origin; each
    becomes a contour on the slice at that offset.
    """
    frame_uid = frame_uid or series["frame_uid"]
    iop = np.asarray(series["orientation"], dtype=float)
    origin = np.asarray(series["origin"], dtype=float)
    ds = Dataset()
    sop = generate_uid()
    ds.file_meta = _meta(RTSTRUCT, sop)
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT, sop
    ds.Modality = "RTSTRUCT"
    ds.PatientID, ds.PatientName = "TEST", "TEST^ONE"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = series["study_uid"], generate_uid()
    ds.StructureSetLabel = "test"
    ref_series = Dataset()
    ref_series.SeriesInstanceUID = series["series_uid"]
    ref_study = Dataset()
    ref_study.RTReferencedSeriesSequence = DicomSequence([ref_series])
    ref_for = Dataset()
    ref_for.FrameOfReferenceUID = frame_uid
    ref_for.RTReferencedStudySequence = DicomSequence([ref_study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([ref_for])
    roi_items, contour_items = [], []
    for number, (name, contours) in enumerate(rois.items(), start=1):
        item = Dataset()
        item.ROINumber, item.ROIName = number, name
        item.ReferencedFrameOfReferenceUID = frame_uid
        roi_items.append(item)
        seq = []
        for offset, xy in contours:
            xy = np.asarray(xy, dtype=float)
            pts = (origin + offset * series["normal"] + xy[:, :1] * iop[:3]
                   + xy[:, 1:2] * iop[3:])
            c = Dataset()
            c.ContourGeometricType = (kinds or {}).get(name, "CLOSED_PLANAR")
            c.NumberOfContourPoints = len(pts)
            c.ContourData = [f"{v:.6f}" for v in pts.ravel()]
            seq.append(c)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ContourSequence = DicomSequence(seq)
        contour_items.append(rc)
    ds.StructureSetROISequence = DicomSequence(roi_items)
    ds.ROIContourSequence = DicomSequence(contour_items)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def square(x0: float, y0: float, x1: float, y1: float, *, clockwise: bool = False) -> np.ndarray:
    """A rectangle's corners (mm, in-plane), counter-clockwise unless asked otherwise."""
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
    return pts[::-1] if clockwise else pts


def write_seg(path: Path, series_folder: Path, masks: dict[str, np.ndarray],
              *, fractional: bool = False) -> Path:
    """Write a SEG with one segment per ``{label: (slices, rows, cols) bool}`` on the series."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    sources = sorted((pydicom.dcmread(f) for f in series_folder.glob("*.dcm")),
                     key=lambda d: float(np.dot(d.ImagePositionPatient, np.cross(
                         d.ImageOrientationPatient[:3], d.ImageOrientationPatient[3:]))))
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i, segment_label=name,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Neoplasm,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for i, name in enumerate(masks, start=1)]
    stack = np.stack([np.asarray(m) for m in masks.values()], axis=-1)
    kind = hd.seg.SegmentationTypeValues.FRACTIONAL if fractional else \
        hd.seg.SegmentationTypeValues.BINARY
    with warnings.catch_warnings():  # the phantom's patient name has one component
        warnings.simplefilter("ignore", UserWarning)
        seg = _segmentation(
            sources, stack.astype(np.float32 if fractional else bool), kind, descriptions)
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def _segmentation(sources, pixels, kind, descriptions):
    import highdicom as hd

    return hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=kind,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=2,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="icipredict tests",
        manufacturer_model_name="tests", software_versions="0", device_serial_number="0")
