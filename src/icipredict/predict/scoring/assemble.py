"""One model output row read for the board: the response wording, risk group, survival curves
and the assembled :class:`~icipredict.predict.scoring.result.BoardScore`."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from icipredict._util import finite_float as _f
from icipredict.predict.explain import top_reasons
from icipredict.predict.record import PatientRecord
from icipredict.predict.scoring.board_warnings import (
    _missing_list,
    domain_warnings,
    follow_up_warnings,
    modality_warnings,
)
from icipredict.predict.scoring.loader import BoardModel
from icipredict.predict.scoring.result import (
    CURVE_MONTHS,
    BoardScore,
    ResponseEstimate,
    RiskGroup,
    SurvivalEstimate,
    SurvivalPoint,
)


def response_meaning(p: float | None, low: float | None, high: float | None) -> tuple[int | None,
                                                                                     str]:
    """"Estimated chance of response 49% (95% interval 33-66%)" from a probability and its CI.

    The interval is a confidence interval for the *rate* of patients scored alike, not a range
    of responders among 100 such patients (that predictive range would be wider), so the text
    states a chance with its interval rather than a count.
    """
    if p is None:
        return None, "No response estimate could be made."
    n = int(round(100 * p))
    text = f"Estimated chance of response {n}%"
    if low is not None and high is not None:
        text += f" (95% interval {int(round(100 * low))}\u2013{int(round(100 * high))}%)"
    return n, text + "."


def risk_group(score: float | None, risk_groups: dict[str, Any]) -> RiskGroup:
    """Place a risk score in the training tertiles (``risk_groups.json``).

    The rule is the registry model's: low when ``risk < cut_points[0]``, high when
    ``risk >= cut_points[1]``, intermediate between.
    """
    cuts = risk_groups.get("cut_points") or []
    cuts = sorted(float(c) for c in cuts)
    labels = risk_groups.get("labels") or ["low", "intermediate", "high"]
    endpoint = risk_groups.get("endpoint")
    if score is None or len(cuts) != len(labels) - 1:
        return RiskGroup(score=score, group=None, cutpoints=cuts, endpoint=endpoint)
    group = labels[int(np.searchsorted(cuts, score, side="right"))]
    return RiskGroup(score=score, group=group, cutpoints=cuts, endpoint=endpoint)


def _horizon_col(prefix: str, h: float) -> str:
    return f"{prefix}_survival_{float(h):g}m"


def survival_estimate(row: pd.Series, prefix: str, months: tuple[float, ...]) -> SurvivalEstimate:
    """Curve, median and landmark survival of OS (``prefix="os"``) or PFS from one output row."""
    points = [SurvivalPoint(month=0.0, survival=1.0, ci_low=1.0, ci_high=1.0)]
    for h in months:
        col = _horizon_col(prefix, h)
        if col not in row.index:
            continue
        points.append(SurvivalPoint(month=float(h), survival=_f(row[col]),
                                    ci_low=_f(row.get(f"{col}_ci_low")),
                                    ci_high=_f(row.get(f"{col}_ci_high"))))
    median = _f(row.get(f"median_{prefix}_months"))
    by_month = {p.month: p for p in points}
    if len(points) == 1:
        points = []
    return SurvivalEstimate(curve=points, median_months=median, median_reached=median is not None,
                            at_12m=by_month.get(12.0), at_24m=by_month.get(24.0))


def board_score(record: PatientRecord, frame_row: pd.Series, out_row: pd.Series,
                model: BoardModel, *, top_k: int = 5) -> BoardScore:
    """Assemble a :class:`BoardScore` from one record, its model input row and output row."""
    p = _f(out_row.get("response_probability"))
    lo, hi = _f(out_row.get("response_ci_low")), _f(out_row.get("response_ci_high"))
    per_100, meaning = response_meaning(p, lo, hi)
    model_missing = _missing_list(out_row.get("missing_modalities"))
    measure = getattr(model, "completeness", None)  # stand-ins may not measure it
    completeness = measure(frame_row) if measure is not None else None
    if completeness is None:  # a model without our builder: the record's own fields
        completeness = record.completeness()
    warnings = domain_warnings(record, frame_row, model.domain)
    warnings += modality_warnings(completeness, model_missing)
    bundle = getattr(model, "bundle", None)
    warnings += follow_up_warnings(bundle.follow_up if bundle is not None else {})
    return BoardScore(
        patient_id=record.patient_id,
        cancer_type=record.cancer_type,
        drug_class=record.resolved_drug_class(),
        response=ResponseEstimate(probability=p, ci_low=lo, ci_high=hi, per_100=per_100,
                                  meaning=meaning),
        os=survival_estimate(out_row, "os", CURVE_MONTHS),
        pfs=survival_estimate(out_row, "pfs", CURVE_MONTHS),
        risk=risk_group(_f(out_row.get("risk_score")), model.risk_groups),
        reasons=top_reasons(out_row, frame_row, k=top_k),
        warnings=warnings,
        completeness={k: round(v, 3) for k, v in completeness.items()},
        missing_modalities=sorted(set(model_missing)),
        model=model.info,
        scored_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
