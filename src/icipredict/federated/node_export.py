"""A centre's answers for the registry model: Platt sums, its Breslow baseline, coarse ranges.

After the fits converge, the coordinator asks each centre (request ``export``; see
:mod:`.export`) for what a registry bundle needs beyond the coefficients:

- ``platt``: the log-loss, gradient and 2 x 2 Hessian of a logistic fit of the label on the
  logit (a boosted model: its margin) of the centre's held-out (leave-one-centre-out) model:
  exact federated Platt scaling;
- ``baseline``: the centre's Breslow baseline cumulative hazard of the stratified Cox model on
  the protocol's monthly grid :data:`GRID_MONTHS`, cut (sent as null) from the first month
  where fewer than ``min_count`` of its patients are still at risk, and the counts of its
  risk scores below fixed edges (tails suppressed), for the board's risk tertiles (scored by
  the ``held_out`` model fitted without this centre, when the request names one);
- ``ranges``: per feature, how many values lie below each of 65 coordinator edges (tails
  suppressed): the coarse training range that clips the registry model's inputs.

Every answer is a sum or a count over the centre's rows (never a row, an ID or a per-patient
vector); the grid is fixed here, not by the request, so a coordinator cannot ask for a grid
fine enough to time single events.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from icipredict.federated import local

#: Months at which a centre reports its baseline cumulative hazard (1 to 120: ten years).
GRID_MONTHS = np.arange(1.0, 121.0)


def _logit(Z: np.ndarray, fit: dict[str, Any]) -> np.ndarray:
    beta = np.asarray(fit["beta"], float)
    return beta[0] + Z @ beta[1:]


def _standardised(design: dict[str, np.ndarray], fit: dict[str, Any]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    from icipredict.federated.node import design_rows

    X, y, e = design_rows(design, fit)
    return (X - np.asarray(fit["mean"])) / np.asarray(fit["scale"]), y, e


def platt_sums(design: dict[str, np.ndarray], fit: dict[str, Any]) -> dict[str, Any]:
    """Sums of the Platt fit ``y ~ a + b * logit`` at ``fit["platt"]`` (= ``[a, b]``); the
    logit of a boosted fit is its booster's margin on the fit's grid."""
    if fit["kind"] == "xgboost":
        from icipredict.federated.boosting import margin
        from icipredict.federated.node import design_rows

        X, y, _ = design_rows(design, fit)
        logit = margin(fit["model"], X, fit["grid"])
    else:
        Z, y, _ = _standardised(design, fit)
        logit = _logit(Z, fit)
    obj, g, H = local.logistic_sums(logit[:, None], y, np.asarray(fit["platt"], float))
    return {"objective": obj, "gradient": g, "hessian": H}


def breslow(time: np.ndarray, event: np.ndarray, lp: np.ndarray, grid: np.ndarray,
            min_count: int) -> list[float | None]:
    """Breslow cumulative baseline hazard at ``grid`` (lifelines' estimator for one stratum:
    events at ``t`` over the summed ``exp(lp)`` of everyone with follow-up >= ``t``); None from
    the first grid point with fewer than ``min_count`` patients at risk."""
    event = event.astype(bool)
    times = np.unique(time[event])
    order = np.sort(time)
    risk = np.exp(lp)
    by_time = np.argsort(-time, kind="stable")
    cum = np.cumsum(risk[by_time])  # cum[k]: summed risk of the k+1 longest follow-ups
    at_or_after = len(time) - np.searchsorted(order, times, side="left")
    deaths = np.array([np.sum(event & (time == t)) for t in times], dtype=float)
    hazard = deaths / cum[at_or_after - 1] if len(times) else np.zeros(0)
    H = np.concatenate([[0.0], np.cumsum(hazard)])[np.searchsorted(times, grid, side="right")]
    at_risk = len(time) - np.searchsorted(order, grid, side="left")
    supported = np.cumprod(at_risk >= min_count).astype(bool)
    return [float(h) if ok else None for h, ok in zip(H, supported, strict=True)]


def baseline(design: dict[str, np.ndarray], fit: dict[str, Any], min_count: int
             ) -> dict[str, Any]:
    """A centre's baseline on :data:`GRID_MONTHS`, its row count and risk-score counts."""
    Z, t, e = _standardised(design, fit)
    assert e is not None  # a Cox fit's target is a survival one
    lp = Z @ np.asarray(fit["beta"], float)
    out: dict[str, Any] = {"n": len(t), "cumhaz": breslow(t, e, lp, GRID_MONTHS, min_count)}
    if fit.get("risk_edges") is not None:
        held = fit.get("held_out")  # the model fitted without this centre scores its patients
        score = lp if held is None else (
            _standardised(design, held)[0] @ np.asarray(held["beta"], float))
        out["risk_below"] = local.cumulative_counts(score[:, None], [fit["risk_edges"]],
                                                    min_count)[0]
    return out


def ranges(design: dict[str, np.ndarray], req: dict[str, Any], min_count: int
           ) -> dict[str, Any]:
    """Counts of each builder-output column's observed values below its edges."""
    X = design["X"][:, req["columns"]]
    n = (~np.isnan(X)).sum(axis=0).astype(float)
    below = local.cumulative_counts(X, req["edges"], min_count)
    small = n < min_count  # a column seen in few patients shares nothing
    return {"names": req["names"], "n": np.where(small, 0.0, n),
            "below": [np.zeros_like(b) if s else b for b, s in zip(below, small, strict=True)]}


def answer(design: dict[str, np.ndarray], req: dict[str, Any], min_count: int
           ) -> dict[str, Any]:
    """The ``export`` reply: whichever of ``platt``, ``baseline`` and ``ranges`` was asked."""
    out: dict[str, Any] = {}
    if req.get("platt"):
        out["platt"] = {name: platt_sums(design, fit) for name, fit in req["platt"].items()}
    if req.get("baseline"):
        out["baseline"] = {name: baseline(design, fit, min_count)
                           for name, fit in req["baseline"].items()}
    if req.get("ranges"):
        out["ranges"] = ranges(design, req["ranges"], min_count)
    return out
