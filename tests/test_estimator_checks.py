"""scikit-learn's estimator checks over every estimator of the package (issue 13).

The response classifiers (:mod:`icipredict.modeling.response`, :mod:`icipredict.modeling.baselines`)
run the whole of :func:`~sklearn.utils.estimator_checks.parametrize_with_checks` on small
configurations. They are binary classifiers (``classifier_tags.multi_class = False``, so the
multiclass checks are skipped and a multiclass ``y`` is refused) that handle missing values by
design (``allow_nan``). The only expected failures are :class:`TMBThreshold`'s, which reads one
named column and whose score is TMB itself.

The generic checks do not apply to the rest, which get focused tests of the contract that does:

- survival models (:mod:`icipredict.modeling.survival`): ``y`` is a scikit-survival structured
  array (event, time), whereas every fitting check passes a plain label/target vector;
- :class:`~icipredict.modeling.experiment.ExperimentModels` and
  :class:`~icipredict.features.builder.FeatureBuilder`: their input is the one-row-per-patient
  frame of the cohort contract (named canonical columns: ``cancer_type``, ``responder``,
  ``os_months``, ...), never the anonymous numeric arrays the checks generate.

For those, the fit-free checks (construction, ``get_params``/``set_params``, clone, tags, repr)
run directly, and the tests below cover clone / fit returns self / NotFittedError before fit /
``n_features_in_`` at predict time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec
from sklearn.utils.estimator_checks import parametrize_with_checks
from sksurv.util import Surv

from icipredict.modeling.baselines import LorisLLR6, RF16Forest, TMBThreshold
from icipredict.modeling.response import CalibratedResponse, XGBResponse
from icipredict.modeling.survival import (
    CoxPHSurvival,
    WeibullAFTSurvival,
    XGBAFTSurvival,
    XGBCoxSurvival,
)

REPO = Path(__file__).resolve().parents[1]

_TMB_ONE_COLUMN = "reads TMB from its one named column (x0), ignoring the other features"
#: TMBThreshold: checks that fail by design, check name -> reason.
TMB_EXPECTED = {
    "check_classifiers_train": f"the FDA rule {_TMB_ONE_COLUMN}: no accuracy target on blobs",
    "check_classifiers_classes": "decision_function is TMB in mut/Mb (AUC of TMB alone); the "
                                 "class cut is the TMB threshold, not 0",
    "check_classifier_data_not_an_array": "reads its TMB column by name; the check's DataFrame "
                                          "has integer column labels, not x0",
}

CLASSIFIERS = [
    # min_child_weight=1: with 5 trees on the checks' ~20-sample sets the default (5) allows no
    # split, every margin is exactly 0 and the p >= 0.5 rule ties with decision_function > 0.
    XGBResponse(n_estimators=5, min_child_weight=1, n_jobs=1),
    CalibratedResponse(LorisLLR6(), cv=3),
    TMBThreshold(column="x0"),
    LorisLLR6(),
    RF16Forest(n_estimators=5, n_jobs=1),
]


def _expected_failed_checks(estimator) -> dict[str, str]:
    return TMB_EXPECTED if isinstance(estimator, TMBThreshold) else {}


@parametrize_with_checks(CLASSIFIERS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------------
# Survival models: structured y, so only the fit-free checks + focused contract tests
# ---------------------------------------------------------------------------------------------

SURVIVAL = [
    CoxPHSurvival(),
    WeibullAFTSurvival(),
    XGBCoxSurvival(n_estimators=5, n_jobs=1),
    XGBAFTSurvival(n_estimators=5, n_jobs=1),
]

FIT_FREE_CHECKS = [
    ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
    ec.check_mixin_order,
]


def _survival_data(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["tmb", "age", "nlr"])
    X.iloc[::7, 1] = np.nan  # missing values are handled (imputed / routed natively)
    time = rng.exponential(12.0 * np.exp(-0.5 * X["tmb"].to_numpy())) + 0.1
    event = rng.random(n) < 0.7
    return X, Surv.from_arrays(event, time)


def _fit_free_ids(value) -> str:
    return getattr(value, "__name__", None) or type(value).__name__


@pytest.mark.parametrize("check", FIT_FREE_CHECKS, ids=_fit_free_ids)
@pytest.mark.parametrize("estimator", SURVIVAL, ids=_fit_free_ids)
def test_survival_fit_free_checks(estimator, check):
    check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", SURVIVAL, ids=_fit_free_ids)
def test_survival_contract(estimator):
    X, y = _survival_data()
    est = clone(estimator)
    assert est.get_params() == estimator.get_params()
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(NotFittedError):
        est.predict_survival(X, [6.0, 12.0])
    with pytest.raises(NotFittedError):
        est.predict_median(X)
    assert est.fit(X, y) is est
    assert est.n_features_in_ == 3
    assert list(est.feature_names_in_) == ["tmb", "age", "nlr"]
    risk = est.predict(X)
    assert risk.shape == (60,) and np.isfinite(risk).all()
    assert est.predict_survival(X, [6.0, 12.0]).shape == (60, 2)
    # an array is matched by position: it must have the fitted number of columns
    np.testing.assert_allclose(est.predict(X.to_numpy()), risk)
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3"):
        est.predict(X.to_numpy()[:, :2])
    # set_params + refit of a clone gives the same model (deterministic fits)
    again = clone(est).set_params(**est.get_params()).fit(X, y)
    np.testing.assert_allclose(again.predict(X), risk)
    assert not hasattr(clone(est), "n_features_in_")


@pytest.mark.parametrize("estimator", SURVIVAL, ids=_fit_free_ids)
def test_survival_bad_input(estimator):
    X, y = _survival_data()
    with pytest.raises(ValueError, match="requires y"):
        clone(estimator).fit(X, None)
    with pytest.raises(ValueError, match="0 sample"):
        clone(estimator).fit(X.iloc[:0], y[:0])
    with pytest.raises(ValueError, match="Expected 2D array"):
        clone(estimator).fit(X["tmb"].to_numpy(), y)
    with pytest.raises(ValueError, match="rows but y has"):
        clone(estimator).fit(X, y[:10])
    with pytest.raises(TypeError, match="dense data is required"):
        from scipy import sparse

        clone(estimator).fit(sparse.csr_matrix(X.fillna(0).to_numpy()), y)


# ---------------------------------------------------------------------------------------------
# ExperimentModels and FeatureBuilder: patient frames on named canonical columns
# ---------------------------------------------------------------------------------------------


def _frame_estimators():
    from icipredict.features.builder import FeatureBuilder
    from icipredict.features.spec import read_spec
    from icipredict.modeling.experiment import ExperimentModels
    from icipredict.modeling.spec import load_spec

    return [
        FeatureBuilder(REPO / "models" / "features" / "rf16.yaml"),
        ExperimentModels(read_spec(REPO / "models/features/full.yaml"),
                         load_spec(REPO / "experiments/demo/response_xgb_small.yaml"), None,
                         ["response"]),
    ]


@pytest.mark.parametrize("check", FIT_FREE_CHECKS, ids=_fit_free_ids)
@pytest.mark.parametrize("estimator", _frame_estimators(), ids=_fit_free_ids)
def test_frame_estimators_fit_free_checks(estimator, check):
    check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", _frame_estimators(), ids=_fit_free_ids)
def test_frame_estimators_params_round_trip(estimator):
    params = estimator.get_params()
    copy = clone(estimator)
    assert copy is not estimator
    assert copy.get_params().keys() == params.keys()
    assert copy.set_params(**params) is copy
    assert all(copy.get_params()[k] is params[k] for k in params)


@pytest.fixture(scope="module")
def patients(tmp_path_factory) -> pd.DataFrame:
    """A small synthetic network's patient frame (outcomes included)."""
    import yaml

    from icipredict.cohort.loaders import load_source
    from icipredict.features.builder import patient_frame
    from icipredict.synthetic import generate_network

    out = tmp_path_factory.mktemp("net")
    generate_network(out, n_patients=120, seed=3)
    centres = yaml.safe_load((out / "network.yaml").read_text())["centres"]
    return pd.concat([patient_frame(load_source(out / c["source"], centre=c["name"]),
                                    include_outcomes=True) for c in centres])


@pytest.mark.parametrize("estimator", _frame_estimators(), ids=_fit_free_ids)
def test_frame_estimators_fit_returns_self(estimator, patients):
    est = clone(estimator)
    assert est.fit(patients) is est
    fresh = clone(est)
    assert not [k for k in vars(fresh) if k.endswith("_") and not k.startswith("_")]
    first = est.transform(patients) if hasattr(est, "transform") else est.predict(patients)
    again = fresh.fit(patients)
    second = again.transform(patients) if hasattr(again, "transform") else again.predict(patients)
    pd.testing.assert_frame_equal(first, second)


def test_feature_builder_not_fitted():
    builder = _frame_estimators()[0]
    with pytest.raises(NotFittedError):
        builder.transform(pd.DataFrame({"age": [60.0]}))


def test_experiment_models_not_fitted(patients):
    with pytest.raises(NotFittedError):
        _frame_estimators()[1].predict(patients)
