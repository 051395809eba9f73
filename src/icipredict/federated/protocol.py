"""What coordinator and nodes say to each other: versions, suppression and payload encoding.

Every request and reply is one JSON object (inside a Flower ``ConfigRecord``); numbers only as
sums, counts and coefficient-sized vectors. :func:`suppress` is the single small-cell rule.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from icipredict import __version__

#: Bumped when a request or reply changes shape; nodes and coordinator must agree.
PROTOCOL_VERSION = 2
#: Default minimum count of a shared cell (category count, histogram bin, class size).
DEFAULT_MIN_COUNT = 5


#: Request key meaning "every connected node" (the first round, before names are known).
ALL = "*"


class FederationError(RuntimeError):
    """A federated run cannot go on (refused node, dropped node without quorum, bad reply)."""


class CentreDropped(FederationError):
    """Centres that did not answer a round (raised by the transport's ``ask``)."""

    def __init__(self, centres: list[str], kind: str) -> None:
        super().__init__(f"centre(s) {', '.join(centres)} did not answer the {kind!r} round")
        self.centres, self.kind = centres, kind


def versions() -> dict[str, Any]:
    """This side's package and protocol versions."""
    return {"icipredict": __version__, "protocol": PROTOCOL_VERSION}


def spec_hash(spec: dict[str, Any]) -> str:
    """SHA-256 of a feature spec's canonical JSON (what a centre agrees to compute)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def suppress(counts: np.ndarray, min_count: int) -> tuple[np.ndarray, int]:
    """Counts with every cell of 1..min_count-1 set to 0, and how many cells were suppressed."""
    counts = np.asarray(counts, dtype=float)
    small = (counts > 0) & (counts < min_count)
    return np.where(small, 0.0, counts), int(small.sum())


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def encode(payload: dict[str, Any]) -> str:
    """JSON text of a payload (numpy arrays as lists; NaN refused)."""
    return json.dumps(_plain(payload), allow_nan=False, sort_keys=True)


def decode(text: str) -> dict[str, Any]:
    """The payload of :func:`encode`."""
    return json.loads(text)
