"""Real Flower processes: one SuperLink and SuperNodes on free localhost ports train an
experiment federated; the result (fits and registry answers) equals the in-process protocol's,
what the nodes sent is clean, a node refusing the spec stops the run with its message, and no
process is left.

Needs Flower (``make install`` builds .venv-flower; flwr 1.42 cannot live in .venv): fails in CI
when it is absent (``make install`` must have built it), skipped with the reason elsewhere.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from federated_network import KEY, N_PATIENTS, assert_wire_clean, nodes
from icipredict.features.spec import read_spec
from icipredict.federated.inprocess import in_process_ask
from icipredict.federated.network import centre_stores
from icipredict.federated.processes import (
    Flower,
    descendants,
    free_port,
    live_members,
)
from icipredict.federated.protocol import FederationError, spec_hash
from icipredict.federated.runner import coordinator_for
from icipredict.federated.train import train_on_superlink

ROOT = Path(__file__).resolve().parents[1]
CENTRES = ("harbour", "riverside")  # two nodes keep the 2-core test machine responsive

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def setup(tmp_path_factory, flower_dir):
    root = tmp_path_factory.mktemp("fed-flower")
    stores = {c: p for c, p in centre_stores(root / "stores", n_patients=N_PATIENTS, seed=7,
                                             key=KEY).items() if c in CENTRES}
    experiment = root / "experiment.yaml"
    experiment.write_text(
        "name: fed_test\ndescription: federated test\n"
        "cohort: {store: {path: unused.duckdb}}\n"
        f"features: {ROOT / 'models/features/loris.yaml'}\n"
        f"models: [{ROOT / 'models/llr6.yaml'}, {ROOT / 'experiments/demo/coxph_fixed.yaml'}]\n"
        "targets: [response, os]\nvalidation: {scheme: leave_one_centre_out}\n",
        encoding="utf-8")
    return root, stores, experiment


def test_flower_processes_train_like_the_protocol_and_stop_clean(setup, flower_dir):
    root, stores, experiment = setup
    audit = {c: root / f"audit-{c}.jsonl" for c in stores}
    fl = Flower(root / "flower", bin=flower_dir)
    (root / "flower").mkdir()
    try:
        port = free_port()
        link_proc = fl.superlink(port)
        link = f"127.0.0.1:{port}"
        for c, store in stores.items():
            fl.supernode(c, link, {"store": str(store), "centre": c,
                                   "cache": str(root / "cache" / c), "audit-log": str(audit[c])})
        result = train_on_superlink(experiment, link, nodes=len(stores), flower=fl)
        family = [link_proc.pid, *descendants(link_proc.pid)]
        # a node that accepts only another feature spec: the run stops with its message
        fl.supernode("meridian", link, {"store": str(stores["riverside"]),
                                        "centre": "riverside", "cache": str(root / "c2"),
                                        "accept-spec": spec_hash({"name": "other"})})
        with pytest.raises(FederationError, match="riverside refuses feature spec"):
            train_on_superlink(experiment, link, nodes=3, flower=fl)
    finally:
        pids = [p.pid for p in fl.procs]
        fl.close()
    assert not [p for p in pids if live_members(p)], "a Flower process group outlived close()"
    for c in stores:  # the SuperNodes ran with the shortened idle poll (flwr 1.42)
        assert "keeps its own idle poll" not in fl.log(f"supernode-{c}")
        assert "SuperNode ID" in fl.log(f"supernode-{c}")
    assert not [p for p in family if Path(f"/proc/{p}").exists()
                and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()], \
        "a process Flower started in a session of its own outlived close()"

    # the same protocol in process gives the same fit (that one equals the pooled fits:
    # tests/test_federated_protocol.py)
    spec = read_spec(ROOT / "models/features/loris.yaml")
    here = coordinator_for(experiment, in_process_ask(nodes(stores, root / "cache2"))).run()
    for name, model in here["models"].items():
        np.testing.assert_allclose(result["models"][name]["coef"], model["coef"], atol=1e-9)
    # and the same registry answers: Platt map, baseline, ranges (tests/test_federated_registry.py)
    platt = [result["models"]["response"]["platt"][k] for k in ("intercept", "slope")]
    np.testing.assert_allclose(platt, [here["models"]["response"]["platt"][k]
                                       for k in ("intercept", "slope")], atol=1e-9)
    np.testing.assert_allclose(result["models"]["os"]["baseline"]["cumhaz"],
                               here["models"]["os"]["baseline"]["cumhaz"], atol=1e-9)
    assert result["registry"]["feature_ranges"] == here["registry"]["feature_ranges"]
    assert result["federation"]["centres"] == sorted(CENTRES)
    assert result["loco"]["response"]["per_centre"].keys() == set(CENTRES)

    replies = []
    for path in audit.values():
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            replies.append((rec["centre"], rec["kind"], rec["json"]))
    assert {k for _, k, _ in replies} >= {"hello", "histogram", "step", "export"}
    assert_wire_clean(replies, {c: d.frame(spec) for c, d in nodes(stores, root / "c3").items()})


def test_flower_transport_maps_a_silent_node_to_a_dropout(flower_dir):
    # FlowerAsk imports flwr, which lives in the Flower environment: run it there, on a fake
    # Grid that loses one node's reply
    script = """
from icipredict.federated.flower_apps import FlowerAsk
from icipredict.federated.protocol import CentreDropped, encode
from flwr.app import ConfigRecord, Message, RecordDict
from flwr.supercore.task_identity import TaskIdentity

TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 7, 8, 0  # as in a ServerApp

class Grid:
    def get_node_ids(self):
        return [1, 2]
    def push_messages(self, msgs):
        self.sent = list(msgs)
        for m in self.sent:
            m.metadata.__dict__["_message_id"] = m.object_id  # as Flower's push does
        return [m.metadata.message_id for m in self.sent]
    def pull_messages(self, ids):
        out = []
        for m in self.sent:
            if m.metadata.dst_node_id == 2 or m.metadata.message_id not in ids:
                continue
            rep = Message(RecordDict({"reply": ConfigRecord({"json": encode({"centre": "a"})})}),
                          reply_to=m)
            out.append(rep)
        return out

ask = FlowerAsk(Grid(), expected=2, timeout=1)
try:
    ask("hello", {"*": {}})
except CentreDropped as exc:
    print("DROPPED", exc.centres)
"""
    done = subprocess.run([str(flower_dir / "python"), "-c", script], capture_output=True,
                          text=True, timeout=120)
    assert "DROPPED ['node 2']" in done.stdout, done.stdout + done.stderr
