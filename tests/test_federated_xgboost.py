"""Federated XGBoost (weighted tree bagging on a shared grid), in process: it trains with the
Newton fits in the same rounds, every tree a node sends is an aggregate (leaves of at least
min_count rows, thresholds on the federation's grid), and leave-one-centre-out AUC is counted.
(Accuracy against pooled XGBoost: benchmarks/federated_xgboost.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from federated_network import assert_wire_clean, build_stores, nodes
from icipredict.features.spec import read_spec
from icipredict.federated.boosting import (
    GRID_BINS,
    append_trees,
    boost_local,
    check_grid,
    margin,
    node_params,
    snap,
)
from icipredict.federated.coordinator import Coordinator, model_plans
from icipredict.federated.inprocess import in_process_ask
from icipredict.federated.node import _design, design_rows
from icipredict.federated.protocol import FederationError
from icipredict.modeling.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
LOCAL_TREES = 4
ROUNDS = 2
MIN_COUNT = 5


@pytest.fixture(scope="module")
def spec():
    return read_spec(ROOT / "models/features/loris.yaml")


@pytest.fixture(scope="module")
def run(spec, tmp_path_factory):
    stores = build_stores(tmp_path_factory.mktemp("fedxgb-stores"))
    xgb_spec = load_spec(ROOT / "experiments/demo/response_xgb_small.yaml")
    xgb_spec.params["n_estimators"] = LOCAL_TREES * ROUNDS
    plans = model_plans([load_spec(ROOT / "models/llr6.yaml"), xgb_spec], ["response"])
    plans[1].local_trees = LOCAL_TREES
    capture: list[tuple[str, str, str]] = []
    data = nodes(stores, tmp_path_factory.mktemp("fedxgb-cache"))
    result = Coordinator(in_process_ask(data, capture), spec, plans).run()
    return result, capture, data


def _booster(model: dict) -> xgb.Booster:
    bst = xgb.Booster()
    bst.load_model(bytearray(json.dumps(model).encode()))
    return bst


def _node_rows(data, spec, result, centre):
    req = {"spec": spec.model_dump(mode="json"), "state": result["state"]}
    model = result["models"]["response_xgb"]
    fit = {"target": "response", "columns": _columns(result, spec, model), "fill": None}
    return design_rows(_design(data[centre], json.loads(json.dumps(req))), fit)


def _columns(result, spec, model):
    from icipredict.federated.builder_state import builder_from_state

    names = builder_from_state(spec, result["state"]).feature_names_out_
    return [names.index(f) for f in model["features"]]


def test_xgboost_trains_beside_newton_fits_and_counts_loco_pairs(run):
    result, capture, _ = run
    model = result["models"]["response_xgb"]
    centres = sorted(result["centres"])
    assert model["rounds"] == ROUNDS and model["trees"] == ROUNDS * LOCAL_TREES * len(centres)
    assert result["models"]["response"]["iterations"] > ROUNDS  # Newton went on alone
    loco = result["loco"]["response_xgb"]
    assert sorted(loco["per_centre"]) == centres and loco["pairs"] > 0
    assert 0.0 < loco["pooled_within_centre"] < 1.0
    steps = [(c, json.loads(t)["fits"]) for c, k, t in capture if k == "step"]
    for centre, fits in steps:  # a centre never boosts the model that is evaluated on it
        assert f"response_xgb|loco|{centre}" not in fits
    boosting = [f for _, fits in steps for f in fits if f.startswith("response_xgb")]
    assert len(boosting) == ROUNDS * len(centres) * len(centres)  # full + 5 LOCO fits each
    # one step round serves every fit: the boosting rounds are the first Newton rounds
    first = [i for i, (_, fits) in enumerate(steps) if "response_xgb|full" in fits]
    assert (
        first == [i for i, (_, fits) in enumerate(steps) if "response|full" in fits][: len(first)]
    )


def test_apparent_auc_equals_the_stored_model_on_each_centre(run, spec):
    result, _, data = run
    model = result["models"]["response_xgb"]
    for centre in result["centres"]:
        X, y, _ = _node_rows(data, spec, result, centre)
        auc = roc_auc_score(y, margin(model["booster"], X, model["grid"]))
        assert abs(auc - result["apparent"]["response_xgb"]["per_centre"][centre]) < 1e-9


def _tree_stats(bst: xgb.Booster) -> tuple[list[float], list[tuple[int, float]]]:
    """Leaf covers and (feature, threshold) splits of a booster's text dump."""
    covers, splits = [], []
    for tree in bst.get_dump(with_stats=True):
        covers += [float(c) for c in re.findall(r"leaf=[^,]+,cover=([0-9.e+-]+)", tree)]
        splits += [(int(f), float(t)) for f, t in re.findall(r"\[f(\d+)<([^\]]+)\]", tree)]
    return covers, splits


def test_every_tree_a_node_sends_is_an_aggregate(run, spec):
    result, capture, data = run
    assert_wire_clean(capture, {c: d.frame(spec) for c, d in data.items()})
    grid = result["models"]["response_xgb"]["grid"]
    rows = {c: _node_rows(data, spec, result, c) for c in result["centres"]}
    seen = 0
    for centre, kind, text in capture:
        if kind != "step":
            continue
        for fname, reply in json.loads(text)["fits"].items():
            if not fname.startswith("response_xgb"):
                continue
            bst = _booster(reply["trees"])
            assert bst.num_boosted_rounds() == LOCAL_TREES  # only the new trees
            covers, splits = _tree_stats(bst)
            assert min(covers) >= 0.25 * MIN_COUNT  # Hessian <= 1/4 a row: >= 5 rows a leaf
            for _, t in splits:  # thresholds are bin indices of the shared grid
                assert t == int(t) and 1 <= t <= GRID_BINS
            if fname == "response_xgb|full":  # its grid is stored: count the leaves' rows
                X, _, _ = rows[centre]
                for f, t in splits:
                    assert t <= len(grid[f])
                leaves = bst.predict(xgb.DMatrix(snap(X, grid)), pred_leaf=True)
                for k in range(leaves.shape[1]):
                    assert np.unique(leaves[:, k], return_counts=True)[1].min() >= MIN_COUNT
                seen += 1
    assert seen == ROUNDS * len(result["centres"])


def _fit(grid, **params):
    base = {
        "n_estimators": 3,
        "learning_rate": 0.3,
        "max_depth": 3,
        "min_child_weight": 0.0,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "reg_lambda": 0.0,
        "reg_alpha": 0.0,
        "gamma": 0.0,
        "scale_pos_weight": 1.0,
        "random_state": 0,
    }
    return {
        "params": base | params,
        "share": 1.0,
        "base_score": 0.5,
        "grid": grid,
        "local_trees": 3,
        "round": 0,
        "model": None,
    }


def test_node_enforces_the_leaf_floor_and_refuses_a_fine_grid():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] + rng.normal(scale=0.3, size=40) > 0).astype(float)
    grid = [np.linspace(-2, 2, 9).tolist(), np.linspace(-2, 2, 9).tolist()]
    covers, _ = _tree_stats(_booster(boost_local(X, y, _fit(grid), "a", MIN_COUNT)))
    assert min(covers) >= 0.25 * MIN_COUNT  # min_child_weight 0 was asked for
    loose, _ = _tree_stats(_booster(boost_local(X, y, _fit(grid), "a", 1)))
    assert min(loose) < 0.25 * MIN_COUNT  # the floor is what keeps the leaves large
    with pytest.raises(FederationError, match="refused grid"):
        check_grid([np.linspace(-2, 2, GRID_BINS + 1).tolist()] * 2, 2)


def test_weighted_bagging_scales_steps_and_penalties_but_not_the_leaf_floor():
    fit = _fit([[0.0]], learning_rate=0.1, reg_lambda=4.0, min_child_weight=4.0, gamma=1.0)
    plain = node_params(fit, MIN_COUNT)
    assert (plain["eta"], plain["lambda"], plain["min_child_weight"]) == (0.1, 4.0, 4.0)
    weighted = node_params({**fit, "share": 0.25}, MIN_COUNT)
    assert weighted["eta"] == pytest.approx(0.025) and weighted["lambda"] == 1.0
    assert weighted["gamma"] == 0.25
    assert weighted["min_child_weight"] == 0.25 * MIN_COUNT  # 4 * 0.25 = 1 is below the floor


def test_appended_trees_add_their_margins():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = (X[:, 1] > 0).astype(float)
    grid = [np.linspace(-2, 2, 9).tolist()] * 2
    a = boost_local(X[:30], y[:30], _fit(grid), "a", MIN_COUNT)
    b = boost_local(X[30:], y[30:], _fit(grid), "b", MIN_COUNT)
    merged = append_trees(append_trees(None, a), b)
    assert _booster(merged).num_boosted_rounds() == 6
    np.testing.assert_allclose(
        margin(merged, X, grid), margin(a, X, grid) + margin(b, X, grid), atol=1e-5
    )
    assert np.array_equal(
        snap(np.array([[-3.0], [-2.0], [0.1], [np.nan]]), [[-2.0, 0.0]]),
        np.array([[0.0], [1.0], [2.0], [np.nan]]),
        equal_nan=True,
    )
