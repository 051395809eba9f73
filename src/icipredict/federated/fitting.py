"""The model stage of a federated run: standardisation, lockstep Newton fits, evaluation.

Each model is fitted once on every centre ("full") and once per centre on the others
("loco|<centre>": train on five, evaluate on the sixth). Inputs are standardised with the
pooled mean and SD of the fit's own rows (scikit-learn's ``StandardScaler`` for logistic
regression, lifelines' sample SD for Cox), so the coefficients equal the pooled fit's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from icipredict.federated.boosting import BoostResult
from icipredict.federated.boosting_fit import (
    BoostingStart,
    boosting_request,
    describe_boosting,
    trainers,
)
from icipredict.federated.builder_state import builder_from_state
from icipredict.federated.evaluation import pooled_index
from icipredict.federated.newton import cox_fit, logistic_fit, run_lockstep
from icipredict.federated.protocol import FederationError

if TYPE_CHECKING:
    from icipredict.federated.coordinator import Coordinator, FederatedModel


def _design_plan(model: FederatedModel, names: list[str], state: dict[str, Any],
                 spec: Any) -> dict[str, Any]:
    """Columns of the builder output a model uses and the value filling their missing cells."""
    wanted = names if model.kind == "cox" or not model.features else [
        c for c in model.features if c in names]
    if not wanted:
        raise FederationError(f"model {model.name}: none of its features is built")
    fill = []
    for c in wanted:
        med = state.get("raw_medians", {}).get(c, 0.0)
        if spec.scaling == "standard" and state.get("means", {}).get(c) is not None:
            med = (med - state["means"][c]) / state["scales"][c]
        fill.append(float(med) if spec.imputation != "median" else 0.0)
    return {"kind": model.kind, "target": model.target,
            "columns": [names.index(c) for c in wanted], "names": wanted,
            "fill": None if model.kind == "xgboost" else fill}


class FitDriver:
    """Runs the model stage for a :class:`~icipredict.federated.coordinator.Coordinator`."""

    def __init__(self, coord: Coordinator, centres: list[str], state: dict[str, Any]) -> None:
        self.coord, self.centres, self.state = coord, centres, state
        self.base = {"spec": coord.spec.model_dump(mode="json"), "state": state}
        names = builder_from_state(coord.spec, state).feature_names_out_
        self.plans = {m.name: (m, _design_plan(m, names, state, coord.spec))
                      for m in coord.models}
        self.fits: dict[str, dict[str, Any]] = {}  # fit name -> config sent to nodes
        self.results: dict[str, Any] = {}  # fit name -> converged fit (FitResult, BoostResult)

    def run(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Fit every model (full and leave-one-centre-out).

        Returns
        -------
        (models, evaluation)
            Each model's description, and per centre the ``evaluate`` request of its fits
            (not sent: the first ``export`` round carries it; read the replies with
            :meth:`scores`).
        """
        moments = self.coord._round("fit_moments", {c: {**self.base, "fits": {
            n: {k: v for k, v in p.items() if k != "names"} for n, (_, p) in self.plans.items()}}
            for c in self.centres})
        gens: dict[str, Any] = {}
        oks = {name: [c for c in self.centres if "skipped" not in moments[c]["fits"][name]]
               for name in self.plans}
        boosting = BoostingStart(self, moments, oks)
        for name, (model, plan) in self.plans.items():
            ok = oks[name]
            variants = {"full": ok} | {f"loco|{c}": [o for o in ok if o != c] for c in ok}
            for variant, members in variants.items():
                if len(members) < 1:
                    continue
                fname = f"{name}|{variant}"
                if model.kind == "xgboost":
                    cfg, gen = boosting.start(model, plan, members)
                else:
                    cfg, gen = self._start(model, plan,
                                           [moments[c]["fits"][name] for c in members])
                self.fits[fname] = {**cfg, "members": members}
                gens[fname] = gen
        self.results, _ = run_lockstep(gens, self._evaluate_sums)
        models = {name: self._describe(model, plan, f"{name}|full", self.results[f"{name}|full"])
                  for name, (model, plan) in self.plans.items()
                  if f"{name}|full" in self.results}
        return models, self._evaluation(self.results)

    def _start(self, model: FederatedModel, plan: dict[str, Any], parts: list[dict[str, Any]]
               ) -> tuple[dict[str, Any], Any]:
        n = float(sum(p["n"] for p in parts))
        pos = float(sum(p["positives"] for p in parts))
        s = np.sum([p["sum"] for p in parts], axis=0)
        ss = np.sum([p["sumsq"] for p in parts], axis=0)
        mean = s / n
        var = np.maximum(ss / n - mean ** 2, 0.0)
        if model.kind == "cox":
            var = var * n / max(n - 1, 1)  # lifelines: sample SD
        scale = np.where(var > 0, np.sqrt(var), 1.0)
        d = len(plan["columns"])
        cfg = {"kind": model.kind, "target": model.target, "columns": plan["columns"],
               "fill": plan["fill"], "mean": mean, "scale": scale, "n": n, "positives": pos}
        if model.kind == "logistic":
            cfg["weights"] = ([n / (2 * (n - pos)), n / (2 * pos)] if model.balanced
                              else [1.0, 1.0])
            return cfg, logistic_fit(d, penalty=model.penalty, C=model.C)
        return cfg, cox_fit(d, n_total=int(n), penalizer=model.penalizer)

    def _node_fit(self, fname: str, beta: Any, centre: str = "") -> dict[str, Any]:
        cfg = self.fits[fname]
        if cfg["kind"] == "xgboost":
            return boosting_request(cfg, beta, centre)
        return {k: cfg[k] for k in ("kind", "target", "columns", "fill", "mean", "scale")} | {
            "weights": cfg.get("weights"), "beta": beta}

    def _senders(self, fname: str) -> list[str]:
        """The centres that answer a fit's step (a cyclic boosting fit: the one whose turn)."""
        cfg = self.fits[fname]
        return trainers(cfg) if cfg["kind"] == "xgboost" else cfg["members"]

    def _evaluate_sums(self, betas: dict[str, np.ndarray]) -> dict[str, Any]:
        senders = {f: self._senders(f) for f in betas}
        requests = {c: {**self.base, "fits": {f: self._node_fit(f, b, c)
                                              for f, b in betas.items() if c in senders[f]}}
                    for c in self.centres}
        replies = self.coord._round("step", {c: r for c, r in requests.items() if r["fits"]})
        out: dict[str, Any] = {}
        for f in betas:
            if self.fits[f]["kind"] == "xgboost":  # the senders' new trees, appended in order
                self.fits[f]["round"] += 1
                out[f] = {c: replies[c]["fits"][f]["trees"] for c in senders[f]}
                continue
            parts = [replies[c]["fits"][f] for c in self.fits[f]["members"]]
            out[f] = (float(sum(p["objective"] for p in parts)),
                      np.sum([p["gradient"] for p in parts], axis=0),
                      np.sum([p["hessian"] for p in parts], axis=0))
        return out

    def _evaluation(self, results: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Per centre: the fits it scores (every full fit it trained, the fit without it)."""
        evaluate: dict[str, dict[str, Any]] = {c: {"fits": {}} for c in self.centres}
        for fname, res in results.items():
            _, variant = fname.split("|", 1)
            value = res.model if isinstance(res, BoostResult) else res.beta
            scorers = self.fits[fname]["members"] if variant == "full" else [
                variant.split("|", 1)[1]]
            for c in scorers:
                evaluate[c]["fits"][fname] = self._node_fit(fname, value, c)
        return evaluate

    def scores(self, replies: dict[str, dict[str, Any]]
               ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Leave-one-centre-out and apparent indices from the centres' pair counts
        (``replies``: centre -> its answer to :meth:`run`'s evaluation request)."""
        loco, apparent = {}, {}
        for name in self.plans:
            full = f"{name}|full"
            if full not in self.results:
                continue
            apparent[name] = pooled_index({c: replies[c]["fits"][full]
                                           for c in self.fits[full]["members"]})
            loco[name] = pooled_index({f.split("|")[2]: replies[f.split("|")[2]]["fits"][f]
                                       for f in self.results if f.startswith(f"{name}|loco|")})
        return loco, apparent

    def _describe(self, model: FederatedModel, plan: dict[str, Any], fname: str,
                  res: Any) -> dict[str, Any]:
        cfg = self.fits[fname]
        if isinstance(res, BoostResult):
            return describe_boosting(model, plan, cfg, res)
        coef_std = res.beta[1:] if model.kind == "logistic" else res.beta
        coef = coef_std / cfg["scale"]
        out = {"kind": model.kind, "target": model.target, "features": plan["names"],
               "fill": plan["fill"], "mean": cfg["mean"], "scale": cfg["scale"],
               "coef_standardised": coef_std, "coef": coef, "n": cfg["n"],
               "centres": cfg["members"], "iterations": res.iterations,
               "penalty": model.penalty if model.kind == "logistic" else "l2",
               "C": model.C, "penalizer": model.penalizer, "balanced": model.balanced}
        if model.kind == "logistic":
            out["intercept"] = float(res.beta[0] - coef @ cfg["mean"])
            out["intercept_standardised"] = float(res.beta[0])
        return out
