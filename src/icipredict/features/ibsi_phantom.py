"""The IBSI-1 digital phantom: compare our radiomics engine with the IBSI consensus values.

:func:`compare_phantom` computes the phantom's features with the IBSI settings
(``settings/ibsi.yaml``), maps pyradiomics feature names to IBSI feature names, and compares each
value with the IBSI consensus value. :func:`write_report` writes the Markdown table in
``docs/ibsi_phantom.md`` (``icipredict features ibsi-report``).

Matching rule: the IBSI reference values are given to 3 significant digits; where the reference
states a tolerance (morphological features) a value matches when ``|value - reference| <=
tolerance``; where it states none ("—", the phantom's exact values) a value matches when it rounds
to the reference, i.e. ``|value - reference| <= half a unit of the reference's 3rd significant
digit``.

Three kinds of mapping are reported separately, so the headline count is never flattered:

- ``direct``: the pyradiomics feature is the IBSI feature, compared as computed;
- ``converted``: a documented definitional difference is undone (e.g. pyradiomics kurtosis is not
  the excess kurtosis; pyradiomics' PCA uses a 1/N covariance where IBSI uses 1/(N-1)), or the
  IBSI feature is an algebraic function of pyradiomics features (compactness from sphericity);
- not mapped: pyradiomics has no such feature (e.g. GLDZM, intensity-volume histogram, local
  intensity peaks, Moran's I).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.config import shared_data
from icipredict.features.radiomics_engine import PyRadiomicsEngine, read_image

logger = logging.getLogger(__name__)



def default_phantom_dir() -> Path:
    """Default folder of the digital phantom (image.nii.gz, mask.nii.gz, reference_values.csv)."""
    return shared_data() / "imaging" / "ibsi" / "digital_phantom"


def default_ct_phantom_dir() -> Path:
    """Default folder of the IBSI lung CT phantom (its report section: features/ibsi/report.py)."""
    return shared_data() / "imaging" / "ibsi_ct_phantom"


#: Default location of the generated report.
DEFAULT_REPORT = Path(__file__).resolve().parents[3] / "docs" / "ibsi_phantom.md"

#: IBSI aggregation that pyradiomics' computation corresponds to, per family. pyradiomics
#: computes one GLCM/GLRLM per 3D direction and averages the features ("3D, averaged"), and one
#: 3D matrix for GLSZM/NGTDM/NGLDM ("3D"); first-order and shape features have no aggregation.
FAMILY_AGGREGATION = {
    "Morphological features": "",
    "Local intensity features": "",
    "Intensity-based statistical features": "",
    "Intensity histogram features": "",
    "Intensity-volume histogram features": "",
    "Grey level co-occurrence based features": "3D, averaged",
    "Grey level run length based features": "3D, averaged",
    "Grey level size zone based features": "3D",
    "Grey level distance zone based features": "3D",
    "Neighbourhood grey tone difference based features": "3D",
    "Neighbouring grey level dependence based features": "3D",
}

Conversion = Callable[[dict[str, float], int], float]


@dataclass(frozen=True)
class Mapping:
    """How an IBSI feature is obtained from pyradiomics output."""

    pyradiomics: str
    convert: Conversion | None = None
    note: str = ""
    #: True when the IBSI feature is a function of another feature (no as-computed value).
    derived: bool = False


def _f(name: str) -> str:
    return f"original_{name}"


def _axis(name: str) -> Mapping:
    # pyradiomics: eigenvalues of X^T X / N (population covariance); IBSI's reference values
    # correspond to the sample covariance 1/(N-1): multiply the length by sqrt(N/(N-1)).
    return Mapping(_f(f"shape_{name}"), lambda f, n: f[_f(f"shape_{name}")] * math.sqrt(n / (n - 1)),
                   "pyradiomics takes PCA eigenvalues of the 1/N covariance of voxel positions; "
                   "the IBSI value corresponds to 1/(N-1): converted by x sqrt(N/(N-1))")


_SPH = _f("shape_Sphericity")
_FAMILY_MAPS: dict[str, dict[str, Mapping]] = {
    "Morphological features": {
        "Volume (mesh)": Mapping(_f("shape_MeshVolume")),
        "Volume (voxel counting)": Mapping(_f("shape_VoxelVolume")),
        "Surface area (mesh)": Mapping(_f("shape_SurfaceArea")),
        "Surface to volume ratio": Mapping(_f("shape_SurfaceVolumeRatio")),
        "Sphericity": Mapping(_SPH),
        "Compactness 1": Mapping(
            _SPH, lambda f, n: f[_SPH] ** 1.5 / (6 * math.pi),
            "derived: compactness 1 = sphericity^(3/2) / (6 pi); pyradiomics deprecated it as "
            "redundant with sphericity", derived=True),
        "Compactness 2": Mapping(_SPH, lambda f, n: f[_SPH] ** 3,
                                 "derived: compactness 2 = sphericity^3 (deprecated in pyradiomics)", derived=True),
        "Spherical disproportion": Mapping(
            _SPH, lambda f, n: 1 / f[_SPH],
            "derived: 1 / sphericity (deprecated in pyradiomics)", derived=True),
        "Asphericity": Mapping(_SPH, lambda f, n: 1 / f[_SPH] - 1,
                               "derived: 1 / sphericity - 1 (not in pyradiomics)", derived=True),
        "Maximum 3D diameter": Mapping(_f("shape_Maximum3DDiameter")),
        "Major axis length": _axis("MajorAxisLength"),
        "Minor axis length": _axis("MinorAxisLength"),
        "Least axis length": _axis("LeastAxisLength"),
        "Elongation": Mapping(_f("shape_Elongation")),
        "Flatness": Mapping(_f("shape_Flatness")),
    },
    "Intensity-based statistical features": {
        "Mean intensity": Mapping(_f("firstorder_Mean")),
        "Intensity variance": Mapping(_f("firstorder_Variance")),
        "Intensity skewness": Mapping(_f("firstorder_Skewness")),
        "(Excess) intensity kurtosis": Mapping(
            _f("firstorder_Kurtosis"), lambda f, n: f[_f("firstorder_Kurtosis")] - 3,
            "pyradiomics returns the kurtosis, IBSI the excess kurtosis (kurtosis - 3)"),
        "Median intensity": Mapping(_f("firstorder_Median")),
        "Minimum intensity": Mapping(_f("firstorder_Minimum")),
        "10\\ :sup:`th` intensity percentile": Mapping(_f("firstorder_10Percentile")),
        "90\\ :sup:`th` intensity percentile": Mapping(_f("firstorder_90Percentile")),
        "Maximum intensity": Mapping(_f("firstorder_Maximum")),
        "Intensity interquartile range": Mapping(_f("firstorder_InterquartileRange")),
        "Intensity range": Mapping(_f("firstorder_Range")),
        "Intensity-based mean absolute deviation": Mapping(_f("firstorder_MeanAbsoluteDeviation")),
        "Intensity-based robust mean absolute deviation": Mapping(
            _f("firstorder_RobustMeanAbsoluteDeviation")),
        "Intensity-based energy": Mapping(
            _f("firstorder_Energy"), None,
            "equal only with voxelArrayShift = 0 (pyradiomics' default shift of 0 is kept in the "
            "IBSI settings; the baseline settings use 2000)"),
        "Root mean square intensity": Mapping(_f("firstorder_RootMeanSquared")),
    },
    "Intensity histogram features": {
        "Discretised intensity entropy": Mapping(_f("firstorder_Entropy")),
        "Discretised intensity uniformity": Mapping(_f("firstorder_Uniformity")),
    },
    "Grey level co-occurrence based features": {
        "Joint maximum": Mapping(_f("glcm_MaximumProbability")),
        "Joint average": Mapping(_f("glcm_JointAverage")),
        "Joint variance": Mapping(_f("glcm_SumSquares")),
        "Joint entropy": Mapping(_f("glcm_JointEntropy")),
        "Difference average": Mapping(_f("glcm_DifferenceAverage")),
        "Difference variance": Mapping(_f("glcm_DifferenceVariance")),
        "Difference entropy": Mapping(_f("glcm_DifferenceEntropy")),
        "Sum average": Mapping(_f("glcm_SumAverage")),
        "Sum variance": Mapping(_f("glcm_ClusterTendency"), None,
                                "sum variance = cluster tendency (identical by definition; "
                                "pyradiomics deprecated SumVariance for that reason)"),
        "Sum entropy": Mapping(_f("glcm_SumEntropy")),
        "Angular second moment": Mapping(_f("glcm_JointEnergy")),
        "Contrast": Mapping(_f("glcm_Contrast")),
        "Dissimilarity": Mapping(_f("glcm_DifferenceAverage"), None,
                                 "dissimilarity = difference average (identical by definition)"),
        "Inverse difference": Mapping(_f("glcm_Id")),
        "Normalised inverse difference": Mapping(_f("glcm_Idn")),
        "Inverse difference moment": Mapping(_f("glcm_Idm")),
        "Normalised inverse difference moment": Mapping(_f("glcm_Idmn")),
        "Inverse variance": Mapping(_f("glcm_InverseVariance")),
        "Correlation": Mapping(_f("glcm_Correlation")),
        "Autocorrelation": Mapping(_f("glcm_Autocorrelation")),
        "Cluster tendency": Mapping(_f("glcm_ClusterTendency")),
        "Cluster shade": Mapping(_f("glcm_ClusterShade")),
        "Cluster prominence": Mapping(_f("glcm_ClusterProminence")),
        "Information correlation 1": Mapping(_f("glcm_Imc1")),
        "Information correlation 2": Mapping(_f("glcm_Imc2")),
    },
    "Grey level run length based features": {
        "Short runs emphasis": Mapping(_f("glrlm_ShortRunEmphasis")),
        "Long runs emphasis": Mapping(_f("glrlm_LongRunEmphasis")),
        "Low grey level run emphasis": Mapping(_f("glrlm_LowGrayLevelRunEmphasis")),
        "High grey level run emphasis": Mapping(_f("glrlm_HighGrayLevelRunEmphasis")),
        "Short run low grey level emphasis": Mapping(_f("glrlm_ShortRunLowGrayLevelEmphasis")),
        "Short run high grey level emphasis": Mapping(_f("glrlm_ShortRunHighGrayLevelEmphasis")),
        "Long run low grey level emphasis": Mapping(_f("glrlm_LongRunLowGrayLevelEmphasis")),
        "Long run high grey level emphasis": Mapping(_f("glrlm_LongRunHighGrayLevelEmphasis")),
        "Grey level non-uniformity": Mapping(_f("glrlm_GrayLevelNonUniformity")),
        "Normalised grey level non-uniformity": Mapping(
            _f("glrlm_GrayLevelNonUniformityNormalized")),
        "Run length non-uniformity": Mapping(_f("glrlm_RunLengthNonUniformity")),
        "Normalised run length non-uniformity": Mapping(
            _f("glrlm_RunLengthNonUniformityNormalized")),
        "Run percentage": Mapping(_f("glrlm_RunPercentage")),
        "Grey level variance": Mapping(_f("glrlm_GrayLevelVariance")),
        "Run length variance": Mapping(_f("glrlm_RunVariance")),
        "Run entropy": Mapping(_f("glrlm_RunEntropy")),
    },
    "Grey level size zone based features": {
        "Small zone emphasis": Mapping(_f("glszm_SmallAreaEmphasis")),
        "Large zone emphasis": Mapping(_f("glszm_LargeAreaEmphasis")),
        "Low grey level zone emphasis": Mapping(_f("glszm_LowGrayLevelZoneEmphasis")),
        "High grey level zone emphasis": Mapping(_f("glszm_HighGrayLevelZoneEmphasis")),
        "Small zone low grey level emphasis": Mapping(_f("glszm_SmallAreaLowGrayLevelEmphasis")),
        "Small zone high grey level emphasis": Mapping(_f("glszm_SmallAreaHighGrayLevelEmphasis")),
        "Large zone low grey level emphasis": Mapping(_f("glszm_LargeAreaLowGrayLevelEmphasis")),
        "Large zone high grey level emphasis": Mapping(_f("glszm_LargeAreaHighGrayLevelEmphasis")),
        "Grey level non-uniformity": Mapping(_f("glszm_GrayLevelNonUniformity")),
        "Normalised grey level non-uniformity": Mapping(
            _f("glszm_GrayLevelNonUniformityNormalized")),
        "Zone size non-uniformity": Mapping(_f("glszm_SizeZoneNonUniformity")),
        "Normalised zone size non-uniformity": Mapping(
            _f("glszm_SizeZoneNonUniformityNormalized")),
        "Zone percentage": Mapping(_f("glszm_ZonePercentage")),
        "Grey level variance": Mapping(_f("glszm_GrayLevelVariance")),
        "Zone size variance": Mapping(_f("glszm_ZoneVariance")),
        "Zone size entropy": Mapping(_f("glszm_ZoneEntropy")),
    },
    "Neighbourhood grey tone difference based features": {
        "Coarseness": Mapping(_f("ngtdm_Coarseness")),
        "Contrast": Mapping(_f("ngtdm_Contrast")),
        "Busyness": Mapping(_f("ngtdm_Busyness")),
        "Complexity": Mapping(_f("ngtdm_Complexity")),
        "Strength": Mapping(_f("ngtdm_Strength")),
    },
    "Neighbouring grey level dependence based features": {
        "Low dependence emphasis": Mapping(_f("gldm_SmallDependenceEmphasis")),
        "High dependence emphasis": Mapping(_f("gldm_LargeDependenceEmphasis")),
        "Low grey level count emphasis": Mapping(_f("gldm_LowGrayLevelEmphasis")),
        "High grey level count emphasis": Mapping(_f("gldm_HighGrayLevelEmphasis")),
        "Low dependence low grey level emphasis": Mapping(
            _f("gldm_SmallDependenceLowGrayLevelEmphasis")),
        "Low dependence high grey level emphasis": Mapping(
            _f("gldm_SmallDependenceHighGrayLevelEmphasis")),
        "High dependence low grey level emphasis": Mapping(
            _f("gldm_LargeDependenceLowGrayLevelEmphasis")),
        "High dependence high grey level emphasis": Mapping(
            _f("gldm_LargeDependenceHighGrayLevelEmphasis")),
        "Grey level non-uniformity": Mapping(_f("gldm_GrayLevelNonUniformity")),
        "Dependence count non-uniformity": Mapping(_f("gldm_DependenceNonUniformity")),
        "Normalised dependence count non-uniformity": Mapping(
            _f("gldm_DependenceNonUniformityNormalized")),
        "Grey level variance": Mapping(_f("gldm_GrayLevelVariance")),
        "Dependence count variance": Mapping(_f("gldm_DependenceVariance")),
        "Dependence count entropy": Mapping(_f("gldm_DependenceEntropy")),
    },
}

#: Why a whole family (or the rest of one) is not available from pyradiomics.
UNMAPPED_REASONS = {
    "Morphological features": (
        "pyradiomics has no bounding-box / enclosing-ellipsoid / convex-hull densities, centre of "
        "mass shift, integrated intensity, Moran's I or Geary's C"),
    "Local intensity features": "pyradiomics computes no local/global intensity peak",
    "Intensity-based statistical features": (
        "pyradiomics has no median absolute deviation, coefficient of variation or quartile "
        "coefficient of dispersion"),
    "Intensity histogram features": (
        "pyradiomics computes first-order statistics on the raw intensities; of the discretised "
        "histogram features it only gives entropy and uniformity"),
    "Intensity-volume histogram features": "pyradiomics has no intensity-volume histogram",
    "Grey level distance zone based features": "pyradiomics has no GLDZM",
    "Neighbouring grey level dependence based features": (
        "pyradiomics' GLDM has no normalised grey level non-uniformity (deprecated: equals "
        "first-order uniformity), dependence count percentage or dependence count energy"),
}


def match_tolerance(reference: float, stated: str) -> float:
    """Tolerance of one IBSI reference value (see the module docstring for the rule)."""
    try:
        tol = float(stated)
        if math.isfinite(tol):
            return tol
    except ValueError:
        pass
    if reference == 0:
        return 5e-4
    # Half a unit of the third significant digit.
    return 0.5 * 10 ** (math.floor(math.log10(abs(reference))) - 2)


def load_reference(phantom_dir: Path) -> pd.DataFrame:
    """Read ``reference_values.csv`` of the phantom, keeping the aggregation pyradiomics matches."""
    ref = pd.read_csv(phantom_dir / "reference_values.csv", dtype=str, keep_default_na=False)
    ref = ref[ref["data"] == "dig. phantom"]
    keep = ref.apply(lambda r: FAMILY_AGGREGATION.get(r["family"]) == r["aggregation"], axis=1)
    ref = ref[keep].copy()
    ref["reference"] = ref["value"].astype(float)
    ref["tolerance_used"] = [match_tolerance(v, t) for v, t in zip(ref["reference"],
                                                                   ref["tolerance"], strict=True)]
    return ref.reset_index(drop=True)


def compare_phantom(phantom_dir: str | Path | None = None,
                    engine: PyRadiomicsEngine | None = None) -> pd.DataFrame:
    """Compute the phantom's features and compare them with the IBSI consensus values.

    Parameters
    ----------
    phantom_dir
        Folder with ``image.nii.gz``, ``mask.nii.gz`` and ``reference_values.csv``.
    engine
        Engine to test (default: pyradiomics with ``settings/ibsi.yaml``).

    Returns
    -------
    DataFrame
        One row per IBSI feature (at the aggregation pyradiomics computes): ``family, feature,
        aggregation, reference, tolerance_used, pyradiomics_feature, mapping`` (``direct``,
        ``converted`` or ``not available``), ``value_as_computed`` / ``match_as_computed`` (the
        pyradiomics value unchanged; NaN for derived features), ``value`` / ``abs_diff`` /
        ``match`` (after the documented conversion, if any), ``note``.
    """
    phantom_dir = Path(phantom_dir) if phantom_dir is not None else default_phantom_dir()
    engine = engine or PyRadiomicsEngine("ibsi")
    image, mask = phantom_dir / "image.nii.gz", phantom_dir / "mask.nii.gz"
    feats = engine.extract(image, mask, label=1)
    import SimpleITK as sitk

    # A copy, not a view: a view of the temporary image would read freed memory (the count came
    # out wrong now and then once large images had been processed in the same process).
    n_voxels = int((sitk.GetArrayFromImage(read_image(mask)) == 1).sum())
    ref = load_reference(phantom_dir)
    rows = []
    for r in ref.to_dict("records"):
        m = _FAMILY_MAPS.get(r["family"], {}).get(r["feature"])
        row = {k: r[k] for k in ("family", "feature", "aggregation", "reference",
                                 "tolerance_used")}
        if m is None or m.pyradiomics not in feats:
            row.update(pyradiomics_feature="", mapping="not available", value_as_computed=np.nan,
                       match_as_computed=False, value=np.nan, abs_diff=np.nan, match=False,
                       note=UNMAPPED_REASONS.get(r["family"], "no pyradiomics equivalent"))
        else:
            raw = np.nan if m.derived else feats[m.pyradiomics]
            value = m.convert(feats, n_voxels) if m.convert else raw
            diff = abs(value - r["reference"])
            row.update(pyradiomics_feature=m.pyradiomics.removeprefix("original_"),
                       value_as_computed=raw,
                       match_as_computed=bool(abs(raw - r["reference"])
                                              <= r["tolerance_used"] * (1 + 1e-9)),
                       mapping="converted" if m.convert else "direct", value=value,
                       abs_diff=diff, match=bool(diff <= r["tolerance_used"] * (1 + 1e-9)),
                       note=m.note)
        rows.append(row)
    return pd.DataFrame(rows)


def family_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per feature family: reference features, mapped, and matches (direct / after conversion)."""
    t = table.assign(available=table["mapping"] != "not available")
    g = t.groupby("family", sort=False)
    summary = pd.DataFrame({
        "IBSI features": g.size(),
        "available in pyradiomics": g["available"].sum().astype(int),
        "match as computed": g["match_as_computed"].sum().astype(int),
        "match after documented conversion": g["match"].sum().astype(int),
    }).reset_index()
    summary.insert(1, "aggregation", summary["family"].map(FAMILY_AGGREGATION).replace("", "—"))
    total = summary.drop(columns=["family", "aggregation"]).sum()
    summary.loc[len(summary)] = {"family": "**Total**", "aggregation": "", **total.to_dict()}
    return summary


def _md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append("" if np.isnan(v) else f"{v:.4g}")
            elif isinstance(v, (bool, np.bool_)):
                cells.append("yes" if v else "**no**")
            else:
                cells.append(str(v).replace("|", "/").replace("\\ :sup:`th`", "th"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(out: str | Path = DEFAULT_REPORT, phantom_dir: str | Path | None = None,
                 ct_phantom_dir: str | Path | None = None) -> pd.DataFrame:
    """Compute the comparison and write it as Markdown (``docs/ibsi_phantom.md``).

    The lung CT phantom's section (configurations A-E, :mod:`icipredict.features.ibsi.report`)
    follows when ``ct_phantom_dir`` (default :func:`default_ct_phantom_dir`) holds the phantom.

    Returns
    -------
    DataFrame
        The per-feature comparison (:func:`compare_phantom`).
    """
    engine = PyRadiomicsEngine("ibsi")
    table = compare_phantom(phantom_dir, engine)
    summary = family_summary(table)
    mapped = table[table["mapping"] != "not available"]
    unmapped = table[table["mapping"] == "not available"].groupby("family", sort=False)
    text = [
        "# IBSI phantoms: pyradiomics against the IBSI reference values",
        "",
        "The digital phantom first, then the lung CT phantom in configurations A-E (IBSI "
        "image processing before pyradiomics).",
        "",
        "Generated by `icipredict features ibsi-report` "
        "(`icipredict.features.ibsi_phantom.write_report`); do not edit by hand.",
        "",
        f"Engine: {engine.name} {engine.version}, settings `src/icipredict/features/settings/"
        f"ibsi.yaml` (hash `{engine.settings_hash}`): IBSI configuration of the phantom — no "
        "resampling, no re-segmentation, fixed bin size 1 (each integer grey level is its own "
        "bin), no intensity shift, 3D matrices at Chebyshev distance 1, symmetric GLCM, "
        "NGLDM alpha 0. Reference: IBSI-1 `reference_values.csv` (consensus value and tolerance "
        "per feature) of the digital phantom.",
        "",
        "Matching rule: within the stated tolerance (morphological features); where IBSI states "
        "none, the value must round to the reference's 3 significant digits. pyradiomics "
        "computes GLCM/GLRLM per direction and averages the features, so they are compared with "
        "IBSI's *3D, averaged* values; GLSZM/NGTDM/NGLDM with the *3D* values. "
        "*As computed* counts pyradiomics values used unchanged; *after documented conversion* "
        "adds features obtained by undoing a documented definitional difference or by an "
        "algebraic identity (each listed in the notes).",
        "",
        "## Per family",
        "",
        _md_table(summary),
        "",
        "## Features pyradiomics provides",
        "",
        _md_table(mapped[["family", "feature", "pyradiomics_feature", "mapping", "reference",
                          "tolerance_used", "value_as_computed", "match_as_computed", "value", "match",
                          "note"]]),
        "",
        "## IBSI features pyradiomics does not compute",
        "",
    ]
    for fam, d in unmapped:
        text.append(f"- **{fam}** ({len(d)}): " + ", ".join(
            f.replace("\\ :sup:`th`", "th") for f in d["feature"]) + f". *Why:* "
            f"{UNMAPPED_REASONS.get(fam, 'no pyradiomics equivalent')}.")
    text += ["", DEVIATIONS_TEXT.strip(), ""]
    ct_phantom_dir = Path(ct_phantom_dir) if ct_phantom_dir is not None else default_ct_phantom_dir()
    if (ct_phantom_dir / "image.nii.gz").is_file():
        from icipredict.features.ibsi import report

        text += ["### Through the IBSI processing path", "",
                 report.digital_phantom_agreement(phantom_dir), "",
                 report.ct_phantom_section(ct_phantom_dir)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(text), encoding="utf-8")
    logger.info("wrote %s", out)
    return table


#: Prose on the deviations, appended to the report.
DEVIATIONS_TEXT = """
## Deviations and why

Every IBSI feature that pyradiomics computes matches after the conversions below; the ones that
do not match *as computed* differ by definition, not by error:

- **(Excess) intensity kurtosis**: pyradiomics documents it (`radiomics/firstorder.py`): "The
  IBSI feature definition implements excess kurtosis, where kurtosis is corrected by -3 [...] The
  PyRadiomics kurtosis is not corrected, yielding a value 3 higher than the IBSI kurtosis."
  Subtracting 3 gives the IBSI value.
- **Minor and least axis length** (major axis within tolerance anyway): pyradiomics takes the
  eigenvalues of the 1/N covariance of the voxel-centre coordinates; the IBSI consensus values
  correspond to the 1/(N-1) (sample) covariance. Measured on the phantom (N = 74 voxels):
  1/N gives 11.33 / 9.24 / 8.48 mm, 1/(N-1) gives 11.40 / 9.31 / 8.54 mm (IBSI: 11.4 / 9.31 /
  8.54). Multiplying by sqrt(N/(N-1)) converts; elongation and flatness (ratios) are unaffected.
  The difference vanishes for real lesions (thousands of voxels).
- **Compactness 1, compactness 2, spherical disproportion, asphericity**: deprecated (or absent)
  in pyradiomics because each is a function of sphericity; computed from sphericity.
- **Sum variance, dissimilarity**: identical by definition to cluster tendency and difference
  average, which pyradiomics keeps (it deprecated the duplicates).
- **Intensity-based energy** matches only because the IBSI settings use `voxelArrayShift: 0`;
  pyradiomics adds this shift before computing energy (the pyradiomics baselines use 2000), so
  energy/total energy are not comparable across settings with different shifts.
- **Volume**: pyradiomics' `MeshVolume` is the IBSI mesh volume and `VoxelVolume` the voxel-count
  volume; the two differ (556 vs 592 mm^3 here) by definition. Lesion aggregation in icipredict uses
  `VoxelVolume`.
- **Grey levels**: pyradiomics drops empty grey levels (here bins 2 and 5, and every level above the
  ROI maximum) from texture matrices and uses the number of *present* levels as N_g where IBSI
  uses the number of bins. On this phantom the affected features (normalised inverse
  difference/moment) still round to the reference; on other images with empty bins they can
  differ.
- **Aggregation**: pyradiomics averages GLCM/GLRLM features over the 13 directions (IBSI
  *3D, averaged*); the IBSI *merged* and 2D/2.5D values are not compared here.
- **Not computed** by pyradiomics at all: local/global intensity peak, intensity-volume histogram,
  GLDZM, most discretised-histogram statistics, bounding-box/ellipsoid/convex-hull densities,
  centre of mass shift, integrated intensity, Moran's I, Geary's C, NGLDM dependence count
  percentage/energy (listed above).
"""
