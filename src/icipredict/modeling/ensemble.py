"""Response ensembles declared in model specs, built on scikit-learn's Voting/Stacking classifiers.

A spec names the members by their own spec files (``models/<name>.yaml``)::

    name: ensemble_platt
    task: response
    estimator: VotingClassifier          # or StackingClassifier
    members: [llr_tuned, xgb_response, rf_all]
    calibrate: true
    calibration_methods: [sigmoid]       # Platt on the inner out-of-fold ensemble scores

Each member is built uncalibrated (the ensemble as a whole is calibrated when the spec asks);
a member spec with a ``search`` becomes a seeded CV search (tuned on each fit's own training
data, never on the test set); :class:`~sklearn.ensemble.VotingClassifier` averages the members'
probabilities (``voting="soft"``), :class:`~sklearn.ensemble.StackingClassifier` fits a logistic
regression on the members' out-of-fold probabilities of the training data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

if TYPE_CHECKING:
    from icipredict.modeling.spec import ModelSpec

#: Ensemble estimators a spec may name, and the parameters a spec may set on each.
ENSEMBLES: dict[str, tuple[type[BaseEstimator], frozenset[str]]] = {
    "VotingClassifier": (VotingClassifier, frozenset({"weights", "n_jobs"})),
    "StackingClassifier": (StackingClassifier, frozenset({"C", "cv", "random_state", "n_jobs"})),
}


def member_estimator(spec: ModelSpec, n_jobs: int = 1) -> BaseEstimator:
    """One ensemble member from its spec: uncalibrated, wrapped in its CV search when it has one.

    Parameters
    ----------
    spec
        The member's model spec (a response model, not itself an ensemble).
    n_jobs
        Parallel candidates of the member's search.
    """
    from icipredict.modeling.search import make_search

    base = spec.model_copy(update={"calibrate": False}).build()
    if spec.search is None:
        return base
    return make_search(base, spec.search, n_jobs=n_jobs)


def build_ensemble(estimator: str, members: list[ModelSpec], params: dict[str, Any]
                   ) -> BaseEstimator:
    """The unfitted scikit-learn ensemble of ``members``.

    Parameters
    ----------
    estimator
        ``"VotingClassifier"`` (soft voting) or ``"StackingClassifier"`` (logistic regression,
        inverse strength ``C``, on the members' ``cv``-fold out-of-fold probabilities).
    members
        The members' specs, in order (their names name the members).
    params
        The spec's parameters (see :data:`ENSEMBLES`).
    """
    named = [(m.name, member_estimator(m)) for m in members]
    if estimator == "VotingClassifier":
        return VotingClassifier(named, voting="soft", weights=params.get("weights"),
                                n_jobs=params.get("n_jobs"))
    seed = int(params.get("random_state", 0))
    folds = StratifiedKFold(int(params.get("cv", 5)), shuffle=True, random_state=seed)
    return StackingClassifier(named, final_estimator=LogisticRegression(C=params.get("C", 1.0)),
                              cv=folds, stack_method="predict_proba",
                              n_jobs=params.get("n_jobs"))


__all__ = ["ENSEMBLES", "build_ensemble", "member_estimator"]
