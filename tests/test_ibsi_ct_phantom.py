"""Golden: IBSI-1 lung CT phantom, configurations A and C against IBSI's reference values
(../shared/data/imaging/ibsi_ct_phantom), and the ``icipredict features ibsi-check`` command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from icipredict.cli import app
from icipredict.cohort.schema import CohortError
from icipredict.features.ibsi.check import compare, load_reference, report_lines, run_check


@pytest.fixture(scope="module")
def phantom(shared_data: Path) -> Path:
    path = shared_data / "imaging" / "ibsi_ct_phantom"
    if not (path / "image.nii.gz").is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="module")
def images(phantom: Path):
    return sitk.ReadImage(str(phantom / "image.nii.gz")), sitk.ReadImage(str(phantom / "mask.nii.gz"))


@pytest.mark.realdata
@pytest.mark.parametrize("config, mapped", [("A", 108), ("C", 107)])
def test_every_mapped_feature_within_ibsi_tolerance(phantom: Path, images, config: str,
                                                    mapped: int) -> None:
    result = run_check(*images, config, phantom / "reference_values_A_C.csv")
    misses = result.mapped[~result.mapped["within"]]
    assert misses.empty, misses[["family", "feature", "reference", "tolerance", "value"]]
    # Every texture family pyradiomics has is fully mapped (shape, statistics and NGLDM: the
    # IBSI features pyradiomics computes).
    assert len(result.mapped) == mapped
    assert report_lines(result)[-1] == f"{mapped}/{mapped} within tolerance"


@pytest.mark.realdata
def test_reference_rows_follow_the_configuration_and_aggregation(phantom: Path) -> None:
    ref = load_reference(phantom / "reference_values_A_C.csv", "a")
    assert set(ref["aggregation"]) >= {"2D, averaged", "2.5D", ""}
    feats = {"original_glcm_MaximumProbability": 0.109, "original_glszm_SmallAreaEmphasis": 0.68}
    table = compare(feats, ref, "2.5D", 1000)
    row = table.set_index("feature").loc["Joint maximum"]
    assert row["aggregation"] == "2.5D, direction-merged" and row["reference"] == 0.0943
    assert not row["within"]
    assert table.set_index("feature").loc["Small zone emphasis"]["within"]
    with pytest.raises(CohortError, match="no values for 'config. B'"):
        load_reference(phantom / "reference_values_A_C.csv", "B")


@pytest.mark.realdata
def test_cli_ibsi_check_prints_families_and_ends_with_the_count(phantom: Path) -> None:
    res = CliRunner().invoke(app, [
        "features", "ibsi-check", "--image", str(phantom / "image.nii.gz"),
        "--mask", str(phantom / "mask.nii.gz"), "--config", "C",
        "--reference", str(phantom / "reference_values_A_C.csv")])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[-1] == "107/107 within tolerance"
    assert any(ln.startswith("Grey level co-occurrence based features: 25 of 25 mapped, "
                             "25/25 within tolerance") for ln in lines)


def test_cli_ibsi_check_reports_misses_and_bad_input(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    img = sitk.GetImageFromArray(np.round(rng.normal(0, 50, (6, 16, 16))).astype(np.int16))
    mask_arr = np.zeros((6, 16, 16), np.uint8)
    mask_arr[1:5, 4:12, 4:12] = 1  # at 2 mm: 4 x 4 x 3 voxels of 8 mm3 (aligned centres)
    mask = sitk.GetImageFromArray(mask_arr)
    sitk.WriteImage(img, str(tmp_path / "img.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))
    ref = pd.DataFrame({
        "family": ["Intensity-based statistical features", "Morphological features",
                   "Grey level co-occurrence based features"],
        "feature": ["Mean intensity", "Volume (voxel counting)", "Joint maximum"],
        "data": ["config. D"] * 3, "aggregation": ["", "", "3D, averaged"],
        "value": ["1e4", "384", "0.5"], "tolerance": ["1", "0.5", ""], "consensus": [""] * 3})
    ref.to_csv(tmp_path / "ref.csv", index=False)
    args = ["features", "ibsi-check", "--image", str(tmp_path / "img.nrrd"), "--mask",
            str(tmp_path / "mask.nrrd"), "--reference", str(tmp_path / "ref.csv")]
    res = CliRunner().invoke(app, [*args, "--config", "D"])
    assert res.exit_code == 0, res.output
    out = res.output.strip().splitlines()
    assert out[-1] == "1/3 within tolerance"
    assert any("miss: Mean intensity" in ln for ln in out)
    bad = CliRunner().invoke(app, [*args, "--config", "F"])
    assert bad.exit_code == 2 and "unknown IBSI configuration" in bad.output
    none = CliRunner().invoke(app, [*args, "--config", "A"])
    assert none.exit_code == 2 and "no values for 'config. A'" in none.output


@pytest.mark.realdata
def test_report_section_lists_every_configuration(phantom: Path, shared_data: Path) -> None:
    from icipredict.features.ibsi.report import ct_phantom_section, digital_phantom_agreement

    text = ct_phantom_section(phantom)
    assert "| A | 108 | 108 | 108 | 107 |" in text
    assert "| C | 108 | 107 | 107 | 107 |" in text
    for config in "BDE":
        assert f"| {config} | 108 | none |  | 107 |" in text
    digital = shared_data / "imaging" / "ibsi" / "digital_phantom"
    if digital.is_dir():
        # the processing path reproduces pyradiomics' own values on the digital phantom
        assert "108 of 108 mapped" in digital_phantom_agreement(digital)
        assert digital_phantom_agreement(digital).endswith("extraction is 0.")
