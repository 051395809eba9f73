"""Registry and training commands: ``register``, ``promote``, ``model card``, ``train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icipredict.cli.common import (
    TrackingUriOption,
    _print_tracking,
    _rich_table,
    app,
    console,
    err_console,
    fail,
    model_app,
)
from icipredict.cohort.schema import CohortError
from icipredict.errors import IcipredictError


@app.command("register")
def register_cmd(
    run_id: Annotated[str, typer.Argument(help="MLflow run that logged the model.")],
    name: Annotated[str, typer.Option("--name", help="Registered model name.")] = "icipredict",
    artifact_path: Annotated[str | None, typer.Option(
        "--artifact-path", help="Logged model name, when the run logged several.")] = None,
    tracking_uri: str | None = TrackingUriOption,
) -> None:
    """Register a run's model as a new version with alias [bold]challenger[/]."""
    from mlflow.exceptions import MlflowException

    from icipredict.tracking.mlflow_setup import configure_tracking
    from icipredict.tracking.registry import register

    configure_tracking(tracking_uri, experiment=None)
    try:
        version = register(run_id, name, artifact_path=artifact_path)
    except (ValueError, MlflowException) as exc:
        fail(exc)
    console.print(f"Registered [bold]{name}[/] version {version} (alias challenger).")
    _print_tracking(name, version)


@app.command("promote")
def promote_cmd(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version number or alias to promote.")],
    eval_data: Annotated[Path, typer.Option(
        "--eval-data", help="Held-out table (CSV/TSV/Parquet): model input columns plus "
        "responder, os_months/os_event, pfs_months/pfs_event.")],
    margin: Annotated[float, typer.Option(
        "--margin", help="Allowed AUC/C-index loss (paired-bootstrap lower bound).")] = 0.02,
    force: Annotated[bool, typer.Option("--force", help="Promote even if the gate refuses.")] = False,
    reason: Annotated[str | None, typer.Option(
        "--reason", help="Why --force (recorded as a version tag).")] = None,
    tracking_uri: str | None = TrackingUriOption,
) -> None:
    """Move alias [bold]champion[/] to VERSION if the promotion gate passes (or --force)."""
    from mlflow.exceptions import MlflowException

    from icipredict.tracking.mlflow_setup import configure_tracking
    from icipredict.tracking.registry import EvalData, promote

    configure_tracking(tracking_uri, experiment=None)
    try:
        decision = promote(name, version, eval_data=EvalData.read(eval_data), margin=margin,
                           force=force, reason=reason)
    except (ValueError, MlflowException) as exc:
        fail(exc)
    colour = "green" if decision.promoted else "red"
    console.print(f"[{colour}]{decision.summary()}[/]")
    _print_tracking(name, decision.version)
    if not decision.promoted:
        raise typer.Exit(code=1)


@model_app.command("card")
def model_card_cmd(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION (e.g. icipredict@champion).")],
    fmt: Annotated[str, typer.Option(
        "--format", help="md, json or html (one page with the run's plots embedded).")] = "md",
    full: Annotated[bool, typer.Option(
        "--full", help="Every detail: every logged metric (bootstrap and fold bookkeeping "
        "included) and subgroup row, value ranges of all training columns, datasets, licences, "
        "serialisation. Default: the short card.")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write .md, .json and .html here.")] = None,
    log: Annotated[bool, typer.Option("--log", help="Also log the card to the version's run.")] = False,
    tracking_uri: str | None = TrackingUriOption,
) -> None:
    """Show the model card of a registered model version (short; --full for every detail)."""
    from mlflow.exceptions import MlflowException

    from icipredict.tracking.mlflow_setup import configure_tracking
    from icipredict.tracking.modelcard import build_model_card, log_model_card, plot_images

    sep = "@" if "@" in ref else "/"
    name, _, which = ref.partition(sep)
    if not name or not which or fmt not in ("md", "json", "html"):
        fail(ValueError(f"expected NAME@ALIAS or NAME/VERSION and --format md|json|html, "
                        f"got {ref!r}"))
    configure_tracking(tracking_uri, experiment=None)
    try:
        card = log_model_card(name, which) if log else build_model_card(name, which)
    except (ValueError, MlflowException) as exc:
        fail(exc)
    if log:  # on stderr: stdout holds the card (JSON with --format json)
        _print_tracking(name, str(card.version), out=err_console)
    images = plot_images(card) if fmt == "html" or out is not None else {}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        stem = f"{name}-v{card.version}"
        (out / f"{stem}.md").write_text(card.to_markdown(full=full))
        (out / f"{stem}.json").write_text(card.to_json())
        (out / f"{stem}.html").write_text(card.to_html(full=full, images=images))
    if fmt == "json":
        typer.echo(card.to_json())
    elif fmt == "html":
        typer.echo(card.to_html(full=full, images=images))
    else:
        from rich.markdown import Markdown

        console.print(Markdown(card.to_markdown(full=full)))



# ---------------------------------------------------------------------------------------------
# train: an experiment config end to end, tracked in MLflow
# ---------------------------------------------------------------------------------------------
@app.command("train")
def train_cmd(
    experiment: Annotated[Path, typer.Argument(help="Experiment config (experiments/NAME.yaml).")],
    tracking_uri: Annotated[str | None, typer.Option(
        "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else the "
        "config's tracking.tracking_uri, else sqlite:///mlflow.db).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", help="Radiomics feature cache folder.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress",
                                           help="Show progress bars.")] = True,
    register: Annotated[bool, typer.Option(
        "--register/--no-register", help="Register the model under the config's "
        "tracking.registered_model (alias challenger) once trained.")] = False,
) -> None:
    """Train an experiment (validation folds as nested runs, refit, registry model) in MLflow."""
    from mlflow.exceptions import MlflowException

    from icipredict.tracking.experiment import load_experiment
    from icipredict.tracking.registry import register as register_run
    from icipredict.tracking.runs import summary_lines, train_experiment

    try:
        name = load_experiment(experiment).tracking.registered_model
        if register and name is None:
            raise CohortError("--register needs tracking.registered_model in the experiment "
                              "config (it is null)", file=experiment,
                              column="tracking.registered_model")
        result = train_experiment(experiment, tracking_uri=tracking_uri, progress=progress,
                                  cache_dir=cache_dir)
    except IcipredictError as exc:
        fail(exc)
    console.print(f"[bold]run id[/] {result.run_id}  (model {result.model_uri}, "
                  f"{result.seconds:.0f} s)")
    console.print(_rich_table(result.fold_metrics, "Held-out folds"))
    for line in summary_lines(result):
        console.print(f"  {line}")
    _print_tracking(experiment_id=result.experiment_id, run_id=result.run_id)
    if register:
        assert name is not None  # checked before training: --register needs the name
        try:
            version = register_run(result.run_id, name)
        except (ValueError, MlflowException) as exc:
            fail(exc)
        console.print(f"Registered [bold]{name}[/] version {version} (alias challenger); "
                      f"promote it with: icipredict promote {name} {version} --eval-data ...")
    else:
        console.print(f"Register it with: icipredict register {result.run_id} "
                      f"--name {name or 'NAME'}")
