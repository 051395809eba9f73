"""Codecs: every registered estimator class round-trips without pickle and predicts as the
fitted estimator does; a class without a codec is refused with a clear error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.util import Surv

from icipredict.errors import RegistryError
from icipredict.modeling.baselines import LorisLLR6, RF16Forest, TMBThreshold
from icipredict.modeling.response import CalibratedResponse, XGBResponse
from icipredict.modeling.survival import (
    CoxPHSurvival,
    WeibullAFTSurvival,
    XGBAFTSurvival,
    XGBCoxSurvival,
)
from icipredict.registry import codecs
from icipredict.registry.members import Rows

FEATURES = ["tmb", "nlr", "age", "albumin", "prior_systemic_therapy", "cancer_type_NSCLC"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 400
    X = pd.DataFrame({
        "tmb": rng.lognormal(1.5, 1.0, n), "nlr": rng.lognormal(1.3, 0.6, n),
        "age": rng.normal(64, 11, n), "albumin": rng.normal(3.8, 0.5, n),
        "prior_systemic_therapy": rng.integers(0, 2, n).astype(float),
        "cancer_type_NSCLC": rng.integers(0, 2, n).astype(float),
    })
    lp = 0.08 * X["tmb"] - 0.1 * X["nlr"] + 0.8 * (X["albumin"] - 3.8) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    t = rng.exponential(20 * np.exp(lp))
    c = rng.uniform(6, 60, n)
    ys = Surv.from_arrays(t <= c, np.minimum(t, c))
    # a few missing values and values over the LORIS caps (TMB 50, NLR 25, age 85)
    X.loc[:9, "albumin"] = np.nan
    X.loc[10:14, "tmb"] = 80.0
    X.loc[15:19, "age"] = 90.0
    return X, y, ys


def _rows(X: pd.DataFrame) -> Rows:
    return Rows(X.to_numpy(dtype=float), list(X.columns), X.index)


def _roundtrip(model, tmp_path):
    entry = codecs.export_model(model, tmp_path / "model")
    json.dumps(entry, allow_nan=False)
    assert not list((tmp_path / "model").rglob("*.pkl"))
    return entry, codecs.load_model(tmp_path / "model", entry)


def _linear_models():
    return {
        "loris": LorisLLR6(C=0.1, features=FEATURES[:5]),
        "lr": LogisticRegression(C=0.5, max_iter=1000),
        "scaled_lr": make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=1000)),
        "imputed_scaled_lr": make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                           LogisticRegression(max_iter=1000)),
    }


@pytest.mark.parametrize("name", list(_linear_models()))
def test_sklearn_models_are_skops_and_predict_themselves(name, data, tmp_path):
    X, y, _ = data
    model = _linear_models()[name]
    Xfit = X if name in ("loris", "imputed_scaled_lr") else X.fillna(X.median())
    model.fit(Xfit, y)
    entry, loaded = _roundtrip(model, tmp_path)
    assert entry["codec"] == "skops" and entry["file"] == "model.skops"
    np.testing.assert_allclose(loaded.proba(_rows(Xfit)), model.predict_proba(Xfit)[:, 1],
                               rtol=1e-13, atol=0)
    # columns come by name: a reordered frame with extra columns gives the same answer
    shuffled = Xfit[Xfit.columns[::-1]].assign(extra=1.0)
    np.testing.assert_allclose(loaded.proba(_rows(shuffled)), loaded.proba(_rows(Xfit)),
                               rtol=1e-13, atol=0)
    contrib = loaded.contributions(_rows(Xfit))
    assert np.isfinite(contrib.to_numpy()).all()
    final = model[-1] if hasattr(model, "steps") else model
    margin = contrib.sum(axis=1).to_numpy() + final.intercept_[0]
    np.testing.assert_allclose(margin, model.decision_function(Xfit), rtol=1e-10, atol=1e-12)


def test_loris_contributions_match_the_estimator(data, tmp_path):
    X, y, _ = data
    model = LorisLLR6(C=0.1, features=FEATURES[:5]).fit(X, y)
    _, loaded = _roundtrip(model, tmp_path)
    ours = loaded.contributions(_rows(X))
    theirs = model.contributions(X).drop(columns=["intercept"])
    pd.testing.assert_frame_equal(ours, theirs)
    assert list(ours.columns) == FEATURES[:5]


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
@pytest.mark.parametrize("base", ["loris", "xgb"])
def test_calibrated_models_keep_each_fold_and_its_map(method, base, data, tmp_path):
    X, y, _ = data
    estimator = (LorisLLR6(C=0.1, features=FEATURES[:5]) if base == "loris"
                 else XGBResponse(n_estimators=15, max_depth=2, n_jobs=1))
    model = CalibratedResponse(estimator, methods=(method,), cv=3).fit(X, y)
    entry, loaded = _roundtrip(model, tmp_path)
    assert entry["codec"] == "calibrated" and len(entry["folds"]) == 3
    assert [f["calibrator"]["method"] for f in entry["folds"]] == [method] * 3
    assert {f["model"]["codec"] for f in entry["folds"]} == {"skops" if base == "loris"
                                                             else "xgboost"}
    # XGBoost's float32 probabilities vs our float64 expit of its margin: 1e-6
    np.testing.assert_allclose(loaded.proba(_rows(X)), model.predict_proba(X)[:, 1],
                               rtol=1e-10 if base == "loris" else 1e-6, atol=1e-7)
    np.testing.assert_allclose(loaded.contributions(_rows(X)).to_numpy(),
                               model.contributions(X).drop(columns=["bias", "intercept"],
                                                           errors="ignore").to_numpy(),
                               rtol=1e-6, atol=1e-6)


def test_small_and_large_batches_give_the_same_margins(data, tmp_path):
    """Few rows share one DMatrix, many go through inplace_predict: XGBoost's same margins."""
    X, y, _ = data
    model = XGBResponse(n_estimators=20, max_depth=3, n_jobs=1).fit(X, y)
    _, loaded = _roundtrip(model, tmp_path)
    big = pd.concat([X] * 2, ignore_index=True)  # 800 rows: past DMATRIX_ROWS
    whole = loaded.score(_rows(big))
    for rows in ([0], [3, 7, 11], list(range(300))):
        np.testing.assert_array_equal(loaded.score(_rows(big.iloc[rows])), whole[rows])
    np.testing.assert_array_equal(whole[:len(X)], model.decision_function(X))


def test_cox_json_reproduces_lifelines(data, tmp_path):
    X, _, ys = data
    cox = CoxPHSurvival(penalizer=0.1).fit(X, ys)
    entry, loaded = _roundtrip(cox, tmp_path)
    assert entry == {"codec": "coxph", "class": "icipredict.modeling.survival.CoxPHSurvival",
                     "file": "coxph.json"}
    Xn = X.copy()
    Xn.iloc[:5, 0] = np.nan  # imputation path
    rows = _rows(Xn)
    risk = loaded.risk(rows)
    np.testing.assert_allclose(risk, cox.predict(Xn), atol=1e-10)
    times = np.array([3.0, 12.0, 30.0])
    np.testing.assert_allclose(loaded.survival(rows, times, risk),
                               cox.predict_survival(Xn, times), atol=1e-10)
    np.testing.assert_array_equal(loaded.median(rows, risk), cox.predict_median(Xn))


@pytest.mark.parametrize("cls", [XGBCoxSurvival, XGBAFTSurvival])
def test_xgboost_survival_is_rebuilt_and_predicts_itself(cls, data, tmp_path):
    X, _, ys = data
    model = cls(n_estimators=15, max_depth=2, n_jobs=1).fit(X, ys)
    entry, loaded = _roundtrip(model, tmp_path)
    assert entry["codec"] == "xgboost_survival" and entry["file"] == "booster.json"
    rows = _rows(X)
    risk = loaded.risk(rows)
    np.testing.assert_array_equal(risk, model.predict(X))
    times = np.array([6.0, 24.0])
    np.testing.assert_array_equal(loaded.survival(rows, times, risk),
                                  model.predict_survival(X, times))
    np.testing.assert_array_equal(loaded.median(rows, risk), model.predict_median(X))


def test_forest_and_tmb_rule_load_with_skops(data, tmp_path):
    X, y, _ = data
    for model in (RF16Forest(n_estimators=5, n_jobs=1, features=FEATURES[:4]),
                  TMBThreshold()):
        model.fit(X.fillna(0), y)
        entry, loaded = _roundtrip(model, tmp_path / type(model).__name__)
        if isinstance(model, RF16Forest):
            assert "sklearn.tree._tree.Tree" in entry["skops_trusted_types"]
        np.testing.assert_array_equal(loaded.proba(_rows(X.fillna(0))),
                                      model.predict_proba(X.fillna(0))[:, 1])
        with pytest.raises(Exception, match="no contributions"):
            loaded.contributions(_rows(X))


def test_a_class_without_codec_is_refused(data, tmp_path):
    X, y, ys = data
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X.fillna(0), y)
    weibull = WeibullAFTSurvival().fit(X, ys)
    for model, name in ((forest, "RandomForestClassifier"), (weibull, "WeibullAFTSurvival")):
        with pytest.raises(RegistryError, match=f"{name} has no registry codec.*never pickled"):
            codecs.export_model(model, tmp_path / name)
        assert not (tmp_path / name).exists()
    calibrated = CalibratedResponse(RandomForestClassifier(n_estimators=3), methods=("sigmoid",),
                                    cv=2).fit(X.fillna(0), y)
    with pytest.raises(RegistryError, match="RandomForestClassifier has no registry codec"):
        codecs.check_exportable(calibrated)


def test_a_model_fitted_without_column_names_is_refused(data, tmp_path):
    X, y, _ = data
    lr = LogisticRegression(max_iter=1000).fit(X.fillna(0).to_numpy(), y)
    with pytest.raises(RegistryError, match="without column names"):
        codecs.export_model(lr, tmp_path / "lr")


def test_a_bundle_cannot_widen_the_trusted_types(data, tmp_path):
    """The loader trusts what the writer recorded only within scikit-learn/icipredict types."""
    X, y, _ = data
    model = LorisLLR6(features=FEATURES[:3]).fit(X, y)
    entry = codecs.export_model(model, tmp_path / "m")
    entry["skops_trusted_types"] = [*entry["skops_trusted_types"], "builtins.eval"]
    codecs.load_model(tmp_path / "m", entry)  # the extra name is ignored, not trusted
    entry["skops_trusted_types"] = []
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        codecs.load_model(tmp_path / "m", entry)
    with pytest.raises(RegistryError, match="unknown codec 'pickle'"):
        codecs.load_model(tmp_path / "m", {"codec": "pickle", "file": "model.pkl"})
