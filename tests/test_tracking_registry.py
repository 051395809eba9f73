"""Registry: register -> challenger; the promotion gate accepts, refuses and can be forced."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from icipredict.tracking.mlflow_setup import configure_tracking
from icipredict.tracking.registry import (
    CHALLENGER,
    CHAMPION,
    EvalData,
    PromotionError,
    calibration_slope,
    promote,
    register,
)
from mlflow_helpers import fresh_tracking_uri

N = 1000


class FormulaModel(mlflow.pyfunc.PythonModel):
    """P(response) = sigmoid(k * x + j * junk); risk = k * x + j * junk (known truth: k=1, j=0)."""

    def __init__(self, k: float, j: float = 0.0) -> None:
        self.k, self.j = k, j

    def predict(self, context, model_input, params=None):
        z = self.k * model_input["x"].to_numpy() + self.j * model_input["junk"].to_numpy()
        return pd.DataFrame({"response_probability": 1 / (1 + np.exp(-z)), "risk_score": z})


@pytest.fixture()
def eval_data() -> EvalData:
    rng = np.random.default_rng(42)
    x = rng.normal(0, 1.5, N)
    junk = rng.normal(0, 1.5, N)
    y = rng.random(N) < 1 / (1 + np.exp(-x))
    t = rng.exponential(1 / np.exp(x)) * 12
    censor = rng.exponential(24, N)
    return EvalData(
        X=pd.DataFrame({"x": x, "junk": junk}),
        response=y.astype(int),
        os_time=np.minimum(t, censor),
        os_event=(t <= censor).astype(int),
    )


@pytest.fixture()
def tracking(tmp_path):
    configure_tracking(fresh_tracking_uri(tmp_path), "registry-test")
    yield mlflow.MlflowClient()
    mlflow.set_tracking_uri(None)


def log_formula(k: float, j: float = 0.0) -> str:
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(name="model", python_model=FormulaModel(k, j),
                                pip_requirements=["mlflow", "pandas", "numpy"])
    return run.info.run_id


def test_calibration_slope_recovers_known_slope():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, 20000)
    y = rng.random(z.size) < 1 / (1 + np.exp(-z))
    p_over = 1 / (1 + np.exp(-2 * z))  # twice too extreme -> slope 0.5
    assert calibration_slope(y, 1 / (1 + np.exp(-z))) == pytest.approx(1.0, abs=0.06)
    assert calibration_slope(y, p_over) == pytest.approx(0.5, abs=0.04)


def test_register_gives_challenger_and_first_becomes_champion(tracking, eval_data):
    version = register(log_formula(1.0), "m")
    assert version == "1"
    assert str(tracking.get_model_version_by_alias("m", CHALLENGER).version) == "1"
    decision = promote("m", version, eval_data=eval_data, n_boot=100)
    assert decision.promoted and not decision.forced
    assert decision.previous_champion is None
    assert 0.8 <= decision.calibration_slope <= 1.2
    assert str(tracking.get_model_version_by_alias("m", CHAMPION).version) == "1"
    assert tracking.get_model_version("m", "1").tags["promotion.decision"] == "promoted"


def test_gate_accepts_equal_and_refuses_worse_and_miscalibrated(tracking, eval_data):
    assert promote("m", register(log_formula(1.0), "m"), eval_data=eval_data,
                   n_boot=100).promoted
    # An equally good model (same predictions): difference 0, promoted.
    equal = promote("m", register(log_formula(1.0), "m"), eval_data=eval_data, n_boot=100)
    assert equal.promoted, equal.summary()
    assert {c.metric for c in equal.comparisons} == {"auc", "cindex_os"}
    assert str(tracking.get_model_version_by_alias("m", CHAMPION).version) == "2"

    # A model that predicts from noise: AUC and C-index clearly worse, refused.
    worse_v = register(log_formula(0.0, 1.0), "m")
    worse = promote("m", worse_v, eval_data=eval_data, n_boot=100)
    assert not worse.promoted
    assert all(not c.passed for c in worse.comparisons)
    assert any("auc" in r and "worse beyond" in r for r in worse.reasons)
    assert str(tracking.get_model_version_by_alias("m", CHAMPION).version) == "2"
    assert tracking.get_model_version("m", worse_v).tags["promotion.decision"] == "refused"

    # Same ranking (AUC, C equal) but three times too extreme: slope ~0.33, refused.
    overconf = promote("m", register(log_formula(3.0), "m"), eval_data=eval_data, n_boot=100)
    assert not overconf.promoted
    assert all(c.passed for c in overconf.comparisons)
    assert overconf.calibration_slope < 0.5
    assert any("calibration slope" in r and "outside" in r for r in overconf.reasons)
    assert str(tracking.get_model_version_by_alias("m", CHAMPION).version) == "2"
    # The newest registration holds challenger; champion never moved.
    assert str(tracking.get_model_version_by_alias("m", CHALLENGER).version) == "4"


def test_first_version_with_bad_calibration_is_refused(tracking, eval_data):
    decision = promote("m", register(log_formula(3.0), "m"), eval_data=eval_data, n_boot=50)
    assert not decision.promoted
    with pytest.raises(mlflow.exceptions.MlflowException):
        tracking.get_model_version_by_alias("m", CHAMPION)


def test_force_needs_reason_and_records_it(tracking, eval_data):
    promote("m", register(log_formula(1.0), "m"), eval_data=eval_data, n_boot=50)
    bad = register(log_formula(0.0, 1.0), "m")
    with pytest.raises(PromotionError, match="reason"):
        promote("m", bad, eval_data=eval_data, force=True)
    decision = promote("m", bad, eval_data=eval_data, force=True,
                       reason="board asked for the noise model", n_boot=50)
    assert decision.promoted and decision.forced
    tags = tracking.get_model_version("m", bad).tags
    assert tags["promotion.forced_reason"] == "board asked for the noise model"
    assert str(tracking.get_model_version_by_alias("m", CHAMPION).version) == bad
    # Aliases only: no version was ever moved to a registry stage.
    assert all(v.current_stage in (None, "None") for v in
               tracking.search_model_versions("name='m'"))


def test_sklearn_model_with_predict_proba_goes_through_the_gate(tracking, eval_data):
    from sklearn.linear_model import LogisticRegression

    X, y = eval_data.X, eval_data.response
    clf = LogisticRegression().fit(X, y)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(clf, name="model", pyfunc_predict_fn="predict_proba",
                                 pip_requirements=["scikit-learn", "mlflow"],
                                 serialization_format="skops")
    decision = promote("s", register(run.info.run_id, "s"), eval_data=eval_data, n_boot=50)
    assert decision.promoted, decision.summary()


def test_gate_leaves_out_patients_without_outcome_or_prediction(eval_data):
    from icipredict.tracking.registry import ModelScores, evaluate_gate

    x = eval_data.X["x"].to_numpy()
    new = ModelScores(1 / (1 + np.exp(-x)), x.copy())
    old = ModelScores(1 / (1 + np.exp(-x)), x.copy())
    new.response_probability[:50] = np.nan  # incomplete records
    eval_data.os_time[50:80] = np.nan  # follow-up unknown
    passed, reasons, slope, comparisons = evaluate_gate(new, old, eval_data, n_boot=50)
    assert passed, reasons
    assert 0.8 <= slope <= 1.2
    assert [c.metric for c in comparisons] == ["auc", "cindex_os"]


def test_promote_summarises_mlflows_ignored_column_warnings_in_one_line(tracking, eval_data,
                                                                        caplog, capfd):
    """MLflow lists every extra input column on every predict; promote says it once, briefly."""
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X, y = eval_data.X[["x"]], eval_data.response
    clf = LogisticRegression().fit(X, y)
    extra = {f"extra_{i:02d}": np.zeros(N) for i in range(40)}
    wide = EvalData(X=eval_data.X.assign(**extra), response=y)
    for _ in range(2):  # a champion and a challenger: two predicts, two MLflow warnings
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(clf, name="model", pyfunc_predict_fn="predict_proba",
                                     signature=infer_signature(X, clf.predict_proba(X)),
                                     pip_requirements=["scikit-learn", "mlflow"],
                                     serialization_format="skops")
        version = register(run.info.run_id, "wide")
        capfd.readouterr()
        with caplog.at_level("WARNING", logger="icipredict"):
            caplog.clear()
            promote("wide", version, eval_data=wide, n_boot=20)
    printed = capfd.readouterr()
    assert "Found extra inputs" not in printed.err + printed.out
    summaries = [r.getMessage() for r in caplog.records if "not in the model signature" in r.getMessage()]
    assert len(summaries) == 1
    assert summaries[0].startswith("41 input column(s)") and "extra_00" in summaries[0]
    assert "extra_39" not in summaries[0]
