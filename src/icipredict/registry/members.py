"""Loaded models of a bundle: thin wrappers that let the libraries predict a batch of rows.

A :class:`Rows` batch (the feature builder's matrix) goes to each model once. Response models
give ``score`` (what a calibration map reads: XGBoost's margin, scikit-learn's
``decision_function``), ``proba`` and ``contributions``; survival models give ``risk``,
``survival`` and ``median``. The arithmetic is the libraries': XGBoost walks its trees (one
``predict`` per booster and batch), scikit-learn and the survival estimators predict
themselves; the Cox model evaluates lifelines' estimates (a matrix product, see
:class:`CoxMember`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from icipredict.errors import ModelError

#: Batches up to this many rows are predicted from one XGBoost DMatrix shared by every booster
#: (a few rows: its set-up is cheaper than ``inplace_predict``'s per call; the same margins).
DMATRIX_ROWS = 512
#: Batches from this many rows let XGBoost use every core (fewer: one thread, whose start-up
#: costs nothing; OpenMP's would cost more than a small batch).
PARALLEL_ROWS = 20_000


def cores() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Rows:
    """One batch of patients as the feature builder encoded them, with cached column selections.

    Parameters
    ----------
    Z
        The builder's matrix, ``(n, len(names))``.
    names
        The builder's feature names.
    index
        The patients' index (for frames handed to scikit-learn).
    """

    def __init__(self, Z: np.ndarray, names: list[str], index: pd.Index) -> None:
        self.Z = Z
        self.names = names
        self.index = index
        self._position = {n: j for j, n in enumerate(names)}
        self._cache: dict[tuple, Any] = {}

    def __len__(self) -> int:
        return len(self.Z)

    def matrix(self, features: list[str], dtype: Any = float) -> np.ndarray:
        """Columns ``features`` (absent ones missing) as a C-contiguous ``dtype`` matrix."""
        key = ("matrix", tuple(features), np.dtype(dtype).str)
        if key not in self._cache:
            idx = [self._position.get(f, -1) for f in features]
            # np.take keeps rows contiguous (Z[:, list] is column-major: a transposing copy).
            sel = np.take(self.Z, [max(i, 0) for i in idx], axis=1).astype(dtype, copy=False)
            missing = [k for k, i in enumerate(idx) if i < 0]
            if missing:
                sel[:, missing] = np.nan
            self._cache[key] = np.ascontiguousarray(sel)
        return self._cache[key]

    def frame(self, features: list[str]) -> pd.DataFrame:
        """Columns ``features`` as a float DataFrame (for estimators that read column names)."""
        return pd.DataFrame(self.matrix(features), columns=features, index=self.index)

    def dmatrix(self, features: list[str]) -> Any:
        """One XGBoost DMatrix of ``features`` for a small batch (shared by every booster that
        reads them), or None for a batch of more than :data:`DMATRIX_ROWS` rows."""
        if len(self) > DMATRIX_ROWS:
            return None
        key = ("dmatrix", tuple(features))
        if key not in self._cache:
            import xgboost as xgb

            self._cache[key] = xgb.DMatrix(self.matrix(features, np.float32), missing=np.nan,
                                           nthread=1)
        return self._cache[key]


# ------------------------------------------------------------------------------ response
class BoosterMember:
    """An XGBoost response booster (``XGBResponse``): margin, probability, contributions."""

    def __init__(self, path: Path, features: list[str]) -> None:
        import xgboost as xgb

        self.features = list(features)
        self.booster = xgb.Booster()
        self.booster.load_model(str(path))
        self.booster.set_param({"nthread": 1})
        self._parallel: Any = None

    def _booster_for(self, n: int) -> Any:
        if n < PARALLEL_ROWS or cores() < 2:
            return self.booster
        if self._parallel is None:  # a copy: concurrent small batches keep their one thread
            self._parallel = self.booster.copy()
            self._parallel.set_param({"nthread": cores()})
        return self._parallel

    def score(self, rows: Rows) -> np.ndarray:
        """The margin (log-odds) of each row: one XGBoost call for the whole batch."""
        if len(rows) == 0:
            return np.zeros(0)
        dm = rows.dmatrix(self.features)
        if dm is not None:
            margin = self.booster.predict(dm, output_margin=True, validate_features=False)
        else:
            margin = self._booster_for(len(rows)).inplace_predict(
                rows.matrix(self.features, np.float32), predict_type="margin", missing=np.nan)
        return np.asarray(margin, dtype=float).ravel()

    def proba(self, rows: Rows) -> np.ndarray:
        """P(responder)."""
        return np.clip(expit(self.score(rows)), 0.0, 1.0)

    def contributions(self, rows: Rows) -> pd.DataFrame:
        """Tree-SHAP contributions on the log-odds scale (XGBoost ``pred_contribs``, no bias)."""
        import xgboost as xgb

        # No feature names: the matrix's columns are the booster's by construction.
        dm = xgb.DMatrix(rows.matrix(self.features, np.float32), missing=np.nan, nthread=1)
        values = self.booster.predict(dm, pred_contribs=True, validate_features=False)
        return pd.DataFrame(values[:, :-1], columns=self.features, index=rows.index)


class SklearnMember:
    """A scikit-learn classifier (or one of our estimators on its API) read from skops."""

    def __init__(self, model: Any, inputs: list[str]) -> None:
        self.model = model
        self.inputs = list(inputs)

    def score(self, rows: Rows) -> np.ndarray:
        """What scikit-learn's calibration reads: ``decision_function``, else P(class 1)."""
        X = rows.frame(self.inputs)
        if hasattr(self.model, "decision_function"):
            return np.asarray(self.model.decision_function(X), dtype=float)
        return np.asarray(self.model.predict_proba(X), dtype=float)[:, 1]

    def proba(self, rows: Rows) -> np.ndarray:
        """P(responder): the model's ``predict_proba``."""
        return np.asarray(self.model.predict_proba(rows.frame(self.inputs)), dtype=float)[:, 1]

    def contributions(self, rows: Rows) -> pd.DataFrame:
        """Per-feature log-odds contributions: the model's own ``contributions`` (intercept
        left out), or coefficient x transformed value for a (pipeline ending in a) logistic
        regression."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        X = rows.frame(self.inputs)
        if hasattr(self.model, "contributions"):
            out = self.model.contributions(X)
            return out.drop(columns=["bias", "intercept"], errors="ignore").set_axis(rows.index)
        steps = self.model[:-1] if isinstance(self.model, Pipeline) else None
        final = self.model[-1] if steps is not None else self.model
        if not isinstance(final, LogisticRegression):
            raise ModelError(f"{type(self.model).__name__} has no contributions: explain=True "
                              "is not available for this model")
        values = np.asarray(steps.transform(X) if steps is not None else X, dtype=float)
        return pd.DataFrame(values * final.coef_[0], columns=self.inputs, index=rows.index)


def _calibrate(score: np.ndarray, cal: dict[str, Any] | None) -> np.ndarray:
    """scikit-learn's calibration maps: Platt ``expit(-(a s + b))`` or isotonic interpolation."""
    if cal is None:
        return expit(score)
    if cal["method"] == "sigmoid":
        return expit(-(cal["a"] * score + cal["b"]))
    return np.interp(score, cal["x"], cal["y"])


class CalibratedMember:
    """``CalibratedResponse``: the mean of each fold model's calibrated probability."""

    def __init__(self, folds: list[Any], calibrators: list[dict[str, Any]]) -> None:
        self.folds = folds
        self.calibrators = calibrators

    def proba(self, rows: Rows) -> np.ndarray:
        """P(responder), as ``CalibratedClassifierCV.predict_proba``."""
        out = np.zeros(len(rows))
        for fold, cal in zip(self.folds, self.calibrators, strict=True):
            out += _calibrate(fold.score(rows), cal)
        return np.clip(out / len(self.folds), 0.0, 1.0)

    def contributions(self, rows: Rows) -> pd.DataFrame:
        """Mean uncalibrated contributions of the fold models (calibration is monotone)."""
        parts = [fold.contributions(rows) for fold in self.folds]
        return sum(parts[1:], parts[0]) / len(parts)


class VotingMember:
    """scikit-learn's soft ``VotingClassifier``: the weighted mean of the members' P(class 1)."""

    def __init__(self, members: list[Any], weights: list[float] | None) -> None:
        self.members = members
        w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=float)
        self.weights = w / w.sum()

    def proba(self, rows: Rows) -> np.ndarray:
        """P(responder), as ``VotingClassifier.predict_proba`` (soft voting)."""
        return sum(w * m.proba(rows) for w, m in zip(self.weights, self.members, strict=True))

    def score(self, rows: Rows) -> np.ndarray:
        """What calibration reads: the voting classifier has no decision function, so P(1)."""
        return self.proba(rows)

    def contributions(self, rows: Rows) -> pd.DataFrame:
        """Not defined: the members' log-odds scales do not add up under probability voting."""
        raise ModelError("a voting ensemble has no per-feature contributions: explain=True is "
                         "not available for this model")


class StackingMember:
    """scikit-learn's ``StackingClassifier`` (binary, ``stack_method="predict_proba"``): a
    logistic regression on the members' P(class 1)."""

    def __init__(self, members: list[Any], coef: list[float], intercept: float) -> None:
        self.members = members
        self.coef = np.asarray(coef, dtype=float)
        self.intercept = float(intercept)

    def score(self, rows: Rows) -> np.ndarray:
        """The final estimator's ``decision_function`` (what calibration reads)."""
        meta = np.column_stack([m.proba(rows) for m in self.members])
        return meta @ self.coef + self.intercept

    def proba(self, rows: Rows) -> np.ndarray:
        """P(responder), as ``StackingClassifier.predict_proba``."""
        return expit(self.score(rows))

    def contributions(self, rows: Rows) -> pd.DataFrame:
        """Not defined for a stack of non-additive members."""
        raise ModelError("a stacked ensemble has no per-feature contributions: explain=True "
                         "is not available for this model")


class RecalibratedResponse:
    """A response model with a local logistic recalibration ``expit(a + b logit p)`` on top
    (:mod:`icipredict.evaluation.recalibration`); ``base`` is the model as trained."""

    def __init__(self, base: Any, recal: dict[str, Any]) -> None:
        self.base = base
        self.recal = recal

    def transform(self, p: np.ndarray) -> np.ndarray:
        """The recalibration map applied to the base model's probabilities."""
        from icipredict.evaluation.recalibration import apply_response_recalibration

        return apply_response_recalibration(p, self.recal)

    def proba(self, rows: Rows) -> np.ndarray:
        """Recalibrated P(responder)."""
        return self.transform(self.base.proba(rows))

    def contributions(self, rows: Rows) -> pd.DataFrame:
        """The base model's log-odds contributions times the slope (the map is linear in
        log-odds, so the reasons keep their order and sign)."""
        return self.base.contributions(rows) * float(self.recal["slope"])


class RecalibratedCox:
    """A Cox model whose linear predictor is scaled by a local calibration slope in its
    survival curves and medians; ``risk`` stays the trained one (same ranking, and the risk
    groups' training cut-points keep their meaning)."""

    def __init__(self, base: Any, recal: dict[str, Any]) -> None:
        self.base = base
        self.slope = float(recal["slope"])

    def risk(self, rows: Rows) -> np.ndarray:
        """The trained log partial hazard."""
        return self.base.risk(rows)

    def survival(self, rows: Rows, times: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """S(t) with the recalibrated linear predictor ``slope * risk``."""
        return self.base.survival(rows, times, self.slope * np.asarray(risk))

    def median(self, rows: Rows, risk: np.ndarray) -> np.ndarray:
        """Median survival with the recalibrated linear predictor."""
        return self.base.median(rows, self.slope * np.asarray(risk))


def recalibrated(part: str, member: Any, recal: dict[str, Any] | None) -> Any:
    """``member`` with the bundle's recalibration of ``part`` applied (unchanged without)."""
    if not recal:
        return member
    if part == "response":
        return RecalibratedResponse(member, recal)
    if not isinstance(member, CoxMember):
        raise ModelError(f"the {part} model is not a Cox model: its survival cannot be "
                         "recalibrated by a slope on the linear predictor")
    return RecalibratedCox(member, recal)


# ------------------------------------------------------------------------------ survival
class CoxMember:
    """A Cox model from lifelines' estimates (``coxph.json``).

    lifelines keeps a fitted model in pandas and formula objects with no pickle-free format, so
    the codec stores its estimates and this class evaluates lifelines' definitions with numpy:
    log partial hazard ``(x - mean) . beta`` (``predict_log_partial_hazard``), ``S(t | x) =
    exp(-H0(t) exp(lp))`` with the Breslow ``H0`` linearly interpolated
    (``predict_survival_function``), and the median as ``CoxPHSurvival.predict_median`` (the
    first training event time where ``S <= 0.5``). Missing inputs take the training medians.
    """

    def __init__(self, state: dict[str, Any]) -> None:
        self.features = state["features"]
        self.impute = np.asarray(state["impute"], dtype=float)
        self.kept = list(state["kept"])
        self.kept_idx = np.asarray([self.features.index(c) for c in self.kept], dtype=int)
        self.coef = np.asarray(state["coef"], dtype=float)
        self.mean = np.asarray(state["mean"], dtype=float)
        self.t0 = np.asarray(state["baseline_times"], dtype=float)
        self.h0 = np.asarray(state["baseline_cumhaz"], dtype=float)
        self.grid = np.asarray(state["event_times"], dtype=float)
        self.h_grid = np.interp(self.grid, self.t0, self.h0)

    def risk(self, rows: Rows) -> np.ndarray:
        """Log partial hazard (higher = worse)."""
        Z = rows.matrix([self.features[i] for i in self.kept_idx])
        Z = np.where(np.isnan(Z), self.impute[self.kept_idx], Z)
        return (Z - self.mean) @ self.coef

    def cumhaz0(self, times: np.ndarray) -> np.ndarray:
        """Baseline cumulative hazard at ``times``."""
        return np.interp(np.asarray(times, dtype=float), self.t0, self.h0)

    def survival(self, rows: Rows, times: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """S(t) at ``times``, shape ``(n, len(times))``."""
        return np.clip(np.exp(-np.outer(np.exp(risk), self.cumhaz0(times))), 0.0, 1.0)

    def median(self, rows: Rows, risk: np.ndarray) -> np.ndarray:
        """Median survival (months); NaN when the curve stays above 0.5 (not reached)."""
        # S(t) <= 0.5  <=>  H0(t) >= ln 2 / exp(lp); H0 is non-decreasing on the event grid.
        need = math.log(2.0) * np.exp(-risk)
        idx = np.searchsorted(self.h_grid, need, side="left")
        out = np.full(len(risk), np.nan)
        ok = idx < len(self.grid)
        out[ok] = self.grid[idx[ok]]
        return out


class EstimatorSurvival:
    """A survival estimator rebuilt from its codec (XGBoost Cox/AFT): it predicts itself."""

    def __init__(self, model: Any, inputs: list[str]) -> None:
        self.model = model
        self.inputs = inputs

    def risk(self, rows: Rows) -> np.ndarray:
        """The estimator's ``predict`` (higher = worse)."""
        return np.asarray(self.model.predict(rows.frame(self.inputs)), dtype=float)

    def survival(self, rows: Rows, times: np.ndarray, risk: np.ndarray) -> np.ndarray:
        """The estimator's ``predict_survival``."""
        return np.asarray(self.model.predict_survival(rows.frame(self.inputs), times),
                          dtype=float)

    def median(self, rows: Rows, risk: np.ndarray) -> np.ndarray:
        """The estimator's ``predict_median`` (NaN when not reached)."""
        return np.asarray(self.model.predict_median(rows.frame(self.inputs)), dtype=float)


class GridBoosterMember:
    """A loaded federated :class:`~icipredict.modeling.grid_booster.GridBoostedResponse`:
    margin, probability, contributions of a batch."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.features = list(model.features or [])

    def score(self, rows: Rows) -> np.ndarray:
        """The calibrated log-odds of each row (one XGBoost call per batch)."""
        if len(rows) == 0:
            return np.zeros(0)
        return self.model.decision_function(rows.matrix(self.features))

    def proba(self, rows: Rows) -> np.ndarray:
        """P(responder)."""
        return np.clip(expit(self.score(rows)), 0.0, 1.0)

    def contributions(self, rows: Rows) -> pd.DataFrame:
        """Per-feature contributions on the log-odds scale (the model's ``contributions``)."""
        values = self.model.contributions(rows.matrix(self.features))
        return pd.DataFrame(values, columns=self.features, index=rows.index)
