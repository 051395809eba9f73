"""Shared fixture data of the federated tests: per-centre stores of a small synthetic network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.federated.boosting import CANDIDATES
from icipredict.federated.network import centre_stores
from icipredict.federated.node import NodeData
from icipredict.federated.node_export import GRID_MONTHS
from icipredict.federated.statistics import BINS

#: Small enough to build fast, large enough that every centre has 5+ responders and events.
N_PATIENTS = 300
KEY = b"federated-test-key-0123456789abcdef"


def build_stores(root: Path) -> dict[str, Path]:
    """One DuckDB store per centre of the synthetic network under ``root``."""
    return centre_stores(root, n_patients=N_PATIENTS, seed=7, key=KEY)


def nodes(stores: dict[str, Path], cache: Path, **kw) -> dict[str, NodeData]:
    """One :class:`NodeData` per centre store."""
    return {c: NodeData(p, c, cache / c, **kw) for c, p in stores.items()}


def _numbers(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        yield float(obj)


def _lists(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _lists(v)
    elif isinstance(obj, list):
        yield obj
        for v in obj:
            yield from _lists(v)


def assert_wire_clean(replies: list[tuple[str, str, str]], frames: dict[str, pd.DataFrame],
                      min_count: int = 5) -> None:
    """Every reply ``(centre, kind, JSON text)`` a node sent carries no patient ID, no
    per-patient vector, no patient's own measurement and no cell of 1..min_count-1."""
    for centre, kind, text in replies:
        frame = frames[centre]
        for pid in frame.index.astype(str):
            assert pid not in text, (centre, kind, "patient id")
        reply = json.loads(text)
        n = len(frame)
        for seq in _lists(reply):  # nothing as long as the centre's rows (only bin edges
            # and the fixed monthly grid of a baseline)
            assert len(seq) < min(n, 20) or len(seq) in (BINS + 1, 2 * BINS + 2,
                                                         len(GRID_MONTHS), CANDIDATES + 1), (
                centre, kind, len(seq))
        values = set()  # non-integer measurements of a patient never appear as such
        for c in ("albumin", "nlr", "tmb", "bmi"):
            v = pd.to_numeric(frame.get(c), errors="coerce").dropna().to_numpy(float)
            values |= {x for x in v if x != round(x)}
        numbers = set(_numbers(reply))
        assert not values & numbers, (centre, kind, "row value")
        if kind in ("histogram", "grid"):
            rows = [reply["below"]] if kind == "histogram" else [
                f["below"] for f in reply["fits"].values()]
            below = np.concatenate([np.zeros(0)] + [np.asarray(r, float).ravel()
                                                    for b in rows for r in b])
            assert not np.any((below > 0) & (below < min_count)), (centre, "small cell")
        if kind == "hello":
            for counts in reply["categories"].values():
                assert all(v >= min_count for v in counts.values()), (centre, "small category")
        if kind == "export":
            _check_export(centre, reply, frame, min_count)
        if kind == "moments":
            seen = np.asarray(reply["n"])
            assert not np.any((seen > 0) & (seen < min_count)), (centre, "small column")


def _check_export(centre: str, reply: dict, frame: pd.DataFrame, min_count: int) -> None:
    """A baseline stops before fewer than ``min_count`` are at risk; no small range cell."""
    for end, part in reply.get("baseline", {}).items():
        k = sum(h is not None for h in part["cumhaz"])
        t = pd.to_numeric(frame[f"{end}_months"], errors="coerce").dropna()
        assert k == 0 or (t >= GRID_MONTHS[k - 1]).sum() >= min_count, (centre, end)
        below = np.asarray(part["risk_below"])
        assert not np.any((below > 0) & (below < min_count)), (centre, "small risk cell")
    if "ranges" in reply:
        below = np.asarray(reply["ranges"]["below"]).ravel()
        assert not np.any((below > 0) & (below < min_count)), (centre, "small range cell")
