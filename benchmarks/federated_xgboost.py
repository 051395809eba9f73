"""Federated XGBoost (tree bagging, plain and weighted; cyclic) against pooled XGBoost, LOCO.

Both train the demo's response model (``experiments/demo/response_xgb_small.yaml``: 150
depth-2 trees, learning rate 0.05, same parameters) on the builder output of the same federated
feature state; for each centre, a model fitted on the other five is scored on it and the
centres' concordant-pair counts are pooled (AUC within centre, as the federated evaluation
does). The pooled model sees every row at once (XGBoost ``hist``, 256 bins of raw values);
the federated one is :mod:`icipredict.federated.boosting` in process (one network round =
``local_trees`` trees per centre). Goal: federated LOCO AUC within 0.01 of pooled.

Run: ``.venv/bin/python benchmarks/federated_xgboost.py [work_dir] [n_patients]
[local_trees:scheme,...] [features.yaml]`` (scheme: ``flower`` or ``weighted`` bagging, or
``cyclic``; default ``10:flower,1:cyclic,5:cyclic,10:cyclic``). Bagging boosts
``local_trees`` trees per centre and round for ``n_estimators / local_trees`` rounds (six
times the pooled model's trees); cyclic boosting has one centre boost ``local_trees`` trees per
round, in turn, up to the pooled model's ``n_estimators`` trees (``k:scheme:N``: N trees in
all instead).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.features.spec import read_spec
from icipredict.federated.builder_state import builder_from_state
from icipredict.federated.coordinator import Coordinator, model_plans
from icipredict.federated.evaluation import local_counts, pooled_index
from icipredict.federated.inprocess import in_process_ask
from icipredict.federated.node import NodeData
from icipredict.federated.train import demo_stores
from icipredict.modeling.response import XGBResponse
from icipredict.modeling.spec import load_spec
from icipredict.training.data import default_cache

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "experiments/demo/response_xgb_small.yaml"
FEATURES = ROOT / "experiments/demo/features.yaml"


def designs(result: dict, nodes: dict[str, NodeData], spec) -> dict[str, tuple]:
    """Each centre's XGBoost design (builder output of the federated state) and labels."""
    builder = builder_from_state(spec, result["state"])
    features = result["models"]["response_xgb"]["features"]
    data = {}
    for c, node in nodes.items():
        frame = node.frame(spec)
        y = pd.to_numeric(frame.get("responder"), errors="coerce").to_numpy(float)
        X = builder.transform(frame)[features]
        data[c] = (X[~np.isnan(y)], y[~np.isnan(y)])
    return data


def pooled(data: dict[str, tuple], params: dict) -> dict:
    """Pooled XGBoost LOCO: train on the other centres' rows together, count pairs on one."""
    counts = {}
    for held in data:
        X = pd.concat([data[c][0] for c in data if c != held])
        y = np.concatenate([data[c][1] for c in data if c != held])
        model = XGBResponse(**params).fit(X, y)
        counts[held] = local_counts(
            "logistic", model.decision_function(data[held][0]), data[held][1], None, 5
        )
    return pooled_index(counts)


def main() -> None:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="fedxgb-"))
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    schemes = sys.argv[3] if len(sys.argv) > 3 else "10:flower,1:cyclic,5:cyclic,10:cyclic"
    stores = demo_stores(work, n, 7)
    nodes = {
        c: NodeData(p, c, work / "bench-cache" / c, radiomics_cache=default_cache())
        for c, p in stores.items()
    }
    spec = read_spec(sys.argv[4] if len(sys.argv) > 4 else FEATURES)
    model_spec = load_spec(MODEL)
    rows = []
    result = None
    for scheme in schemes.split(","):
        k, bagging, *total = scheme.split(":")
        plans = model_plans([model_spec], ["response"])
        plans[0].local_trees = int(k)
        if total:  # another n_estimators for this row
            plans[0].params = {**plans[0].params, "n_estimators": int(total[0])}
        if bagging == "cyclic":
            plans[0].strategy = "cyclic"
        else:
            plans[0].strategy, plans[0].bagging = "bagging", bagging
        t = time.perf_counter()
        result = Coordinator(in_process_ask(nodes), spec, plans).run()
        sec = time.perf_counter() - t
        fed = result["models"]["response_xgb"]
        bins = max(map(len, fed["grid"])) + 1
        rows.append(
            (
                f"federated {bagging}, {k} trees/centre/round"
                if bagging != "cyclic" else f"federated cyclic, {k} trees/turn",
                result["loco"]["response_xgb"],
                result["federation"]["rounds"],
                sec,
                f"{fed['trees']} trees, grid <= {bins} bins",
            )
        )
    assert result is not None
    params = {**XGBResponse().get_params(), **model_spec.params}
    for seed in (2, 1, 0):  # the pooled model's own spread over subsampling seeds
        t = time.perf_counter()
        index = pooled(designs(result, nodes, spec), {**params, "random_state": seed})
        name = f"pooled XGBoost, random_state {seed}"
        note = f"{params['n_estimators']} trees, 256 bins"
        rows.insert(0, (name, index, 0, time.perf_counter() - t, note))
    print(
        f"federated vs pooled XGBoost, response, {n} patients, 6 centres; load average "
        f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} cores"
    )
    print(f" {'model':<40} {'LOCO AUC':>8} {'diff':>7} {'rounds':>6} {'seconds':>8}  note")
    ref = rows[0][1]["pooled_within_centre"]
    for name, idx, rounds, sec, note in rows:
        auc = idx["pooled_within_centre"]
        print(f" {name:<40} {auc:>8.3f} {auc - ref:>+7.3f} {rounds:>6} {sec:>8.1f}  {note}")
    print(" (diff: against pooled with the spec's random_state 0; rounds: every network round)")


if __name__ == "__main__":
    main()
