"""Reasons for a score: the largest per-feature contributions, in words the board reads.

The registry model returns ``contrib_<feature>`` columns when asked with ``explain=True``
(coefficient x value for linear models, xgboost ``pred_contribs`` for trees, on the log-odds scale
of response). Here they are ranked by size and phrased with the feature registry's label and unit
("No prior systemic therapy — raises the chance of response"). A feature the patient did not
give (imputed with the training median) is never a reason: it belongs to data completeness.
Nothing is recomputed: the model is the only source of contributions.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from pydantic import BaseModel

from icipredict.features import registry

CONTRIB_PREFIX = "contrib_"
#: Prefix of the builder's per-modality missing-data indicators.
MISSING_PREFIX = registry.MISSING_PREFIX
#: Contributions that are not features (the model's baseline/intercept).
BASELINE_NAMES = frozenset({"bias", "intercept", "baseline", "base_value", "expected_value"})


class Reason(BaseModel):
    """One feature's contribution to the response estimate."""

    feature: str
    label: str
    value: float | str | None = None
    unit: str | None = None
    contribution: float
    direction: str  # "raises" or "lowers" the chance of response
    text: str
    #: The technical name behind the label (e.g. the radiomics engine's feature name).
    tooltip: str | None = None


def feature_label(feature: str) -> str:
    """The registry's display label of a model feature (``mut_STK11`` -> ``STK11 mutation``)."""
    if feature.startswith(MISSING_PREFIX):
        return registry.indicator_label(feature, given=False)
    try:
        entry, level = registry.resolve(feature)
    except KeyError:
        return feature.replace("_", " ")
    return entry.label if level is None else f"{entry.label}: {(entry.level_name or str)(level)}"


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


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _reason(feature: str, c: float, out_row: pd.Series, frame: pd.DataFrame | None
            ) -> Reason | None:
    """One contribution in words; None when the patient did not give the feature."""
    direction = "raises" if c > 0 else "lowers"
    if feature.startswith(MISSING_PREFIX):
        # A modality indicator: its value is the model's own missing_modalities output.
        modality = feature[len(MISSING_PREFIX):]
        absent = modality in _modalities(out_row.get("missing_modalities"))
        label = registry.indicator_label(feature, given=not absent)
        return Reason(feature=feature, label=label, value=float(absent), contribution=c,
                      direction=direction, text=f"{label} — {direction} the chance of response")
    try:
        entry, level = registry.resolve(feature)
    except KeyError:
        entry, level = registry.Feature(feature, "clinical", feature.replace("_", " ")), None
    if frame is None:  # no input row: the label alone
        label = feature_label(feature)
        return Reason(feature=feature, label=label, contribution=c, direction=direction,
                      tooltip=entry.tooltip, text=f"{label} — {direction} the chance of response")
    value = entry.values(frame)[0]
    if not _given(value):
        return None  # imputed: a completeness matter, not a reason
    value = value if isinstance(value, str) else float(value)
    phrase = entry.phrase(value, level)
    return Reason(feature=feature, label=entry.label, value=value, unit=entry.unit,
                  contribution=c, direction=direction, tooltip=entry.tooltip,
                  text=f"{phrase} — {direction} the chance of response")


def top_reasons(out_row: pd.Series, frame_row: pd.Series | None = None, *, k: int = 5,
                min_abs: float = 1e-9) -> list[Reason]:
    """The ``k`` largest contributions (by absolute size) of features the patient gave.

    Parameters
    ----------
    out_row
        One row of the registry model's output with ``contrib_<feature>`` entries.
    frame_row
        The patient's input row (canonical columns): the value behind each reason is derived
        from it as the builder derives it (NLR from counts, OncoTree codes, ...). Features it
        does not give were imputed and are skipped.
    k
        Number of reasons.
    min_abs
        Contributions smaller than this are not reasons.

    Returns
    -------
    list of Reason
        Largest first; empty when the model gave no contributions.
    """
    ranked = sorted(contributions(out_row).items(), key=lambda kv: -abs(kv[1]))
    frame = frame_row.to_frame().T if frame_row is not None else None
    reasons: list[Reason] = []
    for feature, c in ranked:
        if len(reasons) >= k or abs(c) < min_abs:
            break
        reason = _reason(feature, c, out_row, frame)
        if reason is not None:
            reasons.append(reason)
    return reasons
