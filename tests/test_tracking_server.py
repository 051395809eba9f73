"""Integration: a real ``mlflow server`` over HTTP: log, register, promote, load @champion, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from icipredict.tracking.mlflow_setup import configure_tracking
from icipredict.tracking.registry import CHAMPION, EvalData, promote, register
from icipredict.tracking.scan import scan_run
from mlflow_helpers import fresh_tracking_uri

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    """No one listens on the port (TIME_WAIT leftovers of closed connections are fine)."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Stop the server and every worker: signal the whole process group, then wait."""
    pgid = os.getpgid(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while _group_alive(pgid) and time.monotonic() < deadline:
            proc.poll()  # reap the leader so it does not linger as a zombie
            time.sleep(0.2)
        if not _group_alive(pgid):
            break
    proc.wait(timeout=5)
    assert not _group_alive(pgid), "server processes survived"


def _start_server(tmp_path: Path, port: int) -> subprocess.Popen:
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_bin), "server",
           "--backend-store-uri", fresh_tracking_uri(tmp_path),
           "--artifacts-destination", str(tmp_path / "artifacts"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (tmp_path / "server.log").open("w")
    # Own session = own process group, so the server and its workers are stopped together.
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {(tmp_path / 'server.log').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    _stop(proc)
    raise RuntimeError(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()}")


def test_register_promote_and_load_champion_over_http(tmp_path):
    port = _free_port()
    proc = _start_server(tmp_path, port)
    try:
        configure_tracking(f"http://127.0.0.1:{port}", "server-test")
        rng = np.random.default_rng(0)
        X = pd.DataFrame({"tmb": rng.gamma(2, 5, 400), "nlr": rng.gamma(2, 2, 400)})
        y = (rng.random(400) < 1 / (1 + np.exp(-(X["tmb"] - 10) / 4))).astype(int)
        clf = LogisticRegression().fit(X, y)
        with mlflow.start_run() as run:
            mlflow.log_metric("auc", 0.7)
            mlflow.sklearn.log_model(clf, name="model", pyfunc_predict_fn="predict_proba",
                                     serialization_format="skops",
                                     pip_requirements=["scikit-learn", "mlflow"])
        version = register(run.info.run_id, "served")
        decision = promote("served", version, eval_data=EvalData(X=X, response=y.to_numpy()),
                           n_boot=100)
        assert decision.promoted, decision.summary()

        loaded = mlflow.pyfunc.load_model(f"models:/served@{CHAMPION}")
        proba = np.asarray(loaded.predict(X.head(5)))
        np.testing.assert_allclose(proba, clf.predict_proba(X.head(5)), rtol=1e-12)
        # Artifacts went through the server's proxy to --artifacts-destination.
        assert any((tmp_path / "artifacts").rglob("MLmodel"))
        assert scan_run(run.info.run_id, ["P-0000001"]) == []
    finally:
        mlflow.set_tracking_uri(None)
        _stop(proc)
    assert _port_free(port)
