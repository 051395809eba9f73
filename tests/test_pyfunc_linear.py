"""Pickle-free logistic models in the registry model: JSON numbers reproduce predict_proba."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from icipredict.modeling.baselines import LorisLLR6
from icipredict.modeling.response import CalibratedResponse
from icipredict.tracking.pyfunc import ResponseScorer, export_response, linear_state

FEATURES = ["tmb", "nlr", "age", "albumin", "prior_systemic_therapy", "cancer_type_NSCLC"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 400
    X = pd.DataFrame({
        "tmb": rng.lognormal(1.5, 1.0, n), "nlr": rng.lognormal(1.3, 0.6, n),
        "age": rng.normal(64, 11, n), "albumin": rng.normal(3.8, 0.5, n),
        "prior_systemic_therapy": rng.integers(0, 2, n).astype(float),
        "cancer_type_NSCLC": rng.integers(0, 2, n).astype(float),
    })
    lp = 0.08 * X["tmb"] - 0.1 * X["nlr"] + 0.8 * (X["albumin"] - 3.8) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    # a few missing values and values over the LORIS caps (TMB 50, NLR 25, age 85)
    X.loc[:9, "albumin"] = np.nan
    X.loc[10:14, "tmb"] = 80.0
    X.loc[15:19, "age"] = 90.0
    return X, y


def _roundtrip(model, tmp_path, X):
    entry = export_response(model, tmp_path / "response")
    json.dumps(entry, allow_nan=False)
    scorer = ResponseScorer(tmp_path / "response", entry)
    return entry, scorer, scorer.proba(X)


def _models():
    return {
        "loris": LorisLLR6(C=0.1, features=FEATURES[:5]),
        "lr": LogisticRegression(C=0.5, max_iter=1000),
        "scaled_lr": make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=1000)),
        "imputed_scaled_lr": make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                           LogisticRegression(max_iter=1000)),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_linear_models_are_written_as_numbers_and_reproduce_predict_proba(name, data, tmp_path):
    X, y = data
    model = _models()[name]
    Xfit = X if name in ("loris", "imputed_scaled_lr") else X.fillna(X.median())
    model.fit(Xfit, y)
    entry, scorer, p = _roundtrip(model, tmp_path, Xfit)
    assert entry["kind"] == "linear"
    assert not list((tmp_path / "response").glob("*.pkl"))
    np.testing.assert_allclose(p, model.predict_proba(Xfit)[:, 1], rtol=1e-12, atol=1e-15)
    # columns come by name: a reordered frame with extra columns gives the same answer
    shuffled = Xfit[Xfit.columns[::-1]].assign(extra=1.0)
    np.testing.assert_allclose(scorer.proba(shuffled), p, rtol=0, atol=0)


def test_loris_contributions_match_the_estimator(data, tmp_path):
    X, y = data
    model = LorisLLR6(C=0.1, features=FEATURES[:5]).fit(X, y)
    _, scorer, _ = _roundtrip(model, tmp_path, X)
    ours = scorer.contributions(X)
    theirs = model.contributions(X).drop(columns=["intercept"])
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-12, atol=1e-15)
    assert list(ours.columns) == FEATURES[:5]


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrated_loris_is_native(method, data, tmp_path):
    X, y = data
    model = CalibratedResponse(LorisLLR6(C=0.1, features=FEATURES[:5]), methods=(method,),
                               cv=3).fit(X, y)
    entry, _, p = _roundtrip(model, tmp_path, X)
    assert entry["kind"] == "linear_calibrated" and len(entry["linear"]) == 3
    assert [c["method"] for c in entry["calibrators"]] == [method] * 3
    np.testing.assert_allclose(p, model.predict_proba(X)[:, 1], rtol=1e-10, atol=1e-12)


def test_other_models_fall_back_to_pickle(data, tmp_path):
    X, y = data
    forest = RandomForestClassifier(n_estimators=5, random_state=0, n_jobs=1).fit(
        X.fillna(0), y)
    entry, _, p = _roundtrip(forest, tmp_path, X.fillna(0))
    assert entry == {"kind": "pickle", "file": "model.pkl", "class": "RandomForestClassifier"}
    np.testing.assert_allclose(p, forest.predict_proba(X.fillna(0))[:, 1])
    # a logistic regression fitted on a bare array has no column names: not written natively
    lr = LogisticRegression(max_iter=1000).fit(X.fillna(0).to_numpy(), y)
    assert linear_state(lr) is None
