"""Speed and memory of the synthetic network generator.

Goal (issue 2): 5,000 patients with images for ~30% of them in under a minute on 2 cores.
Each size runs in a fresh process so peak memory (ru_maxrss) is that run's own.

Usage: ``python benchmarks/synthetic_speed.py [--sizes 600 5000] [--workers 2]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from icipredict.synthetic import generate_network
n, workers, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
net = generate_network(out, n_patients=n, seed=7, workers=workers)
seconds = time.perf_counter() - start
files = sum(1 for p in Path(out).rglob("*") if p.is_file())
mb = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 1e6
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"patients": n, "images": net.n_imaged, "variants": net.n_variants,
                  "files": files, "disk_mb": mb, "seconds": seconds,
                  "peak_mb": max(peak, peak_children)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[600, 5000])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            res = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(args.workers), tmp],
                                 check=True, capture_output=True, text=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    head = (f"{'patients':>8} {'images':>7} {'MAF rows':>9} {'files':>6} {'disk MB':>8} "
            f"{'seconds':>8} {'peak MB':>8}")
    print(f"synthetic network generator (workers={args.workers}; goal: 5000 patients < 60 s)")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['patients']:>8} {r['images']:>7} {r['variants']:>9} {r['files']:>6} "
              f"{r['disk_mb']:>8.1f} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
