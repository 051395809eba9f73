"""The numpy tree walker gives XGBoost's margins, declines what it cannot do, and the registry
model scores the same with and without it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import xgb_models as xm
from icipredict.tracking import pyfunc
from icipredict.tracking.xgb_trees import TOLERANCE, TreeEnsemble


@pytest.mark.parametrize("params", [
    {"max_depth": 1}, {"max_depth": 2}, {"max_depth": 4}, {"max_depth": 6, "rounds": 40},
    {"base_score": 0.3}, {"base_score": 0.07, "max_delta_step": 1.0},
    {"max_depth": 5, "subsample": 0.7, "colsample_bytree": 0.6, "gamma": 0.5},
    {"objective": "reg:logistic"}, {"objective": "binary:logitraw"},
    {"min_split_loss": 1e6},  # no split at all: every tree a single leaf
])
def test_margins_are_xgboosts(params):
    X, y = xm.data(seed=len(str(params)))
    booster = xm.booster(X, y, **params)
    ensemble = TreeEnsemble.from_boosters([booster])
    assert ensemble is not None
    Z = xm.probe_rows(ensemble, X, seed=3)
    assert np.isnan(Z).any()
    assert ensemble.depth == (0 if "min_split_loss" in params else params.get("max_depth", 3))
    ours, theirs = ensemble.margins(Z), xm.xgb_margins([booster], Z)
    assert ours.shape == theirs.shape == (1, len(Z))
    # The same float32 operations in the same order: the same bits.
    np.testing.assert_array_equal(ours.astype(np.float32), theirs.astype(np.float32))


def test_several_boosters_of_different_sizes_at_once():
    """Boosters with other tree counts and base scores share one walk (padded with zeros)."""
    X, y = xm.data(seed=5)
    boosters = [xm.booster(X, y, rounds=4, max_depth=2, base_score=0.2),
                xm.booster(X, y, rounds=23, max_depth=5),
                xm.booster(X, y, rounds=1, max_depth=3, base_score=0.9)]
    ensemble = TreeEnsemble.from_boosters(boosters)
    assert ensemble is not None
    for Z in (xm.probe_rows(ensemble, X, seed=8), X[:1], X[:0]):
        np.testing.assert_allclose(ensemble.margins(Z), xm.xgb_margins(boosters, Z),
                                   rtol=0, atol=TOLERANCE)


def test_unsupported_models_fall_back(caplog):
    X, y = xm.data(seed=2)
    multi = xgb.train({"objective": "multi:softprob", "num_class": 3, "nthread": 1},
                      xgb.DMatrix(X, np.arange(len(y)) % 3, missing=np.nan), 3)
    linear = xgb.train({"objective": "binary:logistic", "booster": "gblinear", "nthread": 1},
                       xgb.DMatrix(np.nan_to_num(X), y), 3)
    frame = pd.DataFrame({"c": pd.Categorical(np.arange(len(y)) % 4), "x": X[:, 0]})
    categorical = xgb.train({"objective": "binary:logistic", "nthread": 1,
                             "tree_method": "hist"},
                            xgb.DMatrix(frame, y, enable_categorical=True), 5)
    assert "categories_nodes" in json.loads(bytes(categorical.save_raw("json")))[
        "learner"]["gradient_booster"]["model"]["trees"][0]
    caplog.set_level("DEBUG", logger="icipredict.tracking.xgb_trees")
    for booster, reason in ((multi, "multi-class"), (linear, "gblinear"),
                            (categorical, "categorical splits")):
        caplog.clear()
        assert TreeEnsemble.from_boosters([booster]) is None
        assert reason in caplog.text


def test_a_model_file_that_is_not_the_booster_fails_the_check():
    X, y = xm.data(seed=4)
    booster, other = xm.booster(X, y), xm.booster(X, y, max_depth=2, seed=1)
    assert TreeEnsemble.from_boosters([booster], [bytes(booster.save_raw("json"))]) is not None
    assert TreeEnsemble.from_boosters([booster], [bytes(other.save_raw("json"))]) is None


def test_registry_model_scores_the_same_without_the_walker(tmp_path):
    """Walker + one Platt block give the numbers of XGBoost + calibrators one by one."""
    folder = xm.calibrated_bundle(tmp_path / "bundle")
    frame = xm.patients(240, 0)
    fast = pyfunc.ICIPredictModel().load_bundle(folder)
    slow = pyfunc.ICIPredictModel().load_bundle(folder)
    scorers = [fast.response, *fast.response_refits]
    assert all(sc.trees is not None and sc._platt is not None for sc in scorers)
    for sc in [slow.response, *slow.response_refits]:
        sc.trees = None  # XGBoost's own predict
        sc._platt = None  # the calibrators one by one
    rows = frame.sample(30, random_state=1)
    rows.loc[rows.index[:5], ["age", "tmb"]] = np.nan
    for batch in (rows.iloc[:1], rows):
        params = {"horizons": [12.0], "explain": True}
        pd.testing.assert_frame_equal(fast.predict(None, batch, params=params),
                                      slow.predict(None, batch, params=params), check_exact=True)
