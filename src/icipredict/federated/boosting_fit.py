"""The coordinator's side of federated XGBoost (:mod:`.boosting`): grid, rounds, description.

One ``grid`` round (after ``fit_moments``) gives every centre's counts below candidate edges of
each boosted model's columns; each fit (full and leave-one-centre-out) then gets the grid of
its own members' counts, its base score (the members' responder share, as XGBoost's own
``base_score`` estimate for ``binary:logistic``), each centre's share (1 under Flower's
bagging, its share of the fit's rows under weighted bagging) and ``ceil(n_estimators / local_trees)``
boosting rounds, which advance in the same ``step`` rounds as the Newton fits.

Two strategies, as Flower's two XGBoost strategies:

- ``cyclic`` (``FedXgbCyclic``): in round ``r`` only the member ``members[r % len(members)]``
  (a fixed order: sorted centre names) boosts ``local_trees`` trees from the global model,
  so every tree is fitted to the residuals of all earlier trees of every centre; the fit
  has ``n_estimators`` trees in all, as the pooled model. The other members send nothing
  for that fit in that round (a leave-one-centre-out fit has its own turn order).
- ``bagging`` (``FedXgbBagging``): every member boosts ``local_trees`` trees from the same
  global model each round and all are appended (``n_estimators / local_trees`` rounds of
  ``len(members) * local_trees`` trees).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from icipredict.federated.boosting import (
    BoostResult,
    boosting_fit,
    candidate_edges,
    select_grid,
)

if TYPE_CHECKING:
    from icipredict.federated.coordinator import FederatedModel
    from icipredict.federated.fitting import FitDriver

#: Federated boosting strategies (see module doc).
STRATEGIES = ("cyclic", "bagging")

#: What a node is sent of a boosting fit's configuration.
_NODE_KEYS = (
    "kind",
    "target",
    "columns",
    "fill",
    "grid",
    "params",
    "base_score",
    "local_trees",
    "round",
)


class BoostingStart:
    """Starts the boosted fits of a :class:`~icipredict.federated.fitting.FitDriver`."""

    def __init__(
        self, driver: FitDriver, moments: dict[str, dict[str, Any]], oks: dict[str, list[str]]
    ) -> None:
        self.driver, self.moments, self.oks = driver, moments, oks
        self.candidates: dict[str, list[list[float]]] = {}
        self.below: dict[str, dict[str, list]] | None = None

    def _parts(self, name: str, members: list[str]) -> list[dict[str, Any]]:
        return [self.moments[c]["fits"][name] for c in members]

    def _grid_round(self) -> None:
        """One round: every centre's counts below each boosted model's candidate edges."""
        names = [n for n, (m, _) in self.driver.plans.items() if m.kind == "xgboost"]
        requests: dict[str, dict[str, Any]] = {
            c: {**self.driver.base, "fits": {}} for c in self.driver.centres
        }
        for name in names:
            parts = self._parts(name, self.oks[name])
            self.candidates[name] = candidate_edges(
                *(np.sum([p[k] for p in parts], axis=0) for k in ("observed", "sum", "sumsq"))
            )
            plan = {k: v for k, v in self.driver.plans[name][1].items() if k != "names"}
            for c in self.oks[name]:
                requests[c]["fits"][name] = {**plan, "candidates": self.candidates[name]}
        replies = self.driver.coord._round("grid", {c: r for c, r in requests.items() if r["fits"]})
        self.below = {
            name: {c: replies[c]["fits"][name]["below"] for c in self.oks[name]} for name in names
        }

    def start(
        self, model: FederatedModel, plan: dict[str, Any], members: list[str]
    ) -> tuple[dict[str, Any], Any]:
        """A fit's configuration (grid, base score, shares) and its generator."""
        if self.below is None:
            self._grid_round()
        assert self.below is not None
        parts = self._parts(model.name, members)
        n = float(sum(p["n"] for p in parts))
        pos = float(sum(p["positives"] for p in parts))
        observed = np.sum([p["observed"] for p in parts], axis=0)
        below = [
            np.sum([np.asarray(self.below[model.name][c][j], float) for c in members], axis=0)
            for j in range(len(plan["columns"]))
        ]
        grid = select_grid(
            self.candidates[model.name], below, observed, self.driver.coord.min_count
        )
        s = np.sum([p["sum"] for p in parts], axis=0)
        ss = np.sum([p["sumsq"] for p in parts], axis=0)
        mean = np.divide(s, observed, out=np.zeros_like(s, dtype=float), where=observed > 0)
        var = np.divide(ss, observed, out=np.zeros_like(ss, dtype=float), where=observed > 0)
        sd = np.sqrt(np.maximum(var - mean**2, 0.0))
        spw = float(model.params["scale_pos_weight"])
        cfg = {
            "kind": "xgboost",
            "target": model.target,
            "columns": plan["columns"],
            "fill": None,
            "grid": grid,
            "params": model.params,
            "base_score": pos * spw / (pos * spw + n - pos),
            "local_trees": model.local_trees,
            "n": n,
            "positives": pos,
            "mean": mean,  # of the observed values: the export stage's range edges
            "scale": np.where(sd > 0, sd, 1.0),
            "round": 0,
            "strategy": model.strategy,
            "n_estimators": int(model.params["n_estimators"]),
            "shares": {
                c: p["n"] / n if model.bagging == "weighted" and model.strategy == "bagging"
                else 1.0
                for c, p in zip(members, parts, strict=True)
            },
        }
        rounds = math.ceil(int(model.params["n_estimators"]) / model.local_trees)
        return cfg, boosting_fit(rounds)


def trainers(cfg: dict[str, Any]) -> list[str]:
    """The members that boost trees for a fit in its current round: all under bagging, the
    one whose turn it is under cyclic boosting (members in sorted order)."""
    members = sorted(cfg["members"])
    if cfg["strategy"] == "cyclic":
        return [members[int(cfg["round"]) % len(members)]]
    return members


def boosting_request(cfg: dict[str, Any], model: Any, centre: str) -> dict[str, Any]:
    """What ``centre`` is sent of a boosting fit: the global model, its share (see
    :func:`icipredict.federated.boosting.node_params`; 0 for a held-out centre, which only
    evaluates) and how many trees to boost (a cyclic fit's last turn boosts only what is left
    of ``n_estimators``)."""
    trees = int(cfg["local_trees"])
    if cfg["strategy"] == "cyclic":
        trees = max(min(trees, int(cfg["n_estimators"]) - trees * int(cfg["round"])), 1)
    return {k: cfg[k] for k in _NODE_KEYS} | {
        "share": cfg["shares"].get(centre, 0.0),
        "model": model,
        "local_trees": trees,
    }


def describe_boosting(
    model: FederatedModel, plan: dict[str, Any], cfg: dict[str, Any], res: BoostResult
) -> dict[str, Any]:
    """The stored description of a boosted fit: grid + XGBoost JSON model (bin-index splits:
    bin a column with :func:`icipredict.federated.boosting.snap` before predicting)."""
    return {
        "kind": "xgboost",
        "target": model.target,
        "features": plan["names"],
        "grid": cfg["grid"],
        "booster": res.model,
        "base_score": cfg["base_score"],
        "params": model.params,
        "local_trees": model.local_trees,
        "strategy": model.strategy,
        "bagging": model.bagging if model.strategy == "bagging" else None,
        "rounds": res.rounds,
        "trees": res.trees,
        "n": cfg["n"],
        "centres": cfg["members"],
    }
