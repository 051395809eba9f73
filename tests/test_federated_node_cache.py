"""A node's private cache between rounds (each Flower message is a fresh process): the encoded
columns of the ``moments`` and ``histogram`` rounds come from it, and a changed store is
never answered from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from federated_network import build_stores
from icipredict.features.spec import read_spec
from icipredict.federated import builder_state
from icipredict.federated import statistics as fstats
from icipredict.federated.node import NodeData, handle
from icipredict.federated.protocol import versions

ROOT = Path(__file__).resolve().parents[1]
CENTRE = "riverside"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    store = build_stores(tmp_path_factory.mktemp("cache-stores"))[CENTRE]
    spec = read_spec(ROOT / "models/features/loris.yaml")
    spec_json = spec.model_dump(mode="json")
    cache = tmp_path_factory.mktemp("node-cache")
    hello = handle(NodeData(store, CENTRE, cache), "hello", {"spec": spec_json})
    request = {"versions": versions(), "min_count": 5, "spec": spec_json,
               "state": fstats.levels({CENTRE: hello}, spec)}
    return store, cache, request


def _no_builder(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("the encoded columns were rebuilt, not read from the cache")

    monkeypatch.setattr(builder_state, "raw_columns", refuse)


def test_a_fresh_node_answers_moments_and_histogram_from_the_cache(setup, monkeypatch):
    store, cache, request = setup
    first = handle(NodeData(store, CENTRE, cache), "moments", request)
    assert len(list(cache.glob("raw-*.npz"))) == 1
    _no_builder(monkeypatch)
    again = handle(NodeData(store, CENTRE, cache), "moments", request)  # as a new process
    assert again["columns"] == first["columns"]
    for key in ("n", "sum", "sumsq"):
        assert again[key].tolist() == first[key].tolist()
    edges = {c: [0.0, 1.0] for c in first["columns"][:3]}
    hist = handle(NodeData(store, CENTRE, cache), "histogram", {**request, "edges": edges})
    assert hist["columns"] == list(edges)


def test_a_changed_store_is_not_answered_from_the_cache(setup, monkeypatch):
    store, cache, request = setup
    handle(NodeData(store, CENTRE, cache), "moments", request)
    st = store.stat()
    os.utime(store, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _no_builder(monkeypatch)
    with pytest.raises(AssertionError, match="rebuilt"):
        handle(NodeData(store, CENTRE, cache), "moments", request)
