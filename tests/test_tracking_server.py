"""Integration: a real ``mlflow server`` over HTTP: log, register, promote, load @champion, stop."""

from __future__ import annotations

import os
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
from server_helpers import free_port, group_alive, port_free, stop_group

pytestmark = pytest.mark.slow


def _stop(proc: subprocess.Popen) -> None:
    stop_group(proc)
    assert not group_alive(proc.pid), "server processes survived"


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
    port = free_port()
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
    assert port_free(port)
