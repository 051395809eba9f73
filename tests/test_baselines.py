"""Published baselines: golden reproductions on the real Chowell/LORIS files + unit behaviour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from icipredict.cohort.schema import CohortError
from icipredict.modeling.baselines import (
    LLR6_FEATURES,
    RF16_FEATURES,
    LorisLLR6,
    RF16Forest,
    TMBThreshold,
    chowell_features,
    loris_features,
    response_target,
    youden_threshold,
)


def _read(chowell_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(chowell_dir / name)


@pytest.fixture(scope="module")
def chowell_split(chowell_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _read(chowell_dir, "chowell2022_train.csv"), _read(chowell_dir, "chowell2022_test.csv")


@pytest.fixture(scope="module")
def loris_split(chowell_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (_read(chowell_dir, "loris_year_split_train.csv"),
            _read(chowell_dir, "loris_year_split_test.csv"))


@pytest.fixture(scope="module")
def rf16_fit(chowell_split):  # noqa: ANN001, ANN201
    """RF16 fitted once per session (1000 trees)."""
    train, test = chowell_split
    model = RF16Forest(features=RF16_FEATURES, n_jobs=2).fit(
        chowell_features(train), response_target(train))
    return model, train, test


def test_rf16_reproduces_published_auc(rf16_fit) -> None:  # noqa: ANN001
    model, train, test = rf16_fit
    auc_train = roc_auc_score(response_target(train),
                              model.predict_proba(chowell_features(train))[:, 1])
    auc_test = roc_auc_score(response_target(test),
                             model.predict_proba(chowell_features(test))[:, 1])
    assert auc_test == pytest.approx(0.795, abs=0.01)
    assert auc_train == pytest.approx(0.849, abs=0.01)


def test_rf16_agrees_with_published_probabilities(rf16_fit) -> None:  # noqa: ANN001
    # Scored on the Chowell test only (never on the LORIS test: those patients trained RF16).
    model, _, test = rf16_fit
    ours = model.predict_proba(chowell_features(test))[:, 1]
    assert np.corrcoef(ours, test["RF16_prob"])[0, 1] > 0.99


def test_rf16_youden_threshold_on_train(rf16_fit) -> None:  # noqa: ANN001
    model, train, test = rf16_fit
    thr = youden_threshold(response_target(train), train["RF16_prob"])
    assert thr == pytest.approx(0.239, abs=0.005)
    y = response_target(test)
    pred = test["RF16_prob"].to_numpy() >= thr
    sens = pred[y == 1].mean()
    spec = (~pred[y == 0]).mean()
    assert sens == pytest.approx(0.833, abs=0.01)
    assert spec == pytest.approx(0.624, abs=0.01)
    # Our refit's own Youden threshold lands close to the published one.
    ours = youden_threshold(response_target(train),
                            model.predict_proba(chowell_features(train))[:, 1])
    assert abs(ours - thr) < 0.05


def test_llr6_reproduces_published_auc(loris_split) -> None:  # noqa: ANN001
    train, test = loris_split
    model = LorisLLR6(features=LLR6_FEATURES).fit(loris_features(train), response_target(train))
    auc_train = roc_auc_score(response_target(train),
                              model.predict_proba(loris_features(train))[:, 1])
    auc_test = roc_auc_score(response_target(test),
                             model.predict_proba(loris_features(test))[:, 1])
    assert auc_test == pytest.approx(0.754, abs=0.01)
    assert auc_train == pytest.approx(0.741, abs=0.01)
    # L1 at C = 0.1 keeps the strong predictors: TMB up, NLR down.
    coef = dict(zip(model.features_used_, model.coef_[0], strict=True))
    assert coef["tmb"] > 0 and coef["nlr"] < 0


def test_tmb_alone(chowell_split, loris_split) -> None:  # noqa: ANN001
    for (train, test), expected in ((chowell_split, 0.628), (loris_split, 0.648)):
        model = TMBThreshold().fit(chowell_features(train), response_target(train))
        X = chowell_features(test)
        y = response_target(test)
        assert roc_auc_score(y, model.decision_function(X)) == pytest.approx(expected, abs=0.005)
        # predict_proba is monotone in TMB: same AUC.
        assert roc_auc_score(y, model.predict_proba(X)[:, 1]) == pytest.approx(
            roc_auc_score(y, model.decision_function(X)))


def test_adapters_agree_between_layouts(chowell_split, loris_split) -> None:  # noqa: ANN001
    chowell = chowell_features(pd.concat(chowell_split))
    loris = chowell_features(pd.concat(loris_split))
    assert list(chowell.columns[:16]) == list(RF16_FEATURES)
    cancer = [c for c in chowell.columns if c.startswith("cancer_type_")]
    assert len(cancer) == 16
    assert (chowell[cancer].sum(axis=1) == 1).all() and (loris[cancer].sum(axis=1) == 1).all()
    # Same 1,479 patients: the case mix is identical in both layouts.
    assert (chowell[cancer].sum() == loris[cancer].sum()).all()
    assert chowell["tmb"].sum() == pytest.approx(loris["tmb"].sum())


# ------------------------------------------------------------------ unit behaviour (synthetic)


def _toy(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "tmb": rng.lognormal(1.5, 1.0, n), "nlr": rng.lognormal(1.5, 0.6, n),
        "age": rng.uniform(30, 95, n), "albumin": rng.normal(3.8, 0.5, n),
    })
    logit = 0.08 * np.minimum(X.tmb, 50) - 0.1 * np.minimum(X.nlr, 25) + 0.8 * (X.albumin - 3.8)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(logit - 0.8)))).astype(int)
    return X, y


def test_llr6_caps_and_contributions() -> None:
    X, y = _toy()
    model = LorisLLR6().fit(X, y)
    extreme = X.iloc[[0, 0, 0]].copy()
    extreme["tmb"] = [50.0, 500.0, 5000.0]
    p = model.predict_proba(extreme)[:, 1]
    assert p[0] == pytest.approx(p[1]) == pytest.approx(p[2])  # TMB capped at 50
    contrib = model.contributions(X.iloc[:10])
    assert np.allclose(contrib.sum(axis=1), model.decision_function(X.iloc[:10]))
    assert list(contrib.columns) == [*X.columns, "intercept"]


def test_llr6_scores_rows_with_missing_values() -> None:
    X, y = _toy()
    model = LorisLLR6().fit(X, y)
    holey = X.iloc[:5].copy()
    holey.loc[holey.index[0], "albumin"] = np.nan
    assert np.isfinite(model.predict_proba(holey)).all()


def test_missing_feature_is_named() -> None:
    X, y = _toy()
    with pytest.raises(CohortError, match="hed"):
        RF16Forest(n_estimators=5, features=["tmb", "hed"]).fit(X, y)
    with pytest.raises(CohortError, match="TMB column"):
        TMBThreshold().fit(X.drop(columns="tmb"), y)


def test_tmb_threshold_rule() -> None:
    X, y = _toy()
    model = TMBThreshold(threshold=10).fit(X, y)
    assert (model.predict(X) == (X.tmb >= 10)).all()
