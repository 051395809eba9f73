"""Check an IBSI configuration's features against IBSI reference values.

``icipredict features ibsi-check`` runs :func:`run_check` and prints :func:`report_lines`: the
configuration's features are computed (IBSI processing, then pyradiomics), mapped to IBSI
feature names with the mapping of :mod:`icipredict.features.ibsi_phantom` (direct names, and the
documented conversions: excess kurtosis, 1/(N-1) PCA axes, sphericity-derived compactness), and
compared with the reference table's rows of that configuration at the aggregation the settings
compute:

========================  ==========================  =====================
settings ``aggregation``  GLCM, GLRLM                 GLSZM, NGTDM, NGLDM
========================  ==========================  =====================
3D                        3D, averaged                3D
2.5D                      2.5D, direction-merged      2.5D
2D                        2D, averaged                2D
========================  ==========================  =====================

A value is within tolerance when ``|value - reference| <= tolerance``; where the table states no
tolerance, when it rounds to the reference's 3 significant digits
(:func:`~icipredict.features.ibsi_phantom.match_tolerance`). Rows without a reference value,
and IBSI features pyradiomics does not compute, are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.features.ibsi_phantom import _FAMILY_MAPS, match_tolerance

#: IBSI-1 CT phantom configurations (builtin settings ``ibsi_a`` ... ``ibsi_e``).
CONFIGURATIONS = ("A", "B", "C", "D", "E")
#: Reference-table aggregation of each settings aggregation: (GLCM/GLRLM, zone/neighbourhood).
REFERENCE_AGGREGATION = {
    "3D": ("3D, averaged", "3D"),
    "2.5D": ("2.5D, direction-merged", "2.5D"),
    "2D": ("2D, averaged", "2D"),
}
#: Families whose matrices are per direction (the first aggregation of the pair above).
DIRECTIONAL_FAMILIES = ("Grey level co-occurrence based features",
                        "Grey level run length based features")
#: Columns a reference CSV must have (the layout of IBSI's ``reference_values_A_C.csv``).
REFERENCE_COLUMNS = ("family", "feature", "data", "aggregation", "value", "tolerance")


@dataclass
class CheckResult:
    """The outcome of :func:`run_check`.

    Attributes
    ----------
    config
        Configuration letter (A-E) or settings name.
    table
        One row per IBSI reference feature of the configuration at the computed aggregation:
        ``family, feature, aggregation, reference, tolerance, pyradiomics_feature, value,
        abs_diff, within`` (``value`` NaN when pyradiomics has no such feature).
    diagnostics
        Processing diagnostics (grid, voxel counts, grey levels).
    """

    config: str
    table: pd.DataFrame
    diagnostics: dict[str, object] = field(default_factory=dict)

    @property
    def mapped(self) -> pd.DataFrame:
        """Rows with a computed value."""
        return self.table[self.table["value"].notna()]

    @property
    def n_within(self) -> int:
        """Mapped features within tolerance."""
        return int(self.mapped["within"].sum())


def load_reference(path: str | Path, config: str) -> pd.DataFrame:
    """Rows of one configuration from an IBSI reference CSV.

    Parameters
    ----------
    path
        CSV with columns :data:`REFERENCE_COLUMNS` (``data`` like ``config. A``).
    config
        Configuration letter; rows of other configurations are ignored.

    Returns
    -------
    DataFrame
        ``family, feature, aggregation, reference, tolerance`` (rows with a value only).

    Raises
    ------
    CohortError
        Missing file or columns, or no row for the configuration.
    """
    path = Path(path)
    if not path.is_file():
        raise CohortError("reference CSV not found", file=path)
    ref = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REFERENCE_COLUMNS if c not in ref.columns]
    if missing:
        raise CohortError(f"reference CSV lacks column(s) {missing}", file=path,
                          column=missing[0])
    want = f"config. {config.upper()}"
    ref = ref[(ref["data"].str.strip() == want) & (ref["value"].str.strip() != "")]
    if ref.empty:
        raise CohortError(f"reference CSV has no values for {want!r}", file=path, column="data")
    out = ref[["family", "feature", "aggregation"]].copy()
    out["reference"] = ref["value"].astype(float)
    out["tolerance"] = [match_tolerance(v, t) for v, t in zip(out["reference"],
                                                              ref["tolerance"], strict=True)]
    return out.reset_index(drop=True)


def _wanted_aggregation(family: str, aggregation: str) -> str:
    """Reference-table aggregation of a family's features for the settings' aggregation."""
    directional, other = REFERENCE_AGGREGATION[aggregation]
    if family in DIRECTIONAL_FAMILIES:
        return directional
    return other if family.startswith(("Grey level", "Neighbour")) else ""


def compare(features: dict[str, float], reference: pd.DataFrame, aggregation: str,
            n_voxels: int) -> pd.DataFrame:
    """Map features to IBSI names and compare them with the reference rows.

    Parameters
    ----------
    features
        pyradiomics-named features (``original_glcm_Contrast``).
    reference
        :func:`load_reference` output.
    aggregation
        The settings' aggregation (``2D``, ``2.5D``, ``3D``).
    n_voxels
        Voxels of the morphological mask (for the 1/(N-1) axis-length conversion).

    Returns
    -------
    DataFrame
        See :attr:`CheckResult.table`.
    """
    rows = []
    for r in reference.to_dict("records"):
        if r["aggregation"] != _wanted_aggregation(r["family"], aggregation):
            continue
        m = _FAMILY_MAPS.get(r["family"], {}).get(r["feature"])
        value = np.nan
        if m is not None and m.pyradiomics in features:
            value = m.convert(features, n_voxels) if m.convert else features[m.pyradiomics]
        diff = abs(value - r["reference"])
        rows.append({**r, "pyradiomics_feature": m.pyradiomics if m else "",
                     "value": value, "abs_diff": diff,
                     "within": bool(diff <= r["tolerance"] * (1 + 1e-9))})
    return pd.DataFrame(rows)


def run_check(image, mask, config: str, reference: str | Path,  # noqa: ANN001 - SimpleITK
              *, label: int = 1) -> CheckResult:
    """Compute an IBSI configuration's features and compare them with reference values.

    Parameters
    ----------
    image, mask
        SimpleITK image and mask on the same grid.
    config
        ``A``-``E``: the builtin settings ``ibsi_a`` ... ``ibsi_e`` and the reference rows
        ``config. A`` ... ``config. E``.
    reference
        Reference CSV (:func:`load_reference`).
    label
        Mask value of the ROI.

    Returns
    -------
    CheckResult
    """
    import SimpleITK as sitk

    from icipredict.features.ibsi.compute import compute_features
    from icipredict.features.ibsi.processing import process
    from icipredict.features.radiomics_engine import load_settings

    letter = config.strip().upper()
    if letter not in CONFIGURATIONS:
        raise CohortError(f"unknown IBSI configuration {config!r}; expected one of "
                          f"{', '.join(CONFIGURATIONS)}")
    settings = load_settings(f"ibsi_{letter.lower()}")
    processing = settings.processing
    assert processing is not None  # every ibsi_* configuration has a processing section
    ref = load_reference(reference, letter)
    array = sitk.GetArrayViewFromImage(image)
    labels = sitk.GetArrayViewFromImage(mask)
    roi = (np.rint(labels) if labels.dtype.kind == "f" else labels) == label
    if not roi.any():
        raise CohortError(f"mask is empty: no voxel has label {label}")
    processed = process(array, roi, image.GetSpacing(), image.GetOrigin(),
                        image.GetDirection(), processing)
    features = compute_features(processed, dict(settings.featureClass),
                                settings.setting.model_dump(exclude_none=True),
                                processing.aggregation)
    n = int(processed.morphology.sum())
    table = compare(features, ref, processing.aggregation, n)
    diagnostics = {
        "grid (x, y, z)": tuple(int(s) for s in processed.image.shape[::-1]),
        "spacing mm (x, y, z)": tuple(round(s, 4) for s in processed.spacing),
        "morphological mask voxels": n,
        "intensity mask voxels": int(processed.intensity.sum()),
        "grey levels": processed.n_bins,
        "features computed": len(features),
    }
    return CheckResult(config=letter, table=table, diagnostics=diagnostics)


def read_inputs(image: str | Path, mask: str | Path, *, roi: str | None = None):
    """Read the image and the ROI mask (0/1, on the image's grid) for :func:`run_check`.

    NIfTI/NRRD files are read here; a DICOM series folder with an RTSTRUCT or SEG goes through
    :func:`icipredict.features.dicom_io.read_image_and_mask` when that module is installed.

    Raises
    ------
    CohortError
        Unreadable files, a mask on another grid, an empty mask, or DICOM input without the
        DICOM reader.
    """
    try:
        from icipredict.features.dicom_io import read_image_and_mask
    except ImportError:
        pass
    else:
        return read_image_and_mask(image, mask, roi=roi)
    from icipredict.features.radiomics_engine import check_image_mask, read_image

    image, mask = Path(image), Path(mask)
    if image.is_dir() or mask.is_dir() or mask.suffix.lower() == ".dcm" or roi is not None:
        raise CohortError("DICOM input (a series folder, an RTSTRUCT or SEG, --roi) needs "
                          "icipredict.features.dicom_io, which this installation lacks; "
                          "pass NIfTI/NRRD image and mask files", file=mask)
    img, msk = read_image(image), read_image(mask)
    check_image_mask(img, msk, label=1, mask_path=mask)
    return img, msk


def family_summary(result: CheckResult) -> pd.DataFrame:
    """Per family: reference features, mapped, within tolerance."""
    t = result.table.assign(mapped=result.table["value"].notna())
    g = t.groupby("family", sort=False)
    return pd.DataFrame({"reference": g.size(), "mapped": g["mapped"].sum().astype(int),
                         "within": g["within"].sum().astype(int)}).reset_index()


def report_lines(result: CheckResult, worst: int = 3) -> list[str]:
    """The check as text: diagnostics, per family counts and worst misses, then ``N/M``.

    The last line is exactly ``N/M within tolerance`` (M = mapped features with a reference).
    """
    lines = [f"IBSI configuration {result.config}: "
             + "; ".join(f"{k} {v}" for k, v in result.diagnostics.items())]
    mapped = result.mapped
    for row in family_summary(result).itertuples(index=False):
        lines.append(f"{row.family}: {row.mapped} of {row.reference} mapped, "
                     f"{row.within}/{row.mapped} within tolerance")
        misses = mapped[(mapped["family"] == row.family) & ~mapped["within"]].copy()
        misses["excess"] = misses["abs_diff"] / misses["tolerance"]
        for m in misses.sort_values("excess", ascending=False).head(worst).itertuples():
            lines.append(f"  miss: {_plain(m.feature)} = {m.value:.6g}, reference "
                         f"{m.reference:.6g} +/- {m.tolerance:.3g} "
                         f"({m.abs_diff / m.tolerance:.1f} x tolerance)")
    lines.append(f"{result.n_within}/{len(mapped)} within tolerance")
    return lines


def _plain(name: str) -> str:
    """IBSI names carry reStructuredText (``10\\ :sup:`th```); print them plainly."""
    return name.replace("\\ :sup:`th`", "th")


__all__ = ["CONFIGURATIONS", "CheckResult", "REFERENCE_AGGREGATION", "compare", "family_summary",
           "load_reference", "read_inputs", "report_lines", "run_check"]
