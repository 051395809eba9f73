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
from sklearn.utils.validation import check_is_fitted

logger = logging.getLogger(__name__)

#: Survival end points, in the order their models are fitted and their columns appear.
ENDPOINTS = ("os", "pfs")


#: Earliest first on-treatment tumour assessment: 6 weeks in months (RECIST scans at 6-9 weeks
#: in the pivotal ICI trials). A non-responder censored before it was never assessed.
FIRST_ASSESSMENT_MONTHS = 6 * 7 / 30.4375
#: Best overall responses that show the patient was assessed (a non-responder with one of these
#: keeps its label whatever the follow-up).
_ASSESSED = ("CR", "PR", "SD", "PD")


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(frame[name], errors="coerce") if name in frame else pd.Series(
        np.nan, index=frame.index)


def censored_before_assessment(frame: pd.DataFrame,
                               limit: float = FIRST_ASSESSMENT_MONTHS) -> np.ndarray:
    """Non-responders who were censored before the first tumour assessment (response unknown).

    A patient labelled non-responder (``responder`` 0) whose best overall response is not one
    that needs an assessment (missing or NE) and whose follow-up ended *censored* before
    ``limit`` months (PFS when known, else OS) could not have shown a response: the label is
    unknown, not 0. Progression or death before the assessment stays a non-response (as in
    an intention-to-treat analysis).
    """
    y = _column(frame, "responder")
    bor = (frame["bor"].astype("string").str.upper() if "bor" in frame
           else pd.Series(pd.NA, index=frame.index, dtype="string"))
    time, event = _column(frame, "pfs_months"), _column(frame, "pfs_event")
    use_os = time.isna() | event.isna()
    time = time.where(~use_os, _column(frame, "os_months"))
    event = event.where(~use_os, _column(frame, "os_event"))
    early = (event == 0) & (time < limit)
    return ((y == 0) & ~bor.isin(_ASSESSED).fillna(False) & early).to_numpy(dtype=bool)


def response_label(frame: pd.DataFrame) -> pd.Series:
    """The 0/1 responder label that training and evaluation use (float, NaN = unknown):
    ``responder``, missing where :func:`censored_before_assessment`."""
    y = _column(frame, "responder").astype(float)
    return y.mask(censored_before_assessment(frame))


def response_exclusions(frame: pd.DataFrame) -> dict[str, int]:
    """Patients left out of response training/evaluation, by reason.

    Returns
    -------
    dict
        ``response_n_labelled`` (used), ``response_n_unlabelled`` (no response in the source)
        and ``response_n_censored_before_assessment`` (:func:`censored_before_assessment`).
    """
    given = _column(frame, "responder").notna()
    early = censored_before_assessment(frame)
    return {"response_n_labelled": int((given & ~early).sum()),
            "response_n_unlabelled": int((~given).sum()),
            "response_n_censored_before_assessment": int(early.sum())}


def responder_target(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mask of patients with a known response, and their 0/1 responder labels
    (:func:`response_label`: non-responders censored before the first assessment are unknown)."""
    y = response_label(frame)
    ok = y.notna().to_numpy()
    return ok, y[ok].astype(int).to_numpy()


def survival_target(frame: pd.DataFrame, end: str) -> tuple[np.ndarray, np.ndarray]:
    """Mask of patients with a known ``end`` outcome, and the sksurv target for them."""
    from sksurv.util import Surv

    t = pd.to_numeric(frame.get(f"{end}_months"), errors="coerce")
    e = pd.to_numeric(frame.get(f"{end}_event"), errors="coerce")
    ok = (t.notna() & e.notna()).to_numpy()
    return ok, Surv.from_arrays(e[ok].astype(bool).to_numpy(), t[ok].to_numpy(dtype=float))


def target_fields(y: np.ndarray) -> tuple[str, str]:
    """The ``(event, time)`` field names of a :func:`survival_target` target."""
    names = y.dtype.names
    assert names is not None, "not a structured (event, time) survival target"
    event, time = names
    return event, time


def response_strata(frame: pd.DataFrame) -> np.ndarray:
    """Labels the stratified splitters use: :func:`response_label` (missing -> -1)."""
    return response_label(frame).fillna(-1).astype(int).to_numpy()


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
                event, _ = target_fields(ys)
                if ok.sum() and ys[event].any():
                    self.survival_[end], _ = tune_and_fit(self.survival, features[ok], ys)
        for spec in self.comparators:
            ok, yr = responder_target(X)
            self.comparators_[spec.name], _ = tune_and_fit(spec, features[ok], yr)
        return self

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """One column per fitted model (``prob``, ``risk_<end>``, ``prob_<comparator>``)."""
        check_is_fitted(self, "builder_")
        features = self.builder_.transform(X)
        out = pd.DataFrame(index=X.index)
        if self.response_ is not None:
            out["prob"] = self.response_.predict_proba(features)[:, 1]
        for end, model in self.survival_.items():
            out[f"risk_{end}"] = model.predict(features)
        for name, model in self.comparators_.items():
            out[f"prob_{name}"] = model.predict_proba(features)[:, 1]
        return out


__all__ = ["ENDPOINTS", "FIRST_ASSESSMENT_MONTHS", "ExperimentModels",
           "censored_before_assessment", "response_exclusions", "response_label",
           "response_strata", "responder_target", "survival_target"]
