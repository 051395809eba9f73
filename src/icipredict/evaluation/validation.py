"""Validation schemes as scikit-learn splitters, and out-of-fold predictions.

Every splitter has ``split(X, y, groups)`` and ``get_n_splits(X, y, groups)`` and can be passed
to ``sklearn.model_selection.cross_val_score`` and friends.

- :class:`StratifiedKFoldCV` / :class:`RepeatedStratifiedKFoldCV`: stratified on the responder
  flag, or — for a survival target (structured array from ``Surv.from_arrays``) — on the event flag,
  so every fold holds a similar share of events.
- :class:`FixedSplit`: one split given by a column (e.g. ``split == "train"`` / ``"test"``).
- :class:`LeaveOneCentreOut`: one fold per centre; train on all other centres, test on it.

Group labels (split or centre) come from ``groups`` when given, else from a column of ``X``
(a DataFrame); passing ``groups`` keeps that column out of the features.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import BaseCrossValidator, RepeatedStratifiedKFold, StratifiedKFold

from icipredict.cohort.schema import CohortError

logger = logging.getLogger(__name__)


def stratification_labels(y: Any) -> np.ndarray:
    """Labels to stratify on: the event flag of a survival target, else ``y`` itself.

    A structured survival array (first field boolean event, second float time) gives its event
    field; a DataFrame with an ``event`` column gives that column; anything else is used as is.
    """
    if isinstance(y, np.ndarray) and y.dtype.names and len(y.dtype.names) == 2:
        return np.asarray(y[y.dtype.names[0]]).astype(int)
    if isinstance(y, pd.DataFrame):
        for col in ("event", "os_event", "pfs_event"):
            if col in y.columns:
                return y[col].to_numpy().astype(int)
        raise CohortError("a DataFrame target needs an 'event' column to stratify on")
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise CohortError(f"cannot stratify on a target of shape {labels.shape}")
    if pd.isna(labels).any():
        raise CohortError("the target has missing values: drop those patients before splitting")
    return labels


def _group_labels(X: Any, groups: Any, column: str, who: str) -> np.ndarray:
    if groups is not None:
        labels = np.asarray(groups)
    elif isinstance(X, pd.DataFrame) and column in X.columns:
        labels = X[column].to_numpy()
    else:
        raise CohortError(f"{who} needs groups=... or a DataFrame X with column {column!r}",
                          column=column)
    if pd.isna(labels).any():
        raise CohortError(f"{who}: {int(pd.isna(labels).sum())} rows have no {column}",
                          column=column)
    return labels


class StratifiedKFoldCV(BaseCrossValidator):
    """Stratified k-fold on the responder flag or, for survival targets, the event flag.

    Parameters
    ----------
    n_splits
        Number of folds.
    shuffle
        Shuffle before splitting.
    random_state
        Seed (used when ``shuffle``).
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = True, random_state: int | None = 0):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)``."""
        if y is None:
            raise CohortError("stratified k-fold needs y")
        labels = stratification_labels(y)
        cv = StratifiedKFold(self.n_splits, shuffle=self.shuffle,
                             random_state=self.random_state if self.shuffle else None)
        yield from cv.split(np.zeros(len(labels)), labels)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds."""
        return self.n_splits

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover - unused
        raise NotImplementedError


class RepeatedStratifiedKFoldCV(BaseCrossValidator):
    """Repeated stratified k-fold (different shuffles); stratified like :class:`StratifiedKFoldCV`.

    Split ``k`` belongs to repeat ``k // n_splits`` and fold ``k % n_splits``.
    """

    def __init__(self, n_splits: int = 5, n_repeats: int = 10, random_state: int | None = 0):
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` for every fold of every repeat."""
        if y is None:
            raise CohortError("repeated stratified k-fold needs y")
        labels = stratification_labels(y)
        cv = RepeatedStratifiedKFold(n_splits=self.n_splits, n_repeats=self.n_repeats,
                                     random_state=self.random_state)
        yield from cv.split(np.zeros(len(labels)), labels)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """``n_splits * n_repeats``."""
        return self.n_splits * self.n_repeats

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover - unused
        raise NotImplementedError


class FixedSplit(BaseCrossValidator):
    """A single train/test split read from the data (e.g. the published random split).

    Parameters
    ----------
    column
        Column of ``X`` holding the split labels (used when ``groups`` is not given).
    train_value, test_value
        Labels of training and test rows; rows with other labels are in neither.
    """

    def __init__(self, column: str = "split", train_value: Any = "train", test_value: Any = "test"):
        self.column = column
        self.train_value = train_value
        self.test_value = test_value

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the one ``(train_indices, test_indices)`` pair."""
        labels = _group_labels(X, groups, self.column, "FixedSplit")
        train = np.flatnonzero(labels == self.train_value)
        test = np.flatnonzero(labels == self.test_value)
        if train.size == 0 or test.size == 0:
            raise CohortError(
                f"FixedSplit: need rows with {self.column} == {self.train_value!r} and "
                f"== {self.test_value!r}; found {train.size} and {test.size}", column=self.column)
        other = labels.size - train.size - test.size
        if other:
            logger.info("FixedSplit: %d rows are neither train nor test and are left out", other)
        yield train, test

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Always 1."""
        return 1

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover - unused
        raise NotImplementedError


class LeaveOneCentreOut(BaseCrossValidator):
    """Train on all centres but one, test on that one; one fold per centre (sorted by name).

    Parameters
    ----------
    column
        Column of ``X`` with the centre (used when ``groups`` is not given).
    """

    def __init__(self, column: str = "centre"):
        self.column = column

    def _centres(self, X, groups) -> tuple[np.ndarray, np.ndarray]:
        labels = _group_labels(X, groups, self.column, "LeaveOneCentreOut").astype(str)
        centres = np.unique(labels)
        if centres.size < 2:
            raise CohortError(f"leave-one-centre-out needs >= 2 centres, found {centres.size}",
                              column=self.column)
        return labels, centres

    def split(self, X, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` with one held-out centre per fold."""
        labels, centres = self._centres(X, groups)
        for centre in centres:
            test = labels == centre
            yield np.flatnonzero(~test), np.flatnonzero(test)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of centres."""
        return int(self._centres(X, groups)[1].size)

    def test_centres(self, X=None, groups=None) -> list[str]:
        """Held-out centre of each fold, in fold order."""
        return [str(c) for c in self._centres(X, groups)[1]]

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover - unused
        raise NotImplementedError


def _take(data: Any, idx: np.ndarray) -> Any:
    if isinstance(data, pd.DataFrame | pd.Series):
        return data.iloc[idx]
    return np.asarray(data)[idx] if not isinstance(data, np.ndarray) else data[idx]


def _fresh(factory: Any) -> Any:
    """A new unfitted estimator from a factory, a class, or an estimator instance (cloned)."""
    if not isinstance(factory, type) and hasattr(factory, "fit"):
        return clone(factory)
    return factory()


def _predict(est: Any, X: Any, method: str) -> tuple[np.ndarray | pd.DataFrame, str]:
    if method == "auto":
        method = "predict_proba" if hasattr(est, "predict_proba") else "predict"
    raw = getattr(est, method)(X)
    if isinstance(raw, pd.DataFrame):
        return raw, method  # several named predictions (dtypes kept)
    out = np.asarray(raw)
    if method == "predict_proba":
        if out.ndim != 2 or out.shape[1] != 2:
            raise CohortError(f"predict_proba returned shape {out.shape}; expected (n, 2)")
        out = out[:, 1]
    return out.astype(float), method


@dataclass
class CVFold:
    """One fitted split of :func:`cross_validate_predictions` (given to its ``on_fold``).

    Attributes
    ----------
    split, repeat, fold
        Running number of the split, its repeat and its fold within the repeat.
    train, test
        Positions (in ``X``) of the training and the held-out rows.
    estimator
        The estimator fitted on the training rows.
    predictions
        What ``method`` returned for the held-out rows (a 1-D array, or a DataFrame of
        several named predictions).
    """

    split: int
    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray
    estimator: Any
    predictions: np.ndarray | pd.DataFrame


def cross_validate_predictions(
    estimator_factory: Callable[[], Any] | Any,
    X: Any,
    y: Any,
    splitter: BaseCrossValidator,
    *,
    groups: Any = None,
    method: str = "auto",
    on_fold: Callable[[CVFold], None] | None = None,
) -> pd.DataFrame:
    """Fit a fresh model per fold and collect out-of-fold predictions.

    The one cross-validation loop of the package: the training pipeline
    (:func:`icipredict.training.pipeline.fit_experiment`) runs its validation scheme through it
    with an :class:`~icipredict.modeling.experiment.ExperimentModels` estimator.

    Parameters
    ----------
    estimator_factory
        A callable returning an unfitted estimator, or an estimator (cloned per fold).
    X
        Features (DataFrame or array), one row per patient.
    y
        Target: 0/1 responder labels, or a survival structured array (what the splitter
        stratifies on; passed to ``fit`` with the training rows).
    splitter
        Any splitter with ``split(X, y, groups)``.
    groups
        Group labels passed to the splitter (centre or split column).
    method
        ``"predict_proba"`` (positive-class column), ``"predict"`` (e.g. a risk score), or
        ``"auto"`` (``predict_proba`` when the estimator has it). A method returning a DataFrame
        gives several named predictions.
    on_fold
        Called with a :class:`CVFold` after each split is fitted and predicted (e.g. per-fold
        metrics, progress).

    Returns
    -------
    pandas.DataFrame
        Long table, one row per (patient, split in which it was tested): ``row`` (position in
        ``X``), ``index`` (label of ``X`` when a DataFrame), ``split`` (running number),
        ``repeat``, ``fold``, ``test_group`` (the held-out group label when ``groups`` is given or
        the splitter is :class:`LeaveOneCentreOut`) and ``prediction`` -- or, when ``method``
        returns a DataFrame, its columns in place of ``prediction``.
    """
    n_repeats = int(getattr(splitter, "n_repeats", 1))
    total = splitter.get_n_splits(X, y, groups)
    per_repeat = max(1, total // n_repeats)
    group_labels = groups
    if group_labels is None and isinstance(splitter, LeaveOneCentreOut | FixedSplit):
        group_labels = _group_labels(X, None, splitter.column, type(splitter).__name__)
    index = X.index.to_numpy() if isinstance(X, pd.DataFrame) else np.arange(len(X))
    frames = []
    used = method
    for k, (train, test) in enumerate(splitter.split(X, y, groups)):
        est = _fresh(estimator_factory)
        est.fit(_take(X, train), _take(y, train))
        pred, used = _predict(est, _take(X, test), method)
        frame = pd.DataFrame({"row": test, "index": index[test], "split": k,
                              "repeat": k // per_repeat, "fold": k % per_repeat})
        if group_labels is not None:
            frame["test_group"] = np.asarray(group_labels)[test]
        if isinstance(pred, pd.DataFrame):
            frame = pd.concat([frame, pred.reset_index(drop=True)], axis=1)
        else:
            frame["prediction"] = pred
        frames.append(frame)
        if on_fold is not None:
            on_fold(CVFold(k, k // per_repeat, k % per_repeat, train, test, est, pred))
        logger.debug("split %d: trained on %d, tested on %d", k, train.size, test.size)
    out = pd.concat(frames, ignore_index=True)
    out.attrs["method"] = used
    return out


def average_repeats(oof: pd.DataFrame) -> pd.DataFrame:
    """Mean out-of-fold prediction per patient over repeats (one row per ``row``)."""
    return (oof.groupby("row", sort=True)
            .agg(index=("index", "first"), prediction=("prediction", "mean"),
                 n_predictions=("prediction", "size"))
            .reset_index())
