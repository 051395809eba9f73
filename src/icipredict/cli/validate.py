"""``icipredict validate``: external validation of a registered model (thin Typer shell over
:mod:`icipredict.tracking.validate` and :mod:`icipredict.tracking.validation_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icipredict.cohort.schema import CohortError


def validate_cmd(
    model: Annotated[str, typer.Argument(
        help="Registered model: models:/NAME@ALIAS or models:/NAME/VERSION (NAME@ALIAS too).")],
    cohort: Annotated[str, typer.Option(
        "--cohort", help="The ICI-treated validation cohort: a column map YAML (or cBioPortal "
        "folder), or STORE.duckdb#CENTRE for one centre of a cohort store.")],
    untreated: Annotated[str | None, typer.Option(
        "--untreated", help="Patients NOT treated with ICI (same forms): predictive vs "
        "prognostic (score x treatment interaction).")] = None,
    compare: Annotated[str | None, typer.Option(
        "--compare", help="Another registered version scored as a reference.")] = None,
    out: Annotated[Path, typer.Option(
        "--out", help="Folder for report.html, report.json and scores.csv (the cohort's IDs "
        "joined to the scores: stays local).")] = Path("validation"),
    n_boot: Annotated[int, typer.Option("--n-boot", min=0, help="Bootstrap resamples.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    log: Annotated[bool, typer.Option(
        "--log/--no-log", help="Log an MLflow evaluation run linked to the model version "
        "(aggregates only).")] = True,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", envvar="ICIPREDICT_RADIOMICS_CACHE",
        help="Radiomics feature cache (models with imaging).")] = None,
    tracking_uri: Annotated[str | None, typer.Option(
        "--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="MLflow tracking URI.")] = None,
) -> None:
    """External validation report of MODEL on a cohort it never saw (HTML + JSON + MLflow).

    Response AUC, calibration (intercept, slope, curve, Brier, ECE), decision curve, OS/PFS
    Harrell and Uno C and time-dependent AUC, per cancer type, case-mix shift against the
    training data, all with bootstrap 95% CIs, for the model and the reference scores (TMB >= 10,
    LORIS LLR6 with its published coefficients, --compare) with paired differences.

    Example: icipredict validate models:/icipredict@champion --cohort centre/column_map.yaml
    """
    from mlflow.exceptions import MlflowException

    from icipredict.cli.common import _print_tracking, _rich_table, console, fail
    from icipredict.evaluation.external_report import summary_table
    from icipredict.registry.codecs import RegistryError
    from icipredict.tracking.mlflow_setup import configure_tracking
    from icipredict.tracking.validate import validate_model
    from icipredict.tracking.validation_run import log_validation, write_outputs

    configure_tracking(tracking_uri, experiment=None)
    try:
        with console.status("Scoring the cohort and bootstrapping the metrics ..."):
            result = validate_model(model, cohort, untreated=untreated, compare=compare,
                                    n_boot=n_boot, seed=seed, cache_dir=cache_dir)
    except (CohortError, RegistryError, MlflowException, ValueError) as exc:
        fail(exc)
    import pandas as pd

    paths = write_outputs(result, out)
    rep = result.report
    console.print(f"External validation of [bold]{rep['model']['name']}[/] v"
                  f"{rep['model']['version']} on {rep['cohort']['n']} patients "
                  f"({rep['cohort']['source']})", highlight=False)
    console.print(_rich_table(pd.DataFrame(summary_table(rep)), "95% bootstrap CIs"))
    for name, block in (rep.get("predictive") or {}).items():
        if isinstance(block, dict) and name not in ("untreated",):
            for end, x in block.items():
                r = (x or {}).get("interaction_hr_ratio") if isinstance(x, dict) else None
                if r:
                    console.print(f"  {name} {end.upper()}: C treated "
                                  f"{x['c_treated']['value']:.3f}, untreated "
                                  f"{x['c_untreated']['value']:.3f}; interaction HR ratio "
                                  f"{r['value']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]",
                                  highlight=False)
    console.print(rep["predictive"]["statement"], highlight=False)
    console.print(f"Wrote {paths['html']}, {paths['json']} and {paths['csv']} (IDs: local only)",
                  highlight=False, soft_wrap=True)
    if log:
        run_id = log_validation(result)
        import mlflow

        _print_tracking(run_id=run_id,
                        experiment_id=mlflow.get_run(run_id).info.experiment_id)


def register(app: typer.Typer) -> None:
    """Add ``validate`` to the main app."""
    app.command("validate")(validate_cmd)
