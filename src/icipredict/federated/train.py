"""``icipredict federated train`` / ``demo``: run the coordinator on Flower, then log it.

:func:`train_on_superlink` submits the icipredict Flower app to a running SuperLink with
``flwr run`` and waits; the ServerApp (on the SuperLink's machine) writes the result file this
function reads, so run it on that machine. :func:`run_demo` builds one store per centre of the
synthetic network, starts one SuperLink and six SuperNodes on free localhost ports, trains and
stops every process group.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from icipredict.federated.processes import Flower, free_port, wait_for_port
from icipredict.federated.runner import read_result

#: The demo's federated experiment (full-feature L1 logistic regression + centre-stratified Cox).
DEMO_EXPERIMENT = Path(__file__).resolve().parents[3] / "experiments" / "demo_federated.yaml"


@dataclass
class FederatedRun:
    """What a federated training returned: the coordinator's result and the MLflow run."""

    result: dict[str, Any]
    run_id: str | None
    seconds: float
    model_uri: str | None = None  # models:/<name>/<version> once registered


def train_on_superlink(experiment: str | Path, superlink: str, *, nodes: int,
                       min_count: int = 5, on_dropout: str = "fail", quorum: int = 2,
                       round_timeout: float = 300.0, workdir: str | Path | None = None,
                       flower: Flower | None = None,
                       root_certificates: Path | None = None) -> dict[str, Any]:
    """Run the federated training of ``experiment`` on the SuperLink at ``superlink``.

    Returns
    -------
    dict
        The coordinator's result (see :meth:`Coordinator.run`).

    Raises
    ------
    FederationError
        With the run's own message (refused node, dropout without quorum, ...).
    """
    from icipredict.federated.coordinator import model_plans
    from icipredict.training.config import load_experiment

    config = load_experiment(experiment)  # refuse a bad config before any network round
    model_plans(config.load_specs()[1], list(config.targets))
    with tempfile.TemporaryDirectory(prefix="icipredict-fed-") as tmp:
        wd = Path(workdir) if workdir is not None else Path(tmp)
        wd.mkdir(parents=True, exist_ok=True)
        out = wd / "result.json"
        out.unlink(missing_ok=True)
        runner = flower or Flower(wd)
        runner.run(superlink, {"experiment": str(Path(experiment).resolve()), "out": str(out),
                               "nodes": nodes, "min-count": min_count,
                               "on-dropout": on_dropout, "quorum": quorum,
                               "round-timeout": float(round_timeout)},
                   root_certificates=root_certificates)
        return read_result(out)


def demo_stores(out: Path, n_patients: int, seed: int) -> dict[str, Path]:
    """One store per centre of the synthetic network (reused when already built)."""
    from icipredict.demo import DEMO_PSEUDONYM_KEY
    from icipredict.federated.network import centre_stores

    stores = {p.stem: p for p in (out / "stores").glob("*.duckdb")}
    if len(stores) == 6:
        return stores
    return centre_stores(out / "stores", n_patients=n_patients, seed=seed,
                         key=DEMO_PSEUDONYM_KEY, network_dir=out / "network")


def run_demo(out: str | Path, *, experiment: str | Path = DEMO_EXPERIMENT,
             n_patients: int = 600, seed: int = 7, tracking_uri: str | None = None,
             log: bool = True, register: bool = True) -> FederatedRun:
    """The local federated demo with real Flower processes (see module doc); with ``log``
    and ``register``, the model is registered under the config's registered model name
    (scanned for every ID of the centres' stores first)."""
    from icipredict.training.config import load_experiment
    from icipredict.training.data import default_cache

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stores = demo_stores(out, n_patients, seed)
    start = time.perf_counter()
    with Flower(out / "flower") as fl:
        (out / "flower").mkdir(exist_ok=True)
        port = free_port()
        link_proc = fl.superlink(port, wait=False)  # the nodes start while it does
        link = f"127.0.0.1:{port}"
        for centre, store in stores.items():
            fl.supernode(centre, link, {"store": str(store), "centre": centre,
                                        "cache": str(out / "node-cache" / centre),
                                        "radiomics-cache": str(default_cache()),
                                        "audit-log": str(out / f"audit-{centre}.jsonl")})
        wait_for_port(port, link_proc)
        result = train_on_superlink(experiment, link, nodes=len(stores), flower=fl)
    seconds = time.perf_counter() - start
    run_id = model_uri = None
    if log:
        from icipredict.federated.tracking import log_federated_run, register_federated

        config = load_experiment(experiment)
        uri = tracking_uri or f"sqlite:///{out / 'mlflow.db'}"
        run_id = log_federated_run(result, config, tracking_uri=uri)
        if register and config.tracking.registered_model:
            name = config.tracking.registered_model
            version = register_federated(run_id, name, stores.values())
            model_uri = f"models:/{name}/{version}"
    return FederatedRun(result, run_id, seconds, model_uri)
