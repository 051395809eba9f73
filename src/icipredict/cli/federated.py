"""``icipredict federated``: a centre's node, the coordinator's training, the local demo."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer

federated_app = typer.Typer(help="Train across centres without moving patient rows (Flower).",
                            no_args_is_help=True)

SuperlinkOption = Annotated[str, typer.Option("--superlink", help="SuperLink HOST:PORT.")]


def _fail(exc: Exception) -> None:
    from icipredict.cli.common import fail

    fail(exc)


@federated_app.command("node")
def node(
    store: Annotated[Path, typer.Option("--store", help="This centre's DuckDB cohort store.")],
    centre: Annotated[str, typer.Option("--centre", help="This centre's name in the store.")],
    superlink: SuperlinkOption,
    min_count: Annotated[int, typer.Option(help="Smallest count this node shares.")] = 5,
    accept_spec: Annotated[Path | None, typer.Option(
        help="The only feature-spec YAML this centre agrees to compute.")] = None,
    audit_log: Annotated[Path | None, typer.Option(
        help="Append a copy of every reply this node sends (JSON lines).")] = None,
    root_certificates: Annotated[Path | None, typer.Option(
        help="CA certificate (PEM) of the SuperLink's TLS; without it: --insecure.")] = None,
) -> None:
    """Serve this centre's aggregates to the federation (a Flower SuperNode) until stopped."""
    from icipredict.features.spec import read_spec
    from icipredict.federated.processes import Flower
    from icipredict.federated.protocol import FederationError, spec_hash

    try:
        if not store.is_file():
            raise FederationError(f"{store}: no such store")
        if root_certificates is not None and not root_certificates.is_file():
            raise FederationError(f"{root_certificates}: no such CA certificate (PEM) for the "
                                  "SuperLink's TLS")
        config: dict[str, object] = {"store": str(store.resolve()), "centre": centre,
                                     "min-count": min_count}
        if accept_spec is not None:
            config["accept-spec"] = spec_hash(read_spec(accept_spec).model_dump(mode="json"))
        if audit_log is not None:
            config["audit-log"] = str(audit_log.resolve())
        with tempfile.TemporaryDirectory(prefix=f"icipredict-node-{centre}-") as tmp, \
                Flower(Path(tmp)) as fl:
            config["cache"] = str(Path(tmp) / "cache")
            proc = fl.supernode(centre, superlink, config, root_certificates=root_certificates)
            typer.echo(f"node {centre} serving {store} to {superlink} (log: {tmp}); Ctrl-C stops")
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
            try:
                code = proc.wait()
            except KeyboardInterrupt:
                code = 0
            if code:  # e.g. Flower's 305: TLS handshake failed (wrong CA certificate)
                raise FederationError(f"the SuperNode stopped (exit code {code}): "
                                      f"{fl.failure(f'supernode-{centre}')}")
    except FederationError as exc:
        _fail(exc)


def _print_result(result: dict, run_id: str | None, seconds: float | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    fed = result["federation"]
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    typer.echo(f"federated training on {len(fed['centres'])} centres: {fed['rounds']} rounds"
               f"{took}; cells under {fed['min_count']} suppressed: {fed['suppressed_cells']}"
               + (f"; dropped: {fed['dropped']}" if fed["dropped"] else ""))
    table = Table("held_out", "response_auc", "os_harrell_c", "pfs_harrell_c")
    loco = result["loco"]
    for centre in fed["centres"]:
        table.add_row(centre, *[_fmt(loco.get(m, {}).get("per_centre", {}).get(centre))
                                for m in ("response", "os", "pfs")])
    table.add_row("pooled (within centre)", *[_fmt(loco.get(m, {}).get("pooled_within_centre"))
                                              for m in ("response", "os", "pfs")])
    Console().print(table)
    if run_id:
        typer.echo(f"MLflow run {run_id}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@federated_app.command("train")
def train(
    experiment: Annotated[Path, typer.Argument(help="Experiment YAML (LorisLLR6 / CoxPH).")],
    superlink: SuperlinkOption,
    nodes: Annotated[int, typer.Option(help="Centres to wait for.")] = 6,
    min_count: Annotated[int, typer.Option(help="Small-cell suppression threshold.")] = 5,
    on_dropout: Annotated[str, typer.Option(help="fail | quorum")] = "fail",
    quorum: Annotated[int, typer.Option(help="Centres needed to go on (quorum).")] = 2,
    round_timeout: Annotated[float, typer.Option(help="Seconds a round waits.")] = 300.0,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
    root_certificates: Annotated[Path | None, typer.Option(
        help="CA certificate (PEM) of the SuperLink's TLS; without it: insecure.")] = None,
    register: Annotated[bool, typer.Option(
        "--register/--no-register", help="Register the model under the config's "
        "tracking.registered_model (alias challenger) once trained.")] = False,
) -> None:
    """Train an experiment across the SuperLink's nodes; log it to MLflow (run on the
    SuperLink's machine: its ServerApp writes the result there)."""
    from icipredict.cohort.schema import CohortError
    from icipredict.errors import RegistryError
    from icipredict.federated.protocol import FederationError
    from icipredict.federated.tracking import log_federated_run, register_federated
    from icipredict.federated.train import train_on_superlink
    from icipredict.training.config import load_experiment

    if on_dropout not in ("fail", "quorum"):
        _fail(ValueError("--on-dropout must be fail or quorum"))
    try:
        config = load_experiment(experiment)
        name = config.tracking.registered_model
        if register and not name:
            raise CohortError("--register needs tracking.registered_model in the experiment "
                              "config", file=experiment, column="tracking.registered_model")
        result = train_on_superlink(experiment, superlink, nodes=nodes, min_count=min_count,
                                    on_dropout=on_dropout, quorum=quorum,
                                    round_timeout=round_timeout,
                                    root_certificates=root_certificates)
        run_id = log_federated_run(result, config, tracking_uri=tracking_uri)
        version = register_federated(run_id, str(name)) if register else None
    except (FederationError, CohortError, RegistryError) as exc:
        _fail(exc)
        return
    _print_result(result, run_id)
    if version is not None:
        typer.echo(f"registered {name} version {version} (alias challenger)")
    else:
        typer.echo(f"Register it with: icipredict register {run_id} --name "
                   f"{name or '<registered model name>'}")


@federated_app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Work folder.")] = Path("icipredict-demo/federated"),
    patients: Annotated[int, typer.Option(help="Synthetic patients.")] = 600,
    seed: Annotated[int, typer.Option(help="Synthetic network seed.")] = 7,
) -> None:
    """One SuperLink and six SuperNodes on localhost train the demo experiment federated."""
    from icipredict.federated.protocol import FederationError
    from icipredict.federated.train import run_demo

    try:
        run = run_demo(out, n_patients=patients, seed=seed)
    except FederationError as exc:
        _fail(exc)
        return
    _print_result(run.result, run.run_id, run.seconds)
    if run.model_uri is not None:
        typer.echo(f"registered {run.model_uri} (alias challenger); score with it: "
                   f"icipredict predict --model {run.model_uri} --tracking-uri "
                   f"sqlite:///{(out / 'mlflow.db').resolve()}")
    typer.echo(f"mlflow ui --backend-store-uri sqlite:///{(out / 'mlflow.db').resolve()}")
