"""``mlflow models serve`` answers /invocations with the registry champion (documented columns).

The server runs in its own process group (mlflow starts uvicorn as a child); the test kills the
whole group and checks that the port is free again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from server_helpers import free_port, group_alive, port_free, stop_group
from test_runs import trained

pytestmark = pytest.mark.slow

NAME = "icipredict-serve"


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - loopback only
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import mlflow

    from icipredict.features.builder import patient_frame
    from icipredict.tracking import registry

    demo = trained(tmp_path_factory)
    version = registry.register(demo["result"].run_id, NAME)
    frame = patient_frame(demo["store"].cohort(), include_outcomes=True)
    registry.promote(NAME, version, eval_data=registry.EvalData.from_frame(
        frame.reset_index(drop=True)), force=True, reason="serve test", n_boot=50)
    port = free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=mlflow.get_tracking_uri(),
               # mlflow execs `uvicorn` by name: the venv's bin must be on PATH
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m",
             f"models:/{NAME}@champion", "--env-manager", "local", "--host", "127.0.0.1",
             "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    pgid = proc.pid  # a new session: the leader's pid is the group id
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow models serve exited {proc.returncode}:\n"
                            f"{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not up after 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"url": url, "port": port, "pgid": pgid, "proc": proc, "demo": demo}
    finally:
        if group_alive(pgid):
            stop_group(proc)


def test_invocations_returns_the_documented_columns(server):
    from icipredict.registry.schema import output_columns

    payload = {"dataframe_split": {
        "columns": ["cancer_type", "age", "sex", "ecog", "nlr", "albumin", "tmb", "msi_status",
                    "mut_STK11"],
        "data": [["NSCLC", 61, "male", 1, 3.5, 3.9, 12.0, "MSS", 1],
                 ["MEL", 70, "female", 0, None, None, None, None, None]]},
        "params": {"horizons": [12, 24]}}
    status, body = _post(f"{server['url']}/invocations", payload)
    assert status == 200, body
    rows = body["predictions"]
    assert len(rows) == 2
    assert list(rows[0]) == output_columns([12, 24])
    for r in rows:
        assert 0 <= r["response_ci_low"] <= r["response_probability"] <= r["response_ci_high"] <= 1
        assert 0 <= r["os_survival_24m"] <= r["os_survival_12m"] <= 1
        assert r["median_os_months"] is None or r["median_os_months"] > 0
    assert rows[0]["missing_modalities"] == "imaging"
    assert rows[1]["missing_modalities"] == "genomic,imaging"
    # the server answers what the registry model answers in-process
    import mlflow
    import pandas as pd

    split = payload["dataframe_split"]
    local = mlflow.pyfunc.load_model(f"models:/{NAME}@champion").predict(
        pd.DataFrame(split["data"], columns=split["columns"]), params={"horizons": [12, 24]})
    assert [r["response_probability"] for r in rows] == pytest.approx(
        local["response_probability"].tolist())


def test_missing_required_column_is_a_clear_400(server):
    status, body = _post(f"{server['url']}/invocations",
                         {"dataframe_split": {"columns": ["age"], "data": [[61]]}})
    assert status == 400
    assert "cancer_type" in json.dumps(body)


def test_zz_stopping_the_group_frees_the_port(server):
    """Runs last in this module: kill the whole group, then nothing is left and the port is free."""
    pgid, port = server["pgid"], server["port"]
    os.killpg(pgid, signal.SIGTERM)
    server["proc"].wait(timeout=20)
    end = time.monotonic() + 20
    while (group_alive(pgid) or not port_free(port)) and time.monotonic() < end:
        time.sleep(0.2)
    assert not group_alive(pgid), "a server process survived the group kill"
    assert port_free(port)
