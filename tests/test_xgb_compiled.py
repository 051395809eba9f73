"""The compiled tree kernel gives XGBoost's margins to the bit, is cached per machine, falls back
to XGBoost when it cannot be built, and the registry model scores the same with it."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from icipredict.modeling.response import CalibratedResponse, XGBResponse
from icipredict.tracking import pyfunc, xgb_compiled
from icipredict.tracking.xgb_compiled import CompiledTrees
from icipredict.tracking.xgb_trees import TreeEnsemble


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    """One compiled-kernel cache per test module (never the user's own)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))
    monkeypatch.delenv(xgb_compiled.ENV_SWITCH, raising=False)


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


def _kernel(boosters) -> CompiledTrees:
    ensemble = TreeEnsemble.from_boosters(boosters)
    assert ensemble is not None
    return CompiledTrees(ensemble, boosters)


def _rows(kernel: CompiledTrees, X: np.ndarray, seed: int) -> np.ndarray:
    """Training-like rows with extra NaNs plus rows at, just below and just above thresholds."""
    rng = np.random.default_rng(seed)
    extra = X[rng.integers(len(X), size=2000)].copy()
    extra[rng.random(extra.shape) < 0.2] = np.nan
    return np.concatenate([extra, kernel.ensemble.probe(1000, seed=seed + 1)])


def _xgb_margins(boosters, Z):
    return np.stack([b.inplace_predict(Z, predict_type="margin", missing=np.nan)
                     for b in boosters])


@pytest.mark.parametrize("params", [
    {"max_depth": 1}, {"max_depth": 2}, {"max_depth": 4}, {"max_depth": 6, "rounds": 40},
    {"base_score": 0.3}, {"base_score": 0.07, "max_delta_step": 1.0},
    {"max_depth": 5, "subsample": 0.7, "colsample_bytree": 0.6, "gamma": 0.5},
    {"objective": "reg:logistic"}, {"objective": "binary:logitraw"},
    {"min_split_loss": 1e6},  # no split at all: depth 0
])
def test_margins_are_xgboosts_to_the_bit(params):
    X, y = _data(seed=len(str(params)))
    booster = _booster(X, y, **params)
    kernel = _kernel([booster])
    assert kernel.ready()
    Z = _rows(kernel, X, seed=3)
    assert np.isnan(Z).any()
    ours = kernel.margins(Z)
    assert ours.shape == (1, len(Z)) and ours.dtype == np.float64
    np.testing.assert_array_equal(ours.astype(np.float32), _xgb_margins([booster], Z))


def test_several_boosters_of_different_sizes_and_layouts():
    X, y = _data(seed=5)
    boosters = [_booster(X, y, rounds=4, max_depth=2, base_score=0.2),
                _booster(X, y, rounds=23, max_depth=5),
                _booster(X, y, rounds=1, max_depth=3, base_score=0.9)]
    kernel = _kernel(boosters)
    assert kernel.ready()
    Z = _rows(kernel, X, seed=8)
    for rows in (Z, Z[:1], Z[:0], np.asfortranarray(Z), Z.astype(np.float64)):
        np.testing.assert_array_equal(kernel.margins(rows).astype(np.float32),
                                      _xgb_margins(boosters, np.ascontiguousarray(rows)))
    with pytest.raises(ValueError, match="features"):
        kernel.margins(Z[:, :3])


def test_the_second_build_comes_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    X, y = _data(seed=11)
    booster = _booster(X, y, rounds=7)
    assert _kernel([booster]).ready()
    files = list((tmp_path / "icipredict" / "trees").iterdir())
    assert [f.suffix for f in files] == [".so"]  # no temporary left behind

    def no_compiler(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(subprocess, "run", no_compiler)
    monkeypatch.setenv("PATH", "")
    again = _kernel([booster])
    assert again.ready()
    np.testing.assert_array_equal(again.margins(X).astype(np.float32),
                                  _xgb_margins([booster], X))
    # Another model is not in the cache: without a compiler it falls back.
    assert not _kernel([_booster(X, y, rounds=8)]).ready()


def test_fallbacks(monkeypatch, tmp_path, caplog):
    caplog.set_level("DEBUG", logger="icipredict.tracking.xgb_compiled")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    X, y = _data(seed=12)
    booster, other = _booster(X, y), _booster(X, y, max_depth=2, seed=1)

    monkeypatch.setenv("PATH", str(tmp_path))  # no cc/gcc
    kernel = _kernel([booster])
    assert not kernel.ready() and not kernel.ready()
    assert caplog.text.count("no C compiler") == 1  # logged once
    with pytest.raises(RuntimeError):
        kernel.margins(X)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    monkeypatch.setenv(xgb_compiled.ENV_SWITCH, "0")
    assert not _kernel([booster]).ready()
    assert "disabled" in caplog.text
    monkeypatch.delenv(xgb_compiled.ENV_SWITCH)

    # The self-check against XGBoost catches trees that are not the booster's.
    wrong = CompiledTrees(TreeEnsemble.from_boosters([other]), [booster])
    assert not wrong.ready()
    assert "differ" in caplog.text

    monkeypatch.setattr(xgb_compiled, "CFLAGS", ("-no-such-flag",))
    assert not _kernel([booster]).ready()
    assert "failed" in caplog.text


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.normal(62, 10, n), "albumin": rng.normal(3.8, 0.5, n),
                          "tmb": rng.normal(1.5, 1, n), "cancer_type": "NSCLC"})
    frame.loc[frame.index[::7], "albumin"] = np.nan
    return frame


def test_registry_model_scores_a_large_batch_the_same_with_the_kernel(tmp_path):
    from icipredict.features.builder import FeatureBuilder

    frame = _frame(240, 0)
    rng = np.random.default_rng(1)
    y = (rng.random(len(frame)) < 1 / (1 + np.exp(-(frame["tmb"] - 1.5)))).astype(int)
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
    fast = pyfunc.ICIPredictModel().load_bundle(folder)
    slow = pyfunc.ICIPredictModel().load_bundle(folder)
    for sc in [slow.response, *slow.response_refits]:
        sc.compiled = None  # XGBoost's inplace_predict
    scorers = [fast.response, *fast.response_refits]

    batch = _frame(pyfunc.CHUNK_ROWS + 3000, 5)  # two blocks, scored in threads
    batch.loc[batch.index[::5], ["age", "tmb"]] = np.nan
    fast.predict(None, batch.iloc[:3], params={"horizons": [12.0]})
    assert not any(sc.compiled._tried for sc in scorers)  # small batches do not compile
    for params in ({"horizons": [12.0]}, {"horizons": [12.0], "intervals": False}):
        pd.testing.assert_frame_equal(fast.predict(None, batch, params=params),
                                      slow.predict(None, batch, params=params), check_exact=True)
    assert all(sc.compiled.ready() for sc in scorers)  # the kernel was used
