"""Model selection before the test: inner leave-one-centre-out / time-forward splits, the
one-standard-error rule preferring the simpler model, and the experiment config that drives it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from icipredict.cohort.schema import CohortError
from icipredict.features.spec import FeatureSpec
from icipredict.modeling.spec import ModelSpec
from icipredict.training.config import Selection
from icipredict.training.selection import inner_splits, select_response_model

FEATURES = FeatureSpec.model_validate({
    "name": "sel", "modalities": ["clinical", "genomic"], "clinical": ["age", "nlr"],
    "genomic": ["tmb"], "genes": [], "cancer_type": "onehot", "imputation": "median",
    "missing_indicators": False})


def _frame(n: int = 900, seed: int = 0) -> pd.DataFrame:
    """Four centres, start years 2015-2018; response driven by TMB and NLR only."""
    rng = np.random.default_rng(seed)
    tmb = rng.lognormal(1.5, 1.0, n)
    nlr = rng.lognormal(1.4, 0.6, n)
    lp = 0.9 * np.log1p(tmb) - 0.5 * np.log(nlr) - 1.0
    return pd.DataFrame({
        "centre": rng.choice(["a", "b", "c", "d"], n), "cancer_type": "NSCLC",
        "start_date": pd.to_datetime(rng.choice(["2015", "2016", "2017", "2018"], n)),
        "age": rng.normal(64, 10, n), "nlr": nlr, "tmb": tmb,
        "responder": (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(float),
    }, index=pd.Index([f"P{i}" for i in range(n)], name="patient_id"))


def _spec(name: str, estimator: str = "LorisLLR6", **params) -> ModelSpec:
    return ModelSpec(name=name, task="response", estimator=estimator, params=params)


CANDIDATES = [
    _spec("age_only", C=1.0, features=["age"]),            # simplest, no signal
    _spec("tmb_nlr", C=1.0, features=["tmb", "nlr"]),      # the truth's two features
    _spec("all_linear", C=1.0),                            # every feature, linear
    _spec("xgb", "XGBResponse", n_estimators=40, max_depth=2, n_jobs=1),  # every feature, trees
]


def test_loco_one_se_rule_picks_the_simplest_model_as_good_as_the_best():
    frame = _frame()
    sel = Selection(candidates=["x", "y"], scheme="leave_one_centre_out")
    res = select_response_model(frame, FEATURES, CANDIDATES, sel)
    t = res.table
    assert list(res.splits) == ["a", "b", "c", "d"]
    per_centre = t[[f"auc_{c}" for c in "abcd"]]
    # SE of the mean over the held-out centres
    np.testing.assert_allclose(t["se"], per_centre.std(axis=1, ddof=1) / 2, rtol=1e-12)
    np.testing.assert_allclose(t["mean_auc"], per_centre.mean(axis=1), rtol=1e-12)
    assert res.best == t["mean_auc"].idxmax()
    assert res.threshold == pytest.approx(t.loc[res.best, "mean_auc"] - t.loc[res.best, "se"])
    # the no-signal model is simpler but not as good; among those within one SE the fewest
    # features win: the two-feature model (whether or not it has the best mean)
    assert not t.loc["age_only", "within_one_se"]
    assert t.loc["tmb_nlr", "within_one_se"]
    assert res.chosen == "tmb_nlr" and t["chosen"].sum() == 1
    assert t.loc["xgb", "family_rank"] > t.loc["all_linear", "family_rank"]


def test_one_se_rule_breaks_feature_ties_by_family():
    frame = _frame(seed=1)
    sel = Selection(candidates=["x", "y"], scheme="leave_one_centre_out")
    res = select_response_model(frame, FEATURES, CANDIDATES[2:], sel)
    if res.table.loc["all_linear", "within_one_se"]:
        assert res.chosen == "all_linear"  # same features as xgb: linear before trees
    else:
        assert res.chosen == "xgb"


def test_time_forward_split_trains_on_earlier_years_and_uses_a_bootstrap_se():
    frame = _frame()
    sel = Selection(candidates=["x", "y"], scheme="time_forward", validate_from=2017,
                    n_bootstrap=100)
    [(name, train, val)] = inner_splits(frame, sel)
    years = frame["start_date"].dt.year.to_numpy()
    assert name == "from_2017" and (years[train] < 2017).all() and (years[val] >= 2017).all()
    assert len(train) + len(val) == len(frame)
    res = select_response_model(frame, FEATURES, CANDIDATES[:2], sel)
    assert res.chosen == "tmb_nlr"
    assert 0.005 < res.table.loc["tmb_nlr", "se"] < 0.06  # ~ sqrt(AUC(1-AUC)/n) scale
    # a year column works as well as a date
    by_year = frame.assign(start_date=years)
    assert [len(v) for _, _, v in inner_splits(by_year, sel)] == [len(val)]


def test_time_forward_needs_the_column_and_a_year():
    with pytest.raises(ValueError, match="validate_from"):
        Selection(candidates=["x", "y"], scheme="time_forward")
    sel = Selection(candidates=["x", "y"], scheme="time_forward", validate_from=2017)
    with pytest.raises(CohortError, match="time_column 'start_date' is not in the cohort"):
        inner_splits(_frame().drop(columns="start_date"), sel)


def test_select_primary_never_sees_the_test_rows(monkeypatch):
    from icipredict.training import pipeline, selection

    frame = _frame().assign(split=lambda f: np.where(f.index.str[-1] == "0", "test", "train"))
    seen = {}

    def spy(train, feature_spec, candidates, sel, seed=0):
        seen["ids"] = set(train.index)
        return SimpleNamespace(chosen=candidates[0].name)

    monkeypatch.setattr(selection, "select_response_model", spy)
    monkeypatch.setattr("icipredict.modeling.spec.load_spec",
                        lambda p: _spec(str(p), features=["tmb"]))
    config = SimpleNamespace(
        validation=SimpleNamespace(scheme="split_column", column="split", test_value="test"),
        candidate_spec_paths=["one", "two"], selection=None, seed=0)
    specs: dict = {}
    pipeline.select_primary(config, frame, FEATURES, specs)
    assert seen["ids"] == set(frame.index[frame["split"] == "train"])
    assert specs["response"].name == "one"


def test_tracking_logs_the_selection_table_and_choice(tmp_path):
    import mlflow

    from icipredict.tracking.runs import _log_selection
    from mlflow_helpers import fresh_tracking_uri

    res = select_response_model(_frame(n=400), FEATURES, CANDIDATES[:2],
                                Selection(candidates=["x", "y"]))
    spec = tmp_path / "cand.yaml"
    spec.write_text("name: c\n")
    trained = SimpleNamespace(selection=res,
                              config=SimpleNamespace(candidate_spec_paths=[spec]))
    mlflow.set_tracking_uri(fresh_tracking_uri(tmp_path))
    with mlflow.start_run() as run:
        _log_selection(trained)
    logged = mlflow.get_run(run.info.run_id)
    assert logged.data.tags["selected_response_model"] == res.chosen
    assert logged.data.metrics["selection_threshold_auc"] == pytest.approx(res.threshold)
    table = mlflow.load_table("selection/candidates.json", run_ids=[run.info.run_id])
    assert list(table["candidate"]) == ["age_only", "tmb_nlr"]
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id,
                                                                   "config/candidates")}
    assert names == {"config/candidates/cand.yaml"}
