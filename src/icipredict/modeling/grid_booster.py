"""The federated XGBoost response model as a registry estimator: grid edges + an XGBoost booster.

A federated booster's splits are bin indices on the federation's grid
(:mod:`icipredict.federated.boosting`), so it scores a row only after :func:`snap`.
:class:`GridBoostedResponse` keeps the two together (scikit-learn's classifier API) and, when
the run fitted one, the federated Platt map of its margin (:mod:`icipredict.federated.export`:
``a + b * margin`` on leave-one-centre-out margins). It lives in :mod:`icipredict.modeling`
beside :class:`~icipredict.modeling.cox_estimates.CoxEstimates`, so the registry's codecs read
it without importing the federated package. The registry codec ``federated_xgboost``
(:mod:`icipredict.registry.codecs`) writes the booster in XGBoost's JSON format and the edges
and Platt map as JSON (no pickle); :class:`icipredict.registry.members.GridBoosterMember` is
the loaded bundle member.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

from icipredict.errors import ModelError

if TYPE_CHECKING:
    from pathlib import Path


def snap(X: np.ndarray, grid: list[list[float]]) -> np.ndarray:
    """Bin indices on the grid (the number of a column's edges <= the value); NaN stays NaN."""
    out = np.full(X.shape, np.nan)
    for j, edges in enumerate(grid):
        ok = ~np.isnan(X[:, j])
        out[ok, j] = np.searchsorted(np.asarray(edges, float), X[ok, j], side="right")
    return out


class GridBoostedResponse(ClassifierMixin, BaseEstimator):
    """A federated XGBoost response model (built from a run's description, not fitted here).

    Parameters
    ----------
    features
        Builder-output columns the booster reads, in order.
    grid
        Per feature, the shared grid's edges (bin ``k`` holds ``edges[k-1] <= x < edges[k]``).
    platt
        ``{"intercept": a, "slope": b}``: P(responder) = ``expit(a + b * margin)``; None:
        ``expit(margin)`` (uncalibrated).
    """

    def __init__(self, features: list[str] | None = None, grid: list[list[float]] | None = None,
                 platt: dict[str, float] | None = None) -> None:
        self.features = features
        self.grid = grid
        self.platt = platt

    @classmethod
    def from_description(cls, model: dict[str, Any]) -> GridBoostedResponse:
        """The estimator of a run's ``models["response_xgb"]`` (:mod:`.boosting_fit`)."""
        platt = model.get("platt")
        est = cls(features=list(model["features"]),
                  grid=[[float(e) for e in edges] for edges in model["grid"]],
                  platt=None if platt is None else {"intercept": float(platt["intercept"]),
                                                    "slope": float(platt["slope"])})
        return est.set_booster(json.dumps(model["booster"]).encode())

    def set_booster(self, raw: bytes | str | Path) -> GridBoostedResponse:
        """Load the booster (XGBoost JSON bytes or a file) and set the fitted attributes."""
        import xgboost as xgb

        self.booster_ = xgb.Booster({"nthread": 1})
        self.booster_.load_model(bytearray(raw) if isinstance(raw, bytes) else str(raw))
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = len(self.features or [])
        self.feature_names_in_ = np.asarray(self.features, dtype=object)
        return self

    def _matrix(self, X: Any) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            missing = [f for f in self.features or [] if f not in X.columns]
            if missing:
                raise ModelError(f"federated XGBoost: input lacks columns {missing}")
            X = X[self.features]
        return np.asarray(X, dtype=float)

    def raw_margin(self, X: Any) -> np.ndarray:
        """The booster's log-odds of each row (binned on the grid first), before Platt."""
        import xgboost as xgb

        dm = xgb.DMatrix(snap(self._matrix(X), self.grid or []), missing=np.nan, nthread=1)
        return np.asarray(self.booster_.predict(dm, output_margin=True), dtype=float).ravel()

    def decision_function(self, X: Any) -> np.ndarray:
        """Calibrated log-odds: ``a + b * margin`` with the Platt map, else the margin."""
        m = self.raw_margin(X)
        if self.platt is None:
            return m
        return float(self.platt["intercept"]) + float(self.platt["slope"]) * m

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[P(non-responder), P(responder)]`` per row."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """1 where P(responder) >= 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def contributions(self, X: Any) -> np.ndarray:
        """Tree-SHAP contributions per feature on the (calibrated) log-odds scale, no bias: the
        booster's ``pred_contribs`` on the binned rows, times the Platt slope."""
        import xgboost as xgb

        dm = xgb.DMatrix(snap(self._matrix(X), self.grid or []), missing=np.nan, nthread=1)
        values = np.asarray(self.booster_.predict(dm, pred_contribs=True), dtype=float)[:, :-1]
        return values * (1.0 if self.platt is None else float(self.platt["slope"]))

