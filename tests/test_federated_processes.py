"""Process groups started for a federation are all stopped, together, also when one ignores
SIGTERM (needs no Flower: plain Python processes stand in for its servers)."""

from __future__ import annotations

import subprocess
import sys

from icipredict.federated.processes import live_members, stop_all

STUBBORN = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")
CHILD = ("import subprocess, sys, time; "
         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
         "print('ready', flush=True); time.sleep(60)")


def _start(code: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_stop_all_ends_every_group_and_its_children():
    procs = [_start(CHILD), _start(CHILD), _start(STUBBORN)]
    try:
        stop_all(procs, timeout=2.0)
    finally:
        for p in procs:  # never leave a process behind, whatever happened
            if p.poll() is None:
                p.kill()
    for p in procs:
        assert p.stdout is not None
        p.stdout.close()
    assert all(p.poll() is not None for p in procs)
    assert not [p.pid for p in procs if live_members(p.pid)]
    assert procs[2].returncode == -9  # ignored SIGTERM: killed after the timeout
    assert procs[0].returncode == -15
