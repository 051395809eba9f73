"""Hyperparameter search inside cross-validation, seeded and reproducible.

:func:`make_search` turns a :class:`~icipredict.modeling.spec.SearchSpec` into a scikit-learn
``GridSearchCV`` / ``RandomizedSearchCV``; :func:`nested_cv` wraps that search in an outer CV so
the reported number does not depend on hyperparameters chosen on the same folds.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
)

from icipredict.modeling.spec import Distribution, ModelSpec, SearchSpec

log = logging.getLogger(__name__)


def _strata(y: np.ndarray) -> np.ndarray:
    """Labels to stratify on: the class, or the event flag of a survival target."""
    y = np.asarray(y)
    if y.dtype.names is not None:
        return y[y.dtype.names[0]].astype(int)
    return y


def _space(spec: SearchSpec) -> dict[str, Any]:
    """Search space as lists (grid) or scipy distributions (random)."""
    out: dict[str, Any] = {}
    for name, values in spec.space.items():
        if isinstance(values, Distribution):
            if spec.method == "grid":
                raise ValueError(f"grid search needs a list of values for {name!r}")
            if values.dist == "uniform":
                out[name] = stats.uniform(values.low, values.high - values.low)
            elif values.dist == "loguniform":
                out[name] = stats.loguniform(values.low, values.high)
            else:
                out[name] = stats.randint(int(values.low), int(values.high) + 1)
        else:
            out[name] = list(values)
    return out


class _StratifiedByEvent(StratifiedKFold):
    """StratifiedKFold that accepts survival targets (stratifies on the event flag)."""

    def split(self, X: Any, y: Any = None, groups: Any = None):  # noqa: ANN201
        return super().split(X, _strata(y), groups)


def make_search(
    estimator: BaseEstimator, spec: SearchSpec, n_jobs: int = 1
) -> GridSearchCV | RandomizedSearchCV:
    """Build a seeded CV search over ``spec.space``.

    Parameters
    ----------
    estimator
        Unfitted estimator whose parameters the space names.
    spec
        Search settings (method, folds, scoring, seed, space).
    n_jobs
        Parallel candidates (keep 1 when the estimator is itself parallel).

    Returns
    -------
    GridSearchCV or RandomizedSearchCV
        Unfitted; ``fit(X, y)`` refits the best candidate on all of ``X``.
    """
    cv = _StratifiedByEvent(spec.cv, shuffle=True, random_state=spec.random_state)
    space = _space(spec)
    if spec.method == "grid":
        return GridSearchCV(estimator, space, scoring=spec.scoring, cv=cv, n_jobs=n_jobs,
                            refit=True, error_score="raise")
    return RandomizedSearchCV(estimator, space, n_iter=spec.n_iter, scoring=spec.scoring, cv=cv,
                              n_jobs=n_jobs, refit=True, random_state=spec.random_state,
                              error_score="raise")


def nested_cv(
    estimator: BaseEstimator,
    spec: SearchSpec,
    X: pd.DataFrame,
    y: np.ndarray,
    outer_splits: int = 5,
    random_state: int = 0,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Nested cross-validation: search on each outer-training part, score on its held-out fold.

    Parameters
    ----------
    estimator, spec
        What to tune and how (inner CV from ``spec``).
    X, y
        Training data (response labels or a survival structured array).
    outer_splits, random_state
        Outer folds and their seed.
    n_jobs
        Parallel candidates inside each search.

    Returns
    -------
    pandas.DataFrame
        One row per outer fold: ``fold``, ``score`` (the search's scorer on the held-out fold),
        ``inner_best`` (best inner-CV score) and ``params`` (the chosen hyperparameters).
    """
    outer = StratifiedKFold(outer_splits, shuffle=True, random_state=random_state)
    rows = []
    for fold, (train, test) in enumerate(outer.split(X, _strata(y))):
        search = make_search(clone(estimator), spec, n_jobs=n_jobs)
        search.fit(X.iloc[train], y[train])
        score = search.score(X.iloc[test], y[test])
        rows.append({"fold": fold, "score": float(score), "inner_best": search.best_score_,
                     "params": search.best_params_})
        log.info("outer fold %d: %.3f with %s", fold, score, search.best_params_)
    return pd.DataFrame(rows)


def tune_and_fit(
    spec: ModelSpec, X: pd.DataFrame, y: np.ndarray, n_jobs: int = 1
) -> tuple[BaseEstimator, GridSearchCV | RandomizedSearchCV | None]:
    """Tune a spec's base estimator by inner CV (when it has a search), then fit the final model.

    The search runs on the *uncalibrated* estimator; the chosen hyperparameters then go into
    :meth:`ModelSpec.build`, which adds calibration when the spec asks for it. Everything uses
    ``X, y`` only (pass training data).

    Parameters
    ----------
    spec
        The model spec.
    X, y
        Training data.
    n_jobs
        Parallel candidates in the search.

    Returns
    -------
    (estimator, search)
        The fitted final estimator and the fitted search (None without a search).
    """
    if spec.search is None:
        return spec.build().fit(X, y), None
    base = spec.model_copy(update={"calibrate": False}).build()
    search = make_search(base, spec.search, n_jobs=n_jobs).fit(X, y)
    log.info("%s: inner-CV best %.3f with %s", spec.name, search.best_score_, search.best_params_)
    return spec.build(**search.best_params_).fit(X, y), search
