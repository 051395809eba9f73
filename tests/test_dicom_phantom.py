"""Golden test: the IBSI CT phantom as DICOM (series + RTSTRUCT, and a SEG made here) vs NIfTI.

Measured (and asserted): the series reads to the NIfTI image's voxels and geometry; the
RTSTRUCT's rasterised mask equals the NIfTI mask voxel for voxel (Dice 1.0, 0 of 2,460,240 voxels
differ, 125,256 in the ROI); radiomics from either input agree to ~1e-14.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("highdicom")
pytest.importorskip("radiomics")
sitk = pytest.importorskip("SimpleITK")

from icipredict.features.dicom_io import ImageError, read_image_and_mask  # noqa: E402
from icipredict.features.imaging import extract_cohort, file_sha256  # noqa: E402
from icipredict.features.radiomics_engine import PyRadiomicsEngine  # noqa: E402


@pytest.fixture(scope="module")
def phantom(shared_data: Path) -> Path:
    path = shared_data / "imaging" / "ibsi_ct_phantom"
    if not (path / "dicom" / "mask" / "DCM_RS_00060.dcm").is_file():
        pytest.skip(f"{path} holds no DICOM phantom")
    return path


@pytest.fixture(scope="module")
def nifti(phantom: Path):
    return (sitk.ReadImage(str(phantom / "image.nii.gz")),
            sitk.ReadImage(str(phantom / "mask.nii.gz")))


@pytest.fixture(scope="module")
def engine() -> PyRadiomicsEngine:
    return PyRadiomicsEngine("default")


def _same_geometry(a, b) -> None:
    assert a.GetSize() == b.GetSize()
    for what in ("Spacing", "Origin", "Direction"):
        np.testing.assert_allclose(getattr(a, f"Get{what}")(), getattr(b, f"Get{what}")(),
                                   atol=1e-6)


def _agreement(mask, reference) -> tuple[float, int]:
    a = sitk.GetArrayFromImage(mask).astype(bool)
    b = sitk.GetArrayFromImage(reference).astype(bool)
    return 2 * (a & b).sum() / (a.sum() + b.sum()), int((a != b).sum())


def test_series_and_rtstruct_match_the_nifti(phantom, nifti):
    image, mask = read_image_and_mask(phantom / "dicom" / "image",
                                      phantom / "dicom" / "mask" / "DCM_RS_00060.dcm")
    ref_image, ref_mask = nifti
    _same_geometry(image, ref_image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image),
                                  sitk.GetArrayFromImage(ref_image))  # HU, exactly
    _same_geometry(mask, ref_mask)
    dice, differ = _agreement(mask, ref_mask)
    assert (dice, differ) == (1.0, 0)
    assert sitk.GetArrayFromImage(mask).sum() == 125_256


def test_rtstruct_on_the_nifti_image(phantom, nifti):
    image, mask = read_image_and_mask(phantom / "image.nii.gz",
                                      f"{phantom / 'dicom' / 'mask' / 'DCM_RS_00060.dcm'}#GTV-1")
    assert _agreement(mask, nifti[1]) == (1.0, 0)


def test_unknown_roi_lists_the_phantoms(phantom):
    with pytest.raises(ImageError, match=r"ROI 'GTV' is not in the file; it holds: 'GTV-1' \(1\)"):
        read_image_and_mask(phantom / "dicom" / "image",
                            phantom / "dicom" / "mask" / "DCM_RS_00060.dcm", roi="GTV")


def test_a_slice_removed_from_a_copy_is_named(phantom, tmp_path):
    series = tmp_path / "image"
    shutil.copytree(phantom / "dicom" / "image", series)
    (series / "DCM_IMG_00030.dcm").unlink()
    with pytest.raises(ImageError, match="missing slice") as exc:
        read_image_and_mask(series, phantom / "dicom" / "mask" / "DCM_RS_00060.dcm")
    assert "gap of 6.000 mm" in exc.value.message and "spacing is 3.000 mm" in exc.value.message


def test_seg_made_from_the_nifti_mask_reads_back(phantom, nifti, tmp_path):
    from dicom_fixtures import write_seg

    seg = write_seg(tmp_path / "seg.dcm", phantom / "dicom" / "image",
                    {"GTV-1": sitk.GetArrayFromImage(nifti[1]).astype(bool)})
    image, mask = read_image_and_mask(phantom / "dicom" / "image", seg)
    _same_geometry(mask, nifti[1])
    assert _agreement(mask, nifti[1]) == (1.0, 0)
    # the NIfTI image takes it too (no frame of reference to compare there)
    assert _agreement(read_image_and_mask(phantom / "image.nii.gz", seg)[1], nifti[1]) == (1.0, 0)


def test_radiomics_agree_across_inputs(phantom, engine, tmp_path):
    from dicom_fixtures import write_seg

    reference = engine.extract(phantom / "image.nii.gz", phantom / "mask.nii.gz")
    rs = phantom / "dicom" / "mask" / "DCM_RS_00060.dcm"
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(phantom / "mask.nii.gz"))).astype(bool)
    seg = write_seg(tmp_path / "seg.dcm", phantom / "dicom" / "image", {"GTV-1": labels})
    for mask in (f"{rs}#GTV-1", rs, seg):
        got = engine.extract(phantom / "dicom" / "image", mask)
        assert set(got) == set(reference) and len(got) > 100
        for name, value in reference.items():
            assert got[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_extract_cohort_takes_dicom_rows(phantom, engine, tmp_path):
    rs = phantom / "dicom" / "mask" / "DCM_RS_00060.dcm"
    table = pd.DataFrame([
        {"patient_id": "P1", "lesion_id": "nifti", "image_uri": str(phantom / "image.nii.gz"),
         "mask_uri": str(phantom / "mask.nii.gz")},
        {"patient_id": "P1", "lesion_id": "dicom", "image_uri": str(phantom / "dicom" / "image"),
         "mask_uri": f"{rs}#GTV-1"},
        {"patient_id": "P1", "lesion_id": "typo", "image_uri": str(phantom / "dicom" / "image"),
         "mask_uri": f"{rs}#GTV-2"},
    ])
    features, errors = extract_cohort(table, engine=engine, cache_dir=tmp_path / "cache",
                                      n_jobs=1, progress=False)
    assert errors["lesion_id"].tolist() == ["typo"]
    assert errors["file"].iloc[0] == str(rs)
    assert "ROI 'GTV-2' is not in the file; it holds: 'GTV-1' (1)" in errors["error"].iloc[0]
    wide = features.pivot(index="feature", columns="lesion_id", values="value")
    np.testing.assert_allclose(wide["dicom"], wide["nifti"], rtol=1e-6, atol=1e-9)
    # the ROI is part of the mask's hash: two ROIs of one RTSTRUCT never share a cache entry
    dicom_hash = features.loc[features["lesion_id"] == "dicom", "mask_sha256"].iloc[0]
    assert dicom_hash == file_sha256(f"{rs}#GTV-1") != file_sha256(rs)
    assert file_sha256(f"{rs}#GTV-1") != file_sha256(f"{rs}#GTV-2")
