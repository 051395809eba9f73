"""Every model of an experiment as one estimator: feature builder, response, survival, comparators.

:class:`ExperimentModels` is fitted on a one-row-per-patient frame (canonical inputs *and*
outcomes, as :func:`icipredict.features.builder.patient_frame` gives with
``include_outcomes=True``): it fits the :class:`~icipredict.features.builder.FeatureBuilder` on
those patients, then the response model on the patients with a known response, one survival model
per end point on the patients with a known time and event, and any further (comparator) response
models on the same features. ``predict`` returns one column per model: ``prob``, ``risk_os``,
``risk_pfs`` and ``prob_<comparator name>``.

It follows the scikit-learn contract (``__init__`` stores parameters, ``fit`` returns ``self``,
fitted attributes end in ``_``), so the one cross-validation function
(:func:`icipredict.evaluation.validation.cross_validate_predictions`) clones and fits it per fold.
The outcomes are read from the frame itself; ``y`` is only what the splitter stratifies on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

logger = logging.getLogger(__name__)

#: Survival end points, in the order their models are fitted and their columns appear.
ENDPOINTS = ("os", "pfs")


def responder_target(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mask of patients with a known response, and their 0/1 responder labels."""
    y = pd.to_numeric(frame.get("responder"), errors="coerce")
    ok = y.notna().to_numpy()
    return ok, y[ok].astype(int).to_numpy()


def survival_target(frame: pd.DataFrame, end: str) -> tuple[np.ndarray, np.ndarray]:
    """Mask of patients with a known ``end`` outcome, and the sksurv target for them."""
    from sksurv.util import Surv

    t = pd.to_numeric(frame.get(f"{end}_months"), errors="coerce")
    e = pd.to_numeric(frame.get(f"{end}_event"), errors="coerce")
    ok = (t.notna() & e.notna()).to_numpy()
    return ok, Surv.from_arrays(e[ok].astype(bool).to_numpy(), t[ok].to_numpy(dtype=float))


def response_strata(frame: pd.DataFrame) -> np.ndarray:
    """Labels the stratified splitters use: responder (missing -> -1)."""
    y = pd.to_numeric(frame.get("responder"), errors="coerce")
    return y.fillna(-1).astype(int).to_numpy()


class ExperimentModels(BaseEstimator):
    """The feature builder and every model of an experiment, fitted on one patient frame.

    Parameters
    ----------
    feature_spec
        The :class:`~icipredict.features.spec.FeatureSpec` of the builder.
    response
        Model spec (:class:`~icipredict.modeling.spec.ModelSpec`) of the response model, or None.
    survival
        Model spec of the survival model (one fit per end point), or None.
    targets
        Which of ``response``, ``os``, ``pfs`` to fit.
    comparators
        Further response model specs, fitted on the same features (``prob_<name>`` columns).

    Attributes
    ----------
    builder_
        The fitted feature builder.
    response_
        The fitted response model (None when not a target or no spec).
    survival_
        End point -> fitted survival model (end points without events are left out).
    comparators_
        Comparator name -> fitted response model.
    """

    def __init__(self, feature_spec: Any = None, response: Any = None, survival: Any = None,
                 targets: Sequence[str] = ("response", "os", "pfs"),
                 comparators: Sequence[Any] = ()):
        self.feature_spec = feature_spec
        self.response = response
        self.survival = survival
        self.targets = targets
        self.comparators = comparators

    def fit(self, X: pd.DataFrame, y: Any = None) -> ExperimentModels:
        """Fit the builder, then every model, on the patients of ``X`` (``y`` is unused)."""
        from icipredict.features.builder import FeatureBuilder
        from icipredict.modeling.search import tune_and_fit

        self.builder_ = FeatureBuilder(self.feature_spec).fit(X)
        features = self.builder_.transform(X)
        self.response_, self.survival_, self.comparators_ = None, {}, {}
        if "response" in self.targets and self.response is not None:
            ok, yr = responder_target(X)
            self.response_, _ = tune_and_fit(self.response, features[ok], yr)
        for end in ENDPOINTS:
            if end in self.targets and self.survival is not None:
                ok, ys = survival_target(X, end)
                if ok.sum() and ys[ys.dtype.names[0]].any():
                    self.survival_[end], _ = tune_and_fit(self.survival, features[ok], ys)
        for spec in self.comparators:
            ok, yr = responder_target(X)
            self.comparators_[spec.name], _ = tune_and_fit(spec, features[ok], yr)
        return self

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """One column per fitted model (``prob``, ``risk_<end>``, ``prob_<comparator>``)."""
        features = self.builder_.transform(X)
        out = pd.DataFrame(index=X.index)
        if self.response_ is not None:
            out["prob"] = self.response_.predict_proba(features)[:, 1]
        for end, model in self.survival_.items():
            out[f"risk_{end}"] = model.predict(features)
        for name, model in self.comparators_.items():
            out[f"prob_{name}"] = model.predict_proba(features)[:, 1]
        return out


__all__ = ["ENDPOINTS", "ExperimentModels", "response_strata", "responder_target",
           "survival_target"]
