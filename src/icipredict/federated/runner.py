"""Run a federated training: the coordinator inside Flower's ServerApp, its result as JSON.

:func:`run_coordinator` is what the ServerApp calls (it writes the result file the CLI reads);
:func:`read_result` reads it back, raising the run's own error message when it failed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from icipredict.federated.coordinator import Ask, Coordinator, model_plans
from icipredict.federated.protocol import FederationError, encode

log = logging.getLogger(__name__)


def coordinator_for(experiment: str | Path, ask: Ask, *, min_count: int = 5,
                    on_dropout: str = "fail", quorum: int = 2) -> Coordinator:
    """A :class:`Coordinator` for an experiment config's feature spec and models."""
    from icipredict.training.config import load_experiment

    config = load_experiment(experiment)
    spec, model_specs = config.load_specs()
    plans = model_plans(model_specs, list(config.targets))
    return Coordinator(ask, spec, plans, min_count=min_count, on_dropout=on_dropout,
                       quorum=quorum)


def _write(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(encode(payload), encoding="utf-8")
    os.replace(tmp, path)  # all or nothing: the CLI never reads a half-written result


def run_coordinator(ask: Ask, cfg: dict[str, Any]) -> None:
    """Train the run config's ``experiment`` over ``ask``; write the result to ``out``."""
    out = Path(str(cfg["out"]))
    try:
        coord = coordinator_for(str(cfg["experiment"]), ask, min_count=int(cfg["min-count"]),
                                on_dropout=str(cfg["on-dropout"]), quorum=int(cfg["quorum"]))
        result = coord.run()
    except FederationError as exc:
        _write(out, {"error": str(exc)})
        return
    _write(out, result)


def read_result(path: str | Path) -> dict[str, Any]:
    """The result of :func:`run_coordinator`.

    Raises
    ------
    FederationError
        With the run's own message when it failed, or when no result was written.
    """
    path = Path(path)
    if not path.is_file():
        raise FederationError(f"the federated run wrote no result ({path}): see the SuperLink "
                              "log")
    result = json.loads(path.read_text(encoding="utf-8"))
    if "error" in result:
        raise FederationError(result["error"])
    return result
