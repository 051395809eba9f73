"""Benchmark: TMB counting on a generated 10-million-variant MAF, plain pandas vs our fast paths.

Usage::

    .venv/bin/python benchmarks/maf_reading.py [--variants 10000000] [--keep]

Generates a realistic MAF (17 standard columns, tab-separated, no gzip) in a temporary folder,
then runs each method in its own subprocess (so peak memory, ``ru_maxrss``, is the method's own)
and prints: method, seconds, peak memory, and whether the per-sample nonsynonymous counts are
identical to the plain-pandas result. Target for our path: < 20 s and < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = np.array(["Missense_Mutation", "Silent", "Nonsense_Mutation", "Splice_Site",
                    "Frame_Shift_Del", "Frame_Shift_Ins", "In_Frame_Del", "In_Frame_Ins",
                    "Splice_Region", "Intron", "3'UTR", "5'UTR", "Translation_Start_Site",
                    "Nonstop_Mutation", "RNA", "IGR"])
CLASS_P = np.array([0.55, 0.2, 0.04, 0.02, 0.02, 0.015, 0.01, 0.005, 0.03, 0.04, 0.02, 0.01,
                    0.005, 0.002, 0.013, 0.015])


def generate_maf(path: Path, n: int, n_samples: int = 20_000, seed: int = 0) -> None:
    """Write an ``n``-variant MAF with numpy + pyarrow (vectorised, chunked)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    genes = np.array([f"GENE{i}" for i in range(19_000)] + ["TP53", "KRAS", "BRCA1", "BRCA2"])
    samples = np.array([f"SAMPLE-{i:06d}" for i in range(n_samples)])
    chroms = np.array([str(i) for i in range(1, 23)] + ["X", "Y"])
    bases = np.array(["A", "C", "G", "T"])
    p = CLASS_P / CLASS_P.sum()
    chunk = 2_000_000
    with open(path, "wb") as fh:
        fh.write(b"#version 2.4\n")
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            pos = rng.integers(1, 248_000_000, m)
            ref = bases[rng.integers(0, 4, m)]
            alt = bases[rng.integers(0, 4, m)]
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
                fh.write(("\t".join(table.column_names) + "\n").encode())
            opts = pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
            pacsv.write_csv(table, fh, write_options=opts)


# Each method runs in a fresh interpreter: reads the MAF and writes {sample: count} as JSON.
METHODS = {
    "pandas read_csv (all columns) + groupby": """
import pandas as pd
from icipredict.features.genomic import NONSYNONYMOUS_CLASSES
df = pd.read_csv(PATH, sep="\\t", comment="#", low_memory=False)
hits = df[df["Variant_Classification"].isin(NONSYNONYMOUS_CLASSES)]
counts = hits.groupby("Tumor_Sample_Barcode").size()
""",
    "read_maf_fast (pyarrow, 3 columns) + groupby": """
from icipredict.features.genomic import read_maf_fast, nonsynonymous_counts
counts = nonsynonymous_counts(read_maf_fast(PATH))
""",
    "maf_nonsynonymous_counts (DuckDB stream)": """
from icipredict.features.genomic import maf_nonsynonymous_counts
counts = maf_nonsynonymous_counts(PATH)
""",
}

RUNNER = """
import json, resource, sys, time
PATH = sys.argv[1]
t0 = time.perf_counter()
{body}
seconds = time.perf_counter() - t0
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
json.dump({{"seconds": seconds, "peak_mb": rss_kb / 1024,
           "counts": {{str(k): int(v) for k, v in counts.items()}}}}, open(sys.argv[2], "w"))
"""


def run_method(body: str, maf: Path, out: Path) -> dict:
    """Run one method in a subprocess; return its seconds, peak MB and counts."""
    subprocess.run([sys.executable, "-c", RUNNER.format(body=body), str(maf), str(out)],
                   check=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated MAF")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="maf_bench_"))
    maf = tmp / "bench.maf"
    t0 = time.perf_counter()
    generate_maf(maf, args.variants)
    print(f"generated {args.variants:,} variants ({maf.stat().st_size / 1e9:.2f} GB) in "
          f"{time.perf_counter() - t0:.1f} s: {maf}")

    results = {}
    for name, body in METHODS.items():
        results[name] = run_method(body, maf, tmp / "out.json")
    reference = results[next(iter(METHODS))]["counts"]

    print(f"\n{'method':<48} {'seconds':>8} {'peak MB':>9}  identical")
    for name, r in results.items():
        same = "yes" if r["counts"] == reference else "NO"
        print(f"{name:<48} {r['seconds']:>8.1f} {r['peak_mb']:>9.0f}  {same}")
    print(f"\nsamples: {len(reference):,}; nonsynonymous variants: {sum(reference.values()):,}")
    if not args.keep:
        maf.unlink()
        (tmp / "out.json").unlink(missing_ok=True)
        tmp.rmdir()


if __name__ == "__main__":
    main()
