"""Ensembles declared in model specs: scikit-learn's Voting/Stacking classifiers, their codecs
(members each through their own codec, nothing pickled) and the spec's complexity order."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV

from icipredict.cohort.schema import CohortError
from icipredict.modeling.baselines import LorisLLR6
from icipredict.modeling.response import CalibratedResponse, XGBResponse
from icipredict.modeling.spec import MODELS_DIR, load_spec
from icipredict.registry import codecs
from icipredict.registry.members import Rows


def _data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"tmb": rng.lognormal(1.5, 1.0, n), "nlr": rng.lognormal(1.5, 0.6, n),
                      "albumin": rng.normal(3.8, 0.5, n), "noise": rng.normal(size=n)})
    lp = 2.0 * (X.tmb > 10) - 0.25 * np.minimum(X.nlr, 25) + 1.5 * (X.albumin - 3.8) + 1.0
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)


def _specs(tmp_path, kind: str, calibrate: bool = False) -> object:
    (tmp_path / "lin.yaml").write_text(
        "name: lin\ntask: response\nestimator: LorisLLR6\nparams: {C: 1.0, features: [tmb, nlr]}\n"
        "search: {method: grid, cv: 3, scoring: roc_auc, space: {C: [0.1, 1.0]}}\n")
    (tmp_path / "xgb.yaml").write_text(
        "name: xgb\ntask: response\nestimator: XGBResponse\n"
        "params: {n_estimators: 20, max_depth: 2, n_jobs: 1}\ncalibrate: true\n")
    (tmp_path / "ens.yaml").write_text(
        f"name: ens\ntask: response\nestimator: {kind}\nmembers: [lin.yaml, xgb.yaml]\n"
        f"calibrate: {str(calibrate).lower()}\ncalibration_methods: [sigmoid]\n")
    return load_spec(tmp_path / "ens.yaml")


def _rows(X: pd.DataFrame) -> Rows:
    return Rows(X.to_numpy(dtype=float), list(X.columns), X.index)


@pytest.mark.parametrize("kind", ["VotingClassifier", "StackingClassifier"])
def test_spec_builds_sklearn_ensemble_that_round_trips_without_pickle(kind, tmp_path):
    X, y = _data()
    Xt, yt = _data(seed=1)
    model = _specs(tmp_path, kind).build().fit(X, y)
    assert type(model) is {"VotingClassifier": VotingClassifier,
                           "StackingClassifier": StackingClassifier}[kind]
    # members: the tuned linear model is a search; the xgb member is NOT calibrated on its own
    assert isinstance(model.estimators_[0], GridSearchCV)
    assert isinstance(model.estimators_[1], XGBResponse)
    assert roc_auc_score(yt, model.predict_proba(Xt)[:, 1]) > 0.65
    entry = codecs.export_model(model, tmp_path / "bundle")
    json.dumps(entry, allow_nan=False)
    assert not list((tmp_path / "bundle").rglob("*.pkl"))
    loaded = codecs.load_model(tmp_path / "bundle", entry)
    np.testing.assert_allclose(loaded.proba(_rows(Xt)), model.predict_proba(Xt)[:, 1],
                               rtol=1e-6, atol=1e-9)


def test_calibrated_stack_round_trips_and_reads_the_decision_function(tmp_path):
    X, y = _data()
    Xt, _ = _data(seed=2)
    model = _specs(tmp_path, "StackingClassifier", calibrate=True).build().fit(X, y)
    assert isinstance(model, CalibratedResponse) and model.method_ == "sigmoid"
    codecs.check_exportable(model)
    entry = codecs.export_model(model, tmp_path / "bundle")
    loaded = codecs.load_model(tmp_path / "bundle", entry)
    np.testing.assert_allclose(loaded.proba(_rows(Xt)), model.predict_proba(Xt)[:, 1],
                               rtol=1e-6, atol=1e-9)


def test_ensemble_with_a_member_without_codec_is_refused(tmp_path):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _data(n=120)
    model = VotingClassifier([("lin", LorisLLR6()), ("knn", KNeighborsClassifier())],
                             voting="soft").fit(X, y)
    with pytest.raises(codecs.RegistryError, match="KNeighborsClassifier has no registry codec"):
        codecs.check_exportable(model)


def test_spec_validation_and_complexity(tmp_path):
    spec = _specs(tmp_path, "VotingClassifier")
    assert [m.name for m in spec.member_specs()] == ["lin", "xgb"]
    assert spec.complexity() == (float("inf"), 2)  # widest member reads every feature
    assert load_spec("llr6").complexity() == (21.0, 0)
    assert load_spec("xgb_response").complexity() == (float("inf"), 1)
    (tmp_path / "bad.yaml").write_text("name: b\ntask: response\nestimator: VotingClassifier\n")
    with pytest.raises(CohortError, match="needs 'members'"):
        load_spec(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text(
        "name: b\ntask: response\nestimator: VotingClassifier\nmembers: [nope.yaml]\n")
    with pytest.raises(CohortError, match="model spec not found"):
        load_spec(tmp_path / "bad2.yaml")


def test_shipped_ensemble_specs_load():
    for path in sorted(MODELS_DIR.glob("ensemble*.yaml")):
        spec = load_spec(path)
        assert spec.members and spec.calibrate
