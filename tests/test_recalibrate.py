"""Local recalibration: the maps restore calibration on a deliberately miscalibrated cohort, and
``recalibrate`` registers the recalibrated model as a new version with lineage, through the gate.

Tolerance of the slope checks: on 1,500 simulated patients whose logits spread with SD 1.2 the
standard error of a calibration slope is ~0.1, so |slope - 1| < 0.3 is ~3 SE, and the
miscalibration made on purpose (true slope 0.5) is 5 SE away from 1. The demo model's logits
spread less (SD ~0.5), so its check uses 6,000 patients per half (SE of the recalibrated slope
~0.12: the tolerance is ~2.5 SE).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.metrics import calibration_intercept, calibration_slope
from icipredict.evaluation.recalibration import (
    apply_response_recalibration,
    fit_response_recalibration,
    fit_survival_slope,
)

DATA = Path(__file__).parent / "data"


def _miscalibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A model's probabilities and outcomes drawn from logit p_true = -0.8 + 0.5 logit p."""
    rng = np.random.default_rng(seed)
    p = expit(rng.normal(-0.8, 1.2, n))
    y = (rng.uniform(size=n) < expit(-0.8 + 0.5 * logit(p))).astype(float)
    return p, y


def test_logistic_recalibration_restores_slope_and_intercept_on_new_patients():
    p_a, y_a = _miscalibrated(1500, 0)
    p_b, y_b = _miscalibrated(1500, 1)
    assert calibration_slope(y_b, p_b) < 0.7  # deliberately miscalibrated
    recal = fit_response_recalibration(y_a, p_a)
    assert recal["slope"] == pytest.approx(0.5, abs=0.15)
    assert recal["intercept"] == pytest.approx(-0.8, abs=0.2)
    fixed = apply_response_recalibration(p_b, recal)
    assert abs(calibration_slope(y_b, fixed) - 1) < 0.3
    assert abs(calibration_intercept(y_b, fixed)) < 0.2
    # monotone: the ranking is unchanged
    assert (np.argsort(fixed, kind="stable") == np.argsort(p_b, kind="stable")).all()


def test_recalibration_refuses_too_few_or_a_reversed_model():
    p, y = _miscalibrated(200, 2)
    with pytest.raises(CohortError, match=">= 20 patients"):
        fit_response_recalibration(y[:10], p[:10])
    with pytest.raises(CohortError, match="does not rank"):
        fit_response_recalibration(1 - y, p)


def test_survival_slope_recovers_a_shrunk_linear_predictor():
    rng = np.random.default_rng(4)
    lp = rng.normal(0, 1, 2000)
    t = rng.exponential(1 / (0.05 * np.exp(0.6 * lp)))  # true effect 0.6 x lp
    c = rng.uniform(5, 60, len(t))
    res = fit_survival_slope(np.minimum(t, c), (t <= c).astype(float), lp)
    assert res["ci_low"] < 0.6 < res["ci_high"] and res["slope"] == pytest.approx(0.6, abs=0.1)


def test_cohort_frame_reads_a_column_map():
    from icipredict.tracking.recalibrate import cohort_frame

    frame, label = cohort_frame(str(DATA / "chowell_format_map.yaml"))
    assert label == "column map chowell_format_map.yaml" and len(frame) == 4
    assert {"responder", "os_months", "os_event", "tmb"} <= set(frame.columns)


@pytest.mark.slow
def test_recalibrate_registers_a_new_version_that_is_calibrated(tmp_path_factory, monkeypatch):
    import mlflow

    from icipredict.tracking import recalibrate as rc
    from icipredict.tracking.registry import register
    from test_runs import trained

    demo = trained(tmp_path_factory)
    name = "recal-test"
    v1 = register(demo["result"].run_id, name)
    model = mlflow.pyfunc.load_model(f"models:/{name}/{v1}")
    # the network's 300 patients 40 times (new IDs, independent labels): 12,000 rows, half to
    # fit, half to check (the demo model's logits spread little: the slopes need the rows)
    base = pd.concat([_frame(demo)] * 40, keys=range(40))
    base.index = [f"{pid}-r{k}" for k, pid in base.index]
    base.index.name = "patient_id"
    inputs = model.metadata.get_input_schema().input_names()
    p = model.predict(base.reindex(columns=inputs).reset_index(drop=True))[
        "response_probability"].to_numpy()
    rng = np.random.default_rng(7)
    base["responder"] = (rng.uniform(size=len(p)) < expit(-0.8 + 0.5 * logit(p))).astype(float)
    fit, check = base.iloc[::2], base.iloc[1::2]
    assert calibration_slope(check["responder"], p[1::2]) < 0.75
    monkeypatch.setattr(rc, "cohort_frame", lambda cohort, store=None, bundle_dir=None: (fit, "test cohort"))

    result = rc.recalibrate(name, v1, "ignored", n_boot=100)
    assert result.original_version == v1 and result.version != v1
    # the map is the logistic calibration slope of the fitting half (how far it lands from the
    # simulated 0.5 depends on how little the demo model's logits spread: not asserted)
    # (patients censored before the first scan have no label, as in training)
    from icipredict.modeling.experiment import response_label

    known = response_label(fit).notna().to_numpy()
    assert result.maps["response"]["slope"] == pytest.approx(
        calibration_slope(fit["responder"][known], p[::2][known]), abs=1e-6)
    assert "os" in result.maps and result.after["response_slope"] == pytest.approx(1, abs=1e-3)
    tags = mlflow.MlflowClient().get_model_version(name, result.version).tags
    assert tags["recalibrated_from_version"] == v1
    assert tags["recalibrated_from_run_id"] == demo["result"].run_id
    assert mlflow.get_run(result.run_id).data.tags["recalibrated_from"] == f"models:/{name}/{v1}"
    assert result.decision.promoted  # first champion; slope within the gate's range

    new = mlflow.pyfunc.load_model(f"models:/{name}/{result.version}")
    X = check.reindex(columns=inputs).reset_index(drop=True)
    out_new, out_old = new.predict(X), model.predict(X)
    q = out_new["response_probability"].to_numpy()
    before = calibration_slope(check["responder"], p[1::2])
    assert abs(calibration_slope(check["responder"], q) - 1) < abs(before - 1)  # new patients
    lo, hi = (out_new[c].astype(float).to_numpy() for c in ("response_ci_low",
                                                          "response_ci_high"))
    assert (lo <= q + 1e-12).all() and (q <= hi + 1e-12).all()
    # survival: same ranking (risk score), curves from the recalibrated linear predictor
    np.testing.assert_allclose(out_new["risk_score"], out_old["risk_score"])
    b = result.maps["os"]["slope"]
    s_old = out_old["os_survival_12m"].to_numpy(dtype=float)
    s_new = out_new["os_survival_12m"].to_numpy(dtype=float)
    lp = out_old["risk_score"].to_numpy(dtype=float)
    # S'(t) = exp(-H0(t) exp(b lp)) = S(t) ** exp((b - 1) lp)
    np.testing.assert_allclose(s_new, s_old ** np.exp((b - 1) * lp), rtol=1e-9)


def _frame(demo: dict) -> pd.DataFrame:
    from icipredict.features.builder import patient_frame

    return patient_frame(demo["store"].cohort(), include_outcomes=True)
