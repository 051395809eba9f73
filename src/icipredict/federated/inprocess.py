"""An in-process transport: the coordinator's ``ask`` answered by local :class:`NodeData`.

Requests and replies go through the same JSON encoding as on the wire, and every reply text
can be captured (the wire-capture test reads them). Used by tests and benchmarks; real
deployments use :mod:`icipredict.federated.flower_apps`.
"""

from __future__ import annotations

from typing import Any

from icipredict.federated.coordinator import ALL, Ask, CentreDropped
from icipredict.federated.node import NodeData, handle
from icipredict.federated.protocol import FederationError, decode, encode


def in_process_ask(nodes: dict[str, NodeData], capture: list[tuple[str, str, str]] | None = None,
                   drop: dict[str, int] | None = None) -> Ask:
    """An ``ask`` over local nodes.

    Parameters
    ----------
    nodes
        Centre -> its data.
    capture
        When given, ``(centre, kind, reply JSON)`` of every reply is appended.
    drop
        Centre -> the number of rounds after which it stops answering (dropout simulation).
    """
    answered: dict[str, int] = {}

    def ask(kind: str, requests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if ALL in requests:
            excluded = set(requests[ALL].get("exclude", []))
            requests = {c: requests[ALL] for c in nodes if c not in excluded}
        replies, missing = {}, []
        for centre, req in requests.items():
            answered[centre] = answered.get(centre, 0) + 1
            if drop and centre in drop and answered[centre] > drop[centre]:
                missing.append(centre)
                continue
            try:
                text = encode(handle(nodes[centre], kind, decode(encode(req))))
            except FederationError as exc:
                raise FederationError(f"centre {centre} refused the {kind!r} round: {exc}") \
                    from exc
            if capture is not None:
                capture.append((centre, kind, text))
            replies[centre] = decode(text)
        if missing:
            raise CentreDropped(missing, kind)
        return replies

    return ask
