"""DICOM in: series checks, RTSTRUCT rasterisation (holes), SEG, label maps, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("highdicom")
sitk = pytest.importorskip("SimpleITK")

from dicom_fixtures import square, write_rtstruct, write_seg, write_series  # noqa: E402
from icipredict.cohort.schema import CohortError  # noqa: E402
from icipredict.features.dicom_io import (  # noqa: E402
    ImageError,
    mask_format,
    read_image_and_mask,
    split_uri,
)

# A 16x12 grid of 0.8 mm pixels from (-6, -4): voxel (i, j) has its centre at
# x = -6 + 0.8 i, y = -4 + 0.8 j, so in-plane millimetres from the origin are 0.8 * index.
P = 0.8


def _box(i0: int, j0: int, i1: int, j1: int, **kw) -> np.ndarray:
    """A rectangle whose edges lie half a voxel outside voxel centres i0..i1, j0..j1."""
    return square((i0 - 0.5) * P, (j0 - 0.5) * P, (i1 + 0.5) * P, (j1 + 0.5) * P, **kw)


@pytest.fixture()
def ct(tmp_path: Path) -> tuple[Path, dict]:
    folder = tmp_path / "ct"
    return folder, write_series(folder)


def _arr(img) -> np.ndarray:
    return sitk.GetArrayFromImage(img)


# --------------------------------------------------------------------------------------------
# Series
# --------------------------------------------------------------------------------------------

def test_series_in_hu_with_the_geometry_of_the_files(ct, tmp_path):
    folder, info = ct
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(0.0, _box(2, 2, 5, 4))]})
    image, mask = read_image_and_mask(folder, rs)
    a = _arr(image)
    assert a.shape == (6, 12, 16)
    expected = 100 * np.arange(6)[:, None, None] + np.arange(16)[None, None, :] - 1024.0
    np.testing.assert_array_equal(a, np.broadcast_to(expected, a.shape))
    assert image.GetOrigin() == pytest.approx((-6.0, -4.0, 10.0))
    assert image.GetSpacing() == pytest.approx((0.8, 0.8, 2.5))
    for what in ("Size", "Spacing", "Origin", "Direction"):
        assert getattr(mask, f"Get{what}")() == getattr(image, f"Get{what}")()
    assert mask.GetPixelID() == sitk.sitkUInt8


def test_slices_are_sorted_by_position_not_file_name(tmp_path):
    folder = tmp_path / "ct"
    info = write_series(folder, z=[5.0, 0.0, 10.0, 2.5, 7.5, 12.5])
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    image, mask = read_image_and_mask(folder, rs)
    assert image.GetOrigin()[2] == pytest.approx(10.0)
    # file 1 (stored 100) is the first slice
    assert _arr(image)[0, 0, 0] == 100 - 1024
    assert _arr(mask)[0].sum() == 9 and _arr(mask)[1:].sum() == 0


def test_non_integer_rescale_gives_float_hu(tmp_path):
    folder = tmp_path / "ct"
    info = write_series(folder, slope=0.5, intercept=-1000.0)
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    image, _ = read_image_and_mask(folder, rs)
    assert _arr(image)[2, 0, 3] == pytest.approx(0.5 * 203 - 1000.0)


@pytest.mark.parametrize(("offsets", "message"), [
    ([0, 2.5, 5, 10, 12.5, 15], "missing slice(s): a gap of 5.000 mm"),
    ([0, 2.5, 5, 5, 7.5, 10], "duplicated slice"),
    ([0, 2.5, 5, 8.5, 11, 13.5], "inconsistent slice spacing"),
])
def test_irregular_series_are_refused(tmp_path, offsets, message):
    folder = tmp_path / "ct"
    info = write_series(folder, z=offsets)
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    with pytest.raises(ImageError) as exc:
        read_image_and_mask(folder, rs)
    assert message in exc.value.message
    assert exc.value.file == str(folder)
    assert isinstance(exc.value, CohortError)


def test_mixed_pixel_spacing_is_refused(tmp_path):
    folder = tmp_path / "ct"
    info = write_series(folder)
    _edit_slices(folder, lambda i, ds: i == 3 and (setattr(ds, "PixelSpacing", [0.9, 0.9])
                                                  or True))
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    with pytest.raises(ImageError, match="differ in PixelSpacing"):
        read_image_and_mask(folder, rs)


def _edit_slices(folder: Path, edit) -> None:
    import pydicom

    for i, f in enumerate(sorted(folder.glob("*.dcm"))):
        ds = pydicom.dcmread(f)
        if edit(i, ds):
            ds.save_as(f)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda i, ds: setattr(ds, "ImagePositionPatient",
                           [ds.ImagePositionPatient[0] + 0.5 * i, *ds.ImagePositionPatient[1:]])
     or True, "not stacked along their normal"),
    (lambda i, ds: i == 2 and (setattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 0, -1])
                               or True), "different orientations"),
    (lambda i, ds: i == 4 and (setattr(ds, "NumberOfFrames", 2) or True), "multi-frame"),
])
def test_sheared_mixed_or_multiframe_series_are_refused(tmp_path, edit, message):
    folder = tmp_path / "ct"
    info = write_series(folder)
    _edit_slices(folder, edit)
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    with pytest.raises(ImageError, match=message):
        read_image_and_mask(folder, rs)


def test_several_series_need_a_choice(tmp_path):
    folder = tmp_path / "ct"
    a = write_series(folder, prefix="A")
    b = write_series(folder, prefix="B", n_slices=4, frame_uid=a["frame_uid"],
                     study_uid=a["study_uid"])
    labels = tmp_path / "labels.nii.gz"
    ref = read_image_and_mask(folder, write_rtstruct(tmp_path / "rs.dcm", a, {
        "GTV": [(0.0, _box(1, 1, 3, 3))]}))[1]
    sitk.WriteImage(ref, str(labels))
    # a label map references nothing: the folder's series are listed
    with pytest.raises(ImageError, match="folder holds 2 DICOM series") as exc:
        read_image_and_mask(folder, labels)
    assert a["series_uid"] in exc.value.message and b["series_uid"] in exc.value.message
    # '#<SeriesInstanceUID>' chooses; the RTSTRUCT's reference chooses by itself
    image, _ = read_image_and_mask(f"{folder}#{a['series_uid']}", labels)
    assert image.GetSize()[2] == 6
    rs_b = write_rtstruct(tmp_path / "rs_b.dcm", b, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    image, mask = read_image_and_mask(folder, rs_b)
    assert image.GetSize()[2] == 4 and _arr(mask).sum() == 9
    with pytest.raises(ImageError, match="is not in the folder"):
        read_image_and_mask(f"{folder}#1.2.3", labels)


def test_folder_without_series_says_what_it_holds(ct, tmp_path):
    _, info = ct
    only_rs = tmp_path / "masks"
    rs = write_rtstruct(only_rs / "rs.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    with pytest.raises(ImageError, match=r"no DICOM image series; it holds rs.dcm \(RTSTRUCT\)"):
        read_image_and_mask(only_rs, rs)


# --------------------------------------------------------------------------------------------
# RTSTRUCT
# --------------------------------------------------------------------------------------------

def test_rtstruct_holes_and_islands_by_even_odd(ct, tmp_path):
    folder, info = ct
    outer = _box(1, 1, 12, 9)             # 12 x 9 voxels
    hole = _box(4, 3, 9, 7, clockwise=True)  # 6 x 5, wound either way
    island = _box(6, 5, 7, 5)             # 2 x 1 inside the hole
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {
        "GTV": [(2.5, island), (2.5, outer), (2.5, hole), (5.0, _box(0, 0, 0, 0))]})
    _, mask = read_image_and_mask(folder, rs, roi="GTV")
    m = _arr(mask)
    expected = np.zeros((12, 16), dtype=np.uint8)
    expected[1:10, 1:13] = 1
    expected[3:8, 4:10] = 0
    expected[5:6, 6:8] = 1
    np.testing.assert_array_equal(m[1], expected)
    assert m[2, 0, 0] == 1 and m[2].sum() == 1  # a one-voxel contour
    assert m[[0, 3, 4, 5]].sum() == 0


def test_rtstruct_on_a_rotated_series_lands_on_the_same_physical_voxels(tmp_path):
    """Rows and columns running backwards: the contour's voxels are found through the grid."""
    folder = tmp_path / "ct"
    info = write_series(folder, orientation=(-1, 0, 0, 0, -1, 0), origin=(6.0, 4.0, 10.0))
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(0.0, _box(2, 3, 5, 4))]})
    image, mask = read_image_and_mask(folder, rs)
    idx = np.argwhere(_arr(mask))
    assert len(idx) == 8
    # each voxel centre, in patient coordinates, lies inside the contour drawn there
    for k, j, i in idx:
        x, y, _ = image.TransformIndexToPhysicalPoint((int(i), int(j), int(k)))
        assert 6 - 5.5 * P < x < 6 - 1.5 * P and 4 - 4.5 * P < y < 4 - 2.5 * P


def test_rtstruct_roi_choice_and_names(ct, tmp_path):
    folder, info = ct
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {
        "GTV-1": [(0.0, _box(1, 1, 2, 2))], "Lung_L": [(2.5, _box(1, 1, 3, 3))]})
    assert _arr(read_image_and_mask(folder, rs, roi="Lung_L")[1]).sum() == 9
    assert _arr(read_image_and_mask(folder, f"{rs}#GTV-1")[1]).sum() == 4
    assert _arr(read_image_and_mask(folder, rs, roi="gtv-1")[1]).sum() == 4  # case ignored
    assert _arr(read_image_and_mask(folder, rs, label=2)[1]).sum() == 9  # ROI Number
    with pytest.raises(ImageError, match=r"ROI 'GTV' is not in the file; it holds: "
                                         r"'GTV-1' \(1\), 'Lung_L' \(2\)") as exc:
        read_image_and_mask(folder, rs, roi="GTV")
    assert exc.value.file == str(rs)
    with pytest.raises(ImageError, match="holds 2 ROIs; name one"):
        read_image_and_mask(folder, rs)
    with pytest.raises(ImageError, match="names 'GTV-1' but roi='Lung_L'"):
        read_image_and_mask(folder, f"{rs}#GTV-1", roi="Lung_L")


def test_rtstruct_of_another_frame_of_reference_is_refused(ct, tmp_path):
    folder, info = ct
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]},
                        frame_uid="1.2.826.0.1.3680043.8.498.1")
    with pytest.raises(ImageError, match="frame of reference 1.2.826.0.1.3680043.8.498.1 "
                                         "differs from the image series'") as exc:
        read_image_and_mask(folder, rs)
    assert exc.value.file == str(rs)


def test_rtstruct_empty_or_off_the_image(ct, tmp_path):
    folder, info = ct
    outside = square(100, 100, 110, 110)
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {
        "far": [(0.0, outside)], "points": [(0.0, _box(1, 1, 3, 3))], "none": [],
        "between": [(1.2, _box(1, 1, 3, 3))], "below": [(-5.0, _box(1, 1, 3, 3))]},
        kinds={"points": "POINT"})
    with pytest.raises(ImageError, match="mask is empty: no voxel of the image is inside"):
        read_image_and_mask(folder, rs, roi="far")
    for roi in ("points", "none"):
        with pytest.raises(ImageError, match=f"mask is empty: ROI '{roi}' has no closed contour"):
            read_image_and_mask(folder, rs, roi=roi)
    with pytest.raises(ImageError, match="does not lie on a slice"):
        read_image_and_mask(folder, rs, roi="between")
    with pytest.raises(ImageError, match="outside the image's 6 slices"):
        read_image_and_mask(folder, rs, roi="below")


def test_rtstruct_on_a_nifti_image(ct, tmp_path):
    """A NIfTI of the series (LPS in SimpleITK) takes the RTSTRUCT as the series does."""
    folder, info = ct
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(2.5, _box(2, 2, 5, 4))]})
    image, mask = read_image_and_mask(folder, rs)
    nii = tmp_path / "image.nii.gz"
    sitk.WriteImage(image, str(nii))
    image2, mask2 = read_image_and_mask(nii, rs)
    np.testing.assert_array_equal(_arr(mask2), _arr(mask))
    np.testing.assert_array_equal(_arr(image2), _arr(image))


def test_mask_folder_holding_one_rtstruct(ct, tmp_path):
    folder, info = ct
    rs = write_rtstruct(tmp_path / "masks" / "rs.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    assert mask_format(rs.parent) == "rtstruct"
    assert _arr(read_image_and_mask(folder, rs.parent)[1]).sum() == 9
    write_rtstruct(tmp_path / "masks" / "rs2.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    with pytest.raises(ImageError, match="several RTSTRUCT/SEG files"):
        read_image_and_mask(folder, rs.parent)


# --------------------------------------------------------------------------------------------
# SEG
# --------------------------------------------------------------------------------------------

def _two_lesions() -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros((6, 12, 16), dtype=bool)
    a[1:3, 2:5, 3:7] = True
    b = np.zeros_like(a)
    b[4, 8:11, 10:14] = True
    return a, b


def test_seg_segments_by_number_and_label(ct, tmp_path):
    folder, _ = ct
    a, b = _two_lesions()
    seg = write_seg(tmp_path / "seg.dcm", folder, {"GTV-1": a, "node": b})
    assert mask_format(seg) == "seg"
    np.testing.assert_array_equal(_arr(read_image_and_mask(folder, seg, label=1)[1]), a)
    np.testing.assert_array_equal(_arr(read_image_and_mask(folder, f"{seg}#node")[1]), b)
    np.testing.assert_array_equal(_arr(read_image_and_mask(folder, f"{seg}#2")[1]), b)
    with pytest.raises(ImageError, match=r"segment 'tumour' is not in the file; it holds: "
                                         r"'GTV-1' \(1\), 'node' \(2\)"):
        read_image_and_mask(folder, seg, roi="tumour")
    with pytest.raises(ImageError, match="holds 2 segments; name one"):
        read_image_and_mask(folder, seg)


def test_empty_seg_segment_is_refused(ct, tmp_path):
    folder, _ = ct
    a, _ = _two_lesions()
    seg = write_seg(tmp_path / "seg.dcm", folder, {"GTV": a, "nothing": np.zeros_like(a)})
    with pytest.raises(ImageError, match="mask is empty: no voxel of the image is inside the "
                                         "segment") as exc:
        read_image_and_mask(folder, seg, roi="nothing")
    assert exc.value.file == str(seg)


def test_fractional_seg_counts_from_one_half(ct, tmp_path):
    folder, _ = ct
    a, _ = _two_lesions()
    frac = a.astype(np.float32) * 0.6
    frac[1, 0, 0] = 0.4
    seg = write_seg(tmp_path / "seg.dcm", folder, {"GTV": frac}, fractional=True)
    np.testing.assert_array_equal(_arr(read_image_and_mask(folder, seg)[1]), a)


def test_seg_of_another_frame_of_reference_is_refused(ct, tmp_path):
    folder, _ = ct
    a, _ = _two_lesions()
    seg = write_seg(tmp_path / "seg.dcm", folder, {"GTV": a})
    other = tmp_path / "other"
    write_series(other)  # same geometry, new frame of reference
    with pytest.raises(ImageError, match="differs from the image series'") as exc:
        read_image_and_mask(other, seg)
    assert exc.value.file == str(seg)


# --------------------------------------------------------------------------------------------
# Label maps and URIs
# --------------------------------------------------------------------------------------------

def test_label_map_labels(ct, tmp_path):
    folder, _ = ct
    image, _ = read_image_and_mask(folder, write_rtstruct(tmp_path / "rs.dcm", ct[1], {
        "GTV": [(0.0, _box(1, 1, 3, 3))]}))
    labels = np.zeros((6, 12, 16), dtype=np.uint8)
    labels[1, 1:3, 1:3] = 1
    labels[3, 5:8, 5:8] = 2
    lab = sitk.GetImageFromArray(labels)
    lab.CopyInformation(image)
    path = tmp_path / "labels.nii.gz"
    sitk.WriteImage(lab, str(path))
    assert mask_format(path) == "labelmap"
    with pytest.raises(ImageError, match=r"several labels \(1, 2\)"):
        read_image_and_mask(folder, path)
    assert _arr(read_image_and_mask(folder, path, label=2)[1]).sum() == 9
    assert _arr(read_image_and_mask(folder, f"{path}#1")[1]).sum() == 4
    with pytest.raises(ImageError, match="no voxel has label 3"):
        read_image_and_mask(folder, path, label=3)
    empty = tmp_path / "empty.nii.gz"
    sitk.WriteImage(lab * 0, str(empty))
    with pytest.raises(ImageError, match="mask is empty"):
        read_image_and_mask(folder, empty)
    shifted = sitk.Image(lab)
    shifted.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(shifted, str(tmp_path / "shifted.nii.gz"))
    with pytest.raises(ImageError, match="mask geometry does not match the image: origin"):
        read_image_and_mask(folder, tmp_path / "shifted.nii.gz", label=1)


def test_split_uri_keeps_real_hashes(tmp_path):
    odd = tmp_path / "scan#2.nii.gz"
    odd.write_bytes(b"x")
    assert split_uri(odd) == (odd, None)
    assert split_uri(f"{odd}#GTV 1") == (odd, "GTV 1")
    assert split_uri(tmp_path / "missing.dcm#GTV") == (tmp_path / "missing.dcm#GTV", None)
    assert split_uri(tmp_path) == (tmp_path, None)


def test_missing_files_are_named(ct, tmp_path):
    folder, info = ct
    with pytest.raises(ImageError, match="mask file not found") as exc:
        read_image_and_mask(folder, tmp_path / "nope.dcm#GTV")
    assert exc.value.file == str(tmp_path / "nope.dcm#GTV")
    rs = write_rtstruct(tmp_path / "rs.dcm", info, {"GTV": [(0.0, _box(1, 1, 3, 3))]})
    with pytest.raises(ImageError, match="image file not found"):
        read_image_and_mask(tmp_path / "nope.nii.gz", rs)
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "CT_002.dcm").write_bytes((broken / "CT_002.dcm").read_bytes()[:400])
    # a header cut short is not a slice of the series: the gap it leaves is named
    with pytest.raises(ImageError, match="missing slice.* between CT_001.dcm .* and CT_003.dcm"):
        read_image_and_mask(broken, rs)
    # pixels cut short: the series cannot be read
    whole = (folder / "CT_002.dcm").read_bytes()
    (broken / "CT_002.dcm").write_bytes(whole[:-60])
    with pytest.raises(ImageError, match="cannot read DICOM") as exc:
        read_image_and_mask(broken, rs)
    assert exc.value.file == str(broken)
    (broken / "CT_002.dcm").write_bytes(whole)
    (broken / "notes.txt").write_text("not DICOM at all")  # stray files are set aside
    assert _arr(read_image_and_mask(broken, rs)[1]).sum() == 9
