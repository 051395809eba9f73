"""Per-patient 95% survival intervals from held-out risk scores (Kaplan-Meier bands of score
bins): the table against lifelines, suppression of small risk sets, the bundle lookup, older
bundles, the training input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from sklearn.model_selection import KFold
from sksurv.util import Surv

from icipredict.evaluation.survival_uncertainty import (
    MIN_AT_RISK,
    survival_interval,
    survival_interval_table,
)
from icipredict.evaluation.uncertainty import MIN_BIN, score_bins
from icipredict.features.builder import FeatureBuilder
from icipredict.modeling.survival import CoxPHSurvival
from icipredict.registry.bundle import write_bundle
from icipredict.registry.model import ICIPredictModel

HORIZONS = [3.0, 6.0, 12.0, 24.0]
SPEC = {
    "name": "sim",
    "modalities": ["clinical"],
    "clinical": ["age", "albumin"],
    "cancer_type": "none",
}


def _survival(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exponential times with log-hazard ``risk``, uniform censoring at 3-40 months."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    t = rng.exponential(14.0 * np.exp(-risk))
    c = rng.uniform(3, 40, n)
    return np.round(np.minimum(t, c), 1), (t <= c).astype(int), risk  # rounded: ties


def _step(frame: pd.DataFrame, h: float) -> np.ndarray:
    """A lifelines step-function frame read at ``h`` (right-continuous)."""
    return frame.loc[:h].iloc[-1].to_numpy(dtype=float)


# ------------------------------------------------------------------------------ the table
def test_table_is_lifelines_kaplan_meier_of_each_bin():
    t, e, risk = _survival(600, 0)
    table = survival_interval_table(t, e, risk, HORIZONS, endpoint="os")
    json.dumps(table, allow_nan=False)
    edges, which = score_bins(risk)
    assert table["edges"] == pytest.approx(edges.tolist())
    assert len(table["patients"]) == len(edges) + 1 > 5
    assert sum(table["patients"]) == 600 and min(table["patients"]) >= MIN_BIN
    assert table["horizons"] == HORIZONS and table["endpoint"] == "os"
    compared = 0
    for b in range(len(edges) + 1):
        tb, eb = t[which == b], e[which == b]
        assert table["events"][b] == eb.sum()
        km = KaplanMeierFitter().fit(tb, eb)  # full fit, read as a step function
        for j, h in enumerate(HORIZONS):
            if (tb >= h).sum() < MIN_AT_RISK:
                continue
            compared += 1
            assert table["survival"][b][j] == pytest.approx(
                float(km.survival_function_at_times(h).iloc[0]), abs=1e-12
            )
            low, high = _step(km.confidence_interval_survival_function_, h)
            assert (table["low"][b][j], table["high"][b][j]) == pytest.approx(
                (low, high), abs=1e-12
            )
            assert table["low"][b][j] <= table["survival"][b][j] <= table["high"][b][j]
            assert table["at_risk"][b][j] == (tb >= h).sum()
    assert compared > 3 * len(edges)


def test_horizons_with_few_patients_at_risk_are_null():
    t, e, risk = _survival(400, 1)
    late = risk > np.quantile(risk, 0.8)  # the highest-risk bins: few left at 24 months
    t[late] = np.minimum(t[late], 20.0)
    table = survival_interval_table(t, e, risk, [6.0, 24.0, 60.0], endpoint="pfs")
    edges, which = score_bins(risk)
    for b in range(len(edges) + 1):
        for j, h in enumerate([6.0, 24.0, 60.0]):
            small = (t[which == b] >= h).sum() < MIN_AT_RISK
            values = [table[k][b][j] for k in ("survival", "low", "high", "at_risk")]
            assert all(v is None for v in values) if small else None not in values
        # 60 months is past everyone's follow-up: always null
        assert table["survival"][b][2] is None
    assert table["survival"][-1][1] is None  # the last bin has nobody left at 24 months
    assert any(row[1] is not None for row in table["survival"])
    # no bin median is stored: a Kaplan-Meier median is one patient's exact event time
    assert not any(k.startswith("median") for k in table)
    json.dumps(table, allow_nan=False)


def test_lookup_gives_the_bins_band_widened_to_the_point():
    t, e, risk = _survival(300, 2)
    table = survival_interval_table(t, e, risk, [6.0, 12.0], endpoint="os")
    new = np.array([-3.0, 0.0, 0.01, 3.0])
    point = np.array([[0.99, 0.01]] * 4)
    low, high = survival_interval(
        new, np.array([6.0, 12.0, 18.0]), table, point=np.column_stack([point, np.full(4, 0.5)])
    )
    b = np.searchsorted(table["edges"], new, side="right")
    for i in range(4):
        for j in range(2):
            if table["low"][b[i]][j] is None:  # suppressed in the bin: no interval
                assert np.isnan(low[i, j]) and np.isnan(high[i, j])
                continue
            assert low[i, j] == min(table["low"][b[i]][j], point[i, j])
            assert high[i, j] == max(table["high"][b[i]][j], point[i, j])
    assert np.isfinite(low[:3, 0]).all()
    assert np.isnan(low[:, 2]).all() and np.isnan(high[:, 2]).all()  # 18 m was not read
    nan_point = survival_interval(new, np.array([6.0]), table, point=np.full((4, 1), np.nan))
    assert np.isnan(nan_point[0]).all()  # no interval where the point is null
    assert np.isnan(survival_interval(new, np.array([6.0]), None)[0]).all()


# ------------------------------------------------------------------------------ the bundle
def _cox_bundle(tmp_path, n: int = 400, seed: int = 3):
    """Cox OS model, its table from 5-fold held-out risk scores (as the pipeline does)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": 62 + 10 * rng.normal(size=n),
            "albumin": 3.8 + 0.5 * rng.normal(size=n),
            "cancer_type": "NSCLC",
        }
    )
    lp = 0.06 * (frame["age"] - 62) - 1.2 * (frame["albumin"] - 3.8)
    t = rng.exponential(14.0 * np.exp(-lp.to_numpy()))
    c = rng.uniform(6, 48, n)
    y = Surv.from_arrays(t <= c, np.minimum(t, c))
    builder = FeatureBuilder(SPEC).fit(frame)
    X = builder.transform(frame)
    oof = np.empty(n)
    for fit, held in KFold(5, shuffle=True, random_state=seed).split(X):
        oof[held] = CoxPHSurvival(penalizer=0.01).fit(X.iloc[fit], y[fit]).predict(X.iloc[held])
    table = survival_interval_table(y["time"], y["event"], oof, [6.0, 12.0, 24.0], endpoint="os")
    folder = tmp_path / "bundle"
    write_bundle(
        folder,
        builder=builder,
        response_model=None,
        survival_models={"os": CoxPHSurvival(penalizer=0.01).fit(X, y)},
        training_frame=frame,
        survival_intervals={"os": table, "pfs": table},
    )
    return ICIPredictModel().load_bundle(folder), frame, table


def test_scoring_returns_the_bin_of_the_final_risk_score(tmp_path):
    model, frame, table = _cox_bundle(tmp_path)
    assert set(model.manifest["survival_intervals"]) == {"os"}  # no PFS model: no PFS table
    out = model.predict(None, frame.iloc[:80], params={"horizons": [6.0, 12.0, 24.0, 9.0]})
    ci = [c for c in out.columns if "survival" in c]  # (no response model: its column is NaN)
    json.dumps(out[ci].to_dict("records"), allow_nan=False)
    b = np.searchsorted(table["edges"], out["risk_score"].to_numpy(float), side="right")
    assert len(set(b)) > 3
    for j, h in enumerate(["6", "12", "24"]):
        point = out[f"os_survival_{h}m"].to_numpy(float)
        low = out[f"os_survival_{h}m_ci_low"].to_numpy(float)
        high = out[f"os_survival_{h}m_ci_high"].to_numpy(float)
        stored = np.array([np.nan if r[j] is None else r[j] for r in table["low"]])[b]
        np.testing.assert_array_equal(low, np.minimum(stored, point))
        stored = np.array([np.nan if r[j] is None else r[j] for r in table["high"]])[b]
        np.testing.assert_array_equal(high, np.maximum(stored, point))
        fin = np.isfinite(low)  # null only in bins with < MIN_AT_RISK left at h
        assert fin.mean() > (0.8 if h != "24" else 0.3)
        assert np.all(low[fin] <= point[fin]) and np.all(point[fin] <= high[fin])
    assert out["os_survival_9m_ci_low"].isna().all()  # a horizon the table was not read at
    assert out["pfs_survival_6m_ci_low"].isna().all()
    off = model.predict(None, frame.iloc[:5], params={"intervals": False})
    assert off["os_survival_12m_ci_low"].isna().all()


def test_bundle_without_a_table_loads_with_null_intervals_and_the_same_points(tmp_path):
    model, frame, _ = _cox_bundle(tmp_path)
    path = model.bundle.folder / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["survival_intervals"]
    path.write_text(json.dumps(manifest))
    old = ICIPredictModel().load_bundle(model.bundle.folder)
    a, b = (m.predict(None, frame.iloc[:50]) for m in (model, old))
    ci = [c for c in a.columns if "survival" in c and "_ci_" in c]
    assert (
        b[ci].isna().all().all() and a[[c for c in ci if c.startswith("os_")]].notna().any().all()
    )
    pd.testing.assert_frame_equal(a.drop(columns=ci), b.drop(columns=ci), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------------------ training
def test_training_input_is_one_table_per_end_point_with_held_out_scores():
    from icipredict.training.pipeline import survival_interval_inputs

    t, e, risk = _survival(240, 4)
    held = pd.DataFrame(
        {"os_months": t, "os_event": e, "pfs_months": t / 2, "pfs_event": e},
        index=pd.Index([f"P{i}" for i in range(240)], name="patient_id"),
    )
    held.loc["P0", "os_months"] = np.nan  # unknown OS: left out of the OS table only
    oof = pd.DataFrame({"risk_os": risk, "prob": 0.5}, index=held.index)
    tables = survival_interval_inputs(held, oof, [6.0, 12.0])
    assert set(tables) == {"os"}  # no held-out PFS score: no PFS table
    expected = survival_interval_table(t[1:], e[1:], risk[1:], [6.0, 12.0], endpoint="os")
    assert tables["os"] == expected and tables["os"]["n"] == 239
    assert survival_interval_inputs(held, oof[["prob"]], [6.0]) is None


def test_recalibrated_cox_looks_up_the_trained_score_and_contains_the_new_point(tmp_path):
    model, frame, table = _cox_bundle(tmp_path)
    path = model.bundle.folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["recalibration"] = {"os": {"slope": 0.4}}
    path.write_text(json.dumps(manifest))
    local = ICIPredictModel().load_bundle(model.bundle.folder)
    a, b = (m.predict(None, frame.iloc[:60]) for m in (model, local))
    np.testing.assert_array_equal(a["risk_score"], b["risk_score"])  # the trained score
    assert not np.allclose(a["os_survival_12m"], b["os_survival_12m"])
    bins = np.searchsorted(table["edges"], b["risk_score"].to_numpy(float), side="right")
    stored = np.array(table["low"], dtype=float)[bins, 1]  # 12 months
    point = b["os_survival_12m"].to_numpy(float)
    np.testing.assert_array_equal(
        b["os_survival_12m_ci_low"].to_numpy(float), np.minimum(stored, point)
    )
