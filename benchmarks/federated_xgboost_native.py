"""XGBoost's own federated mode (horizontal) against pooled XGBoost, leave-one-centre-out.

Same network, features and parameters as ``benchmarks/federated_xgboost.py`` (600 patients, six
centres, ``experiments/demo/response_xgb_small.yaml`` on ``XGBResponse`` defaults, ``hist``).
For each held-out centre, XGBoost's federated server (``xgboost.federated.run_federated_server``)
and one worker per training centre are started; every worker holds only its centre's rows and
calls ``xgb.train`` inside ``collective.CommunicatorContext(dmlc_communicator="federated", ...)``,
so the quantile sketch and every gradient histogram are allreduced through the server. The
held-out centre's margins give its concordant-pair counts (``local_counts``), pooled with
``pooled_index`` (AUC within centre), as the federated evaluation does. Two inputs:

- ``raw``: the builder's values (XGBoost's sketch then carries the centres' values);
- ``grid``: each value replaced by its bin index on the grid the federation would choose for
  that leave-one-centre-out fit (:func:`icipredict.federated.boosting.select_grid` on the
  five members' suppressed counts), so the sketch carries bin indices only.

Each worker also counts, on its own rows and XGBoost's cuts (``DMatrix.get_quantile_cut``),
the (feature, bin) cells of its root histogram holding 1-4 of its rows (what one centre's
first histogram sends per bin: a gradient and a Hessian sum, i.e. at the root, its responder
and row counts in that bin).

The ``xgboost-cpu`` wheel of the project's environment lacks the federated plugin, so workers
and server run in a separate Python with the full ``xgboost`` wheel
(``build_info()["USE_FEDERATED"]``; its NCCL is loaded only on GPU use, so it runs on CPU
without ``nvidia-nccl-cu12``).

Setup (a scratch Python outside the repo; no project dependency): ``python3.11 -m venv
/tmp/xgbfed && /tmp/xgbfed/bin/pip install numpy scipy pandas scikit-learn && /tmp/xgbfed/bin/pip
install --no-deps xgboost-3.2.0-py3-none-manylinux_2_28_x86_64.whl`` (``--no-deps`` skips the
490 MB ``nvidia-nccl-cu12``).

Run: ``.venv/bin/python benchmarks/federated_xgboost_native.py --xgb-python
/tmp/xgbfed/bin/python [--seeds 0,1,2] [--no-sampling] [--work DIR] [--patients 600]
[--features features.yaml]``. ``--no-sampling`` (subsample = colsample_bytree = 1) checks the
federation itself: the native fits must then score exactly as the pooled ones.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.features.spec import read_spec
from icipredict.federated import local
from icipredict.federated.boosting import candidate_edges, select_grid
from icipredict.federated.coordinator import Coordinator, model_plans
from icipredict.federated.evaluation import local_counts, pooled_index
from icipredict.federated.inprocess import in_process_ask
from icipredict.federated.node import NodeData
from icipredict.federated.processes import free_port
from icipredict.federated.protocol import DEFAULT_MIN_COUNT
from icipredict.federated.train import demo_stores
from icipredict.modeling.grid_booster import snap
from icipredict.modeling.response import XGBResponse
from icipredict.modeling.spec import load_spec
from icipredict.training.data import default_cache

ROOT = Path(__file__).resolve().parents[1]


def _sibling(name: str):
    """Another benchmark script of this folder, as a module (they are not a package)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", Path(__file__).parent /
                                                  f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the same designs and pooled reference as the bagging benchmark
_BAGGING = _sibling("federated_xgboost")
designs, pooled = _BAGGING.designs, _BAGGING.pooled
MODEL = ROOT / "experiments/demo/response_xgb_small.yaml"
FEATURES = ROOT / "experiments/demo/features.yaml"

#: Run by the full-wheel Python: the federated server (argv: port, world size).
SERVER = """
import sys
from xgboost.federated import run_federated_server
run_federated_server(int(sys.argv[2]), int(sys.argv[1]), timeout=120)
"""

#: Run by the full-wheel Python: one centre's worker (argv: npz, params json, port, rank,
#: world size, out prefix). Rank 0 writes the model; every rank its small-cell counts.
WORKER = """
import json, sys
import numpy as np, xgboost as xgb
from xgboost import collective
data, params, port, rank, world, out = sys.argv[1:7]
rank, world = int(rank), int(world)
arrays = np.load(data)
X, y = arrays["X"], arrays["y"]
params = json.loads(open(params).read())
rounds = params.pop("n_estimators")
with collective.CommunicatorContext(dmlc_communicator="federated",
        federated_server_address=f"localhost:{port}", federated_world_size=world,
        federated_rank=rank):
    d = xgb.DMatrix(X, label=y, missing=np.nan, nthread=1)
    bst = xgb.train(params, d, num_boost_round=rounds)
    ptr, cuts = d.get_quantile_cut()
    if rank == 0:
        bst.save_model(out + "model.json")
        np.savez(out + "cuts.npz", ptr=ptr, values=cuts)
small, cells = 0, 0
for j in range(X.shape[1]):
    c = cuts[ptr[j]:ptr[j + 1]]
    v = X[~np.isnan(X[:, j]), j]
    if len(c) == 0 or len(v) == 0:
        continue
    b = np.minimum(np.searchsorted(c, v, side="right"), len(c) - 1)  # XGBoost's SearchBin
    k = np.bincount(b)
    small += int(np.sum((k >= 1) & (k <= 4)))
    cells += int(np.sum(k >= 1))
json.dump({"small": small, "cells": cells, "bins": int(ptr[-1]), "rows": len(y)},
          open(out + f"cells{rank}.json", "w"))
"""


def loco_grid(data: dict[str, tuple], members: list[str], min_count: int) -> list[list[float]]:
    """The grid the federation chooses for a fit of ``members`` (as the nodes' ``fit_moments``
    and ``grid`` replies and :class:`~icipredict.federated.boosting_fit.BoostingStart`)."""
    mats = [np.asarray(data[c][0], float) for c in members]
    parts = []
    for X in mats:
        m = local.moments(X)
        few = m["n"] < min_count
        parts.append([np.where(few, 0.0, m[k]) for k in ("n", "sum", "sumsq")])
    n, s, ss = (np.sum([p[i] for p in parts], axis=0) for i in range(3))
    cand = candidate_edges(n, s, ss)
    below = [local.cumulative_counts(X, cand, min_count) for X in mats]
    summed = [np.sum([np.asarray(b[j], float) for b in below], axis=0) for j in range(len(cand))]
    return select_grid(cand, summed, n, min_count)


def pooled_grid(data: dict[str, tuple], params: dict, min_count: int) -> dict:
    """Pooled XGBoost LOCO on each fit's grid bins (what binning alone costs)."""
    counts = {}
    for held in data:
        members = [c for c in data if c != held]
        grid = loco_grid(data, members, min_count)
        X = np.vstack([snap(np.asarray(data[c][0], float), grid) for c in members])
        y = np.concatenate([data[c][1] for c in members])
        model = XGBResponse(**params).fit(pd.DataFrame(X), y)
        held_x = pd.DataFrame(snap(np.asarray(data[held][0], float), grid))
        counts[held] = local_counts(
            "logistic", model.decision_function(held_x), data[held][1], None, min_count
        )
    return pooled_index(counts)


def train_params(params: dict) -> dict:
    """``xgb.train`` parameters of ``XGBResponse(**params)`` (its XGBClassifier's, no None)."""
    import xgboost as xgb

    clf = xgb.XGBClassifier(
        n_estimators=params["n_estimators"], learning_rate=params["learning_rate"],
        max_depth=params["max_depth"], min_child_weight=params["min_child_weight"],
        subsample=params["subsample"], colsample_bytree=params["colsample_bytree"],
        reg_lambda=params["reg_lambda"], reg_alpha=params["reg_alpha"], gamma=params["gamma"],
        scale_pos_weight=params["scale_pos_weight"], tree_method="hist",
        random_state=params["random_state"], n_jobs=params["n_jobs"], eval_metric="logloss",
    )
    out = {k: v for k, v in clf.get_xgb_params().items() if v is not None}
    return out | {"n_estimators": int(params["n_estimators"])}


def native_fit(python: str, tmp: Path, mats: list[tuple], params: dict) -> tuple[dict, list]:
    """One federated fit: server + one worker per (X, y); the model (JSON) and cell counts."""
    (tmp / "params.json").write_text(json.dumps(params))
    (tmp / "server.py").write_text(SERVER)
    (tmp / "worker.py").write_text(WORKER)
    port, world = free_port(), len(mats)
    server = subprocess.Popen([python, str(tmp / "server.py"), str(port), str(world)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = []
    try:
        time.sleep(1.0)  # the server listens before a worker connects
        for rank, (X, y) in enumerate(mats):
            np.savez(tmp / f"rank{rank}.npz", X=np.asarray(X, float), y=y)
            workers.append(subprocess.Popen(
                [python, str(tmp / "worker.py"), str(tmp / f"rank{rank}.npz"),
                 str(tmp / "params.json"), str(port), str(rank), str(world), str(tmp) + "/"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for w in workers:
            out, _ = w.communicate(timeout=600)
            if w.returncode:
                raise RuntimeError(f"federated worker failed ({w.returncode}): {out[-2000:]}")
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        server.kill()  # run_federated_server blocks after training: end it
        server.wait()
    model = json.loads((tmp / "model.json").read_text())
    cells = [json.loads((tmp / f"cells{r}.json").read_text()) for r in range(world)]
    cuts = np.load(tmp / "cuts.npz")
    cells[0]["cut_values"] = cut_values(cuts["ptr"], cuts["values"], [X for X, _ in mats])
    return model, cells


def cut_values(ptr: np.ndarray, values: np.ndarray, mats: list[np.ndarray]) -> dict:
    """How many of XGBoost's cuts (which every worker receives; the last cut of a feature is
    a sentinel above its maximum) are a training row's exact value (float32), and how many
    the value of a single row of the federation."""
    exact = single = total = 0
    for j in range(len(ptr) - 1):
        v = np.concatenate([np.asarray(X[:, j], np.float32) for X in mats])
        v = v[~np.isnan(v)]
        uniq, n = np.unique(v, return_counts=True)
        c = values[ptr[j] : ptr[j + 1] - 1]
        pos = np.clip(np.searchsorted(uniq, c), 0, max(len(uniq) - 1, 0))
        hit = (uniq[pos] == c) if len(uniq) else np.zeros(len(c), bool)
        total, exact = total + len(c), exact + int(hit.sum())
        single += int(np.sum(hit & (n[pos] == 1)))
    return {"cuts": total, "exact": exact, "single": single}


def native_loco(python: str, data: dict[str, tuple], params: dict, on_grid: bool,
                min_count: int) -> tuple[dict, list]:
    """XGBoost federated LOCO: per held-out centre a federated fit on the other five."""
    import xgboost as xgb

    counts, cells = {}, []
    for held in data:
        members = [c for c in data if c != held]
        grid = loco_grid(data, members, min_count) if on_grid else None

        def values(c: str, grid: list | None = grid) -> np.ndarray:
            X = np.asarray(data[c][0], float)
            return X if grid is None else snap(X, grid)

        with tempfile.TemporaryDirectory(prefix="xgbnative-") as tmp:
            model, fit_cells = native_fit(
                python, Path(tmp), [(values(c), data[c][1]) for c in members], params
            )
        bst = xgb.Booster({"nthread": 1})
        bst.load_model(bytearray(json.dumps(model).encode()))
        score = bst.predict(xgb.DMatrix(values(held), missing=np.nan, nthread=1),
                            output_margin=True)
        counts[held] = local_counts("logistic", np.asarray(score, float), data[held][1], None,
                                    min_count)
        cells += [{"held": held, "centre": c, **k} for c, k in zip(members, fit_cells,
                                                                     strict=True)]
    return pooled_index(counts), cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xgb-python", required=True, help="Python with the full xgboost wheel")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--patients", type=int, default=600)
    ap.add_argument("--features", default=str(FEATURES))
    ap.add_argument("--seeds", default="0", help="random_state(s) of the native fits: 0,1,2")
    ap.add_argument("--no-sampling", action="store_true",
                    help="subsample = colsample_bytree = 1 everywhere (native must equal pooled)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fedxgbnative-"))
    stores = demo_stores(work, args.patients, 7)
    nodes = {
        c: NodeData(p, c, work / "bench-cache" / c, radiomics_cache=default_cache())
        for c, p in stores.items()
    }
    spec = read_spec(args.features)
    model_spec = load_spec(MODEL)
    t = time.perf_counter()
    result = Coordinator(in_process_ask(nodes), spec, model_plans([model_spec], ["response"])).run()
    rows = [("icipredict bagging (10 trees/centre/round)", result["loco"]["response_xgb"],
             time.perf_counter() - t, "for reference (the spec's sampling always)")]
    data = designs(result, nodes, spec)
    params = {**XGBResponse().get_params(), **model_spec.params}
    if args.no_sampling:  # no random row/column draws: federated hist is pooled hist
        params |= {"subsample": 1.0, "colsample_bytree": 1.0}
    t = time.perf_counter()
    rows.insert(0, ("pooled XGBoost on grid bins, random_state 0",
                    pooled_grid(data, params, DEFAULT_MIN_COUNT), time.perf_counter() - t,
                    "each LOCO fit's grid"))
    for seed in (2, 1, 0):
        t = time.perf_counter()
        idx = pooled(data, {**params, "random_state": seed})
        rows.insert(0, (f"pooled XGBoost, random_state {seed}", idx, time.perf_counter() - t,
                        "256 bins of raw values"))
    cells = {}
    for on_grid in (False, True):
        for seed in map(int, args.seeds.split(",")):
            t = time.perf_counter()
            idx, cells[on_grid] = native_loco(args.xgb_python, data,
                                              train_params({**params, "random_state": seed}),
                                              on_grid, DEFAULT_MIN_COUNT)
            small = sum(k["small"] for k in cells[on_grid])
            total = sum(k["cells"] for k in cells[on_grid])
            rows.append((f"XGBoost federated, {'grid bins' if on_grid else 'raw values'}, "
                         f"random_state {seed}", idx, time.perf_counter() - t,
                         f"root cells with 1-4 rows: {small}/{total}"))
    n_features = next(iter(data.values()))[0].shape[1]
    print(f"XGBoost federated (native) vs pooled, response, {args.patients} patients, 6 centres,"
          f" {n_features} features;"
          f"{' no sampling;' if args.no_sampling else ''} load average"
          f" {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    print(f" {'model':<56} {'LOCO AUC':>8} {'diff':>7} {'seconds':>8}  note")
    ref = rows[0][1]["pooled_within_centre"]
    for name, idx, sec, note in rows:
        auc = idx["pooled_within_centre"]
        print(f" {name:<56} {auc:>8.4f} {auc - ref:>+7.4f} {sec:>8.1f}  {note}")
    print(" (diff: against pooled random_state 0; root cells: (feature, bin) cells of a worker's"
          " own rows on XGBoost's cuts, summed over the 6 x 5 worker fits)")
    for on_grid, ks in cells.items():
        print(f" {'grid' if on_grid else 'raw'} (last seed), per training centre: rows, root"
              " cells with 1-4 of its rows / non-empty cells (over its 5 fits)")
        for c in sorted({k["centre"] for k in ks}):
            mine = [k for k in ks if k["centre"] == c]
            print(f"   {c:<10} {mine[0]['rows']:>4} rows: "
                  + ", ".join(f"{k['small']}/{k['cells']}" for k in mine))
        cut = [k["cut_values"] for k in ks if "cut_values" in k]
        print(f"   XGBoost cuts (all workers receive them): {sum(k['cuts'] for k in cut)} over"
              f" the 6 fits, {sum(k['exact'] for k in cut)} a training row's exact value,"
              f" {sum(k['single'] for k in cut)} the value of a single row;"
              f" XGBoost bins per fit: {sorted({k['bins'] for k in ks})}")


if __name__ == "__main__":
    main()
