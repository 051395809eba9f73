"""Local recalibration maps fitted on a centre's own patients (predictions + outcomes).

- **Response**: logistic recalibration, ``logit p' = a + b logit p`` (Cox 1958; Steyerberg,
  *Clinical Prediction Models*, ch. 15): ``a`` and ``b`` by unpenalised maximum likelihood. A
  monotone map (``b > 0``): the ranking, hence the AUC, is unchanged.
- **Survival**: a calibration slope on the Cox linear predictor, ``lp' = b lp`` (a Cox model of
  the local outcome on ``lp`` alone; lifelines). The baseline hazard is kept; the slope shrinks
  (``b < 1``) or stretches the spread of the predicted curves around the baseline. Chosen over
  re-estimating the baseline hazard because it needs only the linear predictor and keeps the
  training baseline's time grid; the ranking (C-index) is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logit

from icipredict.cohort.schema import CohortError

_EPS = 1e-6


def fit_response_recalibration(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Intercept and slope of ``logit p' = a + b logit p`` on patients with a label.

    Parameters
    ----------
    y
        0/1 responder labels (NaN = unknown, left out).
    p
        The model's probabilities for the same patients (NaN left out).

    Returns
    -------
    dict
        ``{"intercept": a, "slope": b, "n": patients used, "events": responders}``.

    Raises
    ------
    CohortError
        Fewer than 20 usable patients or fewer than 5 of either class, or a slope <= 0 (the
        map would reverse the ranking: the model does not discriminate here).
    """
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok].astype(int), p[ok]
    events = int(y.sum())
    if len(y) < 20 or min(events, len(y) - events) < 5:
        raise CohortError(f"recalibration needs >= 20 patients with a response and >= 5 of each "
                          f"class; got {len(y)} ({events} responders)", column="responder")
    z = logit(np.clip(p, _EPS, 1 - _EPS)).reshape(-1, 1)
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(z, y)
    slope, intercept = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    if slope <= 0:
        raise CohortError(f"recalibration slope {slope:.3f} <= 0: the model does not rank "
                          "these patients; recalibration cannot fix that", column="responder")
    return {"intercept": intercept, "slope": slope, "n": int(len(y)), "events": events}


def apply_response_recalibration(p: np.ndarray, recal: dict[str, Any]) -> np.ndarray:
    """``expit(a + b logit p)`` (NaN stays NaN)."""
    from scipy.special import expit

    z = logit(np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS))
    return expit(recal["intercept"] + recal["slope"] * z)


def fit_survival_slope(time: np.ndarray, event: np.ndarray, lp: np.ndarray) -> dict[str, Any]:
    """Calibration slope of a Cox linear predictor on local outcomes (lifelines).

    Returns
    -------
    dict
        ``{"slope": b, "ci_low", "ci_high", "n", "events"}``.

    Raises
    ------
    CohortError
        Fewer than 10 events, or a slope <= 0.
    """
    import pandas as pd
    from lifelines import CoxPHFitter

    t, e, x = (np.asarray(v, dtype=float) for v in (time, event, lp))
    ok = np.isfinite(t) & np.isfinite(e) & np.isfinite(x) & (t > 0)
    if e[ok].sum() < 10:
        raise CohortError(f"survival recalibration needs >= 10 events; got {int(e[ok].sum())}",
                          column="os_event")
    df = pd.DataFrame({"t": t[ok], "e": e[ok], "lp": x[ok]})
    cph = CoxPHFitter().fit(df, "t", "e")
    slope = float(cph.params_["lp"])
    if slope <= 0:
        raise CohortError(f"survival calibration slope {slope:.3f} <= 0: the risk score does "
                          "not rank these patients", column="os_event")
    ci = cph.confidence_intervals_.loc["lp"].to_numpy(dtype=float)
    return {"slope": slope, "ci_low": float(ci[0]), "ci_high": float(ci[1]),
            "n": int(ok.sum()), "events": int(e[ok].sum())}


__all__ = ["apply_response_recalibration", "fit_response_recalibration", "fit_survival_slope"]
