"""Board warnings: outside the training domain, missing modalities and thin data, beyond the
training follow-up, radiomics computed differently from training."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from icipredict._util import finite_float as _f
from icipredict.predict.record import PatientRecord
from icipredict.predict.scoring.result import CURVE_MONTHS, BoardWarning


def domain_warnings(record: PatientRecord, frame_row: pd.Series,
                    domain: dict[str, Any]) -> list[BoardWarning]:
    """Warnings for categories and values outside what the model saw in training."""
    out: list[BoardWarning] = []
    categories = domain.get("categories") or {}
    types = categories.get("cancer_type")
    if types and record.cancer_type not in types:
        out.append(BoardWarning(code="cancer_type_unseen", message=(
            f"Cancer type {record.cancer_type} was not in the training data "
            f"(seen: {', '.join(sorted(types))}); the estimate is an extrapolation.")))
    classes = categories.get("drug_class")
    drug_class = record.resolved_drug_class()
    if classes and drug_class is not None and drug_class not in classes:
        out.append(BoardWarning(code="drug_class_unseen", message=(
            f"Drug class {drug_class} was not in the training data (seen: "
            f"{', '.join(sorted(classes))}).")))
    for feature, stats in (domain.get("numeric") or {}).items():
        lo, hi = _f(stats.get("min")), _f(stats.get("max"))
        value = _f(frame_row.get(feature)) if feature in frame_row.index else None
        if value is None or (lo is None and hi is None):
            continue
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            out.append(BoardWarning(code="value_out_of_range", message=(
                f"{feature} = {value:g} is outside the training range "
                f"[{_fmt(lo)}, {_fmt(hi)}]; the model has not seen such values.")))
    return out


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _missing_list(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    return [str(v) for v in value]


def modality_warnings(completeness: dict[str, float], model_missing: list[str]
                      ) -> list[BoardWarning]:
    """Warnings for missing modalities and thin data (``completeness``: share of the model's
    features given, per modality, see :meth:`BoardModel.completeness`)."""
    out = []
    # Only modalities the model uses count as missing (the pyfunc reports those).
    for m in sorted(set(model_missing)):
        used = [k for k, v in completeness.items() if v > 0 and k != m]
        out.append(BoardWarning(code="modality_missing", message=(
            f"No {m} data: the model fills its {m} features with the training medians and "
            f"flags them as missing, so the estimate rests on {', '.join(used) or 'no'} data "
            "only and is less certain than the interval shows.")))
    for m, frac in completeness.items():
        if 0 < frac < 0.5:
            out.append(BoardWarning(code="low_completeness", message=(
                f"Only {frac:.0%} of the {m} features the model uses were given; the model "
                "fills the rest with training medians.")))
    return out


def follow_up_warnings(follow_up: dict[str, float],
                       months: tuple[float, ...] = CURVE_MONTHS) -> list[BoardWarning]:
    """A warning per end point whose curve stops before ``months`` end: survival past the
    model's training follow-up is null, not extrapolated (``Bundle.follow_up``)."""
    out = []
    for end, limit in sorted(follow_up.items()):
        if max(months) > limit:
            out.append(BoardWarning(code="beyond_follow_up", message=(
                f"{end.upper()} is not estimated past {limit:.0f} months: the training "
                "follow-up ends there, so the curve and median stop at it.")))
    return out


def settings_warnings(problems: list[str]) -> list[BoardWarning]:
    """Board warnings for radiomics computed differently from training
    (:func:`icipredict.predict.radiomics.model_radiomics`)."""
    return [BoardWarning(code="radiomics_settings_mismatch", message=m) for m in problems]
