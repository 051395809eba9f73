"""A federated training (in process) becomes a registry model like any other: its calibrated
response probabilities and stratified-Cox survival equal the pooled fits', it registers through
the artifact scan with the federation in its lineage, and the board scores with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from federated_network import assert_wire_clean, build_stores, nodes
from icipredict.features.spec import read_spec
from icipredict.federated.builder_state import builder_from_state
from icipredict.federated.inprocess import in_process_ask
from icipredict.federated.node_export import GRID_MONTHS
from icipredict.federated.runner import coordinator_for
from icipredict.registry.model import ICIPredictModel
from mlflow_helpers import fresh_tracking_uri

ROOT = Path(__file__).resolve().parents[1]
NAME = "icipredict-fed-test"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("fed-registry")
    stores = build_stores(root / "stores")
    experiment = root / "experiment.yaml"
    experiment.write_text(
        "name: fed_registry\ndescription: federated registry test\n"
        "cohort: {store: {path: unused.duckdb}}\n"
        f"features: {ROOT / 'models/features/loris.yaml'}\n"
        f"models: [{ROOT / 'models/llr6.yaml'}, {ROOT / 'experiments/demo/coxph_fixed.yaml'}]\n"
        "targets: [response, os, pfs]\nvalidation: {scheme: leave_one_centre_out}\n"
        f"tracking: {{experiment: fed-registry, registered_model: {NAME}}}\n", encoding="utf-8")
    capture: list[tuple[str, str, str]] = []
    data = nodes(stores, root / "cache")
    result = coordinator_for(experiment, in_process_ask(data, capture)).run()
    spec = read_spec(ROOT / "models/features/loris.yaml")
    pooled = pd.concat([d.frame(spec).assign(_centre=c) for c, d in data.items()])
    return root, stores, experiment, result, capture, data, spec, pooled


def _design(result, spec, pooled, name):
    model = result["models"][name]
    builder = builder_from_state(spec, result["state"])
    cols = [builder.feature_names_out_.index(f) for f in model["features"]]
    X = builder.transform(pooled).to_numpy(dtype=float)[:, cols]
    return model, np.where(np.isnan(X), np.asarray(model["fill"]), X)


def _pooled_llr6(X, y, C):
    scaler = StandardScaler().fit(X)
    lr = LogisticRegression(C=C, l1_ratio=1.0, solver="saga", class_weight="balanced",
                            tol=1e-12, max_iter=500_000).fit(scaler.transform(X), y)
    return lambda Z: lr.decision_function(scaler.transform(Z))


def _pooled_calibrated_probability(result, spec, pooled):
    """The pooled recipe: LLR6 per left-out centre, Platt on the held-out logits (one
    unpenalised logistic fit, as CalibratedClassifierCV(ensemble=False) with centres as
    folds), applied to the full LLR6's logit."""
    model, X = _design(result, spec, pooled, "response")
    y = pd.to_numeric(pooled["responder"], errors="coerce").to_numpy()
    centre = pooled["_centre"].to_numpy()
    ok = ~np.isnan(y)
    held = np.full(len(y), np.nan)
    for c in model["platt"]["centres"]:
        train = ok & (centre != c)
        held[ok & (centre == c)] = _pooled_llr6(X[train], y[train], model["C"])(
            X[ok & (centre == c)])
    used = ok & ~np.isnan(held)
    platt = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12).fit(
        held[used, None], y[used])
    full = _pooled_llr6(X[ok], y[ok], model["C"])
    return lambda Z: platt.predict_proba(full(Z)[:, None])[:, 1], platt


def test_platt_on_held_out_logits_equals_the_pooled_recipe(setup):
    root, _, _, result, _, _, spec, pooled = setup
    model = result["models"]["response"]
    assert model["platt"]["logits"].startswith("leave-one-centre-out")
    assert len(model["platt"]["centres"]) == 6
    probability, platt = _pooled_calibrated_probability(result, spec, pooled)
    assert abs(model["platt"]["slope"] - platt.coef_[0, 0]) < 1e-6
    assert abs(model["platt"]["intercept"] - platt.intercept_[0]) < 1e-6
    # the registry bundle's response model gives the pooled recipe's probabilities
    from icipredict.federated.bundle import write_federated_bundle

    manifest = write_federated_bundle(result, root / "bundle")
    loaded = ICIPredictModel().load_bundle(root / "bundle")
    few = pooled.groupby("_centre").head(2)
    got = loaded.predict(None, few.drop(columns=["_centre"]))["response_probability"]
    model, X = _design(result, spec, few, "response")
    # the registry model holds inputs inside the federation's (coarse) training ranges
    ranges = [manifest["feature_ranges"].get(f) or (None, None) for f in model["features"]]
    low = np.array([-np.inf if lo is None else lo for lo, _ in ranges])
    high = np.array([np.inf if hi is None else hi for _, hi in ranges])
    np.testing.assert_allclose(got.to_numpy(float), probability(np.clip(X, low, high)), atol=1e-6)
    assert loaded.predict(None, few.drop(columns=["_centre"]))["response_ci_low"].isna().all()


def _step(bch: pd.Series, grid: np.ndarray) -> np.ndarray:
    """lifelines' baseline cumulative hazard (a step function) at ``grid``."""
    idx = np.searchsorted(bch.index.to_numpy(float), grid, side="right") - 1
    return np.where(idx >= 0, bch.to_numpy(float)[np.maximum(idx, 0)], 0.0)


@pytest.mark.parametrize("end", ["os", "pfs"])
def test_per_centre_baselines_and_mixture_equal_lifelines(setup, end):
    root, _, _, result, _, _, spec, pooled = setup
    model, X = _design(result, spec, pooled, end)
    df = pd.DataFrame(X, columns=model["features"]).assign(
        T=pd.to_numeric(pooled[f"{end}_months"]).to_numpy(),
        E=pd.to_numeric(pooled[f"{end}_event"]).to_numpy(),
        centre=pooled["_centre"].to_numpy()).dropna(subset=["T", "E"])
    ref = CoxPHFitter(penalizer=model["penalizer"]).fit(df, "T", "E", strata=["centre"])
    base = model["baseline"]
    for c, mine in base["per_centre"].items():
        k = len(mine["cumhaz"])
        rows = df[df["centre"] == c]
        # cut at the first month with fewer than 5 of the centre's patients at risk
        assert (rows["T"] >= GRID_MONTHS[k - 1]).sum() >= 5
        assert k == len(GRID_MONTHS) or (rows["T"] >= GRID_MONTHS[k]).sum() < 5
        expected = _step(ref.baseline_cumulative_hazard_[c], GRID_MONTHS[:k])
        np.testing.assert_allclose(mine["cumhaz"], expected, rtol=1e-6, atol=1e-9)
        assert mine["n"] == len(rows)
    # every patient gets the patient-weighted mixture, up to the shortest supported centre
    k = len(base["grid_months"])
    assert k == min(len(v["cumhaz"]) for v in base["per_centre"].values())
    weights = df["centre"].value_counts(normalize=True)
    mixture = sum(weights[c] * _step(ref.baseline_cumulative_hazard_[c], GRID_MONTHS[:k])
                  for c in weights.index)
    np.testing.assert_allclose(base["cumhaz"], mixture, rtol=1e-6)
    loaded = ICIPredictModel().load_bundle(_bundle(root, result))
    few = pooled.groupby("_centre").head(1)
    months = [m for m in (3.0, 6.0, 9.0) if m <= base["follow_up_months"]]
    out = loaded.predict(None, few.drop(columns=["_centre"]), params={"horizons": months})
    _, Xf = _design(result, spec, few, end)
    lp = ref.predict_log_partial_hazard(pd.DataFrame(Xf, columns=model["features"]).assign(
        centre=few["_centre"].to_numpy())).to_numpy(float)
    h = np.interp(months, [0.0, *base["grid_months"]], [0.0, *base["cumhaz"]])
    expected = np.exp(-np.outer(np.exp(lp), h))
    got = out[[f"{end}_survival_{m:g}m" for m in months]].to_numpy(float)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert loaded.follow_up[end] == base["follow_up_months"]


def _bundle(root: Path, result) -> Path:
    from icipredict.federated.bundle import write_federated_bundle

    folder = root / "bundle"
    if not (folder / "manifest.json").is_file():
        write_federated_bundle(result, folder)
    return folder


def test_export_rounds_carry_no_rows_ids_or_small_cells(setup):
    _, _, _, result, capture, data, spec, _ = setup
    assert "export" in {k for _, k, _ in capture}
    assert_wire_clean(capture, {c: d.frame(spec) for c, d in data.items()})
    ranges = result["registry"]["feature_ranges"]
    assert ranges["age"][0] < ranges["age"][1]


def test_registered_like_any_model_and_scored_on_the_board(setup, tmp_path, monkeypatch):
    import mlflow

    from icipredict.cohort.store import CohortStore
    from icipredict.federated.tracking import log_federated_run
    from icipredict.tracking.registry import register
    from icipredict.training.config import load_experiment

    root, stores, experiment, result, _, _, spec, pooled = setup
    uri = fresh_tracking_uri(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    config = load_experiment(experiment)
    run_id = log_federated_run(result, config, tracking_uri=uri)
    ids = set()
    for path in stores.values():  # the scan runs over every centre's patient and sample IDs
        store = CohortStore(path)
        ids |= set(store.table("patients", all_versions=True)["patient_id"].astype(str))
        ids |= set(store.table("samples", all_versions=True)["sample_id"].astype(str))
    version = register(run_id, config.tracking.registered_model, forbidden_ids=ids)
    mv = mlflow.MlflowClient().get_model_version(NAME, version)
    assert mv.tags["federation.centres"] == ",".join(sorted(stores))
    assert mv.tags["federation.min_count"] == "5"
    assert json.loads(mv.tags["federation.dropped"]) == []
    assert int(mv.tags["federation.rounds"]) == result["federation"]["rounds"]
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@challenger")
    few = pooled.groupby("_centre").head(1).drop(columns=["_centre"])
    direct = ICIPredictModel().load_bundle(_bundle(root, result)).predict(None, few)
    np.testing.assert_allclose(model.predict(few)["response_probability"].to_numpy(float),
                               direct["response_probability"].to_numpy(float), atol=1e-12)
    # a planted ID in a run is found by the same scan (it does look)
    from icipredict.tracking.scan import ArtifactLeakError

    with mlflow.start_run(run_id=run_id):
        mlflow.log_text(sorted(ids)[0], "leak.txt")
    with pytest.raises(ArtifactLeakError):
        register(run_id, NAME, forbidden_ids=ids)

    from icipredict.cli import app

    out = tmp_path / "patient.out.json"
    res = CliRunner().invoke(app, ["predict", "--patient", str(ROOT / "examples/patient.json"),
                                   "--model", f"models:/{NAME}/{version}", "--json", str(out),
                                   "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    score = json.loads(out.read_text())
    assert 0 < score["response"]["probability"] < 1 and score["response"]["ci_low"] is None
    assert score["risk"]["group"] in ("low", "intermediate", "high")
    limit = ICIPredictModel().load_bundle(_bundle(root, result)).follow_up["pfs"]
    curve = {p["month"]: p["survival"] for p in score["pfs"]["curve"]}
    assert all(v is not None for m, v in curve.items() if m <= limit)
    assert all(v is None for m, v in curve.items() if m > limit)

    from icipredict.tracking.modelcard import build_model_card

    card = build_model_card(NAME, version).to_markdown(full=False)
    assert "Trained federated" in card and "Platt-scaled" in card
