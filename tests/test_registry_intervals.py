"""Per-patient 95% intervals from bootstrap refits: coverage of a known truth, width vs n."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.util import Surv

from icipredict.evaluation.uncertainty import bootstrap_refits
from icipredict.features.builder import FeatureBuilder
from icipredict.modeling.response import XGBResponse
from icipredict.modeling.survival import CoxPHSurvival
from icipredict.registry.bundle import write_bundle
from icipredict.registry.members import DMATRIX_ROWS
from icipredict.registry.model import ICIPredictModel
from icipredict.registry.schema import output_columns

SPEC = {"name": "sim", "modalities": ["clinical", "genomic"], "clinical": ["age", "albumin"],
        "genomic": ["tmb"], "cancer_type": "none"}
BETA = np.array([0.8, -0.6, 0.5])  # on standardised age, albumin, log tmb
HAZARD = np.array([0.5, -0.4, -0.3])


def _patients(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    z = rng.normal(size=(n, 3))
    frame = pd.DataFrame({"age": 62 + 10 * z[:, 0], "albumin": 3.8 + 0.5 * z[:, 1],
                          "tmb": 1.5 + z[:, 2], "cancer_type": "NSCLC"})  # log-scale tmb
    return frame, expit(-1.0 + z @ BETA), z @ HAZARD


def _bundle(tmp_path, n: int, seed: int, response, n_refits: int = 25, survival: bool = False):
    rng = np.random.default_rng(seed)
    frame, p, lp = _patients(n, rng)
    y = (rng.random(n) < p).astype(int)
    builder = FeatureBuilder(SPEC).fit(frame)
    X = builder.transform(frame)
    model = response.fit(X, y)
    refits = bootstrap_refits(response, X, y, n_refits=n_refits, seed=seed, strata=y)
    surv_models, surv_refits = {}, {}
    if survival:
        t = rng.exponential(1.0 / (0.05 * np.exp(lp)))
        c = rng.uniform(6, 60, n)
        ys = Surv.from_arrays(t <= c, np.minimum(t, c))
        surv_models["os"] = CoxPHSurvival(penalizer=0.0).fit(X, ys)
        surv_refits["os"] = bootstrap_refits(surv_models["os"], X, ys, n_refits=n_refits,
                                             seed=seed)
    folder = tmp_path / f"bundle_{n}_{seed}"
    write_bundle(folder, builder=builder, response_model=model,
                 survival_models=surv_models, training_frame=frame,
                 response_refits=refits, survival_refits=surv_refits)
    return ICIPredictModel().load_bundle(folder)


def _score(model, n: int, seed: int):
    frame, p, lp = _patients(n, np.random.default_rng(seed))
    return model.predict(None, frame, params={"horizons": [12.0]}), p, lp


def _logistic():
    return make_pipeline(StandardScaler(), LogisticRegression(C=1e4))


def test_response_interval_covers_the_true_probability(tmp_path):
    # Coverage over test patients of ONE training set is strongly correlated (one fitted beta):
    # average over a few independent training sets of n = 500.
    coverages = []
    for seed in (0, 1, 2):
        model = _bundle(tmp_path, 500, seed, _logistic(), survival=seed == 0)
        out, p, lp = _score(model, 400, 99 + seed)
        lo, hi = out["response_ci_low"].to_numpy(float), out["response_ci_high"].to_numpy(float)
        point = out["response_probability"].to_numpy(float)
        assert np.all(lo <= point) and np.all(point <= hi)
        coverages.append(np.mean((lo <= p) & (p <= hi)))
        if seed == 0:
            first = out, p, lp, lo, hi, point
    assert np.mean(coverages) >= 0.8, coverages
    out, p, lp, lo, hi, point = first
    # the interval is not the recalibration sliver: a 30% patient gets several points each side
    mid = np.abs(point - 0.3) < 0.05
    assert np.median((hi - lo)[mid]) > 0.06
    # survival at 12 months: the Cox refits' interval covers the true S(12 | x)
    s_true = np.exp(-0.05 * 12 * np.exp(lp))
    slo, shi = (out[f"os_survival_12m_ci_{k}"].to_numpy(float) for k in ("low", "high"))
    s = out["os_survival_12m"].to_numpy(float)
    assert np.all(slo <= s + 1e-12) and np.all(s <= shi + 1e-12)
    assert np.mean((slo <= s_true) & (s_true <= shi)) >= 0.8
    # no PFS model here: its interval columns are null (JSON-safe), not NaN
    ci = [c for c in out.columns if "_ci_" in c]
    assert out["pfs_survival_12m_ci_low"].isna().all()
    json.dumps(out[ci].to_dict("records"), allow_nan=False)


def test_interval_widens_when_training_set_shrinks(tmp_path):
    width = {}
    for n in (150, 600):
        model = _bundle(tmp_path, n, 1, _logistic(), n_refits=20)
        out, _, _ = _score(model, 300, 7)
        width[n] = np.median(out["response_ci_high"].to_numpy(float)
                             - out["response_ci_low"].to_numpy(float))
    assert width[150] > 1.4 * width[600], width


def test_xgboost_refits_are_saved_natively_and_give_intervals(tmp_path):
    model = _bundle(tmp_path, 300, 2, XGBResponse(n_estimators=40, max_depth=2, n_jobs=1),
                    n_refits=8)
    manifest = model.manifest
    assert manifest["refits"]["n"]["response"] == 8
    assert all(e["codec"] == "xgboost" for e in manifest["refits"]["response"])
    assert manifest["what_is_pickled"] == []
    out, p, _ = _score(model, 200, 3)
    lo, hi = out["response_ci_low"].to_numpy(float), out["response_ci_high"].to_numpy(float)
    assert np.all(hi - lo > 0.02)
    # No coverage claim for shrunken trees: their bias (pull towards the base rate) is not
    # sampling variance, and a bootstrap of refits does not see it (docs/registry_model.md).
    # intervals=False: the point estimates alone, unchanged
    frame = pd.DataFrame({"cancer_type": ["NSCLC"], "age": [60.0], "albumin": [3.9],
                          "tmb": [1.0]})
    fast = model.predict(None, frame, params={"intervals": False})
    full = model.predict(None, frame)
    assert fast["response_ci_low"].isna().all()
    assert fast["response_probability"].iloc[0] == full["response_probability"].iloc[0]


def test_small_batches_score_exactly_as_large_ones(tmp_path):
    """Few rows use one shared DMatrix, many use inplace_predict: the numbers are identical."""
    model = _bundle(tmp_path, 300, 4, XGBResponse(n_estimators=40, max_depth=2, n_jobs=1),
                    n_refits=4)
    frame, _, _ = _patients(DMATRIX_ROWS + 50, np.random.default_rng(5))
    big = model.predict(None, frame, params={"horizons": [12.0]})
    for rows in ([0], [3, 7, 11], list(range(40))):
        small = model.predict(None, frame.iloc[rows], params={"horizons": [12.0]})
        pd.testing.assert_frame_equal(small, big.iloc[rows])


@pytest.mark.parametrize("intervals", [True, False])
def test_every_row_depends_on_its_own_input_only(tmp_path, intervals):
    """A batch scored at once gives each row the numbers of that row scored alone or in any
    other batch, explain and null intervals included."""
    model = _bundle(tmp_path, 300, 6, XGBResponse(n_estimators=30, max_depth=2, n_jobs=1),
                    n_refits=4, survival=True)
    frame, _, _ = _patients(50, np.random.default_rng(7))
    frame.loc[frame.index[::5], "albumin"] = np.nan  # missing values -> nullable columns
    params = {"horizons": [6.0, 12.0], "explain": True, "intervals": intervals}
    whole = model.predict(None, frame, params=params)
    parts = pd.concat([model.predict(None, frame.iloc[k:k + 7], params=params)
                       for k in range(0, len(frame), 7)])
    pd.testing.assert_frame_equal(parts, whole, check_exact=False, rtol=1e-12, atol=1e-14)
    assert whole["os_survival_12m_ci_low"].notna().all() == intervals
    assert whole["median_os_months"].dtype == object
    assert any(c.startswith("contrib_") for c in whole.columns)


def test_an_empty_batch_gives_an_empty_table(tmp_path):
    model = _bundle(tmp_path, 300, 6, XGBResponse(n_estimators=10, max_depth=2, n_jobs=1),
                    n_refits=2, survival=True)
    frame, _, _ = _patients(5, np.random.default_rng(8))
    out = model.predict(None, frame.iloc[:0], params={"horizons": [12.0]})
    assert len(out) == 0
    assert list(out.columns) == output_columns([12.0])
