"""Flower's SuperNode with a shorter idle poll: ``python -m icipredict.federated.supernode``.

Takes exactly ``flower-supernode``'s arguments and runs Flower's own SuperNode. The one
difference: Flower 1.42's SuperNode sleeps a hard-coded 3 s whenever it finds no message for
it on the SuperLink (``flwr.supernode.start_client_internal``; no flag or environment
variable sets it), so each round of a federation waits on average 1.5 s, and up to 3 s, before
a node even sees its request. Here that module's ``time`` is a view of :mod:`time` whose
``sleep`` lasts at most :data:`IDLE_POLL` seconds (``ICIPREDICT_SUPERNODE_IDLE_POLL``);
everything else is Flower's. With any other Flower version the stock SuperNode runs.
"""

from __future__ import annotations

import os
import sys
import time
from types import ModuleType
from typing import Any

#: Longest idle wait between a SuperNode's pulls, in seconds (Flower 1.42: 3 s).
IDLE_POLL = float(os.environ.get("ICIPREDICT_SUPERNODE_IDLE_POLL", "0.3"))
#: The Flower release whose hard-coded poll this module shortens.
FLOWER_RELEASE = "1.42."


class ShortSleepTime:
    """:mod:`time` with ``sleep`` capped at ``cap`` seconds (every other name is time's)."""

    def __init__(self, cap: float) -> None:
        self.cap = cap

    def sleep(self, seconds: float) -> None:
        """Sleep ``min(seconds, cap)``."""
        time.sleep(min(seconds, self.cap))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def shorten_idle_poll(loop: ModuleType, version: str, cap: float = IDLE_POLL) -> bool:
    """Give Flower's SuperNode loop module ``loop`` a capped sleep; False (and nothing
    changed) unless ``version`` is the Flower release this was written for."""
    if not version.startswith(FLOWER_RELEASE) or getattr(loop, "time", None) is not time:
        return False
    loop.time = ShortSleepTime(cap)  # type: ignore[attr-defined]
    return True


def main() -> None:
    """Run Flower's ``flower-supernode`` command line (see module doc)."""
    import flwr
    import flwr.supernode.start_client_internal as loop
    from flwr.supernode.cli.flower_supernode import flower_supernode

    if not shorten_idle_poll(loop, flwr.__version__):
        print(f"icipredict: Flower {flwr.__version__} is not {FLOWER_RELEASE}x: its SuperNode "
              "keeps its own idle poll", file=sys.stderr)
    sys.argv[0] = "flower-supernode"
    flower_supernode()


if __name__ == "__main__":
    main()
