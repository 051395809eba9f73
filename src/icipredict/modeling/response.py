"""Response models (responder = CR/PR): XGBoost and calibration.

Ensembles are scikit-learn's ``VotingClassifier``/``StackingClassifier``, declared in model specs
(:mod:`icipredict.modeling.ensemble`).

All are scikit-learn classifiers on a numeric feature DataFrame ``X`` with ``predict_proba``;
models with natural per-feature attributions expose ``contributions(X)`` (log-odds scale, rows
sum to the model's margin) for the board's "reasons".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils import Tags, get_tags
from sklearn.utils.validation import check_is_fitted

from icipredict.modeling.baselines import (
    _binary_tags,
    _binary_target,
    _select,
    _validated_frame,
)

log = logging.getLogger(__name__)


class XGBResponse(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees (``xgboost.XGBClassifier``, ``hist``, seeded) for response.

    Missing values are routed by XGBoost natively (never imputed as zero).

    Parameters
    ----------
    n_estimators, learning_rate, max_depth, min_child_weight, subsample, colsample_bytree,
    reg_lambda, reg_alpha, gamma
        XGBoost hyperparameters.
    scale_pos_weight
        Weight of responders (``None`` = 1).
    features
        Columns to use (all when None).
    random_state, n_jobs
        Seed and threads.
    """

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.03,
        max_depth: int = 3,
        min_child_weight: float = 5.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        scale_pos_weight: float | None = None,
        features: Sequence[str] | None = None,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.gamma = gamma
        self.scale_pos_weight = scale_pos_weight
        self.features = features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Tags:
        return _binary_tags(super().__sklearn_tags__())

    def _frame(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        return _select(_validated_frame(self, X, reset=False), self.features_used_)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> XGBResponse:
        """Fit the booster (on the class indices: xgboost wants labels 0..k-1)."""
        y = _binary_target(self, y)
        Z = _select(_validated_frame(self, X, reset=True), self.features)
        self.features_used_ = list(Z.columns)
        self.model_ = xgb.XGBClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            max_depth=self.max_depth, min_child_weight=self.min_child_weight,
            subsample=self.subsample, colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda, reg_alpha=self.reg_alpha, gamma=self.gamma,
            scale_pos_weight=self.scale_pos_weight, tree_method="hist",
            random_state=self.random_state, n_jobs=self.n_jobs, eval_metric="logloss",
        )
        self.classes_, codes = np.unique(y, return_inverse=True)
        self.model_.fit(Z, codes)
        self.feature_importances_ = self.model_.feature_importances_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities ``(n, 2)``."""
        check_is_fitted(self)
        return self.model_.predict_proba(self._frame(X))

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Margin (log-odds)."""
        check_is_fitted(self)
        return self.model_.predict(self._frame(X), output_margin=True)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class labels at probability 0.5."""
        check_is_fitted(self)
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Tree-SHAP contributions on the log-odds scale (xgboost ``pred_contribs=True``).

        Columns: the features + ``bias``; rows sum to :meth:`decision_function`.
        """
        check_is_fitted(self)
        Z = self._frame(X)
        values = self.model_.get_booster().predict(xgb.DMatrix(Z), pred_contribs=True)
        out = pd.DataFrame(values, columns=[*self.features_used_, "bias"])
        if isinstance(X, pd.DataFrame):
            out.index = X.index
        return out


def _oof_calibration_loss(score: np.ndarray, y: np.ndarray, method: str, cv: StratifiedKFold) -> float:
    """Cross-validated log-loss of a 1-D calibrator (Platt or isotonic) on out-of-fold scores."""
    prob = np.empty_like(score, dtype=float)
    for train, test in cv.split(score.reshape(-1, 1), y):
        if method == "sigmoid":
            cal = LogisticRegression(C=1e6).fit(score[train].reshape(-1, 1), y[train])
            prob[test] = cal.predict_proba(score[test].reshape(-1, 1))[:, 1]
        elif method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            prob[test] = iso.fit(score[train], y[train]).predict(score[test])
        else:
            raise ValueError(f"unknown calibration method {method!r}; expected sigmoid or isotonic")
    return float(log_loss(y, np.clip(prob, 1e-6, 1 - 1e-6)))


class CalibratedResponse(ClassifierMixin, BaseEstimator):
    """Probability calibration with Platt vs isotonic chosen by inner-CV log-loss.

    On the training data only: out-of-fold scores of ``estimator`` (``cv`` folds) are calibrated
    by each method in turn, each calibrator cross-validated on those scores; the method with the
    lower log-loss wins and the final model is
    :class:`~sklearn.calibration.CalibratedClassifierCV` (``cv`` folds) with that method.

    Parameters
    ----------
    estimator
        An unfitted classifier with ``predict_proba``.
    methods
        Candidate methods (``"sigmoid"`` = Platt, ``"isotonic"``).
    cv
        Number of stratified folds for both the choice and the final calibration.
    random_state
        Seed of the fold split.
    """

    def __init__(
        self,
        estimator: BaseEstimator,
        methods: Sequence[str] = ("sigmoid", "isotonic"),
        cv: int = 5,
        random_state: int = 0,
    ) -> None:
        self.estimator = estimator
        self.methods = methods
        self.cv = cv
        self.random_state = random_state

    def __sklearn_tags__(self) -> Tags:
        tags = _binary_tags(super().__sklearn_tags__())
        tags.input_tags.allow_nan = get_tags(self.estimator).input_tags.allow_nan
        return tags

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> CalibratedResponse:
        """Choose the calibration method and fit the calibrated model.

        ``X`` reaches ``estimator`` as given (a DataFrame keeps its column names).
        """
        y = _binary_target(self, y)
        _validated_frame(self, X, reset=True)
        if not isinstance(X, pd.DataFrame):
            del self.feature_names_in_
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        methods = list(self.methods)
        if len(methods) > 1:
            oof = cross_val_predict(clone(self.estimator), X, y, cv=folds,
                                    method="predict_proba")[:, 1]
            inner = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state + 1)
            positive = (y == np.unique(y)[1]).astype(int)  # 0/1 whatever the class labels
            self.method_losses_ = {m: _oof_calibration_loss(oof, positive, m, inner)
                                   for m in methods}
            self.method_ = min(self.method_losses_, key=self.method_losses_.__getitem__)
        else:
            self.method_losses_ = {}
            self.method_ = methods[0]
        log.info("calibration method %s (inner-CV log-loss %s)", self.method_, self.method_losses_)
        self.model_ = CalibratedClassifierCV(clone(self.estimator), method=self.method_,
                                             cv=folds).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated class probabilities ``(n, 2)``."""
        check_is_fitted(self)
        if not isinstance(X, pd.DataFrame):
            X = _validated_frame(self, X, reset=False).to_numpy()
        return self.model_.predict_proba(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class labels at probability 0.5."""
        check_is_fitted(self)
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Mean uncalibrated contributions of the fold models (when the base model has them).

        Calibration is monotone, so the ranking of reasons is that of the base model.
        """
        check_is_fitted(self)
        parts = [c.estimator.contributions(X) for c in self.model_.calibrated_classifiers_
                 if hasattr(c.estimator, "contributions")]
        if not parts:
            raise AttributeError(f"{type(self.estimator).__name__} has no contributions()")
        return sum(parts[1:], parts[0]) / len(parts)
