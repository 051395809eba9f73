"""Survival models recover a simulated Weibull PH model's effects; curves and medians behave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.util import Surv

from icipredict.errors import ModelError
from icipredict.modeling.survival import (
    CoxPHSurvival,
    WeibullAFTSurvival,
    XGBAFTSurvival,
    XGBCoxSurvival,
)

TRUE_LOG_HR = {"albumin_z": -0.6, "nlr_z": 0.5, "stage_iv": 0.4, "noise": 0.0}
SHAPE = 1.3


def _simulate(n: int = 1500, seed: int = 0, scale: float = 0.05, follow_up: float = 40.0):
    """Weibull PH: h(t|x) = scale * k * t^(k-1) * exp(x'beta), uniform censoring."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "albumin_z": rng.normal(size=n), "nlr_z": rng.normal(size=n),
        "stage_iv": rng.binomial(1, 0.4, n).astype(float), "noise": rng.normal(size=n),
    })
    lp = X.to_numpy() @ np.array(list(TRUE_LOG_HR.values()))
    t_event = (-np.log(rng.uniform(size=n)) / (scale * np.exp(lp))) ** (1 / SHAPE)
    t_cens = rng.uniform(0, follow_up, n)
    time = np.minimum(t_event, t_cens)
    return X, Surv.from_arrays(t_event <= t_cens, time)


@pytest.fixture(scope="module")
def sim():  # noqa: ANN201
    return _simulate()


MODELS = [
    CoxPHSurvival(penalizer=0.0),
    WeibullAFTSurvival(penalizer=0.0),
    XGBCoxSurvival(n_estimators=200, max_depth=1, learning_rate=0.05),
    XGBAFTSurvival(n_estimators=200, max_depth=1, learning_rate=0.05),
]


def test_cox_recovers_log_hazard_ratios(sim) -> None:  # noqa: ANN001
    X, y = sim
    model = CoxPHSurvival(penalizer=0.0).fit(X, y)
    for name, beta in TRUE_LOG_HR.items():
        assert model.summary_.loc[name, "coef"] == pytest.approx(beta, abs=0.15), name
    assert model.summary_.loc["albumin_z", "HR_upper_95"] < 1 < model.summary_.loc[
        "nlr_z", "HR_lower_95"]
    assert model.summary_.loc["noise", "p"] > 0.01


def test_weibull_aft_recovers_effects_on_the_time_scale(sim) -> None:  # noqa: ANN001
    # Weibull PH = AFT with coefficient -beta / k.
    X, y = sim
    model = WeibullAFTSurvival(penalizer=0.0).fit(X, y)
    for name, beta in TRUE_LOG_HR.items():
        assert model.summary_.loc[name, "coef"] == pytest.approx(-beta / SHAPE, abs=0.15), name


def test_xgb_cox_direction_and_size(sim) -> None:  # noqa: ANN001
    X, y = sim
    model = XGBCoxSurvival(n_estimators=300, max_depth=1, learning_rate=0.05).fit(X, y)
    base = X.mean().to_frame().T
    for name, beta in TRUE_LOG_HR.items():
        if beta == 0:
            continue
        lo, hi = base.copy(), base.copy()
        lo[name], hi[name] = (0.0, 1.0) if name == "stage_iv" else (-0.5, 0.5)
        effect = float(model.predict(hi)[0] - model.predict(lo)[0])
        assert np.sign(effect) == np.sign(beta), name
        assert effect == pytest.approx(beta, abs=0.25), name
    assert abs(model.contributions(X)["noise"]).mean() < abs(model.contributions(X)["nlr_z"]).mean()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_interface_curves_and_concordance(sim, model) -> None:  # noqa: ANN001
    X, y = sim
    Xt, yt = _simulate(n=500, seed=1)
    model.fit(X, y)
    assert model.score(Xt, yt) > 0.65  # the true model's C is ~0.70
    times = np.array([0.0, 1, 3, 6, 12, 24, 36, 60])
    surv = model.predict_survival(Xt.iloc[:50], times)
    assert surv.shape == (50, len(times))
    assert ((surv >= 0) & (surv <= 1)).all()
    assert (np.diff(surv, axis=1) <= 1e-12).all()  # non-increasing in t
    # Higher risk score <=> lower survival at 12 months.
    risk = model.predict(Xt.iloc[:50])
    s12 = model.predict_survival(Xt.iloc[:50], [12.0])[:, 0]
    assert np.corrcoef(risk, s12)[0, 1] < -0.9
    median = model.predict_median(Xt.iloc[:50])
    ok = np.isfinite(median)
    assert ok.mean() > 0.8
    # S(median) ~ 0.5 where reached.
    at = np.array([model.predict_survival(Xt.iloc[[i]], [m])[0, 0]
                   for i, m in zip(np.flatnonzero(ok)[:10], median[ok][:10], strict=True)])
    assert np.all(np.abs(at - 0.5) < 0.1)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_median_not_reached_is_nan(model) -> None:  # noqa: ANN001
    # Low hazard + short follow-up: most curves stay above 0.5 within follow-up.
    X, y = _simulate(n=800, scale=0.002, follow_up=12.0)
    model.fit(X, y)
    good = X.copy()
    good["albumin_z"], good["nlr_z"], good["stage_iv"] = 2.0, -2.0, 0.0
    assert np.isnan(model.predict_median(good.iloc[:5])).all()


def test_survival_target_is_checked() -> None:
    X, _ = _simulate(n=50)
    with pytest.raises(ModelError, match="structured array"):
        CoxPHSurvival().fit(X, np.ones(50))
    with pytest.raises(ModelError, match="no events"):
        XGBCoxSurvival().fit(X, Surv.from_arrays(np.zeros(50, bool), np.ones(50)))
