"""Response models: XGBoost, calibration choice, ensemble, specs and search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from icipredict.cohort.schema import CohortError
from icipredict.modeling.response import CalibratedResponse, XGBResponse
from icipredict.modeling.search import make_search, nested_cv, tune_and_fit
from icipredict.modeling.spec import MODELS_DIR, SearchSpec, load_spec


def _data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Responders driven by a (non-linear) TMB effect and NLR; one pure-noise column."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "tmb": rng.lognormal(1.5, 1.0, n), "nlr": rng.lognormal(1.5, 0.6, n),
        "albumin": rng.normal(3.8, 0.5, n), "noise": rng.normal(size=n),
    })
    logit = 1.5 * (X.tmb > 10) - 0.15 * np.minimum(X.nlr, 25) + 1.0 * (X.albumin - 3.8) - 0.5
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_xgb_learns_signal_and_contributions_sum_to_margin() -> None:
    X, y = _data()
    Xt, yt = _data(seed=1)
    model = XGBResponse(n_estimators=150, max_depth=2).fit(X, y)
    assert roc_auc_score(yt, model.predict_proba(Xt)[:, 1]) > 0.65
    contrib = model.contributions(Xt.iloc[:20])
    assert list(contrib.columns) == [*X.columns, "bias"]
    assert np.allclose(contrib.sum(axis=1), model.decision_function(Xt.iloc[:20]), atol=1e-4)
    # The noise column matters least on average.
    assert contrib.drop(columns="bias").abs().mean().idxmin() == "noise"


def test_xgb_is_reproducible_and_handles_missing() -> None:
    X, y = _data()
    X.loc[X.index[:50], "albumin"] = np.nan
    a = XGBResponse(n_estimators=50).fit(X, y).predict_proba(X)
    b = XGBResponse(n_estimators=50).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b) and np.isfinite(a).all()


def test_calibration_chooses_by_inner_cv_and_improves_log_loss() -> None:
    X, y = _data(n=800)
    Xt, yt = _data(n=800, seed=2)
    # An over-confident base model: deep trees, many rounds, high learning rate.
    raw = XGBResponse(n_estimators=300, max_depth=6, learning_rate=0.3, min_child_weight=1)
    cal = CalibratedResponse(raw, cv=3).fit(X, y)
    assert cal.method_ in {"sigmoid", "isotonic"}
    assert cal.method_ == min(cal.method_losses_, key=cal.method_losses_.get)
    p_raw = raw.fit(X, y).predict_proba(Xt)[:, 1]
    p_cal = cal.predict_proba(Xt)[:, 1]
    assert log_loss(yt, p_cal) < log_loss(yt, p_raw)
    assert cal.contributions(Xt.iloc[:5]).shape == (5, X.shape[1] + 1)


def test_search_is_seeded_and_nested_cv_reports_outer_scores() -> None:
    X, y = _data(n=300)
    spec = SearchSpec(method="random", n_iter=3, cv=3, scoring="roc_auc", random_state=1,
                      space={"max_depth": [1, 2, 3],
                             "learning_rate": {"dist": "loguniform", "low": 0.01, "high": 0.3}})
    est = XGBResponse(n_estimators=30)
    a = make_search(est, spec).fit(X, y)
    b = make_search(est, spec).fit(X, y)
    assert a.best_params_ == b.best_params_ and a.best_score_ == b.best_score_
    outer = nested_cv(est, spec, X, y, outer_splits=3)
    assert len(outer) == 3 and outer["score"].between(0.5, 1).all()


def test_every_shipped_spec_loads_and_builds() -> None:
    names = sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))
    assert {"rf16", "llr6", "tmb10", "xgb_response", "coxph", "xgb_cox"} <= set(names)
    for name in names:
        spec = load_spec(name)
        assert spec.name == name
        spec.build()


def test_spec_tune_and_fit_calibrated(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "m.yaml"
    path.write_text(
        "name: m\ntask: response\nestimator: XGBResponse\nparams: {n_estimators: 30}\n"
        "calibrate: true\nsearch: {method: grid, cv: 3, scoring: roc_auc, "
        "space: {max_depth: [1, 2]}}\n")
    model, search = tune_and_fit(load_spec(path), *_data(n=300))
    assert isinstance(model, CalibratedResponse)
    assert model.estimator.max_depth == search.best_params_["max_depth"]


@pytest.mark.parametrize(("text", "match"), [
    ("name: m\ntask: response\nestimator: Nope\n", "unknown estimator"),
    ("name: m\ntask: survival\nestimator: XGBResponse\n", "response model"),
    ("name: m\ntask: response\nestimator: XGBResponse\nparams: {depth: 3}\n", "no parameter"),
    ("name: m\ntask: response\nestimator: XGBResponse\nsearch: {space: {}}\n", "empty"),
    ("- just a list\n", "mapping"),
])
def test_bad_specs_are_rejected_with_the_file(tmp_path, text: str, match: str) -> None:  # noqa: ANN001
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CohortError, match=match) as err:
        load_spec(path)
    assert err.value.file == str(path)
