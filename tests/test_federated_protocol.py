"""The federated protocol on real per-centre stores, in process: pooled equality, wire capture,
dropout and refusals. (Real Flower processes: tests/test_federated_flower.py.)"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from federated_network import assert_wire_clean, build_stores, nodes
from icipredict.features.builder import FeatureBuilder
from icipredict.features.spec import read_spec
from icipredict.federated.builder_state import builder_from_state
from icipredict.federated.coordinator import Coordinator, model_plans
from icipredict.federated.inprocess import in_process_ask
from icipredict.federated.protocol import FederationError, spec_hash
from icipredict.modeling.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    return build_stores(tmp_path_factory.mktemp("fed-stores"))


@pytest.fixture(scope="module")
def spec():
    return read_spec(ROOT / "models/features/loris.yaml")


@pytest.fixture(scope="module")
def plans():
    return model_plans([load_spec(ROOT / "models/llr6.yaml"),
                        load_spec(ROOT / "experiments/demo/coxph_fixed.yaml")],
                       ["response", "os", "pfs"])


@pytest.fixture(scope="module")
def run(stores, spec, plans, tmp_path_factory):
    capture: list[tuple[str, str, str]] = []
    data = nodes(stores, tmp_path_factory.mktemp("fed-cache"))
    result = Coordinator(in_process_ask(data, capture), spec, plans).run()
    return result, capture, data


def _pooled(data, spec):
    frames = [d.frame(spec).assign(_centre=c) for c, d in data.items()]
    return pd.concat(frames)


def test_builder_state_matches_pooled_fit(run, spec):
    result, _, data = run
    pooled = _pooled(data, spec)
    ref = FeatureBuilder(spec).fit(pooled)
    fed = builder_from_state(spec, result["state"])
    # cancer types: a type seen fewer than 5 times in a centre is suppressed there, so the
    # federated levels are those whose unsuppressed counts reach the spec's minimum
    from icipredict.features.clinical import normalise_cancer_type

    shared = pd.concat([normalise_cancer_type(d.frame(spec)["cancer_type"]).value_counts()
                        .loc[lambda s: s >= 5] for d in data.values()]).groupby(level=0).sum()
    expected = sorted(shared.index[shared >= spec.rare_type_min_count])
    assert fed.cancer_levels_ == expected
    assert set(expected) < set(ref.cancer_levels_)  # the pooled fit sees the rare ones too
    assert fed.cancer_has_other_
    for c, mean in ref.means_.items():  # exact: sums and sums of squares
        if c not in fed.means_:
            continue
        assert math.isclose(fed.means_[c], mean, rel_tol=1e-9, abs_tol=1e-12), c
        assert math.isclose(fed.scales_[c], ref.scales_[c], rel_tol=1e-9), c
    raw = pooled[["albumin", "age"]].astype(float)
    for c in ("albumin", "age"):  # the quantile sketch: within sd/500 of the pooled median
        med = result["state"]["raw_medians"][c]
        assert abs(med - raw[c].median()) <= raw[c].std(ddof=0) / 500, c


def _design(result, data, spec, name):
    model = result["models"][name]
    builder = builder_from_state(spec, result["state"])
    pooled = _pooled(data, spec)
    cols = [builder.feature_names_out_.index(f) for f in model["features"]]
    X = builder.transform(pooled).to_numpy(dtype=float)[:, cols]
    X = np.where(np.isnan(X), np.asarray(model["fill"]), X)
    return model, pooled, X


def test_federated_llr6_equals_pooled_sklearn(run, spec):
    result, _, data = run
    model, pooled, X = _design(result, data, spec, "response")
    y = pd.to_numeric(pooled["responder"], errors="coerce").to_numpy()
    ok = ~np.isnan(y)
    Z = StandardScaler().fit_transform(X[ok])
    ref = LogisticRegression(C=model["C"], l1_ratio=1.0, solver="saga", class_weight="balanced",
                             tol=1e-12, max_iter=500_000).fit(Z, y[ok])
    np.testing.assert_allclose(model["coef_standardised"], ref.coef_[0], atol=1e-6)
    assert abs(model["intercept_standardised"] - ref.intercept_[0]) < 1e-6
    assert np.count_nonzero(model["coef_standardised"]) < len(model["features"])  # L1 bites


@pytest.mark.parametrize("end", ["os", "pfs"])
def test_federated_cox_equals_lifelines_stratified_by_centre(run, spec, end):
    result, _, data = run
    model, pooled, X = _design(result, data, spec, end)
    df = pd.DataFrame(X, columns=model["features"]).assign(
        T=pd.to_numeric(pooled[f"{end}_months"]).to_numpy(),
        E=pd.to_numeric(pooled[f"{end}_event"]).to_numpy(),
        centre=pooled["_centre"].to_numpy()).dropna(subset=["T", "E"])
    ref = CoxPHFitter(penalizer=model["penalizer"]).fit(df, "T", "E", strata=["centre"])
    np.testing.assert_allclose(model["coef"], ref.params_[model["features"]].to_numpy(),
                               atol=1e-6)


def test_risk_tertiles_come_from_held_out_scores(run, spec):
    # the board's OS tertiles: cut-points of the held-out risk scores (each centre's patients
    # scored by the Cox model fitted without that centre, as a pooled run's out-of-fold
    # tertiles), from counts below edges: within one edge interval of the pooled quantiles
    result, _, data = run
    model, pooled, X = _design(result, data, spec, "os")
    T = pd.to_numeric(pooled["os_months"]).to_numpy()
    E = pd.to_numeric(pooled["os_event"]).to_numpy()
    centre = pooled["_centre"].to_numpy()
    ok = ~(np.isnan(T) | np.isnan(E))
    held_out, in_sample = [], []
    for c in sorted(set(centre)):
        train, test = ok & (centre != c), ok & (centre == c)
        df = pd.DataFrame(X[train], columns=model["features"]).assign(
            T=T[train], E=E[train], centre=centre[train])
        ref = CoxPHFitter(penalizer=model["penalizer"]).fit(df, "T", "E", strata=["centre"])
        coef = ref.params_[model["features"]].to_numpy()
        held_out.append((X[test] - X[train].mean(axis=0)) @ coef)
        in_sample.append((X[test] - np.asarray(model["mean"])) @ np.asarray(model["coef"]))
    rg = result["registry"]["risk_groups"]
    assert rg["endpoint"] == "os" and rg["source"].startswith("held-out")
    # counts below edges 2 * RISK_SPAN * ||beta|| / BINS apart, interpolated within an interval
    step = 2 * 4.0 * np.linalg.norm(model["coef_standardised"]) / 64
    expected = np.quantile(np.concatenate(held_out), [1 / 3, 2 / 3])
    np.testing.assert_allclose(rg["cut_points"], expected, atol=step / 3)
    # ...and the tolerance tells them from the full model's in-sample tertiles
    in_sample_cuts = np.quantile(np.concatenate(in_sample), [1 / 3, 2 / 3])
    assert np.max(np.abs(in_sample_cuts - rg["cut_points"])) > step / 3


def test_wire_carries_no_rows_ids_or_small_cells(run, spec):
    result, capture, data = run
    assert {k for _, k, _ in capture} >= {"hello", "moments", "histogram", "fit_moments",
                                          "step", "export"}
    # the first export round carries every fit's evaluation (pair counts only)
    assert any("fits" in json.loads(text) for _, k, text in capture if k == "export")
    assert_wire_clean(capture, {c: d.frame(spec) for c, d in data.items()})
    assert result["federation"]["suppressed_cells"] > 0


def test_wire_check_catches_a_leak(run, spec):
    # the checker itself must fail on a reply that carries an ID, a row vector or a small cell
    _, capture, data = run
    frames = {c: d.frame(spec) for c, d in data.items()}
    centre = capture[0][0]
    frame = frames[centre]
    leaks = [{"x": [str(frame.index[0])]},
             {"x": pd.to_numeric(frame["albumin"], errors="coerce").fillna(0).tolist()},
             {"columns": ["a"], "below": [[3.0]]}]
    for leak in leaks:
        with pytest.raises(AssertionError):
            assert_wire_clean([(centre, "histogram", json.dumps(leak))], frames)


def test_dropout_with_quorum_restarts_without_the_centre(stores, spec, plans, tmp_path):
    data = nodes(stores, tmp_path)
    coord = Coordinator(in_process_ask(data, drop={"harbour": 6}), spec, plans,
                        on_dropout="quorum", quorum=4)
    result = coord.run()
    assert "harbour" not in result["centres"] and len(result["centres"]) == 5
    assert result["federation"]["dropped"][0]["centres"] == ["harbour"]
    with pytest.raises(FederationError, match="harbour.*did not answer.*on_dropout=fail"):
        Coordinator(in_process_ask(data, drop={"harbour": 6}), spec, plans).run()
    with pytest.raises(FederationError, match="quorum"):
        Coordinator(in_process_ask(data, drop={"harbour": 6}), spec, plans,
                    on_dropout="quorum", quorum=6).run()


def test_node_refuses_another_spec_and_versions_must_match(stores, spec, plans, tmp_path,
                                                           monkeypatch):
    data = nodes(stores, tmp_path)
    data["meridian"].accepted_spec = spec_hash({"name": "another"})
    with pytest.raises(FederationError, match="meridian refuses feature spec"):
        Coordinator(in_process_ask(data), spec, plans).run()
    data["meridian"].accepted_spec = spec_hash(spec.model_dump(mode="json"))
    import icipredict.federated.node as node_mod

    monkeypatch.setattr(node_mod, "versions", lambda: {"icipredict": "0.0.1", "protocol": 1})
    with pytest.raises(FederationError, match=r"runs \{'icipredict': '0.0.1'.*refused"):
        Coordinator(in_process_ask(data), spec, plans).run()


def test_models_without_a_federated_fit_are_refused_by_name():
    with pytest.raises(FederationError, match="RF16Forest.*no federated fit"):
        model_plans([load_spec(ROOT / "models/rf16.yaml")], ["response"])


def test_builder_from_levels_only_encodes_with_median_imputation():
    """The first rounds know the levels but no medians yet: with median imputation (the demo's
    spec) the builder must still give every encoded column, one-hots included (it raised
    'Reorder: columns_out must be a permutation' before)."""
    from icipredict.federated.builder_state import raw_columns

    spec = read_spec(ROOT / "experiments/demo/features.yaml")
    assert spec.imputation == "median" and spec.cancer_type == "onehot"
    state = {"cancer_levels": ["MEL", "NSCLC"], "cancer_has_other": True,
             "drug_class_levels": ["PD_1_PD_L1", "combination"], "imaging_columns": []}
    frame = pd.DataFrame({"cancer_type": ["Melanoma", "NSCLC", "Glioma"], "age": [60.0, 70.0, None],
                          "drug_class": ["PD_1_PD_L1", "combination", None]})
    names, X = raw_columns(builder_from_state(spec, state), frame)
    onehots = [c for c in names if c.startswith(("cancer_type_", "drug_class_"))]
    assert sorted(onehots) == ["cancer_type_MEL", "cancer_type_NSCLC", "cancer_type_other",
                               "drug_class_PD_1_PD_L1", "drug_class_combination"]
    assert "age" in names and X.shape == (3, len(names))
    np.testing.assert_array_equal(X[:, names.index("cancer_type_other")], [0.0, 0.0, 1.0])
    assert np.isnan(X[2, names.index("age")])
