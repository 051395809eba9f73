"""What every command shares: the Typer apps, the console, options and the one error exit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

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


def fail(exc: Exception) -> NoReturn:
    """Print a user-facing error and exit with status 2."""
    # soft_wrap: a long path must not be broken by a hard line break; escape: messages quote
    # source values such as "[Not Available]" that rich would read as markup
    err_console.print("[bold red]error:[/]", escape(str(exc)), soft_wrap=True)
    raise typer.Exit(code=2)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details.")) -> None:
    """Predict response and survival under immune checkpoint inhibitors."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")



def _rich_table(df, title: str, *, transpose_if_narrow: bool = False):
    """A rich Table of a DataFrame (missing shown as '-', floats with 3 significant digits).

    With ``transpose_if_narrow``, a table wider than the terminal is shown with one column per
    row of ``df`` instead (e.g. one column per centre).
    """
    import pandas as pd
    from rich import box
    from rich.table import Table

    def cell(v) -> str:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return "-"
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    def build(frame, first_numeric: bool = True) -> Table:
        table = Table(title=title, box=box.SIMPLE_HEAVY, pad_edge=False, collapse_padding=True)
        for col in frame.columns:
            numeric = pd.api.types.is_numeric_dtype(frame[col])
            table.add_column(str(col), justify="right" if numeric else "left",
                             min_width=min(len(str(col)), 12))
        for row in frame.itertuples(index=False):
            table.add_row(*(cell(v) for v in row))
        return table

    table = build(df)
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    if transpose_if_narrow and natural > console.width and len(df):
        wide = df.astype(object).T
        wide.columns = [cell(v) for v in df.iloc[:, 0]]
        wide = wide.iloc[1:].reset_index(names=str(df.columns[0]))
        table = build(wide)
        for c in table.columns[1:]:
            c.justify = "right"
    return table


model_app = typer.Typer(help="Inspect registered models (model cards).", no_args_is_help=True)
app.add_typer(model_app, name="model")

TrackingUriOption = typer.Option(
    None, "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
    help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db; or "
    "http://host:port).",
)


def _print_tracking(name: str | None = None, version: str | None = None, *,
                    experiment_id: str | None = None, run_id: str | None = None,
                    out: Console | None = None) -> None:
    """Print where MLflow logged: the tracking URI and the run's UI link.

    With ``name``/``version``, the run is the one that produced that registered model version.
    """
    import mlflow

    from icipredict.tracking.mlflow_setup import run_of_version, tracking_lines

    if name is not None and version is not None and run_id is None:
        try:
            experiment_id, run_id = run_of_version(name, version)
        except Exception:  # noqa: BLE001 - the link is a courtesy; the URI is still printed
            experiment_id, run_id = None, None
    for line in tracking_lines(mlflow.get_tracking_uri(), experiment_id, run_id):
        (out or console).print(line, highlight=False, soft_wrap=True)


ModelOption = typer.Option("models:/icipredict@champion", "--model",
                           help="Registry model URI (models:/NAME@ALIAS or models:/NAME/VERSION).")


def _set_tracking(tracking_uri: str | None) -> None:
    """Point MLflow's tracking and registry at --tracking-uri, else MLFLOW_TRACKING_URI, else
    the default."""
    import mlflow

    from icipredict.config import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


