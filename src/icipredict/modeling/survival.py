"""Survival models (OS, PFS) as scikit-learn estimators with one interface.

``y`` is a scikit-survival structured array (``Surv.from_arrays(event, time)``; time in months).
Every model offers:

- ``predict(X)``: risk score, higher = worse (``score`` = Harrell's C, so sklearn searches work);
- ``predict_survival(X, times)``: S(t) as an array ``(n, len(times))``;
- ``predict_median(X)``: median survival, ``NaN`` when the curve does not reach 0.5 within the
  training follow-up ("not reached"; the board turns NaN into null);
- ``summary_`` (lifelines models): hazard/time ratios with 95% CI and p-values.

Models: penalised Cox PH and Weibull AFT (lifelines), XGBoost ``survival:cox`` with a Breslow
baseline hazard estimated on the training data, and XGBoost ``survival:aft``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xgboost as xgb
from lifelines import CoxPHFitter, WeibullAFTFitter
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.impute import SimpleImputer
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted
from sksurv.linear_model.coxph import BreslowEstimator
from sksurv.metrics import concordance_index_censored

from icipredict.errors import ModelError
from icipredict.modeling.baselines import _select, _validated_frame

log = logging.getLogger(__name__)

_T, _E = "_time", "_event"


#: Fewest training patients still at risk at the last time a survival estimate is returned.
MIN_AT_RISK = 10


def follow_up_limit(time: np.ndarray, event: np.ndarray, min_at_risk: int = MIN_AT_RISK) -> float:
    """The training follow-up a survival model can speak to (months).

    The last event time at which at least ``min_at_risk`` training patients (all of them, when
    fewer) were still at risk. Beyond the last event a Cox model's baseline hazard is flat and a
    parametric model extrapolates its shape with no data; near it the estimate rests on a
    handful of patients (curtailing where fewer than ~10 remain at risk is the usual rule for
    Kaplan-Meier curves). A share of patients (a quantile of the follow-up times) would cut an
    end point with many early events, PFS, far too soon although many patients remain at risk.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    t_event = np.unique(time[event])
    if t_event.size == 0:
        return float("nan")
    at_risk = time.size - np.searchsorted(np.sort(time), t_event, side="left")
    ok = t_event[at_risk >= min(min_at_risk, time.size)]
    return float(ok.max() if ok.size else t_event.min())


def survival_arrays(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a scikit-survival structured array into ``(event: bool, time: float)``.

    Raises
    ------
    ModelError
        When ``y`` is not a structured array with one boolean and one float field.
    """
    y = np.asarray(y)
    names = y.dtype.names
    if names is None or len(names) != 2:
        raise ModelError("survival target must be a structured array from Surv.from_arrays("
                          "event, time)")
    event, time = y[names[0]].astype(bool), y[names[1]].astype(float)
    if np.any(~np.isfinite(time)) or np.any(time < 0):
        raise ModelError("survival times must be finite and >= 0 (months)")
    return event, time


class SurvivalMixin:
    """Shared pieces: Harrell's C as ``score``, median from the survival curve, tags."""

    _estimator_type = "survival"

    if TYPE_CHECKING:  # provided by each model
        def predict(self, X: pd.DataFrame) -> np.ndarray: ...

        def predict_survival(self, X: pd.DataFrame, times: Sequence[float] | np.ndarray
                             ) -> np.ndarray: ...

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.allow_nan = True  # imputed (lifelines) or routed natively (XGBoost)
        tags.target_tags.required = True
        return tags

    def score(self, X: pd.DataFrame, y: np.ndarray) -> float:
        """Harrell's concordance index of :meth:`predict` (higher = better)."""
        event, time = survival_arrays(y)
        return float(concordance_index_censored(event, time, self.predict(X))[0])

    def _median_from_curve(self, X: pd.DataFrame) -> np.ndarray:
        """First grid time (training event times) where S(t) <= 0.5, else NaN."""
        check_is_fitted(self)
        grid = self.event_times_
        surv = self.predict_survival(X, grid)
        below = surv <= 0.5
        first = np.argmax(below, axis=1)
        out = grid[first].astype(float)
        out[~below.any(axis=1)] = np.nan
        return out

    def _fit_common(self, X: pd.DataFrame | np.ndarray, y: np.ndarray) -> tuple:
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None.")
        event, time = survival_arrays(y)
        frame = _validated_frame(self, X, reset=True)
        if frame.shape[0] != event.shape[0]:
            raise ValueError(f"X has {frame.shape[0]} rows but y has {event.shape[0]}")
        frame = _select(frame, getattr(self, "features", None))
        self.features_used_ = list(frame.columns)
        if event.sum() == 0:
            raise ModelError("no events in the survival target: nothing to learn from")
        self.event_times_ = np.unique(time[event])
        self.max_time_ = float(time.max())
        self.follow_up_ = follow_up_limit(time, event)
        return frame, event, time

    def _frame(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        return _select(_validated_frame(self, X, reset=False),
                       self.features_used_)


class _LifelinesBase(SurvivalMixin, BaseEstimator):
    """lifelines fitter on median-imputed features (lifelines refuses NaN)."""

    def _lifelines_fit(self, fitter, X: pd.DataFrame, y: np.ndarray):  # noqa: ANN001
        frame, event, time = self._fit_common(X, y)
        self.imputer_ = SimpleImputer(strategy="median", keep_empty_features=True)
        values = self.imputer_.fit_transform(frame)
        # Constant columns make lifelines' Hessian singular: drop them, remember which.
        keep = np.nanstd(values, axis=0) > 0
        self.kept_ = [c for c, k in zip(self.features_used_, keep, strict=True) if k]
        data = pd.DataFrame(values[:, keep], columns=self.kept_)
        data[_T] = np.maximum(time, 1e-3)  # AFT needs t > 0
        data[_E] = event.astype(int)
        fitter.fit(data, duration_col=_T, event_col=_E)
        return fitter

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        frame = self._frame(X)
        values = self.imputer_.transform(frame)
        cols = [self.features_used_.index(c) for c in self.kept_]
        return pd.DataFrame(values[:, cols], columns=self.kept_)

    def predict_survival(self, X: pd.DataFrame, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """S(t | x) at ``times`` for each row, shape ``(n, len(times))``."""
        check_is_fitted(self)
        grid = np.asarray(times, dtype=float)
        sf = self.fitter_.predict_survival_function(self._design(X), times=grid)
        return np.clip(sf.to_numpy().T, 0.0, 1.0)


class CoxPHSurvival(_LifelinesBase):
    """Penalised Cox proportional-hazards model (lifelines ``CoxPHFitter``).

    Parameters
    ----------
    penalizer
        Strength of the penalty (lifelines applies it to standardised coefficients).
    l1_ratio
        0 = ridge, 1 = lasso.
    features
        Columns to use (all when None).
    """

    def __init__(self, penalizer: float = 0.05, l1_ratio: float = 0.0,
                 features: Sequence[str] | None = None) -> None:
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio
        self.features = features

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> CoxPHSurvival:
        """Fit the Cox model (Breslow baseline, as lifelines does)."""
        fitter = CoxPHFitter(penalizer=self.penalizer, l1_ratio=self.l1_ratio)
        self.fitter_ = self._lifelines_fit(fitter, X, y)
        s = self.fitter_.summary
        self.summary_ = pd.DataFrame({
            "coef": s["coef"], "HR": s["exp(coef)"], "HR_lower_95": s["exp(coef) lower 95%"],
            "HR_upper_95": s["exp(coef) upper 95%"], "p": s["p"],
        })
        self.coef_ = self.summary_["coef"].reindex(self.kept_).to_numpy()
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Log partial hazard (higher = worse)."""
        check_is_fitted(self)
        return np.log(self.fitter_.predict_partial_hazard(self._design(X)).to_numpy())

    def predict_median(self, X: pd.DataFrame) -> np.ndarray:
        """Median survival in months; NaN when not reached."""
        return self._median_from_curve(X)


class WeibullAFTSurvival(_LifelinesBase):
    """Weibull accelerated-failure-time model (lifelines ``WeibullAFTFitter``).

    ``summary_`` reports time ratios (``TR`` = exp(coef) of the scale parameter: > 1 = longer
    survival) with 95% CI and p.

    Parameters
    ----------
    penalizer
        L2 penalty (stabilises fits with collinear features).
    features
        Columns to use (all when None).
    """

    def __init__(self, penalizer: float = 0.01, features: Sequence[str] | None = None) -> None:
        self.penalizer = penalizer
        self.features = features

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> WeibullAFTSurvival:
        """Fit the AFT model."""
        fitter = WeibullAFTFitter(penalizer=self.penalizer)
        self.fitter_ = self._lifelines_fit(fitter, X, y)
        s = self.fitter_.summary.loc["lambda_"]
        self.summary_ = pd.DataFrame({
            "coef": s["coef"], "TR": s["exp(coef)"], "TR_lower_95": s["exp(coef) lower 95%"],
            "TR_upper_95": s["exp(coef) upper 95%"], "p": s["p"],
        }).drop(index="Intercept", errors="ignore")
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Minus the log median survival time (higher = worse)."""
        check_is_fitted(self)
        median = self.fitter_.predict_median(self._design(X)).to_numpy(dtype=float)
        return -np.log(median)

    def predict_median(self, X: pd.DataFrame) -> np.ndarray:
        """Median survival in months; NaN when beyond the training follow-up (extrapolation)."""
        check_is_fitted(self)
        median = self.fitter_.predict_median(self._design(X)).to_numpy(dtype=float)
        median[~np.isfinite(median) | (median > self.max_time_)] = np.nan
        return median


class _XGBSurvivalBase(SurvivalMixin, BaseEstimator):
    def _params(self, objective: str) -> dict:
        return {
            "objective": objective, "eta": self.learning_rate, "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight, "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree, "lambda": self.reg_lambda,
            "alpha": self.reg_alpha, "tree_method": "hist", "seed": self.random_state,
            "nthread": self.n_jobs, "verbosity": 0,
        }

    def _margin(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        return self.booster_.predict(xgb.DMatrix(self._frame(X)), output_margin=True)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Tree-SHAP contributions to the margin (xgboost ``pred_contribs=True``) + ``bias``."""
        check_is_fitted(self)
        values = self.booster_.predict(xgb.DMatrix(self._frame(X)), pred_contribs=True)
        out = pd.DataFrame(values, columns=[*self.features_used_, "bias"])
        if isinstance(X, pd.DataFrame):
            out.index = X.index
        return out


class XGBCoxSurvival(_XGBSurvivalBase):
    """XGBoost ``survival:cox`` with a Breslow baseline hazard from the training data.

    The margin is the log hazard ratio; S(t | x) = exp(-H0(t) exp(margin)) with H0 the Breslow
    estimate (scikit-survival's :class:`~sksurv.linear_model.coxph.BreslowEstimator`), flat after
    the last training event time.

    Parameters
    ----------
    n_estimators, learning_rate, max_depth, min_child_weight, subsample, colsample_bytree,
    reg_lambda, reg_alpha
        XGBoost hyperparameters.
    features
        Columns to use (all when None).
    random_state, n_jobs
        Seed and threads.
    """

    def __init__(self, n_estimators: int = 300, learning_rate: float = 0.03, max_depth: int = 2,
                 min_child_weight: float = 5.0, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0, reg_alpha: float = 0.0,
                 features: Sequence[str] | None = None, random_state: int = 0,
                 n_jobs: int = 2) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.features = features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> XGBCoxSurvival:
        """Fit the booster (label = +time for events, -time for censored) and the baseline."""
        frame, event, time = self._fit_common(X, y)
        label = np.where(event, time, -np.maximum(time, 1e-6))
        dtrain = xgb.DMatrix(frame, label=label)
        self.booster_ = xgb.train(self._params("survival:cox"), dtrain,
                                  num_boost_round=self.n_estimators)
        margin = self.booster_.predict(dtrain, output_margin=True)
        breslow = BreslowEstimator().fit(margin, event, time)
        self.baseline_times_ = np.asarray(breslow.cum_baseline_hazard_.x, dtype=float)
        self.baseline_cumhaz_ = np.asarray(breslow.cum_baseline_hazard_.y, dtype=float)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Log hazard ratio (higher = worse)."""
        return self._margin(X)

    def _cumhaz0(self, times: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.baseline_times_, times, side="right") - 1
        return np.where(idx >= 0, self.baseline_cumhaz_[np.clip(idx, 0, None)], 0.0)

    def predict_survival(self, X: pd.DataFrame, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """S(t | x) at ``times``, shape ``(n, len(times))``."""
        check_is_fitted(self)
        h0 = self._cumhaz0(np.asarray(times, dtype=float))
        return np.exp(-np.outer(np.exp(self._margin(X)), h0))

    def predict_median(self, X: pd.DataFrame) -> np.ndarray:
        """Median survival in months; NaN when not reached."""
        return self._median_from_curve(X)


_AFT_DISTRIBUTIONS = {
    # log T = margin + sigma * Z; survival of Z and its median.
    "normal": (stats.norm.sf, 0.0),
    "logistic": (stats.logistic.sf, 0.0),
    # xgboost's "extreme": F(z) = 1 - exp(-exp(z)) (minimum Gumbel), median z = log(log 2).
    "extreme": (lambda z: np.exp(-np.exp(z)), float(np.log(np.log(2.0)))),
}


class XGBAFTSurvival(_XGBSurvivalBase):
    """XGBoost ``survival:aft``: log T = margin + sigma * Z (right-censoring as interval bounds).

    Parameters
    ----------
    distribution
        ``"normal"``, ``"logistic"`` or ``"extreme"`` (distribution of Z).
    sigma
        Scale of Z (``aft_loss_distribution_scale``).
    n_estimators, learning_rate, max_depth, min_child_weight, subsample, colsample_bytree,
    reg_lambda, reg_alpha
        XGBoost hyperparameters.
    features
        Columns to use (all when None).
    random_state, n_jobs
        Seed and threads.
    """

    def __init__(self, distribution: str = "normal", sigma: float = 1.0,
                 n_estimators: int = 300, learning_rate: float = 0.03, max_depth: int = 2,
                 min_child_weight: float = 5.0, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0, reg_alpha: float = 0.0,
                 features: Sequence[str] | None = None, random_state: int = 0,
                 n_jobs: int = 2) -> None:
        self.distribution = distribution
        self.sigma = sigma
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.features = features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> XGBAFTSurvival:
        """Fit the booster with [time, time] for events and [time, inf) for censored rows."""
        if self.distribution not in _AFT_DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {sorted(_AFT_DISTRIBUTIONS)}")
        frame, event, time = self._fit_common(X, y)
        time = np.maximum(time, 1e-3)
        dtrain = xgb.DMatrix(frame)
        dtrain.set_float_info("label_lower_bound", time)
        dtrain.set_float_info("label_upper_bound", np.where(event, time, np.inf))
        params = self._params("survival:aft")
        params.update(aft_loss_distribution=self.distribution,
                      aft_loss_distribution_scale=self.sigma)
        self.booster_ = xgb.train(params, dtrain, num_boost_round=self.n_estimators)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Minus the predicted log time location (higher = worse)."""
        return -self._margin(X)

    def predict_survival(self, X: pd.DataFrame, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """S(t | x) = P(Z > (log t - margin) / sigma), shape ``(n, len(times))``."""
        sf, _ = _AFT_DISTRIBUTIONS[self.distribution]
        log_t = np.log(np.maximum(np.asarray(times, dtype=float), 1e-12))
        z = (log_t[None, :] - self._margin(X)[:, None]) / self.sigma
        return np.clip(sf(z), 0.0, 1.0)

    def predict_median(self, X: pd.DataFrame) -> np.ndarray:
        """Median survival in months; NaN when beyond the training follow-up (extrapolation)."""
        check_is_fitted(self)
        _, z50 = _AFT_DISTRIBUTIONS[self.distribution]
        median = np.exp(self._margin(X) + self.sigma * z50)
        median[median > self.max_time_] = np.nan
        return median
