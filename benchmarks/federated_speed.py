"""Time the six-node federated training of the demo experiment on localhost (prints a table).

Real Flower processes (one SuperLink, six SuperNodes, ``flwr run``; needs ``make flower``),
then the same protocol in process over the same stores, which shows what Flower's transport
adds (each round: each SuperNode starts a fresh ClientApp process; a SuperNode polls every
0.3 s when idle, :mod:`icipredict.federated.supernode`), and the warm run's time per kind of
round (the coordinator's ``round_seconds``). Goal: < 2 min on 2 cores.

Run: ``.venv/bin/python benchmarks/federated_speed.py [work_dir] [n_patients]``
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from icipredict.federated.inprocess import in_process_ask
from icipredict.federated.node import NodeData
from icipredict.federated.runner import coordinator_for
from icipredict.federated.train import DEMO_EXPERIMENT, demo_stores, run_demo
from icipredict.training.data import default_cache


def main() -> None:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="fedbench-"))
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    t = time.perf_counter()
    stores = demo_stores(work, n, 7)
    t_stores = time.perf_counter() - t
    flower = run_demo(work, n_patients=n, log=False)  # node caches warm up on the first run
    rows = [("stores (6 centres, network generated once)", t_stores, "")]
    rows.append(("Flower demo, cold node caches", flower.seconds,
                 f"{flower.result['federation']['rounds']} rounds"))
    warm = run_demo(work, n_patients=n, log=False)
    rows.append(("Flower demo, warm node caches", warm.seconds,
                 f"{warm.seconds / warm.result['federation']['rounds']:.1f} s/round"))
    nodes = {c: NodeData(p, c, work / "bench-cache" / c, radiomics_cache=default_cache())
             for c, p in stores.items()}
    t = time.perf_counter()
    coordinator_for(DEMO_EXPERIMENT, in_process_ask(nodes)).run()
    rows.append(("same protocol in process", time.perf_counter() - t, ""))
    load = os.getloadavg()[0]
    print(f"federated demo training, {n} patients, 6 centres; load average {load:.1f}, "
          f"{os.cpu_count()} cores")
    print(f" {'step':<46} {'seconds':>8}  note")
    for name, sec, note in rows:
        print(f" {name:<46} {sec:>8.1f}  {note}")
    rounds = warm.result["federation"]["round_seconds"]
    spent = sum(sec for _, sec in rounds)
    print(f"\nrounds of the warm Flower run ({len(rounds)}: {spent:.1f} s; the remaining "
          f"{warm.seconds - spent:.1f} s start the processes and wait for the nodes)")
    print(f" {'round':<14} {'count':>5} {'seconds':>8} {'per round':>9}")
    for kind in dict.fromkeys(k for k, _ in rounds):
        secs = [sec for k, sec in rounds if k == kind]
        print(f" {kind:<14} {len(secs):>5} {sum(secs):>8.1f} {sum(secs) / len(secs):>9.1f}")


if __name__ == "__main__":
    main()
