"""Federated XGBoost for response: tree bagging (as Flower's) on a federation-wide grid.

XGBoost's own federated learning needs a library built with ``PLUGIN_FEDERATED`` (the
``xgboost-cpu`` wheel is not: ``xgboost.build_info()["USE_FEDERATED"]`` is false), so the
scheme is that of Flower's ``FedXgbBagging`` strategy: each network round every centre boosts a
few trees on its own rows, starting from the current global model, and sends only its new
trees; the coordinator appends them to the global model. Flower's other strategy,
``FedXgbCyclic`` (one centre boosts per round, in turn), is the same node step sent to one
member at a time (:mod:`.boosting_fit`, ``federated_strategy: cyclic``).

- **Bagging, plain or weighted.** By default (``bagging="flower"``) every centre boosts with
  the fit's own parameters and all trees add up, as in Flower. ``bagging="weighted"`` has a
  centre boost with ``learning_rate * n_centre / n_fit`` (and that share of the penalties), so
  the appended trees average the centres' steps. On the synthetic network the plain scheme
  came closer to pooled XGBoost (``benchmarks/federated_xgboost.py``).
- **What a tree says stays an aggregate.** Before a centre builds its ``DMatrix`` it replaces every value by its bin
  index on a grid the coordinator chose from federation-wide counts (:func:`select_grid`:
  at most :data:`GRID_BINS` bins per feature, each holding at least ``max(min_count,
  n / GRID_BINS)`` of the fit's values). Split thresholds are therefore bin indices (``idx <
  k`` means ``x < edges[k - 1]``), never a patient's value. The node also sets
  ``min_child_weight >= 0.25 * min_count * max(1, scale_pos_weight)``: a row's logistic
  Hessian is at most 0.25 (times its weight), so every leaf holds at least ``min_count`` rows.

Trees are merged in XGBoost's own JSON model format (:func:`append_trees` makes the edits of
Flower's ``aggregate_bagging``: tree ids, ``num_trees``, ``iteration_indptr``, ``tree_info``);
Flower's helper itself lives only in Flower's environment and takes one tree per reply.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from icipredict.modeling.grid_booster import snap

#: Candidate edges per feature for the grid round (uniform over mean +- 4 SD).
CANDIDATES = 128
#: At most this many bins per feature on the shared grid (a node refuses a finer grid).
GRID_BINS = 32
#: Trees a centre boosts per network round unless the plan says otherwise.
LOCAL_TREES = 10
#: A row's largest logistic Hessian p (1 - p): the bound behind the leaf-size rule.
MAX_ROW_HESSIAN = 0.25

Model = dict[str, Any]  # XGBoost's JSON model document
Boost = Generator[Model | None, dict[str, Any], "BoostResult"]


@dataclass
class BoostResult:
    """The global booster of a finished federated boosting fit."""

    model: Model
    rounds: int
    trees: int


def candidate_edges(n: np.ndarray, s: np.ndarray, ss: np.ndarray) -> list[list[float]]:
    """Per column, :data:`CANDIDATES` + 1 edges over mean +- 4 SD of the observed values (none
    for a column without spread)."""
    out: list[list[float]] = []
    for nj, sj, ssj in zip(n, s, ss, strict=True):
        if nj <= 0:
            out.append([])
            continue
        mean = sj / nj
        sd = float(np.sqrt(max(ssj / nj - mean**2, 0.0)))
        out.append(
            np.linspace(mean - 4 * sd, mean + 4 * sd, CANDIDATES + 1).tolist() if sd > 0 else []
        )
    return out


def select_grid(
    candidates: list[list[float]], below: list[np.ndarray], n: np.ndarray, min_count: int
) -> list[list[float]]:
    """Per column, the shared grid's edges: candidates where the federation's counts fill a bin.

    An edge is kept when at least ``max(min_count, n / GRID_BINS)`` observed values lie since
    the previous edge and at least as many above it, so there are at most :data:`GRID_BINS`
    bins and none is small (``below`` is summed over centres whose tails were suppressed).
    """
    grid = []
    for cand, counts, total in zip(candidates, below, n, strict=True):
        least = max(float(min_count), float(total) / GRID_BINS)
        edges, last = [], 0.0
        for edge, c in zip(cand, np.asarray(counts, float), strict=True):
            if c - last >= least and total - c >= least:
                edges.append(float(edge))
                last = float(c)
        grid.append(edges)
    return grid


def _booster(model: Model | None) -> Any:
    import xgboost as xgb

    if model is None:
        return None
    bst = xgb.Booster({"nthread": 1})
    bst.load_model(bytearray(json.dumps(model).encode()))
    return bst


def node_params(fit: dict[str, Any], min_count: int) -> dict[str, Any]:
    """XGBoost parameters a node boosts with: the fit's, scaled by its share of the fit's rows,
    and the leaf-size floor (``min_child_weight``) its own ``min_count`` demands.

    ``share`` is 1 under Flower's bagging (every centre boosts with the fit's own parameters
    and the appended trees add up). Under weighted bagging it is the centre's share of the
    fit's rows: the pooled objective is the centres' losses plus one penalty, a centre's part
    carries ``share`` of the penalty (``lambda``, ``alpha``, ``gamma``) and of
    ``min_child_weight`` (its leaf values estimate the pooled Newton step), and ``eta * share``
    makes the appended trees the share-weighted average of the centres' steps.
    """
    p = fit["params"]
    share = float(fit["share"])
    spw = float(p.get("scale_pos_weight") or 1.0)
    floor = MAX_ROW_HESSIAN * min_count * max(1.0, spw)
    return {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "nthread": 1,
        "eta": float(p["learning_rate"]) * share,
        "max_depth": int(p["max_depth"]),
        "min_child_weight": max(float(p["min_child_weight"]) * share, floor),
        "subsample": float(p["subsample"]),
        "colsample_bytree": float(p["colsample_bytree"]),
        "lambda": float(p["reg_lambda"]) * share,
        "alpha": float(p["reg_alpha"]) * share,
        "gamma": float(p["gamma"]) * share,
        "scale_pos_weight": spw,
        "base_score": float(fit["base_score"]),
    }


def check_grid(grid: list[list[float]], n_columns: int) -> None:
    """Refuse a grid a node should not bin on (wrong width, too fine, not increasing)."""
    from icipredict.federated.protocol import FederationError

    if len(grid) != n_columns:
        raise FederationError(f"the grid has {len(grid)} columns, the design {n_columns}")
    for edges in grid:
        e = np.asarray(edges, float)
        if len(e) >= GRID_BINS or np.any(np.diff(e) <= 0):
            raise FederationError(
                f"refused grid: at most {GRID_BINS} bins with increasing edges per feature"
            )


def boost_local(
    X: np.ndarray, y: np.ndarray, fit: dict[str, Any], centre: str, min_count: int
) -> Model:
    """A centre's new trees: ``fit["local_trees"]`` boosting rounds on its rows (binned on
    the fit's grid) from the global model ``fit["model"]``; only the new trees are returned."""
    import xgboost as xgb

    check_grid(fit["grid"], X.shape[1])
    params = node_params(fit, min_count)
    params["seed"] = (
        int(fit["params"]["random_state"]) + 7919 * int(fit["round"]) + zlib.crc32(centre.encode())
    ) % 2**31
    prev = _booster(fit.get("model"))
    done = prev.num_boosted_rounds() if prev is not None else 0
    dtrain = xgb.DMatrix(snap(X, fit["grid"]), label=y, nthread=1)
    bst = xgb.train(params, dtrain, num_boost_round=int(fit["local_trees"]), xgb_model=prev)
    new = bst[done : bst.num_boosted_rounds()]
    model: Model = json.loads(new.save_raw("json"))
    return model


def margin(model: Model, X: np.ndarray, grid: list[list[float]]) -> np.ndarray:
    """The booster's log-odds for raw design rows (binned on its grid first)."""
    import xgboost as xgb

    bst = _booster(model)
    return np.asarray(bst.predict(xgb.DMatrix(snap(X, grid), nthread=1), output_margin=True), float)


def append_trees(global_model: Model | None, reply: Model) -> Model:
    """The global model with a reply's trees appended (XGBoost JSON; each tree one iteration,
    as Flower's ``aggregate_bagging`` does). ``global_model`` is changed in place; the first
    reply is copied."""
    if global_model is None:
        return copy.deepcopy(reply)
    gb = global_model["learner"]["gradient_booster"]["model"]
    for tree in reply["learner"]["gradient_booster"]["model"]["trees"]:
        tree = copy.deepcopy(tree)
        tree["id"] = len(gb["trees"])
        gb["trees"].append(tree)
        gb["tree_info"].append(0)
        gb["iteration_indptr"].append(gb["iteration_indptr"][-1] + 1)
    gb["gbtree_model_param"]["num_trees"] = str(len(gb["trees"]))
    return global_model


def boosting_fit(rounds: int) -> Boost:
    """Generator of one federated boosting fit (see module doc).

    It yields the global model to send (None before the first round) and receives the
    members' replies (centre -> its new trees); after ``rounds`` rounds it returns the model.
    """
    model: Model | None = None
    for _ in range(rounds):
        replies = yield model
        for centre in sorted(replies):
            model = append_trees(model, replies[centre])
    if model is None:
        raise ValueError("a boosting fit needs at least one round")
    trees = len(model["learner"]["gradient_booster"]["model"]["trees"])
    return BoostResult(model, rounds, trees)
