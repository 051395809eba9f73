"""Time a cohort-store ingest and its queries on a generated cohort (prints a table).

Run: ``.venv/bin/python benchmarks/store_ingest.py [n_patients] [mutations_per_patient]``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.cohort.schema import Cohort
from icipredict.cohort.store import CohortStore


def generated(n: int, per_patient: int, seed: int = 0) -> Cohort:
    rng = np.random.default_rng(seed)
    pid = [f"PAT{i:06d}" for i in range(n)]
    sid = [f"SMP{i:06d}" for i in range(n)]
    genes = np.array(["TP53", "KRAS", "BRCA1", "BRCA2", "EGFR", "PTEN", "STK11", "KEAP1"])
    classes = np.array(["Missense_Mutation", "Silent", "Nonsense_Mutation", "Frame_Shift_Del"])
    m = n * per_patient
    return Cohort(
        patients=pd.DataFrame({"patient_id": pid, "centre": "Bench",
                               "age": rng.uniform(30, 85, n), "cancer_type": "NSCLC"}),
        samples=pd.DataFrame({"sample_id": sid, "patient_id": pid, "panel": "IMPACT468",
                              "panel_size_mb": 1.22, "tmb": rng.gamma(1.5, 5, n)}),
        mutations=pd.DataFrame({"sample_id": np.repeat(sid, per_patient),
                                "hugo_symbol": rng.choice(genes, m),
                                "variant_classification": rng.choice(classes, m),
                                "hgvsp_short": "p.X1Y", "vaf": rng.uniform(0.05, 0.9, m)}),
        labs=pd.DataFrame({"patient_id": pid, "albumin": rng.uniform(2.5, 4.8, n)}),
        outcomes=pd.DataFrame({"patient_id": pid, "responder": rng.integers(0, 2, n),
                               "os_months": rng.exponential(18, n),
                               "os_event": rng.integers(0, 2, n)}),
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    per = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    os.environ.setdefault("ICIPREDICT_PSEUDONYM_KEY", "benchmark-only")
    cohort = generated(n, per)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = CohortStore(Path(tmp) / "bench.duckdb")
        for label, fn in [
            ("ingest (new)", lambda: store.ingest(cohort, centre="Bench", content_hash="a")),
            ("ingest (unchanged)", lambda: store.ingest(cohort, centre="Bench", content_hash="a")),
            ("ingest (new version)", lambda: store.ingest(cohort, centre="Bench",
                                                          content_hash="b")),
            ("cohort()", store.cohort),
            ("summary()", store.summary),
            ("brca_carriers()", store.brca_carriers),
        ]:
            t0 = time.perf_counter()
            fn()
            rows.append((label, time.perf_counter() - t0))
        size = (Path(tmp) / "bench.duckdb").stat().st_size / 1e6
    print(f"{n} patients, {n * per} mutations; store file {size:.1f} MB")
    print(pd.DataFrame(rows, columns=["step", "seconds"]).to_string(index=False,
                                                                    float_format="%.2f"))


if __name__ == "__main__":
    main()
