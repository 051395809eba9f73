"""Board scoring speed: warm single-patient score with reasons, and batch scoring of 1M patients.

Compares, through the registry model (``models:/NAME@ALIAS``):

- ``score()`` for one patient, warm (model cached), with reasons (target < 20 ms);
- batch: one ``predict`` of the registry model on N rows (each booster predicts the whole batch
  in one XGBoost call), with the 95% response intervals (a lookup in the bundle's Venn table) and
  with ``intervals=False`` (points only, target >= 300k patients/s; median of ``--repeats``
  runs, the first and slowest shown too) vs MLflow's schema-enforced ``pyfunc.predict`` and the plain
  ``mlflow.pyfunc`` predict loop (one call per patient; timed on a sample, extrapolated).

Without ``--model`` a small demo model is trained first (synthetic 300-patient network, XGBoost
response + Cox survival, temp SQLite tracking store), registered and made champion.

Usage::

    python benchmarks/scoring_speed.py [--model models:/icipredict@champion \
        --tracking-uri sqlite:///mlflow.db] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.predict.record import parse_record, record_frame
from icipredict.predict.scorer import load_board_model, score

PATIENT = {"patient_id": "bench", "cancer_type": "NSCLC", "age": 64, "sex": "female",
           "albumin": {"value": 38, "unit": "g/L"}, "nlr": 3.1, "platelets": 250,
           "haemoglobin": 12.5, "tmb": 14, "drug": "pembrolizumab", "stage_iv": 1,
           "prior_systemic_therapy": 0, "msi_status": "MSS", "fcna": 0.2, "hed": 6.5}


def _synthetic_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """N made-up patients (no real rows) in the model-input layout."""
    rng = np.random.default_rng(seed)
    base = record_frame(parse_record(PATIENT))
    frame = pd.DataFrame(np.repeat(base.to_numpy(), n, axis=0), columns=base.columns)
    for col, (lo, hi) in {"age": (30, 85), "albumin": (2.5, 4.8), "nlr": (1, 15),
                          "tmb": (0.5, 60), "platelets": (100, 450)}.items():
        frame[col] = rng.uniform(lo, hi, n)
    frame["cancer_type"] = rng.choice(["NSCLC", "MEL", "BLCA", "RCC"], n)
    for col in base.columns:
        if base[col].dtype.kind == "f":
            frame[col] = frame[col].astype(float)
    frame.index = pd.Index([f"p{i}" for i in range(n)], name="patient_id")
    return frame


def train_small_model(root: Path) -> tuple[str, str]:
    """Train, register and promote a small demo model in ``root``; return (model URI, tracking)."""
    import json

    import mlflow

    from icipredict import synthetic
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore, source_content_hash
    from icipredict.features.builder import patient_frame
    from icipredict.tracking import registry
    from icipredict.tracking.runs import train_experiment

    net = synthetic.generate_network(root / "net", n_patients=300, seed=7)
    store = CohortStore(root / "bench.duckdb")
    for centre, path in net.sources.items():
        store.ingest(load_source(path, centre=centre), centre=centre,
                     content_hash=source_content_hash(path), source=str(path))
    radiomics = ["radiomics_original_shape_VoxelVolume", "radiomics_original_firstorder_Mean",
                 "radiomics_original_glcm_Contrast"]
    (root / "features.yaml").write_text(
        "name: bench\nmodalities: [clinical, genomic, imaging]\n"
        "clinical: [age, sex, ecog, nlr, albumin, prior_systemic_therapy, drug_class]\n"
        "genomic: [tmb, msi_high]\ngenes: [STK11, KEAP1]\n"
        f"imaging: {json.dumps(radiomics)}\ncancer_type: onehot\nimputation: median\n"
        "missing_indicators: true\n")
    (root / "xgb.yaml").write_text(
        "name: xgb_small\ntask: response\nestimator: XGBResponse\n"
        "params: {n_estimators: 30, max_depth: 2, n_jobs: 1}\ncalibrate: true\n")
    (root / "cox.yaml").write_text(
        "name: cox\ntask: survival\nestimator: CoxPHSurvival\nparams: {penalizer: 0.1}\n")
    (root / "bench.yaml").write_text(
        f"name: bench\ncohort:\n  store: {{path: {root / 'bench.duckdb'}}}\n"
        "features: features.yaml\nmodels: [xgb.yaml, cox.yaml]\n"
        "validation: {scheme: leave_one_centre_out}\nn_bootstrap: 50\n"
        "tracking: {experiment: bench}\n")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = train_experiment(root / "bench.yaml", tracking_uri=uri, progress=False,
                              cache_dir=root / "cache")
    mlflow.set_tracking_uri(uri)
    version = registry.register(result.run_id, "bench")
    frame = patient_frame(store.cohort(), include_outcomes=True).reset_index(drop=True)
    registry.promote("bench", version, eval_data=registry.EvalData.from_frame(frame),
                     force=True, reason="benchmark model", n_boot=50)
    return "models:/bench@champion", uri


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None,
                    help="registry URI; default: train a small demo model first")
    ap.add_argument("--tracking-uri", default=None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--loop-sample", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of the bulk (intervals=False) batch; the median is reported")
    args = ap.parse_args()
    import logging

    import mlflow

    from icipredict.config import resolve_tracking_uri

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    if args.model is None:
        tmp = Path(tempfile.mkdtemp(prefix="icipredict-bench-"))
        t0 = time.perf_counter()
        args.model, args.tracking_uri = train_small_model(tmp)
        print(f"trained a small demo model in {time.perf_counter() - t0:.0f} s ({tmp})")
    mlflow.set_tracking_uri(resolve_tracking_uri(args.tracking_uri))

    t0 = time.perf_counter()
    bm = load_board_model(args.model)
    cold = time.perf_counter() - t0
    score(PATIENT, args.model)  # warm-up
    times = []
    for _ in range(200):
        t = time.perf_counter()
        score(PATIENT, args.model)
        times.append(time.perf_counter() - t)
    warm_ms = 1000 * statistics.median(times)
    p95_ms = 1000 * float(np.quantile(times, 0.95))

    frame = _synthetic_frame(args.rows)
    cols = bm.input_columns or list(frame.columns)
    rng = np.random.default_rng(1)
    for c in cols:  # made-up imaging values so no modality is trivially missing
        if c.startswith("radiomics_") and c in bm.domain.get("numeric", {}):
            num = bm.domain["numeric"][c]
            frame[c] = rng.uniform(num["q25"], num["q75"], args.rows)
    t = time.perf_counter()
    out = bm.predict(frame, horizons=[12.0, 24.0], explain=False)
    batch_s = time.perf_counter() - t
    assert len(out) == args.rows

    python_model = bm.model  # the registry model read from the bundle (no MLflow enforcement)
    points_runs = []
    for _ in range(args.repeats):  # the first run also pays the first touch of fresh memory
        t = time.perf_counter()
        points = bm.predict(frame, horizons=[12.0, 24.0], intervals=False)
        points_runs.append(time.perf_counter() - t)
        assert points["response_ci_low"].isna().all()
        assert points["response_probability"].notna().all()
        del points
    points_s = statistics.median(points_runs)
    table = python_model.manifest.get("response_intervals") or {}
    boosters = {part: len(list(python_model.bundle.folder.glob(f"{part}/**/*.json")))
                for part in ("response", "os", "pfs")}

    pyfunc = mlflow.pyfunc.load_model(args.model)  # MLflow's wrapper, input schema enforced
    t = time.perf_counter()
    out = pyfunc.predict(frame.iloc[:200_000].reindex(columns=cols),
                         params={"horizons": [12.0, 24.0]})
    enforced_rate = 200_000 / (time.perf_counter() - t)

    sample = frame.iloc[:args.loop_sample].reindex(columns=cols)
    t = time.perf_counter()
    for i in range(len(sample)):
        pyfunc.predict(sample.iloc[[i]], params={"horizons": [12.0, 24.0]})
    loop_per_row = (time.perf_counter() - t) / len(sample)

    rows = [
        ("model load (cold)", f"{cold:.2f} s", ""),
        ("warm score() + reasons, median", f"{warm_ms:.1f} ms", "target < 20 ms"),
        ("warm score() + reasons, p95", f"{p95_ms:.1f} ms", ""),
        (f"batch, registry model (BoardModel.predict) + 95% intervals, {args.rows:,} rows",
         f"{batch_s:.2f} s", f"{args.rows / batch_s:,.0f} patients/s"),
        (f"batch, same, intervals=False (bulk point estimates), {args.rows:,} rows, "
         f"median of {args.repeats}", f"{points_s:.2f} s",
         f"{args.rows / points_s:,.0f} patients/s (target >= 300k/s)"),
        ("  the same, first run / slowest run", f"{points_runs[0]:.2f} s",
         f"{args.rows / points_runs[0]:,.0f} / {args.rows / max(points_runs):,.0f} patients/s"),
        ("batch via mlflow pyfunc.predict (schema enforced), 200k rows", "",
         f"{enforced_rate:,.0f} patients/s"),
        ("plain pyfunc predict loop (1 row/call)", f"{loop_per_row * 1000:.2f} ms/row",
         f"{1 / loop_per_row:,.0f} patients/s; 1M rows ~ {loop_per_row * 1e6 / 60:.0f} min"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"model {bm.name} version {bm.version} ({args.model}); model JSON files per part "
          f"{boosters}; interval table of {len(table.get('patients', []))} bins; "
          f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>12}  {note}")


if __name__ == "__main__":  # the training step uses a process pool: keep the guard
    main()
