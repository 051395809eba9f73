"""The SuperNode launcher caps Flower 1.42's hard-coded idle sleep, and only on that release."""

from __future__ import annotations

import time
import types

import pytest

from icipredict.federated import supernode


def _loop() -> types.ModuleType:
    loop = types.ModuleType("start_client_internal")
    loop.time = time  # type: ignore[attr-defined]
    return loop


def test_idle_sleep_is_capped_on_flower_1_42(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    loop = _loop()
    assert supernode.shorten_idle_poll(loop, "1.42.0", cap=0.25)
    loop.time.sleep(3)  # Flower's idle wait
    loop.time.sleep(0.1)  # a shorter wait is kept
    assert slept == [0.25, 0.1]
    assert loop.time.monotonic is time.monotonic  # every other name is time's own


@pytest.mark.parametrize("version", ["1.43.0", "1.4.2", "2.0.0"])
def test_other_flower_releases_keep_their_own_poll(version):
    loop = _loop()
    assert not supernode.shorten_idle_poll(loop, version)
    assert loop.time is time


def test_a_loop_without_the_time_module_is_left_alone():
    loop = types.ModuleType("start_client_internal")
    assert not supernode.shorten_idle_poll(loop, "1.42.1")
    assert not hasattr(loop, "time")
