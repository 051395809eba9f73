"""Speed of the evaluation bootstrap (1000 resamples), printed as a table.

Run: ``.venv/bin/python benchmarks/evaluation_speed.py``
"""

from __future__ import annotations

import time

import numpy as np
from scipy.special import expit

from icipredict.evaluation.compare import compare_auc, compare_c_index
from icipredict.evaluation.metrics import response_metrics
from icipredict.evaluation.survival_metrics import harrell_c, survival_metrics


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    rows = []
    for n in (300, 1500):
        rng = np.random.default_rng(0)
        lp = rng.normal(-1, 1.2, n)
        y = rng.binomial(1, expit(lp))
        p, q = expit(lp), expit(lp + rng.normal(0, 1, n))
        t = rng.exponential(12 * np.exp(-0.8 * lp))
        c = rng.uniform(1, 48, n)
        time_, event = np.minimum(t, c), (t <= c).astype(int)
        rows += [
            ("response_metrics (10 metrics)", n,
             _timed(response_metrics, y, p, threshold=0.3, n_boot=1000)),
            ("compare_auc", n, _timed(compare_auc, y, p, q, n_boot=1000)),
            ("harrell_c", n, _timed(harrell_c, time_, event, lp, n_boot=1000)),
            ("compare_c_index", n, _timed(compare_c_index, time_, event, lp, -q)),
            ("survival_metrics (Harrell+Uno CI, td-AUC)", n,
             _timed(survival_metrics, time_, event, lp, n_boot=1000)),
        ]
    print(f"{'function':45s} {'n':>6s} {'seconds (n_boot=1000)':>22s}")
    for name, n, sec in rows:
        print(f"{name:45s} {n:6d} {sec:22.2f}")


if __name__ == "__main__":
    main()
