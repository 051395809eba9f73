"""Reasons for a score: the largest per-feature contributions, in words the board reads.

The registry model returns ``contrib_<feature>`` columns when asked with ``explain=True``
(coefficient x value for linear models, xgboost ``pred_contribs`` for trees, on the log-odds scale
of response). Here they are ranked by size and phrased ("TMB 24 mut/Mb raises the chance of
response"). Nothing is recomputed: the model is the only source of contributions.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from pydantic import BaseModel

CONTRIB_PREFIX = "contrib_"
#: Prefix of the builder's per-modality missing-data indicators.
MISSING_PREFIX = "missing_"
#: Contributions that are not features (the model's baseline/intercept).
BASELINE_NAMES = frozenset({"bias", "intercept", "baseline", "base_value", "expected_value"})

#: Feature -> (label shown to the board, unit).
LABELS: dict[str, tuple[str, str]] = {
    "tmb": ("TMB", "mut/Mb"), "nlr": ("NLR", ""), "albumin": ("Albumin", "g/dL"),
    "age": ("Age", "years"), "bmi": ("BMI", "kg/m2"), "platelets": ("Platelets", "10^9/L"),
    "haemoglobin": ("Haemoglobin", "g/dL"), "ldh": ("LDH", "U/L"), "ecog": ("ECOG", ""),
    "fcna": ("FCNA", ""), "hed": ("HED", ""), "hla_loh": ("HLA LOH", ""),
    "msi_high": ("MSI-high", ""), "msi_score": ("MSI score", ""),
    "prior_systemic_therapy": ("Prior systemic therapy", ""), "stage_iv": ("Stage IV", ""),
    "sex_male": ("Male sex", ""), "drug_combination": ("Combination ICI", ""),
}


class Reason(BaseModel):
    """One feature's contribution to the response estimate."""

    feature: str
    label: str
    value: float | str | None = None
    contribution: float
    direction: str  # "raises" or "lowers" the chance of response
    text: str


def feature_label(feature: str) -> str:
    """A readable name for a model feature (``mut_STK11`` -> ``STK11 mutation``)."""
    if feature in LABELS:
        return LABELS[feature][0]
    if feature.startswith("mut_"):
        return f"{feature[4:]} mutation"
    if feature.startswith("cancer_type_"):
        return f"Cancer type {feature[len('cancer_type_'):]}"
    if feature.startswith("drug_class_"):
        return f"Drug class {feature[len('drug_class_'):]}"
    if feature.startswith("radiomics_"):
        return f"Imaging: {feature[len('radiomics_'):]}"
    if feature.startswith("missing_"):
        return f"No {feature[len('missing_'):]} data"
    return feature.replace("_", " ")


def _value_text(feature: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return " (missing)"
    if isinstance(value, str):
        return f" {value}"
    unit = LABELS.get(feature, ("", ""))[1]
    if feature.startswith(("mut_", "missing_", "cancer_type_", "drug_class_")) or feature in (
            "prior_systemic_therapy", "stage_iv", "sex_male", "drug_combination", "msi_high",
            "hla_loh"):
        return " yes" if float(value) >= 0.5 else " no"
    return f" {float(value):.3g}{' ' + unit if unit else ''}"


def _modalities(value: Any) -> set[str]:
    if not isinstance(value, str):
        return set()
    return {m.strip() for m in value.split(",") if m.strip()}


def contributions(out_row: pd.Series) -> dict[str, float]:
    """``{feature: contribution}`` from the ``contrib_*`` entries of one output row."""
    out = {}
    for col, v in out_row.items():
        if isinstance(col, str) and col.startswith(CONTRIB_PREFIX):
            name = col[len(CONTRIB_PREFIX):]
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue
            if name.lower() not in BASELINE_NAMES and math.isfinite(v):
                out[name] = v
    return out


def top_reasons(out_row: pd.Series, frame_row: pd.Series | None = None, *, k: int = 5,
                min_abs: float = 1e-9) -> list[Reason]:
    """The ``k`` largest contributions (by absolute size) as :class:`Reason` objects.

    Parameters
    ----------
    out_row
        One row of the registry model's output with ``contrib_<feature>`` entries.
    frame_row
        The patient's input row, to show the value behind each reason (when the feature is a
        column there).
    k
        Number of reasons.
    min_abs
        Contributions smaller than this are not reasons.

    Returns
    -------
    list of Reason
        Largest first; empty when the model gave no contributions.
    """
    contrib = contributions(out_row)
    ranked = sorted(contrib.items(), key=lambda kv: -abs(kv[1]))
    reasons = []
    for feature, c in ranked:
        if len(reasons) >= k or abs(c) < min_abs:
            break
        value = None
        if frame_row is not None and feature in frame_row.index:
            raw = frame_row[feature]
            value = raw if isinstance(raw, str) else (None if pd.isna(raw) else float(raw))
        if value is None and feature.startswith("cancer_type_") and frame_row is not None:
            value = 1.0 if frame_row.get("cancer_type") == feature[len("cancer_type_"):] else 0.0
        direction = "raises" if c > 0 else "lowers"
        label = feature_label(feature)
        if feature.startswith(MISSING_PREFIX) and "missing_modalities" in out_row.index:
            # A modality indicator: its value is in the model's own missing_modalities output.
            modality = feature[len(MISSING_PREFIX):]
            value = 1.0 if modality in _modalities(out_row["missing_modalities"]) else 0.0
            label = f"No {modality} data" if value else f"{modality.capitalize()} data given"
            text = f"{label} {direction} the chance of response"
        elif value is None and frame_row is not None:
            text = (f"{label} not given (training median used) {direction} the chance of "
                    "response")
        else:
            text = f"{label}{_value_text(feature, value)} {direction} the chance of response"
        reasons.append(Reason(feature=feature, label=label, value=value, contribution=c,
                              direction=direction, text=text))
    return reasons
