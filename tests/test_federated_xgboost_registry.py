"""Federated XGBoost, cyclic (Flower's FedXgbCyclic) and registrable: one centre boosts per round
in turn up to the pooled tree count, and the run's booster, grid and federated Platt map become a
registry bundle whose probabilities are the federation's own.
(Accuracy against pooled XGBoost: benchmarks/federated_xgboost.py.)"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from federated_network import build_stores, nodes
from icipredict.errors import RegistryError
from icipredict.features.spec import read_spec
from icipredict.federated.boosting import margin
from icipredict.federated.builder_state import builder_from_state
from icipredict.federated.coordinator import Coordinator, model_plans
from icipredict.federated.inprocess import in_process_ask
from icipredict.federated.protocol import FederationError
from icipredict.modeling.spec import load_spec
from icipredict.registry.model import ICIPredictModel

ROOT = Path(__file__).resolve().parents[1]
TREES, PER_TURN = 7, 3  # turns of 3, 3 and 1 trees


@pytest.fixture(scope="module")
def spec():
    return read_spec(ROOT / "models/features/loris.yaml")


@pytest.fixture(scope="module")
def run(spec, tmp_path_factory):
    root = tmp_path_factory.mktemp("fedxgb-cyclic")
    stores = build_stores(root / "stores")
    xgb_spec = load_spec(ROOT / "experiments/demo/response_xgb_small.yaml")
    xgb_spec.params |= {"n_estimators": TREES, "federated_strategy": "cyclic"}
    plans = model_plans([xgb_spec], ["response"])
    plans[0].local_trees = PER_TURN
    capture: list[tuple[str, str, str]] = []
    data = nodes(stores, root / "cache")
    result = Coordinator(in_process_ask(data, capture), spec, plans).run()
    return root, result, capture, data


def test_cyclic_boosting_has_one_centre_boost_per_round_in_turn(run):
    _, result, capture, _ = run
    model = result["models"]["response_xgb"]
    assert model["strategy"] == "cyclic" and model["trees"] == TREES and model["rounds"] == 3
    centres = sorted(result["centres"])
    fits = {"response_xgb|full": centres} | {
        f"response_xgb|loco|{c}": [o for o in centres if o != c] for c in centres}
    senders: dict[str, list[tuple[str, int]]] = {f: [] for f in fits}
    for centre, kind, text in capture:
        if kind != "step":
            continue
        for fname, reply in json.loads(text)["fits"].items():
            trees = reply["trees"]["learner"]["gradient_booster"]["model"]["trees"]
            senders[fname].append((centre, len(trees)))
    for fname, members in fits.items():  # capture is in round order, one reply per round
        assert senders[fname] == [(members[0], 3), (members[1], 3), (members[2], 1)]


def test_an_unknown_strategy_is_refused():
    xgb_spec = load_spec(ROOT / "experiments/demo/response_xgb_small.yaml")
    xgb_spec.params["federated_strategy"] = "ring"
    with pytest.raises(FederationError, match="federated_strategy"):
        model_plans([xgb_spec], ["response"])


def test_bundle_predicts_the_federations_own_calibrated_probabilities(run, spec):
    from icipredict.federated.bundle import write_federated_bundle

    root, result, _, data = run
    result = copy.deepcopy(result)  # the module's run stays as trained
    model = result["models"]["response_xgb"]
    platt = model["platt"]
    assert platt["logits"].startswith("leave-one-centre-out") and len(platt["centres"]) == 6
    assert np.isfinite([platt["intercept"], platt["slope"]]).all()
    # 7 small trees on 270 patients: the held-out margins may rank the wrong way round (a
    # slope <= 0, -5 here); such a model is refused, and the bundle's arithmetic is checked
    # with the map's slope made positive
    slope = abs(platt["slope"]) or 1.0
    platt["slope"] = -slope
    with pytest.raises(RegistryError, match="Platt slope"):
        write_federated_bundle(result, root / "refused")
    assert not (root / "refused" / "manifest.json").exists()
    platt["slope"] = slope
    manifest = write_federated_bundle(result, root / "bundle")
    assert manifest["what_is_pickled"] == [] and "xgboost" in manifest["models"]["response_xgb"]
    assert "federated_xgboost" in json.dumps(manifest["response"])
    files = {p.name for p in (root / "bundle").rglob("*")}
    assert {"booster.json", "grid.json"} <= files and not any(f.endswith(".pkl") for f in files)
    frames = pd.concat([d.frame(spec).head(2) for d in data.values()])
    got = ICIPredictModel().load_bundle(root / "bundle").predict(None, frames)
    builder = builder_from_state(spec, result["state"])
    X = builder.transform(frames)[model["features"]].to_numpy(float)
    # what the federation's nodes compute (boosting.margin), through the federated Platt map
    expected = expit(platt["intercept"] + platt["slope"] * margin(model["booster"], X,
                                                                   model["grid"]))
    np.testing.assert_allclose(got["response_probability"].to_numpy(float), expected,
                               rtol=0, atol=1e-9)
    assert not np.allclose(expected, expit(margin(model["booster"], X, model["grid"])))
