"""Clinical features from the one-row-per-patient frame: labs, demographics, treatment, cancer type.

Every function takes canonical columns (see :mod:`icipredict.cohort.schema`) and returns numbers:
binary columns as 0/1, missing stays missing. Fitted state (category levels, rare cancer types)
is plain lists so the builder can save it as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from icipredict.cohort.harmonise import CHOWELL_GROUP_CODE, cancer_type_group, to_oncotree
from icipredict.cohort.schema import CohortError

log = logging.getLogger(__name__)

#: Numeric clinical features passed through in canonical units (``nlr`` filled from counts).
NUMERIC: tuple[str, ...] = ("age", "bmi", "ecog", "nlr", "albumin", "platelets", "haemoglobin",
                            "ldh")

#: Feature name -> output column of the 0/1 clinical features.
BINARY: dict[str, str] = {
    "sex": "sex_male",
    "stage_iv": "stage_iv",
    "prior_systemic_therapy": "prior_systemic_therapy",
    "drug_combination": "drug_combination",
}

#: Every clinical feature name a spec may list (``cancer_type`` is configured separately).
CLINICAL_FEATURES: tuple[str, ...] = NUMERIC + tuple(BINARY) + ("drug_class",)

#: LORIS (Chang et al. 2024) caps on the raw values.
LORIS_CAPS: dict[str, float] = {"tmb": 50.0, "nlr": 25.0, "age": 85.0}

#: Output column of Chowell 2022's 3-level cancer group (0 Melanoma, 1 NSCLC, 2 Others).
CANCER_GROUP_COLUMN = "cancer_group"
OTHER = "other"


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def nlr(frame: pd.DataFrame) -> pd.Series:
    """Neutrophil-to-lymphocyte ratio: ``nlr`` where given, else neutrophils / lymphocytes.

    A lymphocyte count of 0 gives a missing NLR (not infinity).
    """
    given = _num(frame, "nlr")
    neut, lymph = _num(frame, "neutrophils"), _num(frame, "lymphocytes")
    computed = neut / lymph.where(lymph > 0)
    return given.fillna(computed).rename("nlr")


def normalise_cancer_type(values: pd.Series) -> pd.Series:
    """Cancer types as OncoTree codes where known; unknown labels are kept as written."""
    def one(v: object) -> object:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        try:
            return to_oncotree(v)
        except CohortError:
            return str(v).strip()
    # Once per distinct label, not per patient (batch scoring sends millions of rows).
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([one(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, name=values.name)


def fit_cancer_levels(values: pd.Series, min_count: int) -> tuple[list[str], bool]:
    """Cancer-type levels to one-hot encode, learned on training patients.

    Parameters
    ----------
    values
        Cancer types (any spelling :func:`normalise_cancer_type` understands).
    min_count
        Types with fewer training patients are grouped into ``other``.

    Returns
    -------
    levels, has_other
        Kept levels (sorted) and whether an ``other`` column exists.
    """
    counts = normalise_cancer_type(values).value_counts()
    kept = sorted(counts.index[counts >= min_count].astype(str))
    return kept, bool((counts < min_count).any())


def encode_cancer_type(values: pd.Series, *, encoding: str, levels: Sequence[str] = (),
                       has_other: bool = False) -> pd.DataFrame:
    """Encode cancer type.

    Parameters
    ----------
    values
        Cancer types per patient.
    encoding
        ``"onehot"``: one column ``cancer_type_<CODE>`` per kept level plus ``cancer_type_other``;
        ``"chowell_group"``: one integer column ``cancer_group`` (0 Melanoma, 1 NSCLC, 2 Others,
        Chowell 2022's ``Cancer_Type2``); ``"none"``: no column.
    levels, has_other
        From :func:`fit_cancer_levels`. A type not seen at fit goes to ``other`` when that column
        exists, else gets all zeros (logged).
    """
    codes = normalise_cancer_type(values)
    if encoding == "none":
        return pd.DataFrame(index=values.index)
    if encoding == "chowell_group":
        def group(code: object) -> float:
            if code is None:
                return np.nan
            try:
                return float(CHOWELL_GROUP_CODE[cancer_type_group(str(code))])
            except KeyError:
                return float(CHOWELL_GROUP_CODE["Others"])
        return pd.DataFrame({CANCER_GROUP_COLUMN: codes.map(group).astype(float)},
                            index=values.index)
    if encoding != "onehot":
        raise ValueError(f"unknown cancer type encoding {encoding!r}")
    out = {}
    known = codes.isin(list(levels))
    for level in levels:
        out[f"cancer_type_{level}"] = (codes == level).astype(float)
    unseen = codes.notna() & ~known
    if has_other:
        out[f"cancer_type_{OTHER}"] = unseen.astype(float)
    elif unseen.any():
        log.warning("cancer type(s) %s not seen at fit and no 'other' level: encoded as all zeros",
                    sorted(set(codes[unseen])))
    df = pd.DataFrame(out, index=values.index)
    df.loc[codes.isna(), :] = np.nan
    return df


def fit_levels(values: pd.Series) -> list[str]:
    """Sorted distinct non-missing values (category levels learned at fit)."""
    return sorted(values.dropna().astype(str).unique())


def clinical_columns(frame: pd.DataFrame, features: Sequence[str], *,
                     drug_class_levels: Sequence[str] = ()) -> pd.DataFrame:
    """Raw clinical feature columns (before caps, imputation and scaling).

    Parameters
    ----------
    frame
        One row per patient with canonical columns (absent columns count as missing).
    features
        Names from :data:`CLINICAL_FEATURES`.
    drug_class_levels
        Levels of ``drug_class`` learned at fit (one-hot ``drug_class_<level>``).
    """
    unknown = sorted(set(features) - set(CLINICAL_FEATURES))
    if unknown:
        raise ValueError(f"unknown clinical feature(s) {unknown}; known: {list(CLINICAL_FEATURES)}")
    out: dict[str, pd.Series] = {}
    drug = frame["drug_class"] if "drug_class" in frame.columns else pd.Series(
        None, index=frame.index, dtype=object)
    for name in features:
        if name == "nlr":
            out["nlr"] = nlr(frame)
        elif name in NUMERIC:
            out[name] = _num(frame, name)
        elif name == "sex":
            sex = frame["sex"] if "sex" in frame.columns else pd.Series(None, index=frame.index)
            out["sex_male"] = sex.map({"male": 1.0, "female": 0.0}).astype(float)
        elif name == "drug_combination":
            out["drug_combination"] = (drug == "combination").astype(float).where(drug.notna())
        elif name == "drug_class":
            for level in drug_class_levels:
                out[f"drug_class_{_slug(level)}"] = (drug == level).astype(float).where(
                    drug.notna())
        else:
            out[BINARY[name]] = _num(frame, name)
    return pd.DataFrame(out, index=frame.index)


def _slug(level: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in level).strip("_")


def apply_caps(frame: pd.DataFrame, caps: Mapping[str, float]) -> pd.DataFrame:
    """Clip columns at an upper cap (e.g. :data:`LORIS_CAPS`); columns not present are skipped."""
    out = frame.copy()
    for column, cap in caps.items():
        if column in out.columns:
            out[column] = out[column].clip(upper=cap)
    return out
