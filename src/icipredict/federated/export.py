"""The registry stage of a federated run (coordinator side): Platt scaling, baselines, ranges.

Once every fit has converged, ``export`` rounds (answered by :mod:`.node_export`) give what a
registry bundle needs beyond the coefficients:

- **Platt scaling**, exact: a logistic fit of the label on the logit of each centre's
  leave-one-centre-out model (held-out logits, as ``CalibratedClassifierCV(ensemble=False)``
  with centres as folds; a boosted model's margin), by the same lockstep Newton rounds as the fits
  (:func:`.newton.logistic_fit`, unpenalised). The full model's logit through that map is the
  calibrated model: still one logistic regression, ``coef * b`` and ``a + b * intercept``
  (a boosted model keeps ``a`` and ``b`` beside its booster: :mod:`icipredict.modeling.grid_booster`).
  With fewer than two held-out models it falls back to the full model's own (in-sample) logits
  and says so.
- **Baselines** of each stratified Cox model: every centre's Breslow cumulative hazard on the
  monthly grid (cut where fewer than ``min_count`` of its patients are at risk). A patient of
  any centre, known or new, gets their **patient-weighted mixture** ``sum_c (n_c / n) H_c(t)``,
  defined up to the last month every centre supports: that month is the model's follow-up
  limit (survival past it is null). Risk tertiles come from the centres' counts of risk scores
  below fixed edges (interpolated within a bin), each centre's patients scored by the model
  fitted without that centre (held-out scores, as a pooled run's out-of-fold tertiles).
- **Ranges**: per feature, the coarse training range from counts below 65 edges over
  ``mean +- 8 SD`` (values shared by fewer than ``min_count`` patients of a centre are not
  seen), used to clip the registry model's inputs as a pooled model's min/max are.

The first round carries the baselines, the ranges and the evaluation of every fit (the
leave-one-centre-out pair counts) with the first Platt step: the stage adds one round per
Platt Newton step (from the identity map; four on the 600-patient demo network).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from icipredict.federated.boosting import BoostResult
from icipredict.federated.newton import logistic_fit, run_lockstep
from icipredict.federated.node_export import GRID_MONTHS
from icipredict.federated.statistics import BINS

if TYPE_CHECKING:
    from icipredict.federated.fitting import FitDriver

#: Range edges span mean +- this many SDs; risk-score edges +- this many times ||beta||.
RANGE_SPAN = 8.0
RISK_SPAN = 4.0
RISK_SOURCE_HELD_OUT = ("held-out risk scores of the training patients (each centre's scored by "
                        "the model fitted without it), from the centres' counts below fixed "
                        "edges (federated)")
RISK_SOURCE_IN_SAMPLE = ("in-sample risk scores of the training patients (fewer than two "
                         "leave-one-centre-out models), from the centres' counts below fixed "
                         "edges (federated)")


def _platt_plan(driver: FitDriver, name: str) -> tuple[dict[str, str], str]:
    """Centre -> the fit whose logit it scores for the Platt step, and what those logits are."""
    members = driver.fits[f"{name}|full"]["members"]
    held = {c: f"{name}|loco|{c}" for c in members if f"{name}|loco|{c}" in driver.results}
    if len(held) >= 2:
        return held, "leave-one-centre-out logits (each centre scored by the model fitted " \
                     "without it)"
    return {c: f"{name}|full" for c in members}, "in-sample logits of the full model " \
        "(fewer than two leave-one-centre-out models)"


def _first_round(driver: FitDriver, models: dict[str, Any]
                 ) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray], dict[str, str]]:
    """Per centre: the baseline and range requests (sent with the first Platt step); the
    risk-score edges of each Cox model and which scores its tertiles come from."""
    extra: dict[str, dict[str, Any]] = {c: {} for c in driver.centres}
    columns: dict[str, tuple[int, float, float]] = {}
    risk_edges = {}
    risk_sources: dict[str, str] = {}
    for name, model in models.items():
        fname = f"{name}|full"
        cfg = driver.fits[fname]
        plan = driver.plans[name][1]
        for j, col in enumerate(plan["names"]):
            columns.setdefault(col, (plan["columns"][j], cfg["mean"][j], cfg["scale"][j]))
        if model["kind"] != "cox":
            continue
        beta = driver.results[fname].beta
        span = RISK_SPAN * max(float(np.linalg.norm(beta)), 1e-6)
        risk_edges[name] = np.linspace(-span, span, BINS + 1)
        fit = {**driver._node_fit(fname, beta), "risk_edges": risk_edges[name]}
        held = {c: f"{name}|loco|{c}" for c in cfg["members"]}
        # tertiles of held-out scores, as a pooled run's out-of-fold ones: every centre scores
        # its patients with the model fitted without it (else all with the full model)
        out_of_centre = len(held) >= 2 and all(f in driver.results for f in held.values())
        for c in cfg["members"]:
            extra[c].setdefault("baseline", {})[name] = fit if not out_of_centre else {
                **fit, "held_out": driver._node_fit(held[c], driver.results[held[c]].beta)}
        risk_sources[name] = (RISK_SOURCE_HELD_OUT if out_of_centre else RISK_SOURCE_IN_SAMPLE)
    names = sorted(columns)
    ranges = {"names": names, "columns": [columns[c][0] for c in names],
              "edges": [columns[c][1] + columns[c][2] * np.linspace(-RANGE_SPAN, RANGE_SPAN,
                                                                    BINS + 1) for c in names]}
    for c in driver.centres:
        extra[c]["ranges"] = ranges
    return extra, risk_edges, risk_sources


def complete(driver: FitDriver, models: dict[str, Any],
             evaluation: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the stage; add ``platt``/``calibrated`` (logistic) and ``baseline`` (Cox) to each
    model of ``models`` in place. The first round also carries ``evaluation`` (per centre,
    its ``evaluate`` request: a round saved).

    Returns
    -------
    (registry, evaluated)
        ``feature_ranges`` (column -> ``[low, high]``, None where unbounded), ``observed``
        (column -> values seen) and ``risk_groups`` (tertile cut-points of the risk score);
        and per centre its answer to ``evaluation``.
    """
    plans = {name: _platt_plan(driver, name) for name, m in models.items()
             if m["kind"] in ("logistic", "xgboost")}
    extra, risk_edges, risk_sources = _first_round(driver, models)
    for c, req in evaluation.items():
        if req["fits"]:
            extra[c]["fits"] = req["fits"]
    pending = [extra]
    first: dict[str, dict[str, Any]] = {}

    def evaluate(betas: dict[str, np.ndarray]) -> dict[str, Any]:
        requests: dict[str, dict[str, Any]] = {c: {} for c in driver.centres}
        if pending:
            requests = pending.pop()
        for name, b in betas.items():
            for c, fname in plans[name][0].items():
                fit = driver._node_fit(fname, _fitted(driver.results[fname]))
                requests[c].setdefault("platt", {})[name] = {**fit, "platt": b}
        replies = driver.coord._round("export", {c: {**driver.base, **r}
                                                 for c, r in requests.items() if r})
        if not first:
            first.update(replies)
        return {name: _summed([replies[c]["platt"][name] for c in plans[name][0]])
                for name in betas}

    identity = np.array([0.0, 1.0])  # a calibrated model's own map: few Newton steps from it
    fits, _ = run_lockstep({name: logistic_fit(1, penalty="none", start=identity)
                            for name in plans}, evaluate)
    if pending:  # no logistic model: the baselines and ranges still need their round
        evaluate({})
    for name, res in fits.items():
        a, b = (float(v) for v in res.beta)
        m = models[name]
        m["platt"] = {"intercept": a, "slope": b, "logits": plans[name][1],
                      "centres": sorted(plans[name][0]), "iterations": res.iterations}
        if m["kind"] == "xgboost":  # the registry model applies a + b * margin itself
            continue
        m["calibrated"] = {"coef": b * np.asarray(m["coef"], float),
                           "intercept": a + b * float(m["intercept"])}
    out: dict[str, Any] = {"risk_groups": None}
    for name, edges in risk_edges.items():
        members = driver.fits[f"{name}|full"]["members"]
        models[name]["baseline"], cuts = _baseline({c: first[c]["baseline"][name]
                                                    for c in members}, edges)
        if out["risk_groups"] is None or name == "os":
            out["risk_groups"] = {"endpoint": name, "cut_points": cuts,
                                  "source": risk_sources[name]}
    out.update(_ranges(first, extra[driver.centres[0]]["ranges"]["edges"]))
    return out, {c: {"fits": r.get("fits", {})} for c, r in first.items()}


def _fitted(res: Any) -> Any:
    """What a node needs of a converged fit: coefficients, or a boosted fit's booster."""
    return res.model if isinstance(res, BoostResult) else res.beta


def _summed(parts: list[dict[str, Any]]) -> tuple[float, np.ndarray, np.ndarray]:
    return (float(sum(p["objective"] for p in parts)),
            np.sum([p["gradient"] for p in parts], axis=0),
            np.sum([p["hessian"] for p in parts], axis=0))


def _baseline(replies: dict[str, dict[str, Any]], edges: np.ndarray
              ) -> tuple[dict[str, Any], list[float]]:
    """The patient-weighted mixture of the centres' baselines, and risk tertile cut-points."""
    supported = {c: [h for h in r["cumhaz"] if h is not None] for c, r in replies.items()}
    k = min(len(v) for v in supported.values())
    n = {c: float(r["n"]) for c, r in replies.items()}
    total = sum(n.values())
    mixture = sum(n[c] / total * np.asarray(v[:k], float) for c, v in supported.items())
    grid = GRID_MONTHS[:k]
    baseline: dict[str, Any] = {
        "grid_months": grid, "cumhaz": np.asarray(mixture, float) if k else [],
        "follow_up_months": float(grid[-1]) if k else None,
        "weights": {c: n[c] / total for c in n},
        "per_centre": {c: {"n": n[c], "cumhaz": v} for c, v in supported.items()},
        "rule": "patient-weighted mixture of the centres' Breslow baselines, up to the last month "
                "every centre has >= min_count patients at risk"}
    below = np.sum([np.asarray(r["risk_below"], float) for r in replies.values()], axis=0)
    return baseline, _quantiles(edges, below, total, (1 / 3, 2 / 3))


def _quantiles(edges: np.ndarray, below: np.ndarray, total: float,
               probs: tuple[float, ...]) -> list[float]:
    """Quantiles from counts below edges (linear within a bin); [] when a tail hides one."""
    out = []
    for q in probs:
        rank = q * total
        k = int(np.searchsorted(below, rank, side="left"))
        if not 0 < k < len(below) or below[k] == below[k - 1]:
            return []
        share = (rank - below[k - 1]) / (below[k] - below[k - 1])
        out.append(float(edges[k - 1] + share * (edges[k] - edges[k - 1])))
    return out


def _ranges(replies: dict[str, dict[str, Any]], edges: list[np.ndarray]) -> dict[str, Any]:
    """Column -> coarse ``[low, high]`` from the centres' counts below the range edges."""
    first = next(iter(replies.values()))["ranges"]
    names = first["names"]
    n = np.sum([np.asarray(r["ranges"]["n"], float) for r in replies.values()], axis=0)
    ranges: dict[str, list[float | None]] = {}
    for j, col in enumerate(names):
        below = np.sum([np.asarray(r["ranges"]["below"][j], float)
                        for r in replies.values()], axis=0)
        if n[j] == 0:
            continue
        e = np.asarray(edges[j], float)
        empty = np.flatnonzero(below == 0)
        full = np.flatnonzero(below >= n[j])
        ranges[col] = [float(e[empty[-1]]) if empty.size else None,
                       float(e[full[0]]) if full.size else None]
    return {"feature_ranges": ranges, "observed": dict(zip(names, n.tolist(), strict=True))}
