"""A Cox model given by its estimates, for fits no estimator object holds (federated training).

A federated fit (:mod:`icipredict.federated`) ends with coefficients, centring means and a
baseline cumulative hazard, not with a lifelines fitter. :class:`CoxEstimates` holds exactly
those, so the registry writes and reads it (codec ``cox_estimates``) as it does a fitted
:class:`~icipredict.modeling.survival.CoxPHSurvival`'s estimates, and the registry's Cox member
predicts from it: log partial hazard ``(x - mean) . coef`` (missing inputs take ``impute``),
``S(t | x) = exp(-H0(t) exp(lp))`` with ``H0`` linear between ``baseline_times``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CoxEstimates:
    """Estimates of a Cox model (see module doc).

    Attributes
    ----------
    features
        The feature builder's columns the model reads.
    coef, mean, impute
        Per feature: coefficient (per unit of the column), centring mean, value for a missing
        input.
    baseline_times, baseline_cumhaz
        Baseline cumulative hazard ``H0`` at increasing times (months), starting at 0.
    follow_up_
        Months the baseline speaks to: survival past it is null (the registry's rule).
    details
        JSON-safe description kept in the bundle (how the baseline was built, per-centre
        baselines, ...).
    """

    features: list[str]
    coef: list[float]
    mean: list[float]
    impute: list[float]
    baseline_times: list[float]
    baseline_cumhaz: list[float]
    follow_up_: float
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d = len(self.features)
        if not len(self.coef) == len(self.mean) == len(self.impute) == d:
            raise ValueError(f"CoxEstimates: {d} features need as many coef, mean, impute")
        if len(self.baseline_times) != len(self.baseline_cumhaz) or not self.baseline_times:
            raise ValueError("CoxEstimates: baseline_times and baseline_cumhaz must have one "
                             "(same) non-zero length")
