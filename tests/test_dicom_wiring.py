"""DICOM through the feature stage and the board: a record's series + RTSTRUCT gives the features
of the same voxels as NIfTI, and its problems name ``images.<i>.image`` or ``images.<i>.mask``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("radiomics")
sitk = pytest.importorskip("SimpleITK")

from dicom_fixtures import square, write_rtstruct, write_series  # noqa: E402
from icipredict.features.dicom_io import read_image_and_mask  # noqa: E402
from icipredict.predict.radiomics import with_image_radiomics  # noqa: E402
from icipredict.predict.record import RecordError, parse_record  # noqa: E402

BASE = {"patient_id": "IMG-1", "cancer_type": "NSCLC"}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict[str, Path]:
    """A 32x32x8 CT series with a lesion on four slices (a hole in one), and a gapped copy."""
    root = tmp_path_factory.mktemp("dicom")
    info = write_series(root / "ct", n_slices=8, rows=32, cols=32, pixel=1.0)
    # texture: the stored values vary in x and z only; make y vary too so GLCM is not trivial
    import pydicom

    for f in sorted((root / "ct").glob("*.dcm")):
        ds = pydicom.dcmread(f)
        a = ds.pixel_array.astype(np.int16) + (np.arange(32)[:, None] * 7 % 23).astype(np.int16)
        ds.PixelData = a.tobytes()
        ds.save_as(f)
    contours = [(z, square(7.5, 8.5, 21.5, 19.5)) for z in (5.0, 7.5, 10.0, 12.5)]
    contours.append((7.5, square(11.5, 11.5, 15.5, 14.5, clockwise=True)))  # a hole
    rs = write_rtstruct(root / "rs.dcm", info, {"GTV": contours,
                                                "Lung": [(0.0, square(1, 1, 30, 30))]})
    gapped = write_series(root / "gapped", n_slices=8, rows=32, cols=32, pixel=1.0,
                          z=[0, 2.5, 5, 7.5, 12.5, 15, 17.5, 20],
                          series_uid=None, frame_uid=info["frame_uid"])
    image, mask = read_image_and_mask(root / "ct", f"{rs}#GTV")
    sitk.WriteImage(image, str(root / "image.nii.gz"))
    sitk.WriteImage(mask, str(root / "mask.nii.gz"))
    return {"root": root, "ct": root / "ct", "rs": rs, "gapped": root / "gapped",
            "gapped_uid": gapped["series_uid"], "nii": root / "image.nii.gz",
            "nii_mask": root / "mask.nii.gz"}


def test_record_with_series_and_rtstruct_scores_like_nifti(study, tmp_path):
    dicom = parse_record({**BASE, "images": [
        {"image": str(study["ct"]), "mask": f"{study['rs']}#GTV"}]})
    nifti = parse_record({**BASE, "images": [
        {"image": str(study["nii"]), "mask": str(study["nii_mask"])}]})
    [a] = with_image_radiomics([dicom], cache=tmp_path / "c")
    [b] = with_image_radiomics([nifti], cache=tmp_path / "c")
    assert len(a.radiomics) > 100 and set(a.radiomics) == set(b.radiomics)
    for name, value in b.radiomics.items():
        assert a.radiomics[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
    # the hole is not lesion: 4 slices of 14 x 11 voxels, less the 4 x 3 hole; 2.5 mm^3 each
    assert a.radiomics["original_shape_VoxelVolume"] == pytest.approx(2.5 * (4 * 14 * 11 - 12))


def test_dicom_problems_name_the_image_or_the_mask(study, tmp_path):
    rec = parse_record({**BASE, "images": [
        {"image": str(study["ct"]), "mask": f"{study['rs']}#PTV"},
        {"image": str(study["gapped"]), "mask": f"{study['rs']}#GTV"},
        {"image": str(study["ct"]), "mask": str(study["rs"])},
        {"image": str(study["ct"]), "mask": f"{study['rs']}#GTV"}]})
    with pytest.raises(RecordError) as info:
        with_image_radiomics([rec], cache=tmp_path)
    problems = {p["field"]: p["message"] for p in info.value.problems}
    assert set(problems) == {"images.0.mask", "images.1.image", "images.2.mask"}
    assert "ROI 'PTV' is not in the file; it holds: 'GTV' (1), 'Lung' (2)" in problems[
        "images.0.mask"]
    assert "missing slice" in problems["images.1.image"]
    assert "holds 2 ROIs; name one" in problems["images.2.mask"]
