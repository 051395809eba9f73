"""The Flower apps: a ClientApp answering for one centre, a ServerApp running the coordinator.

The only module importing ``flwr``. Run under Flower's deployment engine (``flower-superlink``,
``flower-supernode``, ``flwr run``; see :mod:`.processes`): each message carries one JSON
request in a ``ConfigRecord``; each reply one JSON payload (or a refusal message). A node's
``audit-log`` (node config) receives a copy of every reply it sends: the centre's own record of
what left it, and what the wire-capture test reads.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from icipredict.federated.protocol import ALL, CentreDropped, FederationError, decode, encode

client_app = ClientApp()
server_app = ServerApp()
_NODES: dict[tuple, Any] = {}
#: Seconds between the ServerApp's checks for replies (Flower's ``send_and_receive`` sleeps
#: 3 s between checks: on average 1.5 s lost per round after the last reply came in).
REPLY_POLL = 0.2


def _node(config: dict[str, Any]) -> Any:
    from icipredict.federated.node import NodeData

    key = tuple(sorted(config.items()))
    if key not in _NODES:
        accept = str(config.get("accept-spec", "")) or None
        rad = str(config.get("radiomics-cache", "")) or None
        _NODES[key] = NodeData(Path(str(config["store"])), str(config["centre"]),
                               Path(str(config["cache"])), int(config.get("min-count", 5)),
                               accept, Path(rad) if rad else None)
    return _NODES[key]


@client_app.query()
def answer(msg: Message, context: Context) -> Message:
    """Answer one coordinator request with this centre's aggregates (or a refusal)."""
    from icipredict.federated.node import handle

    request = msg.content["request"]
    kind = str(request["kind"])
    node = _node(dict(context.node_config))
    try:
        reply = {"json": encode(handle(node, kind, decode(str(request["json"]))))}
    except FederationError as exc:
        reply = {"error": f"centre {node.centre} refused the {kind!r} round: {exc}"}
    audit = str(context.node_config.get("audit-log", ""))
    if audit:
        with open(audit, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"centre": node.centre, "kind": kind, **reply}) + "\n")
    return Message(RecordDict({"reply": ConfigRecord(reply)}), reply_to=msg)


class FlowerAsk:
    """The coordinator's ``ask`` over a Flower :class:`Grid` (centre names from ``hello``)."""

    def __init__(self, grid: Grid, expected: int, timeout: float) -> None:
        self.grid, self.expected, self.timeout = grid, expected, timeout
        self.node_of: dict[str, int] = {}

    def wait_for_nodes(self, expected: int) -> list[int]:
        """Node IDs once ``expected`` nodes are connected (or as many as came in time)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            ids = list(self.grid.get_node_ids())
            if len(ids) >= expected:
                return ids
            time.sleep(0.2)
        return list(self.grid.get_node_ids())

    def __call__(self, kind: str, requests: dict[str, dict[str, Any]]) -> dict[str, dict]:
        if ALL in requests:
            excluded = set(requests[ALL].get("exclude", []))
            gone = {self.node_of.get(c) for c in excluded}
            targets = {n: requests[ALL] for n in self.wait_for_nodes(self.expected - len(gone))
                       if n not in gone}
        else:
            targets = {self.node_of[c]: r for c, r in requests.items()}
        msgs = [Message(RecordDict({"request": ConfigRecord({"kind": kind,
                                                             "json": encode(req)})}),
                        dst_node_id=node, message_type="query") for node, req in targets.items()]
        replies: dict[str, dict[str, Any]] = {}
        answered = set()
        for rep in self._send_and_receive(msgs):
            if rep.has_error():  # the ClientApp raised: stop with its reason, not a dropout
                raise FederationError(f"{self._centre(rep.metadata.src_node_id)} failed the "
                                      f"{kind!r} round: {rep.error.reason}")
            answered.add(rep.metadata.src_node_id)
            content = rep.content["reply"]
            if "error" in content:
                raise FederationError(str(content["error"]))
            payload = decode(str(content["json"]))
            centre = payload["centre"] if kind == "hello" else self._centre(
                rep.metadata.src_node_id)
            self.node_of[centre] = rep.metadata.src_node_id
            replies[centre] = payload
        missing = [n for n in targets if n not in answered]
        if missing:
            raise CentreDropped([self._centre(n) for n in missing], kind)
        return replies

    def _send_and_receive(self, msgs: list[Message]) -> list[Message]:
        """Flower's ``Grid.send_and_receive`` with a short poll (:data:`REPLY_POLL`): push,
        then pull until every message has its reply or the round times out."""
        pending = set(self.grid.push_messages(msgs))
        deadline = time.monotonic() + self.timeout
        out: list[Message] = []
        while pending and time.monotonic() < deadline:
            got = list(self.grid.pull_messages(pending))
            out.extend(got)
            pending -= {m.metadata.reply_to_message_id for m in got}
            if pending:
                time.sleep(REPLY_POLL)
        return out

    def _centre(self, node: int) -> str:
        return next((c for c, n in self.node_of.items() if n == node), f"node {node}")


@server_app.main()
def coordinate(grid: Grid, context: Context) -> None:
    """Run the coordinator for the run config's experiment; write the result JSON."""
    from icipredict.federated.runner import run_coordinator

    # The model stage imports scikit-learn and pandas (the feature builder): import them while
    # the first rounds wait for the nodes, not in the middle of the run (seconds on 2 cores).
    threading.Thread(target=importlib.import_module, args=("icipredict.federated.fitting",),
                     daemon=True).start()
    cfg = dict(context.run_config)
    ask = FlowerAsk(grid, int(cfg["nodes"]), float(cfg["round-timeout"]))
    run_coordinator(ask, cfg)
