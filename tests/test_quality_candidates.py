"""Candidates of the quality benchmark: the stacked ensemble (meta model on training OOF only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier

from icipredict.modeling.baselines import LorisLLR6
from icipredict.modeling.response import StackedEnsemble


def _data(n: int = 500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Response driven by TMB and NLR; ``noise`` carries no signal."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"tmb": rng.lognormal(1.5, 1.0, n), "nlr": rng.lognormal(1.5, 0.6, n),
                      "noise": rng.normal(size=n)})
    logit = 1.5 * (X.tmb > 10) - 0.15 * np.minimum(X.nlr, 25) + 0.2
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)


def _members() -> list:
    return [("signal", LorisLLR6(C=1.0, features=["tmb", "nlr"])),
            ("noise", LorisLLR6(C=1.0, features=["noise"]))]


def test_stack_fits_predicts_and_weights_the_informative_member() -> None:
    X, y = _data()
    Xt, yt = _data(seed=1)
    stack = StackedEnsemble(_members()).fit(X, y)
    p = stack.predict_proba(Xt)
    assert p.shape == (len(Xt), 2) and np.allclose(p.sum(axis=1), 1)
    assert roc_auc_score(yt, p[:, 1]) > 0.65
    # Each member's share of the meta log-odds: |coefficient| x spread of its logit.
    logits = [np.log(m.predict_proba(Xt)[:, 1] / m.predict_proba(Xt)[:, 0])
              for _, m in stack.estimators_]
    signal, noise = np.abs(stack.meta_.coef_[0]) * np.std(logits, axis=1)
    assert stack.meta_.coef_[0, 0] > 0 and noise < signal / 3
    assert set(stack.predict(Xt)) <= {0, 1}
    assert clone(stack).get_params()["C"] == 1.0


def test_meta_model_is_learnt_on_training_out_of_fold_predictions_only() -> None:
    X, y = _data()
    # A fully grown tree is perfect in-sample: a meta model fitted on in-sample predictions
    # would give it a huge weight; on out-of-fold predictions it stays moderate.
    members = [("tree", DecisionTreeClassifier(random_state=0))]
    stack = StackedEnsemble(members, random_state=3).fit(X, y)
    folds = StratifiedKFold(5, shuffle=True, random_state=3)
    oof = cross_val_predict(DecisionTreeClassifier(random_state=0), X, y, cv=folds,
                            method="predict_proba")[:, 1]
    z = np.log(np.clip(oof, 1e-6, 1 - 1e-6) / (1 - np.clip(oof, 1e-6, 1 - 1e-6)))
    expected = LogisticRegression(C=1.0).fit(z.reshape(-1, 1), y)
    assert np.allclose(stack.meta_.coef_, expected.coef_)
    assert np.allclose(stack.meta_.intercept_, expected.intercept_)
    # Scoring new patients does not touch the fitted meta model.
    before = stack.meta_.coef_.copy()
    stack.predict_proba(_data(seed=2)[0])
    assert np.array_equal(stack.meta_.coef_, before)


def test_fit_meta_checks_member_count() -> None:
    X, y = _data(n=100)
    with pytest.raises(ValueError, match="2 out-of-fold arrays"):
        StackedEnsemble(_members()).fit_meta([np.full(len(y), 0.5)], y)
