"""Tests of the validation splitters and out-of-fold predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict, cross_val_score
from sksurv.util import Surv

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.validation import (
    FixedSplit,
    LeaveOneCentreOut,
    RepeatedStratifiedKFoldCV,
    StratifiedKFoldCV,
    average_repeats,
    cross_validate_predictions,
)


@pytest.fixture()
def cohort() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 240
    X = pd.DataFrame({"tmb": rng.lognormal(1.5, 1, n), "nlr": rng.lognormal(1.3, 0.5, n)},
                     index=[f"p{i:03d}" for i in range(n)])
    y = (np.log(X["tmb"]) - 0.5 * np.log(X["nlr"]) + rng.normal(0, 1, n) > 1.2).astype(int)
    centre = rng.choice(["MSK", "Leeds", "Lyon", "Turin"], n, p=[0.4, 0.2, 0.2, 0.2])
    return X, y.to_numpy(), centre


def test_leave_one_centre_out_gives_one_disjoint_fold_per_centre(cohort):
    X, y, centre = cohort
    cv = LeaveOneCentreOut()
    folds = list(cv.split(X, y, groups=centre))
    assert len(folds) == cv.get_n_splits(X, y, groups=centre) == 4
    assert cv.test_centres(groups=centre) == ["Leeds", "Lyon", "MSK", "Turin"]
    seen = []
    for (train, test), name in zip(folds, cv.test_centres(groups=centre), strict=True):
        assert set(centre[test]) == {name}
        assert name not in set(centre[train])
        assert len(train) + len(test) == len(y)
        seen.extend(test)
    assert sorted(seen) == list(range(len(y)))
    # the centre may also come from a column of X
    with_col = X.assign(centre=centre)
    assert [t.tolist() for _, t in cv.split(with_col)] == [t.tolist() for _, t in folds]
    with pytest.raises(CohortError, match="2 centres"):
        list(cv.split(X, y, groups=np.array(["MSK"] * len(y))))
    with pytest.raises(CohortError, match="centre"):
        list(cv.split(X, y))


def test_stratified_kfold_balances_responders_and_survival_events(cohort):
    X, y, _ = cohort
    cv = StratifiedKFoldCV(n_splits=5, random_state=1)
    tests = [test for _, test in cv.split(X, y)]
    assert sorted(np.concatenate(tests).tolist()) == list(range(len(y)))
    pos = [y[t].sum() for t in tests]
    assert max(pos) - min(pos) <= 1
    rng = np.random.default_rng(3)
    event = rng.random(len(y)) < 0.25
    target = Surv.from_arrays(event, rng.exponential(10, len(y)))
    ev = [event[t].sum() for _, t in StratifiedKFoldCV(5).split(X, target)]
    assert max(ev) - min(ev) <= 1 and sum(ev) == event.sum()
    assert list(StratifiedKFoldCV(5, random_state=1).split(X, y))[0][1].tolist() == tests[0].tolist()


def test_repeated_stratified_kfold_partitions_each_repeat(cohort):
    X, y, _ = cohort
    cv = RepeatedStratifiedKFoldCV(n_splits=4, n_repeats=3, random_state=0)
    splits = list(cv.split(X, y))
    assert len(splits) == cv.get_n_splits() == 12
    for r in range(3):
        tests = np.concatenate([t for _, t in splits[4 * r: 4 * r + 4]])
        assert sorted(tests.tolist()) == list(range(len(y)))
    assert splits[0][1].tolist() != splits[4][1].tolist()  # repeats reshuffle


def test_fixed_split_from_a_column(cohort):
    X, y, _ = cohort
    split = np.where(np.arange(len(y)) < 180, "train", "test")
    split[:5] = "holdout"  # neither train nor test
    folds = list(FixedSplit().split(X.assign(split=split), y))
    assert len(folds) == 1
    train, test = folds[0]
    assert train.tolist() == list(range(5, 180)) and test.tolist() == list(range(180, len(y)))
    with pytest.raises(CohortError, match="test"):
        list(FixedSplit().split(X, y, groups=np.array(["train"] * len(y))))


def test_out_of_fold_predictions_equal_sklearn_cross_val_predict(cohort):
    X, y, _ = cohort
    cv = StratifiedKFoldCV(5, random_state=2)
    oof = cross_validate_predictions(LogisticRegression, X, y, cv)
    assert oof["row"].is_unique and len(oof) == len(y)
    assert oof.attrs["method"] == "predict_proba"
    ref = cross_val_predict(LogisticRegression(), X, y, cv=cv, method="predict_proba")[:, 1]
    np.testing.assert_allclose(oof.sort_values("row")["prediction"], ref)
    assert set(oof["index"]) == set(X.index)
    # a splitter works in sklearn's own helpers
    assert cross_val_score(LogisticRegression(), X, y, cv=cv, scoring="roc_auc").shape == (5,)


def test_out_of_fold_predictions_with_repeats_and_centres(cohort):
    X, y, centre = cohort
    oof = cross_validate_predictions(LogisticRegression(), X, y,
                                     RepeatedStratifiedKFoldCV(4, n_repeats=2, random_state=0))
    assert len(oof) == 2 * len(y)
    assert oof.groupby("repeat")["row"].nunique().tolist() == [len(y), len(y)]
    assert set(oof["fold"]) == {0, 1, 2, 3}
    mean = average_repeats(oof)
    assert (mean["n_predictions"] == 2).all() and len(mean) == len(y)
    loco = cross_validate_predictions(LogisticRegression(), X, y, LeaveOneCentreOut(),
                                      groups=centre)
    assert (loco["test_group"].to_numpy() == centre[loco["row"]]).all()
    assert loco.groupby("test_group")["split"].nunique().eq(1).all()
    # the held-out centre's predictions come from a model that never saw it
    test = centre == "Lyon"
    model = LogisticRegression().fit(X[~test], y[~test])
    got = loco[loco["test_group"] == "Lyon"].sort_values("row")["prediction"]
    np.testing.assert_allclose(got, model.predict_proba(X[test])[:, 1])


class _TwoScores:
    """An estimator whose ``predict`` gives several named predictions (as ExperimentModels)."""

    def fit(self, X, y):  # noqa: ANN001, ANN201
        self.model_ = LogisticRegression().fit(X, y)
        return self

    def predict(self, X):  # noqa: ANN001, ANN201
        p = self.model_.predict_proba(X)[:, 1]
        return pd.DataFrame({"prob": p, "logit": np.log(p / (1 - p))}, index=X.index)


def test_named_predictions_and_the_fold_hook(cohort):
    """A DataFrame from ``method`` gives one column per prediction; ``on_fold`` sees every
    split with its fitted estimator, its rows and its predictions."""
    X, y, centre = cohort
    seen = []
    oof = cross_validate_predictions(_TwoScores, X, y, LeaveOneCentreOut(), groups=centre,
                                     method="predict", on_fold=seen.append)
    assert "prediction" not in oof and {"prob", "logit"} <= set(oof.columns)
    assert [f.split for f in seen] == [0, 1, 2, 3]
    for fold in seen:
        assert np.intersect1d(fold.train, fold.test).size == 0
        assert len(fold.train) + len(fold.test) == len(y)
        assert list(fold.predictions.index) == list(X.index[fold.test])
        rows = oof[oof["split"] == fold.split]
        np.testing.assert_array_equal(rows["row"], fold.test)
        np.testing.assert_allclose(rows["prob"], fold.estimator.model_.predict_proba(
            X.iloc[fold.test])[:, 1])
    np.testing.assert_allclose(oof["logit"], np.log(oof["prob"] / (1 - oof["prob"])))
