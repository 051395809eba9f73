"""Shared fixture data of the federated tests: per-centre stores of a small synthetic network."""

from __future__ import annotations

from pathlib import Path

from icipredict.federated.network import centre_stores
from icipredict.federated.node import NodeData

#: Small enough to build fast, large enough that every centre has 5+ responders and events.
N_PATIENTS = 300
KEY = b"federated-test-key-0123456789abcdef"


def build_stores(root: Path) -> dict[str, Path]:
    """One DuckDB store per centre of the synthetic network under ``root``."""
    return centre_stores(root, n_patients=N_PATIENTS, seed=7, key=KEY)


def nodes(stores: dict[str, Path], cache: Path, **kw) -> dict[str, NodeData]:
    """One :class:`NodeData` per centre store."""
    return {c: NodeData(p, c, cache / c, **kw) for c, p in stores.items()}
