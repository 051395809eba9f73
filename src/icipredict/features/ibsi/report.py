"""The CT phantom part of ``docs/ibsi_phantom.md``: configurations A-E against IBSI.

:func:`ct_phantom_section` runs :func:`~icipredict.features.ibsi.check.run_check` for every
configuration the reference CSV holds (A and C in ``reference_values_A_C.csv``) and computes
the features of the others (B, D, E) without comparing them; :func:`digital_phantom_agreement`
runs the digital phantom through the IBSI processing path and compares it with pyradiomics'
own. :func:`icipredict.features.ibsi_phantom.write_report` appends the section to the digital
phantom's report (``icipredict features ibsi-report``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: Settings of the digital phantom through the processing path: no interpolation, no
#: re-segmentation, one bin per grey level from the ROI minimum, 3D (IBSI's phantom settings).
DIGITAL_PHANTOM_PROCESSING = {
    "setting": {"label": 1, "voxelArrayShift": 0, "distances": [1], "symmetricalGLCM": True,
                "gldm_a": 0},
    "processing": {"aggregation": "3D", "discretisation": {
        "method": "fixed_bin_size", "bin_size": 1, "lower_bound": "roi_minimum"}},
    "featureClass": dict.fromkeys(["shape", "firstorder", "glcm", "glrlm", "glszm", "gldm",
                                   "ngtdm"]),
}


def _describe(config: str) -> dict[str, str]:
    """One line per processing step of a builtin configuration."""
    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    engine = PyRadiomicsEngine(f"ibsi_{config.lower()}")
    p = engine.settings.processing
    assert p is not None  # every ibsi_* configuration has a processing section
    i = p.interpolation
    interp = "none" if i is None else (
        f"{' x '.join(f'{s:g}' for s in i.spacing)} mm {'in-plane ' if i.in_plane else ''}"
        f"{i.method.replace('_', ' ')}, rounded, mask {i.mask_method} >= "
        f"{i.partial_volume_threshold:g}")
    r = p.resegmentation
    reseg = " and ".join(
        ([f"range [{r.range[0]:g}, {r.range[1]:g}]"] if r.range else [])
        + ([f"{r.outlier_sigma:g} sigma"] if r.outlier_sigma else [])) or "none"
    d = p.discretisation
    disc = (f"{d.bin_number} bins" if d.method == "fixed_bin_number"
            else f"bin size {d.bin_size:g} from {d.lower_bound}")
    return {"configuration": config, "aggregation": p.aggregation, "interpolation": interp,
            "re-segmentation": reseg, "discretisation": disc,
            "settings hash": f"`{engine.settings_hash}`"}


def ibsi_features_computed(features: dict[str, float]) -> int:
    """IBSI features (names of :mod:`~icipredict.features.ibsi_phantom`'s mapping) whose
    pyradiomics source was computed and is finite."""
    from icipredict.features.ibsi_phantom import _FAMILY_MAPS

    return sum(1 for fam in _FAMILY_MAPS.values() for m in fam.values()
               if np.isfinite(features.get(m.pyradiomics, np.nan)))


def _run(config: str, image, mask, reference: Path) -> dict[str, object]:  # noqa: ANN001
    """One configuration: features, and the comparison when the CSV has its rows."""
    from icipredict.cohort.schema import CohortError
    from icipredict.features.ibsi.check import run_check
    from icipredict.features.ibsi.compute import extract_processed
    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    engine = PyRadiomicsEngine(f"ibsi_{config.lower()}")
    feats = extract_processed(image, mask, label=1, settings=engine.settings)
    row: dict[str, object] = {
        "configuration": config, "IBSI features computed": ibsi_features_computed(feats),
        "with a reference here": "", "within tolerance": "",
        "pyradiomics features (finite)": sum(np.isfinite(v) for v in feats.values()),
        "result": None}
    try:
        result = run_check(image, mask, config, reference)
    except CohortError as exc:
        if "no values for" not in str(exc):
            raise
        row["with a reference here"] = "none"
        return row
    row.update({"with a reference here": len(result.mapped),
                "within tolerance": result.n_within, "result": result})
    return row


def ct_phantom_section(phantom_dir: str | Path) -> str:
    """Markdown for the CT phantom: processing per configuration, results, per-family counts.

    Parameters
    ----------
    phantom_dir
        Folder with ``image.nii.gz``, ``mask.nii.gz`` and ``reference_values_A_C.csv``.

    Returns
    -------
    str
        The section's Markdown (level-2 heading first).
    """
    import SimpleITK as sitk

    from icipredict.features.ibsi.check import CheckResult, family_summary
    from icipredict.features.ibsi_phantom import _md_table

    phantom_dir = Path(phantom_dir)
    reference = phantom_dir / "reference_values_A_C.csv"
    image = sitk.ReadImage(str(phantom_dir / "image.nii.gz"))
    mask = sitk.ReadImage(str(phantom_dir / "mask.nii.gz"))
    runs = [_run(c, image, mask, reference) for c in "ABCDE"]
    summary = pd.DataFrame([{k: v for k, v in r.items() if k != "result"} for r in runs])
    text = [
        "## IBSI-1 lung CT phantom: configurations A-E",
        "",
        "Generated with the report above. Image and GTV mask as NIfTI "
        "(`../shared/data/imaging/ibsi_ct_phantom`, 204 x 201 x 60 voxels of 0.977 x 0.977 x 3 "
        "mm); each configuration is a builtin settings file (`ibsi_a` ... `ibsi_e`, "
        "`src/icipredict/features/settings/`) whose `processing:` section runs IBSI-1 image "
        "processing (`icipredict.features.ibsi`) before pyradiomics computes the features. "
        "The same comparison is `icipredict features ibsi-check --image ... --mask ... "
        "--config A --reference reference_values_A_C.csv` (DICOM series + RTSTRUCT give the "
        "same mask voxels).",
        "",
        "### Processing",
        "",
        _md_table(pd.DataFrame([_describe(c) for c in "ABCDE"])),
        "",
        "### Results",
        "",
        "*IBSI features computed*: IBSI features obtained from pyradiomics' output (directly "
        "or by a documented conversion, e.g. compactness from sphericity), at the aggregation "
        "the settings compute (2D averaged / 2D for A and B, 3D averaged / 3D for C, D and "
        "E); *with a reference here*: those with a value in the reference CSV (M); *within "
        "tolerance*: `|value - reference| <= tolerance` (N). The shared folder holds "
        "reference values for A and C only: B, D and E are computed (values finite) and will "
        "be compared with IBSI's published values the same way (`--reference` with their "
        "rows).",
        "",
        _md_table(summary),
        "",
    ]
    for r in runs:
        result = r["result"]
        if not isinstance(result, CheckResult):  # None: no reference rows for it
            continue
        fam = family_summary(result)
        text += [f"#### Configuration {r['configuration']} per family", "", _md_table(fam), ""]
    text += [CT_NOTES.strip(), ""]
    return "\n".join(text)


def digital_phantom_agreement(phantom_dir: str | Path | None = None) -> str:
    """Markdown: the digital phantom through the processing path against pyradiomics' own.

    Returns
    -------
    str
        One paragraph with the largest absolute difference over the mapped features and the
        matches after the documented conversions.
    """
    from icipredict.features import ibsi_phantom
    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    base = ibsi_phantom.compare_phantom(phantom_dir)
    ours = ibsi_phantom.compare_phantom(phantom_dir,
                                        PyRadiomicsEngine(DIGITAL_PHANTOM_PROCESSING))
    diff = float(np.nanmax((ours["value"] - base["value"]).abs().to_numpy()))
    return ("The digital phantom through the IBSI processing path (no interpolation, no "
            "re-segmentation, bin size 1 from the ROI minimum, 3D) gives "
            f"{int(ours['match'].sum())} of {int((ours['mapping'] != 'not available').sum())} "
            "mapped features within tolerance after the documented conversions, and the "
            f"largest difference from pyradiomics' own extraction is {diff:.3g}.")


#: How the CT phantom was processed, appended after the tables.
CT_NOTES = """
### How IBSI processing meets pyradiomics

- **Interpolation grid**: IBSI's *align grid centers* (`ceil(n s_a / s_b)` points, centred on the
  original grid), evaluated only near the ROI; intensities outside the image take the nearest
  boundary value. Linear (A-D) and cubic B-spline (E) interpolation through `scipy.ndimage`;
  intensities rounded to integers (HU) afterwards; the 0/1 mask is interpolated linearly and
  kept where >= 0.5 (morphological mask).
- **Re-segmentation** changes the intensity mask only; range and 3 sigma together (E) keep the
  intersection of the two intervals, with mean and sd of the whole interpolated ROI.
- **Bins**: IBSI bins (fixed bin size from the range's lower bound: -500 in A, -1000 in C) are
  handed to pyradiomics' feature classes unchanged; pyradiomics alone would start them at the
  ROI minimum rounded down to a multiple of the bin width. Statistical features use the
  intensities, entropy and uniformity the bins.
- **2D (A, B)**: texture matrices per slice with in-plane neighbours, features averaged over the
  slices (IBSI *2D, averaged* for GLCM/GLRLM, *2D* for GLSZM/NGTDM/NGLDM); `N_g` on a slice is
  the ROI's number of grey levels (normalised inverse difference and moment divide by it).
  Morphological and statistical features are 3D. `2.5D` in the settings computes IBSI's
  *2.5D, direction-merged* / *2.5D* values.
- **Not mapped** (pyradiomics has no such feature): as for the digital phantom above; C's
  compactness 1 is computed but the reference CSV gives no value for it.
- **Speed**: `python benchmarks/radiomics_ibsi.py` times each configuration for this lesion in a
  512 x 512 x 60 volume on one core (A, at the original 0.98 mm in-plane spacing, is the
  slowest: most of it is pyradiomics' mesh maximum-diameter search over all vertex pairs).
"""

__all__ = ["CT_NOTES", "DIGITAL_PHANTOM_PROCESSING", "ct_phantom_section",
           "digital_phantom_agreement"]
