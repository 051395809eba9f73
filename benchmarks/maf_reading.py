"""Benchmark: reading a generated N-variant MAF (default 10 million) with the package's readers.

Usage::

    .venv/bin/python benchmarks/maf_reading.py [--variants 1000000 10000000] [--all] [--keep]

For each size, a MAF (17 standard columns, tab-separated, no gzip) is generated in a temporary
folder by a subprocess, then each method runs in its own fresh interpreter and reports its own
seconds (wall and CPU) and peak memory. Peak memory is the child's ``VmHWM`` (``/proc/self/status``), which an
exec'ed process does not inherit; ``ru_maxrss`` would (Linux carries the parent's high-water mark
across exec, so it reported the generator's memory). Time and peak are taken right after the
read; the per-sample nonsynonymous counts of every method are then compared with the first
method's.

Methods: ``load_maf`` (the loader: full ``mutations`` table, streaming, strict checks) and the
DuckDB counter; ``--all`` adds plain pandas (all columns; needs several GB at 10M) and
``read_maf_fast``. Target for ``load_maf``: 10M variants < 10 s and < 1 GB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATOR = """
import sys
from pathlib import Path
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

CLASSES = np.array(["Missense_Mutation", "Silent", "Nonsense_Mutation", "Splice_Site",
                    "Frame_Shift_Del", "Frame_Shift_Ins", "In_Frame_Del", "In_Frame_Ins",
                    "Splice_Region", "Intron", "3'UTR", "5'UTR", "Translation_Start_Site",
                    "Nonstop_Mutation", "RNA", "IGR"])
CLASS_P = np.array([0.55, 0.2, 0.04, 0.02, 0.02, 0.015, 0.01, 0.005, 0.03, 0.04, 0.02, 0.01,
                    0.005, 0.002, 0.013, 0.015])

path, n = Path(sys.argv[1]), int(sys.argv[2])
n_samples, rng = 20_000, np.random.default_rng(0)
genes = np.array([f"GENE{i}" for i in range(19_000)] + ["TP53", "KRAS", "BRCA1", "BRCA2"])
samples = np.array([f"SAMPLE-{i:06d}" for i in range(n_samples)])
chroms = np.array([str(i) for i in range(1, 23)] + ["X", "Y"])
bases = np.array(["A", "C", "G", "T"])
p = CLASS_P / CLASS_P.sum()
chunk = 1_000_000
with open(path, "wb") as fh:
    fh.write(b"#version 2.4\\n")
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        pos = rng.integers(1, 248_000_000, m)
        ref_idx = rng.integers(0, 4, m)
        ref = bases[ref_idx]
        alt = bases[(ref_idx + rng.integers(1, 4, m)) % 4]  # never the reference
        gene_idx = rng.integers(0, len(genes), m)
        table = pa.table({
            "Hugo_Symbol": genes[gene_idx],
            "Entrez_Gene_Id": gene_idx,
            "Center": np.full(m, "centre.example.org"),
            "NCBI_Build": np.full(m, "GRCh37"),
            "Chromosome": chroms[rng.integers(0, len(chroms), m)],
            "Start_Position": pos,
            "End_Position": pos,
            "Strand": np.full(m, "+"),
            "Variant_Classification": CLASSES[rng.choice(len(CLASSES), m, p=p)],
            "Variant_Type": np.full(m, "SNP"),
            "Reference_Allele": ref,
            "Tumor_Seq_Allele1": ref,
            "Tumor_Seq_Allele2": alt,
            "Tumor_Sample_Barcode": samples[rng.integers(0, n_samples, m)],
            "HGVSp_Short": np.char.add("p.X", (pos % 1000).astype(str)),
            "t_ref_count": rng.integers(10, 500, m),
            "t_alt_count": rng.integers(3, 200, m),
        })
        if start == 0:  # pyarrow quotes header names even with quoting_style="none"
            fh.write(("\\t".join(table.column_names) + "\\n").encode())
        opts = pacsv.WriteOptions(delimiter="\\t", quoting_style="none", include_header=False)
        pacsv.write_csv(table, fh, write_options=opts)
"""

# Each method runs in a fresh interpreter: its body (timed, peak memory measured right after it)
# leaves `result`; `COUNT` then derives {sample: nonsynonymous count} from it (not measured).
METHODS = {
    "load_maf (streaming, full table, strict)": """
from icipredict.cohort.maf import load_maf
result = load_maf(PATH)
""",
    "maf_nonsynonymous_counts (DuckDB stream)": """
from icipredict.features.genomic import maf_nonsynonymous_counts
result = maf_nonsynonymous_counts(PATH)
""",
}
COUNT = """
import pandas as pd
from icipredict.features.genomic import nonsynonymous_counts
counts = nonsynonymous_counts(result) if isinstance(result, pd.DataFrame) else result
"""
EXTRA_METHODS = {
    "pandas read_csv (all columns) + groupby": """
import pandas as pd
from icipredict.features.genomic import NONSYNONYMOUS_CLASSES
df = pd.read_csv(PATH, sep="\\t", comment="#", low_memory=False)
hits = df[df["Variant_Classification"].isin(NONSYNONYMOUS_CLASSES)]
result = hits.groupby("Tumor_Sample_Barcode").size()
""",
    "read_maf_fast (pyarrow, 3 columns) + groupby": """
from icipredict.features.genomic import read_maf_fast
result = read_maf_fast(PATH)
""",
}

RUNNER = """
import json, sys, time
PATH = sys.argv[1]

def peak_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")

start_mb = peak_mb()
t0, c0 = time.perf_counter(), time.process_time()
{body}
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = peak_mb()
{count}
json.dump({{"seconds": seconds, "cpu": cpu, "peak_mb": peak, "start_mb": start_mb,
           "counts": {{str(k): int(v) for k, v in counts.items()}}}}, open(sys.argv[2], "w"))
"""


def generate(maf: Path, n: int) -> float:
    """Write an ``n``-variant MAF in a subprocess; return the seconds it took."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", GENERATOR, str(maf), str(n)], check=True)
    return time.perf_counter() - t0


def run_method(body: str, maf: Path, out: Path) -> dict:
    """Run one method in a fresh interpreter; return its seconds, peak MB and counts."""
    script = RUNNER.format(body=body, count=COUNT)
    subprocess.run([sys.executable, "-c", script, str(maf), str(out)], check=True)
    return json.loads(out.read_text())


def bench_size(n: int, methods: dict[str, str], tmp: Path, keep: bool) -> list[tuple]:
    """Generate an ``n``-variant MAF and time every method on it; return the table rows."""
    maf = tmp / f"bench_{n}.maf"
    seconds = generate(maf, n)
    print(f"generated {n:,} variants ({maf.stat().st_size / 1e9:.2f} GB) in {seconds:.1f} s",
          flush=True)
    rows, reference = [], None
    for name, body in methods.items():
        r = run_method(body, maf, tmp / "out.json")
        reference = r["counts"] if reference is None else reference
        rows.append((n, name, r["seconds"], r["cpu"], r["peak_mb"], r["start_mb"],
                     "yes" if r["counts"] == reference else "NO"))
        print(f"  {name}: {r['seconds']:.1f} s ({r['cpu']:.1f} s CPU), peak "
              f"{r['peak_mb']:.0f} MB", flush=True)
    if not keep:
        maf.unlink()
    (tmp / "out.json").unlink(missing_ok=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--all", action="store_true", help="also plain pandas and read_maf_fast")
    parser.add_argument("--keep", action="store_true", help="keep the generated MAFs")
    args = parser.parse_args()
    methods = {**METHODS, **(EXTRA_METHODS if args.all else {})}
    tmp = Path(tempfile.mkdtemp(prefix="maf_bench_"))
    rows = [row for n in args.variants for row in bench_size(n, methods, tmp, args.keep)]
    print(f"\n{'variants':>11}  {'method':<44} {'seconds':>8} {'CPU s':>6} {'peak MB':>8} "
          f"{'start MB':>9}  same counts")
    for n, name, seconds, cpu, peak, start, same in rows:
        print(f"{n:>11,}  {name:<44} {seconds:>8.1f} {cpu:>6.1f} {peak:>8.0f} {start:>9.0f}  "
              f"{same}")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: seconds are wall "
          "time, CPU s counts every thread of the child)")
    if not args.keep:
        tmp.rmdir()


if __name__ == "__main__":
    main()
