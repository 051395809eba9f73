"""Board scoring speed: warm single-patient score with reasons, and batch scoring of 1M patients.

Compares, through the registry model (``models:/NAME@ALIAS``):

- ``score()`` for one patient, warm (model cached), with reasons (target < 20 ms);
- batch: one vectorised ``predict`` on N rows (target > 500k patients/s) vs the plain
  ``mlflow.pyfunc`` predict loop (one call per patient; timed on a sample, extrapolated).

Usage::

    python benchmarks/scoring_speed.py --model models:/icipredict@champion \
        [--tracking-uri sqlite:///mlflow.db] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models:/icipredict@champion")
    ap.add_argument("--tracking-uri", default=None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--loop-sample", type=int, default=300)
    args = ap.parse_args()
    import logging

    import mlflow

    from icipredict.config import DEFAULT_TRACKING_URI

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(args.tracking_uri or DEFAULT_TRACKING_URI)

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
    t = time.perf_counter()
    out = bm.predict(frame, horizons=[12.0, 24.0], explain=False)
    batch_s = time.perf_counter() - t
    assert len(out) == args.rows

    sample = frame.iloc[:args.loop_sample].reindex(columns=cols)
    t = time.perf_counter()
    for i in range(len(sample)):
        bm.pyfunc.predict(sample.iloc[[i]], params={"horizons": [12.0, 24.0]})
    loop_per_row = (time.perf_counter() - t) / len(sample)

    rows = [
        ("model load (cold)", f"{cold:.2f} s", ""),
        ("warm score() + reasons, median", f"{warm_ms:.1f} ms", "target < 20 ms"),
        ("warm score() + reasons, p95", f"{p95_ms:.1f} ms", ""),
        (f"batch predict, {args.rows:,} rows", f"{batch_s:.2f} s",
         f"{args.rows / batch_s:,.0f} patients/s (target > 500k/s)"),
        ("plain pyfunc predict loop (1 row/call)", f"{loop_per_row * 1000:.2f} ms/row",
         f"{1 / loop_per_row:,.0f} patients/s; 1M rows ~ {loop_per_row * 1e6 / 60:.0f} min"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"model {bm.name} version {bm.version} ({args.model})")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>12}  {note}")


if __name__ == "__main__":
    main()
