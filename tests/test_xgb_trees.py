"""The numpy tree walker gives XGBoost's margins, declines what it cannot do, and the registry
model scores the same with and without it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from icipredict.modeling.response import CalibratedResponse, XGBResponse
from icipredict.tracking import pyfunc
from icipredict.tracking.xgb_trees import TOLERANCE, TreeEnsemble


def _data(n: int = 400, p: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).astype(np.float32)
    X[:, 1] = np.round(X[:, 1])  # ties: many rows exactly at a threshold candidate
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - X[:, 1] + 0.5 * X[:, 2])))).astype(int)
    X[rng.random(X.shape) < 0.15] = np.nan
    return X, y


def _booster(X, y, **params) -> xgb.Booster:
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 1,
              "seed": 0, **params}
    rounds = params.pop("rounds", 15)
    return xgb.train(params, xgb.DMatrix(X, y, missing=np.nan), rounds)


def _rows(ensemble: TreeEnsemble, X: np.ndarray, seed: int) -> np.ndarray:
    """Training-like rows with extra NaNs plus rows at, just below and just above thresholds."""
    rng = np.random.default_rng(seed)
    extra = X[rng.integers(len(X), size=200)].copy()
    extra[rng.random(extra.shape) < 0.2] = np.nan
    return np.concatenate([extra, ensemble.probe(300, seed=seed + 1)])


def _xgb_margins(boosters, Z):
    return np.stack([b.inplace_predict(Z, predict_type="margin", missing=np.nan)
                     for b in boosters]).astype(np.float64)


@pytest.mark.parametrize("params", [
    {"max_depth": 1}, {"max_depth": 2}, {"max_depth": 4}, {"max_depth": 6, "rounds": 40},
    {"base_score": 0.3}, {"base_score": 0.07, "max_delta_step": 1.0},
    {"max_depth": 5, "subsample": 0.7, "colsample_bytree": 0.6, "gamma": 0.5},
    {"objective": "reg:logistic"}, {"objective": "binary:logitraw"},
    {"min_split_loss": 1e6},  # no split at all: every tree a single leaf
])
def test_margins_are_xgboosts(params):
    X, y = _data(seed=len(str(params)))
    booster = _booster(X, y, **params)
    ensemble = TreeEnsemble.from_boosters([booster])
    assert ensemble is not None
    Z = _rows(ensemble, X, seed=3)
    assert np.isnan(Z).any()
    assert ensemble.depth == (0 if "min_split_loss" in params else params.get("max_depth", 3))
    ours, theirs = ensemble.margins(Z), _xgb_margins([booster], Z)
    assert ours.shape == theirs.shape == (1, len(Z))
    # The same float32 operations in the same order: the same bits.
    np.testing.assert_array_equal(ours.astype(np.float32), theirs.astype(np.float32))


def test_several_boosters_of_different_sizes_at_once():
    """Boosters with other tree counts and base scores share one walk (padded with zeros)."""
    X, y = _data(seed=5)
    boosters = [_booster(X, y, rounds=4, max_depth=2, base_score=0.2),
                _booster(X, y, rounds=23, max_depth=5),
                _booster(X, y, rounds=1, max_depth=3, base_score=0.9)]
    ensemble = TreeEnsemble.from_boosters(boosters)
    assert ensemble is not None
    for Z in (_rows(ensemble, X, seed=8), X[:1], X[:0]):
        np.testing.assert_allclose(ensemble.margins(Z), _xgb_margins(boosters, Z),
                                   rtol=0, atol=TOLERANCE)


def test_unsupported_models_fall_back(caplog):
    X, y = _data(seed=2)
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
    X, y = _data(seed=4)
    booster, other = _booster(X, y), _booster(X, y, max_depth=2, seed=1)
    assert TreeEnsemble.from_boosters([booster], [bytes(booster.save_raw("json"))]) is not None
    assert TreeEnsemble.from_boosters([booster], [bytes(other.save_raw("json"))]) is None


def _bundle(tmp_path):
    from icipredict.features.builder import FeatureBuilder

    rng = np.random.default_rng(0)
    n = 240
    frame = pd.DataFrame({"age": rng.normal(62, 10, n), "albumin": rng.normal(3.8, 0.5, n),
                          "tmb": rng.normal(1.5, 1, n), "cancer_type": "NSCLC"})
    frame.loc[frame.index[::7], "albumin"] = np.nan
    y = (rng.random(n) < 1 / (1 + np.exp(-(frame["tmb"] - 1.5)))).astype(int)
    builder = FeatureBuilder({"name": "sim", "modalities": ["clinical", "genomic"],
                              "clinical": ["age", "albumin"], "genomic": ["tmb"],
                              "cancer_type": "none"}).fit(frame)
    X = builder.transform(frame)
    response = CalibratedResponse(XGBResponse(n_estimators=25, max_depth=3, n_jobs=1),
                                  methods=("sigmoid",), cv=3)
    model = response.fit(X, y)
    refits = pyfunc.bootstrap_refits(response, X, y, n_refits=3, seed=0, strata=y)
    folder = tmp_path / "bundle"
    pyfunc.write_bundle(folder, builder=builder, response_model=model, survival_models={},
                        training_frame=frame, response_refits=refits, survival_refits={})
    return folder, frame


def test_registry_model_scores_the_same_without_the_walker(tmp_path):
    """Walker + one Platt block give the numbers of XGBoost + calibrators one by one."""
    folder, frame = _bundle(tmp_path)
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
