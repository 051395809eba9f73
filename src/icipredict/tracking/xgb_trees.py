"""Margins of saved XGBoost boosters for a few rows, in plain numpy.

Why: scoring one patient on the board asks ~100 boosters (the calibrated response model's fold
boosters and those of its bootstrap refits) for a one-row margin. Each ``Booster.predict`` call
costs ~90 us of Python/ctypes set-up for microseconds of tree walking. :class:`TreeEnsemble`
packs the trees of several boosters into flat node arrays and walks all of them at once, level
by level, for every row: a handful of numpy calls per tree level instead of one XGBoost call per
booster.

Exactness: like XGBoost's CPU predictor, features are float32, a row goes left when
``x < split_condition`` (float32) or, when ``x`` is missing (NaN), when the node's
``default_left`` is set; leaf values are added in float32 in tree order to the base margin. The
margins are therefore XGBoost's, to the bit in practice; :meth:`TreeEnsemble.from_boosters`
checks that on probe rows at every threshold (and just either side of it, and missing) and
declines (returns None) when they differ or when the model uses anything this walker does not
implement (categorical splits, vector leaves, multi-output, forests, other objectives).
"""

from __future__ import annotations

import json
import logging
import math
from itertools import chain
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: Objectives whose base score is stored as a probability (margin = logit of it).
LOGISTIC = ("binary:logistic", "reg:logistic")
#: Objectives whose base score is already a margin.
IDENTITY = ("binary:logitraw", "reg:squarederror")
#: Largest margin difference to XGBoost accepted by the load-time self-check.
TOLERANCE = 1e-6
#: Probe rows of the self-check.
PROBE_ROWS = 256


class Unsupported(ValueError):
    """The booster uses a feature the numpy walker does not implement."""


def _base_margin(learner: dict[str, Any]) -> np.float32:
    """The base margin XGBoost starts every row from (float32)."""
    raw = str(learner["learner_model_param"]["base_score"]).strip("[]")
    values = [float(v) for v in raw.split(",") if v.strip()]
    if len(values) != 1:
        raise Unsupported(f"base_score {raw!r}: one value expected")
    objective = learner["objective"]["name"]
    base = np.float32(values[0])
    if objective in LOGISTIC:
        # XGBoost's ProbToMargin, -logf(1/p - 1) in float32. numpy's float32 log may be an ulp
        # off the C library's correctly rounded logf; a double log rounded to float is not.
        odds = np.float32(1.0) / base - np.float32(1.0)
        return np.float32(-math.log(float(odds)))
    if objective in IDENTITY:
        return base
    raise Unsupported(f"objective {objective!r}")


def _trees(model: dict[str, Any]) -> tuple[np.float32, list[dict[str, Any]], int]:
    """Base margin, trees and feature count of one booster's JSON model.

    Raises :class:`Unsupported` for anything the walker does not implement.
    """
    learner = model["learner"]
    param = learner["learner_model_param"]
    if int(param.get("num_class", 0)) > 1 or int(param.get("num_target", 1)) != 1:
        raise Unsupported("multi-class or multi-target model")
    booster = learner["gradient_booster"]
    if booster.get("name") != "gbtree":
        raise Unsupported(f"booster {booster.get('name')!r}")
    gbtree = booster["model"]
    if int(gbtree["gbtree_model_param"].get("num_parallel_tree", 1)) != 1:
        raise Unsupported("num_parallel_tree > 1")
    if any(int(g) != 0 for g in gbtree["tree_info"]):
        raise Unsupported("trees of more than one output group")
    trees = gbtree["trees"]
    for tree in trees:
        if int(tree["tree_param"].get("size_leaf_vector", 1)) > 1:
            raise Unsupported("vector leaves")
        if any(int(s) != 0 for s in tree["split_type"]) or tree.get("categories_nodes"):
            raise Unsupported("categorical splits")
    return _base_margin(learner), trees, int(param["num_feature"])


class TreeEnsemble:
    """The trees of several single-output boosters as flat node arrays (see the module doc).

    Nodes of every tree are laid out one after another. A leaf points to itself on both sides,
    so walking ``depth`` (the deepest tree's) levels leaves every (row, tree) on its leaf. Each
    booster's trees start with a one-leaf tree holding its base margin, and boosters with fewer
    trees are padded with one-leaf trees of value 0 (adding 0 in float32 changes nothing): the
    leaf values of a batch form one ``(rows, boosters, 1 + trees)`` block whose float32 running
    sum along the last axis is XGBoost's margin.
    """

    def __init__(self, bases: list[np.float32], boosters: list[list[dict[str, Any]]],
                 n_features: int) -> None:
        self.n_boosters = len(boosters)
        self.n_slots = 1 + max(len(trees) for trees in boosters)
        self.n_features = n_features

        def leaf(value: float) -> dict[str, Any]:
            return {"left_children": [-1], "right_children": [-1], "split_indices": [0],
                    "split_conditions": [value], "default_left": [0]}

        trees = [tree for base, group in zip(bases, boosters, strict=True)
                 for tree in [leaf(float(base))] + group
                 + [leaf(0.0)] * (self.n_slots - 1 - len(group))]
        sizes = np.array([len(tree["left_children"]) for tree in trees], dtype=np.intp)
        total = int(sizes.sum())
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        offset = np.repeat(self.roots, sizes)

        def flat(key: str, dtype: Any) -> np.ndarray:  # one field of every tree, end to end
            return np.fromiter(chain.from_iterable(tree[key] for tree in trees), dtype=dtype,
                               count=total)

        lc, rc = flat("left_children", np.intp), flat("right_children", np.intp)
        self.is_leaf = lc < 0
        own = np.arange(total)
        cond = flat("split_conditions", np.float32)
        self.feature = np.where(self.is_leaf, 0, flat("split_indices", np.intp))
        self.threshold = np.where(self.is_leaf, np.float32(0), cond)
        self.left = np.where(self.is_leaf, own, lc + offset)
        self.right = np.where(self.is_leaf, own, rc + offset)
        self.default_left = flat("default_left", bool)
        self.value = np.where(self.is_leaf, cond, np.float32(0))  # a leaf's value: its condition
        # The walk reads row values from [row with NaN as -inf | row with NaN as +inf]: a
        # missing value then goes left exactly where default_left (-inf < t), right elsewhere,
        # so each level is one comparison (x >= t: go right) and one child lookup.
        # Nodes are walked as "slots" 2 * node + (0: go left, 1: go right), the tables below
        # indexed by slot, so the step to a child is one addition and one lookup.
        column = np.where(self.default_left, self.feature, self.feature + n_features)
        self._column = np.repeat(column, 2)
        self._threshold = np.repeat(self.threshold, 2)
        self._value = np.repeat(self.value, 2)
        self._child = 2 * np.stack([self.left, self.right], axis=1).ravel()
        self._missing = np.repeat(np.float32([-np.inf, np.inf]), n_features)
        # Depth of the deepest tree: walk every tree's internal nodes level by level.
        self.depth, level = 0, self.roots[~self.is_leaf[self.roots]]
        while len(level):
            self.depth += 1
            level = np.concatenate([self.left[level], self.right[level]])
            level = level[~self.is_leaf[level]]

    @classmethod
    def from_boosters(cls, boosters: list[Any], models: list[str | bytes] | None = None, *,
                      check: bool = True) -> TreeEnsemble | None:
        """Pack loaded ``xgboost.Booster`` objects, or None when the fast path must not be used.

        Parameters
        ----------
        boosters
            Boosters over the same feature columns.
        models
            Their JSON models, e.g. the files they were loaded from (reading those is cheaper
            than ``Booster.save_raw("json")``, which is used when not given). The check below
            catches a file that does not match its booster.
        check
            Compare against ``Booster.inplace_predict`` on probe rows (see :meth:`probe`) and
            decline when any margin differs by more than :data:`TOLERANCE`.

        Returns
        -------
        TreeEnsemble or None
            None (logged at debug level) for unsupported models or a failed check.
        """
        try:
            if models is None:
                models = [bytes(b.save_raw("json")) for b in boosters]
            parsed = [_trees(json.loads(m)) for m in models]
        except (Unsupported, KeyError, ValueError, TypeError) as exc:
            logger.debug("XGBoost boosters scored by XGBoost (numpy walker: %s)", exc)
            return None
        if len({p[2] for p in parsed}) != 1:
            logger.debug("XGBoost boosters scored by XGBoost (different feature counts)")
            return None
        ensemble = cls([p[0] for p in parsed], [p[1] for p in parsed], parsed[0][2])
        if not check:
            return ensemble
        probe = ensemble.probe()
        ours = ensemble.margins(probe)
        try:
            theirs = [np.asarray(b.inplace_predict(probe, predict_type="margin", missing=np.nan),
                                 dtype=np.float64).ravel() for b in boosters]
        except Exception as exc:  # noqa: BLE001 - any XGBoost refusal means: no fast path
            logger.debug("XGBoost boosters scored by XGBoost (check failed: %s)", exc)
            return None
        diff = max(float(np.max(np.abs(ours[k] - t), initial=0.0))
                   for k, t in enumerate(theirs))
        if not diff <= TOLERANCE:
            logger.debug("XGBoost boosters scored by XGBoost (numpy walker off by %g)", diff)
            return None
        return ensemble

    def probe(self, rows: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
        """Rows whose values sit at, just below and just above split thresholds, or are missing.

        Each value of feature ``j`` is drawn from its thresholds, their float32 neighbours and
        NaN, so every comparison (and missing-value direction) of the trees is exercised.
        """
        rng = np.random.default_rng(seed)
        n_features = max(self.n_features, 1)
        out = np.full((rows, n_features), np.nan, dtype=np.float32)
        split = ~self.is_leaf
        for j in range(n_features):
            t = np.unique(self.threshold[split & (self.feature == j)])
            choices = np.concatenate([t, np.nextafter(t, np.float32(-np.inf)),
                                      np.nextafter(t, np.float32(np.inf)),
                                      [np.nan, np.float32(0.0)]]).astype(np.float32)
            out[:, j] = rng.choice(choices, size=rows)
        return out

    def margins(self, Z: np.ndarray) -> np.ndarray:
        """Margin of every booster for every row of ``Z``: ``(boosters, rows)`` float64.

        ``Z`` holds the boosters' features in their column order (float32 or castable; NaN is
        missing), as ``Booster.predict(..., output_margin=True)`` would be given them.
        """
        Z = np.asarray(Z, dtype=np.float32)
        n = len(Z)
        wide = np.concatenate([Z, Z], axis=1)
        wide = np.where(np.isnan(wide), self._missing, wide)
        rows = np.arange(n)[:, None]
        slot = 2 * self.roots  # broadcast to (rows, trees) by the first step
        for _ in range(self.depth):
            slot = self._child[slot + (wide[rows, self._column[slot]] >= self._threshold[slot])]
        if slot.ndim == 1:  # no splits at all: every row on the roots
            slot = np.tile(slot, (n, 1))
        leaves = self._value[slot].reshape(n, self.n_boosters, self.n_slots)
        # Sequential float32 sum from the base margin, in tree order: XGBoost's order (np.sum
        # adds pairwise and may differ in the last bit).
        return np.cumsum(leaves, axis=2, dtype=np.float32)[:, :, -1].T.astype(np.float64)
