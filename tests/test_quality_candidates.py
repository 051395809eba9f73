"""Stacked ensembles of a spec (scikit-learn's StackingClassifier as build_ensemble sets it up):
the meta model is learnt on training out-of-fold predictions only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier

from icipredict.modeling.ensemble import build_ensemble
from icipredict.modeling.spec import ModelSpec


def _data(n: int = 500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Response driven by TMB and NLR; ``noise`` carries no signal."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"tmb": rng.lognormal(1.5, 1.0, n), "nlr": rng.lognormal(1.5, 0.6, n),
                      "noise": rng.normal(size=n)})
    logit = 1.5 * (X.tmb > 10) - 0.15 * np.minimum(X.nlr, 25) + 0.2
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)


def _members() -> list[ModelSpec]:
    return [ModelSpec(name="signal", task="response", estimator="LorisLLR6",
                      params={"C": 1.0, "features": ["tmb", "nlr"]}),
            ModelSpec(name="noise", task="response", estimator="LorisLLR6",
                      params={"C": 1.0, "features": ["noise"]})]


def test_stack_weights_the_informative_member() -> None:
    X, y = _data()
    Xt, _ = _data(seed=1)
    stack = build_ensemble("StackingClassifier", _members(), {}).fit(X, y)
    meta = np.column_stack([m.predict_proba(Xt)[:, 1] for m in stack.estimators_])
    signal, noise = np.abs(stack.final_estimator_.coef_[0]) * meta.std(axis=0)
    assert stack.final_estimator_.coef_[0, 0] > 0 and noise < signal / 3


def test_meta_model_is_learnt_on_training_out_of_fold_predictions_only() -> None:
    X, y = _data()
    # A fully grown tree is perfect in-sample: a meta model fitted on in-sample predictions
    # would give it a huge weight; on out-of-fold predictions (the spec's seeded folds) it
    # stays moderate.
    stack = build_ensemble("StackingClassifier", _members()[:1], {"random_state": 3})
    stack.estimators = [("tree", DecisionTreeClassifier(random_state=0))]
    stack.fit(X, y)
    folds = StratifiedKFold(5, shuffle=True, random_state=3)
    oof = cross_val_predict(DecisionTreeClassifier(random_state=0), X, y, cv=folds,
                            method="predict_proba")[:, 1]
    expected = LogisticRegression(C=1.0).fit(oof.reshape(-1, 1), y)
    assert np.allclose(stack.final_estimator_.coef_, expected.coef_)
    assert np.allclose(stack.final_estimator_.intercept_, expected.intercept_)
