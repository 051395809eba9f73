"""The compiled tree kernel gives XGBoost's margins to the bit, is cached per machine, falls back
to XGBoost when it cannot be built, and the registry model scores the same with it."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

import xgb_models as xm
from icipredict.tracking import pyfunc, xgb_compiled
from icipredict.tracking.xgb_compiled import CompiledTrees
from icipredict.tracking.xgb_trees import TreeEnsemble


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    """One compiled-kernel cache per test module (never the user's own)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg"))
    monkeypatch.delenv(xgb_compiled.ENV_SWITCH, raising=False)


def _kernel(boosters) -> CompiledTrees:
    ensemble = TreeEnsemble.from_boosters(boosters)
    assert ensemble is not None
    return CompiledTrees(ensemble, boosters)


@pytest.mark.parametrize("params", [
    {"max_depth": 1}, {"max_depth": 2}, {"max_depth": 4}, {"max_depth": 6, "rounds": 40},
    {"base_score": 0.3}, {"base_score": 0.07, "max_delta_step": 1.0},
    {"max_depth": 5, "subsample": 0.7, "colsample_bytree": 0.6, "gamma": 0.5},
    {"objective": "reg:logistic"}, {"objective": "binary:logitraw"},
    {"min_split_loss": 1e6},  # no split at all: depth 0
])
def test_margins_are_xgboosts_to_the_bit(params):
    X, y = xm.data(seed=len(str(params)))
    booster = xm.booster(X, y, **params)
    kernel = _kernel([booster])
    assert kernel.ready()
    Z = xm.probe_rows(kernel.ensemble, X, seed=3, n_extra=2000, n_probe=1000)
    assert np.isnan(Z).any()
    ours = kernel.margins(Z)
    assert ours.shape == (1, len(Z)) and ours.dtype == np.float64
    np.testing.assert_array_equal(ours.astype(np.float32), xm.xgb_margins([booster], Z))


def test_several_boosters_of_different_sizes_and_layouts():
    X, y = xm.data(seed=5)
    boosters = [xm.booster(X, y, rounds=4, max_depth=2, base_score=0.2),
                xm.booster(X, y, rounds=23, max_depth=5),
                xm.booster(X, y, rounds=1, max_depth=3, base_score=0.9)]
    kernel = _kernel(boosters)
    assert kernel.ready()
    Z = xm.probe_rows(kernel.ensemble, X, seed=8, n_extra=2000, n_probe=1000)
    for rows in (Z, Z[:1], Z[:0], np.asfortranarray(Z), Z.astype(np.float64)):
        np.testing.assert_array_equal(kernel.margins(rows).astype(np.float32),
                                      xm.xgb_margins(boosters, np.ascontiguousarray(rows)))
    with pytest.raises(ValueError, match="features"):
        kernel.margins(Z[:, :3])


def test_the_second_build_comes_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    X, y = xm.data(seed=11)
    booster = xm.booster(X, y, rounds=7)
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
                                  xm.xgb_margins([booster], X))
    # Another model is not in the cache: without a compiler it falls back.
    assert not _kernel([xm.booster(X, y, rounds=8)]).ready()


def test_fallbacks(monkeypatch, tmp_path, caplog):
    caplog.set_level("DEBUG", logger="icipredict.tracking.xgb_compiled")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    X, y = xm.data(seed=12)
    booster, other = xm.booster(X, y), xm.booster(X, y, max_depth=2, seed=1)

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


def test_registry_model_scores_a_large_batch_the_same_with_the_kernel(tmp_path):
    folder = xm.calibrated_bundle(tmp_path / "bundle")
    fast = pyfunc.ICIPredictModel().load_bundle(folder)
    slow = pyfunc.ICIPredictModel().load_bundle(folder)
    for sc in [slow.response, *slow.response_refits]:
        sc.compiled = None  # XGBoost's inplace_predict
    scorers = [fast.response, *fast.response_refits]

    batch = xm.patients(pyfunc.CHUNK_ROWS + 3000, 5)  # two blocks, scored in threads
    batch.loc[batch.index[::5], ["age", "tmb"]] = np.nan
    fast.predict(None, batch.iloc[:3], params={"horizons": [12.0]})
    assert not any(sc.compiled._tried for sc in scorers)  # small batches do not compile
    for params in ({"horizons": [12.0]}, {"horizons": [12.0], "intervals": False}):
        pd.testing.assert_frame_equal(fast.predict(None, batch, params=params),
                                      slow.predict(None, batch, params=params), check_exact=True)
    assert all(sc.compiled.ready() for sc in scorers)  # the kernel was used
