"""The one command-line interface: ``icipredict --help``.

Commands are grouped by the stage of the data's way they drive (cohort, features, ...). Each
command is a thin shell around library functions; errors from bad input are printed as one clear
message (file, row, column) and exit with status 2.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

from icipredict.cohort.schema import CohortError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="icipredict",
    help=(
        "Predict response and survival under immune checkpoint inhibitors.\n\n"
        "Load centres' cohorts into one store, build features, train and evaluate models, "
        "track them in MLflow, and score patients for the tumour board."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
cohort_app = typer.Typer(help="Load, validate, pseudonymise and query the cohort store.",
                         no_args_is_help=True)
features_app = typer.Typer(help="Build the feature matrix from the cohort.", no_args_is_help=True)
app.add_typer(cohort_app, name="cohort")
app.add_typer(features_app, name="features")

StoreOption = typer.Option(
    Path("icipredict.duckdb"), "--store", envvar="ICIPREDICT_STORE",
    help="DuckDB cohort store file.",
)


def fail(exc: Exception) -> None:
    """Print a user-facing error and exit with status 2."""
    err_console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details.")) -> None:
    """Predict response and survival under immune checkpoint inhibitors."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


__all__ = ["app", "cohort_app", "features_app", "CohortError", "fail", "console", "StoreOption"]
