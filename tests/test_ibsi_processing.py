"""IBSI-1 image processing (features/ibsi): grid, interpolation, masks, re-segmentation,
discretisation, pyradiomics with IBSI bins, aggregation, settings, engine, and experiments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from icipredict.cohort.schema import CohortError
from icipredict.features.ibsi.compute import compute_features, extract_processed
from icipredict.features.ibsi.processing import (
    aligned_grid,
    discretise,
    interpolate,
    process,
    resegment,
)
from icipredict.features.ibsi.settings import ProcessingSettings
from icipredict.features.imaging import extract_cohort
from icipredict.features.radiomics_engine import (
    BUILTIN_SETTINGS,
    PyRadiomicsEngine,
    load_settings,
)

FBS = {"discretisation": {"method": "fixed_bin_size", "bin_size": 25, "lower_bound": -100},
       "aggregation": "3D"}


def _settings(**extra) -> ProcessingSettings:
    return ProcessingSettings.model_validate({**FBS, **extra})


def _lesion(shape=(12, 24, 24), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image (z, y, x) with a brighter ellipsoid and its mask."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    inside = ((z - 6) / 4) ** 2 + ((y - 12) / 8) ** 2 + ((x - 11) / 6) ** 2 <= 1
    img = np.round(rng.normal(0, 30, shape) + 80 * inside)
    return img, inside


# ---------------------------------------------------------------------------------- grid

def test_aligned_grid_follows_the_ibsi_example() -> None:
    # IBSI: 4 points at 3 mm to 2 mm -> 6 points, centred on the original grid.
    n_b, first, step = aligned_grid(4, 3.0, 2.0)
    assert (n_b, step) == (6, pytest.approx(2 / 3))
    assert first == pytest.approx((3 - step * 5) / 2)
    centre_a, centre_b = (4 - 1) / 2, first + step * (n_b - 1) / 2
    assert centre_b == pytest.approx(centre_a)
    # World origin x_b = x_a + (s_a (n_a - 1) - s_b (n_b - 1)) / 2
    assert first * 3.0 == pytest.approx((3.0 * 3 - 2.0 * 5) / 2)
    # 60 slices of 3 mm to 2 mm: exactly 90 points (no ceil of 90.0000001)
    assert aligned_grid(60, 3.0, 2.0)[0] == 90
    assert aligned_grid(3, 0.5, 2.0)[0] == 1


def test_linear_interpolation_reproduces_a_linear_ramp_on_the_aligned_grid() -> None:
    shape = (8, 20, 20)
    z, y, x = np.indices(shape).astype(float)
    spacing = (0.8, 0.8, 3.0)  # x, y, z
    ramp = 2 * x * spacing[0] + 3 * y * spacing[1] + z * spacing[2]  # world-linear
    roi = np.zeros(shape, bool)
    roi[3:5, 8:12, 8:12] = True
    s = _settings(interpolation={"spacing": [2, 2, 2], "method": "linear"})
    img, morph, start, new_spacing = interpolate(ramp, roi, spacing, s)
    assert new_spacing == (2.0, 2.0, 2.0)
    kz, ky, kx = np.indices(img.shape).astype(float)
    # Grid coordinates of the new points in the original grid, back to world.
    wz = (start[0] + kz * 2 / 3.0) * 3.0
    wy = (start[1] + ky * 2 / 0.8) * 0.8
    wx = (start[2] + kx * 2 / 0.8) * 0.8
    inside = (wz <= 7 * 3.0) & (wy <= 19 * 0.8) & (wx <= 19 * 0.8)  # no extrapolation
    np.testing.assert_allclose(img[inside], (2 * wx + 3 * wy + wz)[inside], atol=1e-9)
    assert morph.any()


def test_in_plane_interpolation_keeps_slices_and_rounds() -> None:
    img, roi = _lesion()
    s = _settings(interpolation={"spacing": [2, 2], "method": "cubic_spline",
                                 "round_intensities": True})
    out, morph, start, spacing = interpolate(img, roi, (1.0, 1.0, 3.0), s)
    assert spacing == (2.0, 2.0, 3.0)
    assert start[0] == float(int(start[0]))  # slices kept as they are
    np.testing.assert_array_equal(out, np.round(out))


def test_cropped_interpolation_equals_interpolating_the_whole_image() -> None:
    from scipy import ndimage

    img, roi = _lesion(shape=(10, 30, 30))
    s = _settings(interpolation={"spacing": [1.5, 1.5, 1.5], "method": "cubic_spline"})
    out, _, start, _ = interpolate(img, roi, (1.0, 1.0, 2.0), s)
    steps = [1.5 / 2.0, 1.5, 1.5]
    grids = [aligned_grid(n, sp, 1.5) for n, sp in zip(img.shape, (2.0, 1.0, 1.0), strict=True)]
    whole = ndimage.affine_transform(img, steps, offset=[g[1] for g in grids],
                                     output_shape=tuple(g[0] for g in grids), order=3,
                                     mode="nearest")
    k0 = [round((st - g[1]) / g[2]) for st, g in zip(start, grids, strict=True)]
    sub = whole[k0[0]:k0[0] + out.shape[0], k0[1]:k0[1] + out.shape[1],
                k0[2]:k0[2] + out.shape[2]]
    np.testing.assert_allclose(out, sub, atol=1e-4)


def test_mask_partial_volume_threshold_keeps_exact_halves() -> None:
    # 4 slices of 3 mm to 2 mm: new slices at grid coordinates -1/6, 1/2, 7/6, ... The one at
    # 1/2 lies halfway between slice 0 (outside) and slice 1 (inside): 0.5, kept by IBSI's
    # threshold (>= 0.5; the comparison allows 1e-9 of floating-point error below it).
    roi = np.zeros((4, 1, 1), bool)
    roi[1:] = True
    img = np.zeros(roi.shape)
    s = _settings(interpolation={"spacing": [1, 1, 2], "method": "linear",
                                 "partial_volume_threshold": 0.5})
    _, morph, start, _ = interpolate(img, roi, (1.0, 1.0, 3.0), s)
    assert start[0] == pytest.approx(0.5)
    assert morph.ravel().tolist() == [True] * 5
    strict = _settings(interpolation={"spacing": [1, 1, 2], "method": "linear",
                                      "partial_volume_threshold": 0.6})
    assert interpolate(img, roi, (1.0, 1.0, 3.0), strict)[1].ravel().tolist() == \
        [False] + [True] * 4
    nearest = _settings(interpolation={"spacing": [1, 1, 2], "mask_method": "nearest"})
    assert interpolate(img, roi, (1.0, 1.0, 3.0), nearest)[1].sum() >= 4


# ------------------------------------------------------------------------ re-segmentation

def test_resegmentation_by_range_outliers_and_both() -> None:
    values = np.array([-1200.0, -400, -10, 0, 10, 20, 30, 500, 900])
    img = values.reshape(1, 1, -1)
    morph = np.ones_like(img, dtype=bool)
    by_range = resegment(img, morph, _settings(resegmentation={"range": [-1000, 400]}))
    assert by_range.ravel().tolist() == [False] + [True] * 6 + [False, False]
    open_range = resegment(img, morph, _settings(resegmentation={"range": [-500, None]}))
    assert open_range.ravel().tolist() == [False] + [True] * 8
    mu, sd = values.mean(), values.std()
    by_sigma = resegment(img, morph, _settings(resegmentation={"outlier_sigma": 1}))
    np.testing.assert_array_equal(by_sigma.ravel(), np.abs(values - mu) <= sd)
    both = resegment(img, morph, _settings(resegmentation={"range": [-1000, 400],
                                                           "outlier_sigma": 1}))
    # the intersection of the two intervals; mean and sd are the whole ROI's
    np.testing.assert_array_equal(both, by_range & by_sigma)
    assert not (resegment(img, morph & (img > 0), _settings()) & (img <= 0)).any()


# ------------------------------------------------------------------------- discretisation

def test_fixed_bin_size_starts_at_the_chosen_lower_bound() -> None:
    s = _settings(resegmentation={"range": [-500, 400]},
                  discretisation={"method": "fixed_bin_size", "bin_size": 25})
    bins, n = discretise(np.array([-500.0, -476, -475, -1, 399]), s)
    assert bins.tolist() == [1, 1, 2, 20, 36] and n == 36
    # pyradiomics would start at the ROI minimum rounded down (-450 here): IBSI keeps -500.
    bins, _ = discretise(np.array([-440.0, 0]), s)
    assert bins.tolist() == [3, 21]
    roi_min = _settings(discretisation={"method": "fixed_bin_size", "bin_size": 25,
                                        "lower_bound": "roi_minimum"})
    assert discretise(np.array([-440.0, -416, -415]), roi_min)[0].tolist() == [1, 1, 2]
    with pytest.raises(ValueError, match="below the discretisation lower bound"):
        discretise(np.array([-600.0]), s)


def test_fixed_bin_number_puts_the_maximum_in_the_last_bin() -> None:
    s = _settings(discretisation={"method": "fixed_bin_number", "bin_number": 4})
    bins, n = discretise(np.array([0.0, 0.99, 1, 2.5, 3.99, 4]), s)
    assert bins.tolist() == [1, 1, 2, 3, 4, 4] and n == 4
    assert discretise(np.array([7.0, 7.0]), s)[0].tolist() == [1, 1]
    # IBSI's formula is pyradiomics' binCount formula
    from radiomics import imageoperations

    x = np.random.default_rng(1).normal(0, 100, 500)
    edges = imageoperations.getBinEdges(x, binCount=32)
    s32 = _settings(discretisation={"method": "fixed_bin_number", "bin_number": 32})
    np.testing.assert_array_equal(discretise(x, s32)[0], np.digitize(x, edges))


# ------------------------------------------------------------- features with IBSI bins

def _plain_pyradiomics(img: np.ndarray, roi: np.ndarray, params: dict) -> dict[str, float]:
    from radiomics import featureextractor

    image = sitk.GetImageFromArray(img)
    image.SetSpacing((1.0, 1.0, 2.0))
    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    mask.CopyInformation(image)
    ext = featureextractor.RadiomicsFeatureExtractor(params)
    return {k: float(v) for k, v in ext.execute(image, mask).items()
            if not k.startswith("diagnostics")}


@pytest.mark.parametrize("aggregation, force2d", [("3D", False), ("2.5D", True)])
def test_ibsi_bins_give_pyradiomics_values_where_the_bins_coincide(aggregation: str,
                                                                   force2d: bool) -> None:
    img, roi = _lesion()
    img = img - img[roi].min() % 25 + 25  # ROI minimum on a multiple of 25 (-> same edges)
    lower = float(img[roi].min())
    s = ProcessingSettings.model_validate({
        "aggregation": aggregation,
        "discretisation": {"method": "fixed_bin_size", "bin_size": 25, "lower_bound": lower}})
    tex = {"distances": [1], "symmetricalGLCM": True, "gldm_a": 0, "voxelArrayShift": 0}
    processed = process(img, roi, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0),
                        (1, 0, 0, 0, 1, 0, 0, 0, 1), s)
    ours = compute_features(processed, {}, tex, aggregation)
    theirs = _plain_pyradiomics(img, roi, {"setting": {**tex, "binWidth": 25, "label": 1,
                                                       "force2D": force2d},
                                           "featureClass": dict.fromkeys(
                                               ["shape", "firstorder", "glcm", "glrlm",
                                                "glszm", "gldm", "ngtdm"], [])})
    assert set(theirs) <= set(ours)
    for k, v in theirs.items():
        assert ours[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k


def test_2d_aggregation_is_the_mean_over_slices() -> None:
    img, roi = _lesion()
    s = ProcessingSettings.model_validate({"aggregation": "2D", **{
        "discretisation": {"method": "fixed_bin_number", "bin_number": 8}}})
    p = process(img, roi, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), s)
    feats = compute_features(p, {"glszm": ["SmallAreaEmphasis"], "firstorder": ["Mean"]},
                             {"gldm_a": 0}, "2D")
    per_slice = []
    for z in np.flatnonzero(p.intensity.any(axis=(1, 2))):
        one = p.__class__(**{**p.__dict__, "image": p.image[z:z + 1],
                             "morphology": p.morphology[z:z + 1],
                             "intensity": p.intensity[z:z + 1], "bins": p.bins[z:z + 1]})
        per_slice.append(compute_features(one, {"glszm": ["SmallAreaEmphasis"]}, {},
                                          "2.5D")["original_glszm_SmallAreaEmphasis"])
    assert feats["original_glszm_SmallAreaEmphasis"] == pytest.approx(np.mean(per_slice))
    # first-order features are not aggregated per slice
    assert feats["original_firstorder_Mean"] == pytest.approx(img[roi].mean())


def test_empty_roi_after_resegmentation_is_an_image_error(tmp_path: Path) -> None:
    img, roi = _lesion()
    s = load_settings({"processing": {"resegmentation": {"range": [5000, 6000]},
                                      "discretisation": {"method": "fixed_bin_number",
                                                         "bin_number": 8}}})
    image = sitk.GetImageFromArray(img)
    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    with pytest.raises(ValueError, match="empty after re-segmentation"):
        extract_processed(image, mask, label=1, settings=s)


# ------------------------------------------------------------------------------ settings

def test_builtin_ibsi_configurations_validate_and_hash_apart() -> None:
    hashes = {PyRadiomicsEngine(f"ibsi_{c}").settings_hash for c in "abcde"}
    assert len(hashes) == 5
    for c in "abcde":
        assert f"ibsi_{c}" in BUILTIN_SETTINGS and BUILTIN_SETTINGS[f"ibsi_{c}"].is_file()
    a, e = load_settings("ibsi_a").processing, load_settings("ibsi_e").processing
    assert a.aggregation == "2D" and a.interpolation is None
    assert a.discretisation.lower_bound == "range" and a.resegmentation.range == [-500, 400]
    assert e.interpolation.method == "cubic_spline" and e.resegmentation.outlier_sigma == 3
    assert load_settings("ibsi_b").processing.interpolation.in_plane


def test_settings_without_processing_hash_as_before() -> None:
    # Hashes recorded with existing models (docs/ibsi_phantom.md names the ibsi one).
    assert PyRadiomicsEngine("ibsi").settings_hash == "6b3b1ebb131ecfb3"
    assert "processing" not in PyRadiomicsEngine("default").settings.canonical_json()


@pytest.mark.parametrize("bad, words", [
    ({"processing": {"discretisation": {"method": "fixed_bin_size", "bin_size": 25}}},
     "lower_bound 'range' needs a resegmentation.range"),
    ({"processing": {"discretisation": {"method": "fixed_bin_number"}}}, "needs bin_number"),
    ({"setting": {"binWidth": 25}, "processing": {
        "discretisation": {"method": "fixed_bin_number", "bin_number": 8}}},
     "cannot be combined"),
    ({"processing": {"interpolation": {"spacing": [1, 2, 3, 4]}, "discretisation": {
        "method": "fixed_bin_number", "bin_number": 8}}}, "spacing"),
    ({"processing": {"resegmentation": {"range": [400, -500]}, "discretisation": {
        "method": "fixed_bin_number", "bin_number": 8}}}, "above the upper bound"),
    ({"imageType": {"Original": {}, "LoG": {}}, "processing": {"discretisation": {
        "method": "fixed_bin_number", "bin_number": 8}}}, "imageType"),
])
def test_invalid_processing_settings_are_refused(bad: dict, words: str) -> None:
    with pytest.raises(CohortError, match=words):
        load_settings(bad)


# ----------------------------------------------------------------- engine and training

def _files(tmp_path: Path) -> tuple[Path, Path]:
    img, roi = _lesion()
    image = sitk.GetImageFromArray(img.astype(np.int16))
    image.SetSpacing((0.9, 0.9, 2.5))
    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    mask.CopyInformation(image)
    sitk.WriteImage(image, str(tmp_path / "img.nii.gz"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nii.gz"))
    return tmp_path / "img.nii.gz", tmp_path / "mask.nii.gz"


def test_engine_with_ibsi_settings_runs_through_the_cohort_cache(tmp_path: Path) -> None:
    import pandas as pd

    image, mask = _files(tmp_path)
    engine = PyRadiomicsEngine("ibsi_c")
    table = pd.DataFrame({"patient_id": ["P1"], "lesion_id": ["L1"], "image_uri": [str(image)],
                          "mask_uri": [str(mask)]})
    cache = tmp_path / "cache"
    first, errors = extract_cohort(table, engine=engine, cache_dir=cache, n_jobs=1,
                                   progress=False)
    assert errors.empty and (first["settings_hash"] == engine.settings_hash).all()
    assert len(first) == 107
    assert list(cache.glob(f"*/{engine.settings_hash}/*.json"))
    again, _ = extract_cohort(table, engine=PyRadiomicsEngine("ibsi_c"), cache_dir=cache,
                              n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(first, again)
    # another configuration never reads these cache entries
    other, _ = extract_cohort(table, engine=PyRadiomicsEngine("ibsi_d"), cache_dir=cache,
                              n_jobs=1, progress=False)
    assert not np.allclose(other["value"].to_numpy(), first["value"].to_numpy())


def test_board_rebuilds_the_model_s_ibsi_engine() -> None:
    from icipredict.predict.radiomics import model_radiomics
    from icipredict.registry.bundle import radiomics_record

    record = radiomics_record("ibsi_e", "largest")
    assert record["settings_source"] == "ibsi_e"
    engine, rule, problems = model_radiomics(record)
    assert problems == [] and engine.settings_hash == record["settings_hash"]
    assert engine.settings.processing.interpolation.method == "cubic_spline"


def test_experiment_selects_an_ibsi_configuration(tmp_path: Path) -> None:
    from icipredict.training.config import ExperimentConfig

    config = ExperimentConfig.model_validate({
        "name": "x", "cohort": {"store": {}}, "features": "f.yaml", "models": ["m.yaml"],
        "radiomics": {"settings": "ibsi_c"}})
    assert config.radiomics_settings == "ibsi_c"
    config.check_radiomics()


def test_custom_processing_file_recorded_in_the_model_is_rebuilt_by_the_board(
        tmp_path: Path) -> None:
    from icipredict.predict.radiomics import model_radiomics
    from icipredict.registry.bundle import radiomics_record

    text = (Path(BUILTIN_SETTINGS["ibsi_c"]).read_text(encoding="utf-8")
            .replace("bin_size: 25", "bin_size: 50"))
    custom = tmp_path / "ct_bw50.yaml"
    custom.write_text(text, encoding="utf-8")
    record = radiomics_record(custom, "largest")
    assert record["settings_source"]["content"] == text
    engine, _, problems = model_radiomics(record)
    assert problems == [] and engine.settings_hash == record["settings_hash"]
    assert engine.settings_hash != PyRadiomicsEngine("ibsi_c").settings_hash
    image, mask = _files(tmp_path)
    trained = PyRadiomicsEngine(custom).extract(image, mask)
    assert engine.extract(image, mask) == trained
