"""Thin CLI commands for local use of a model: ``recalibrate`` and ``predict-list
--column-map`` (registered in :mod:`icipredict.cli`; the logic lives in
:mod:`icipredict.tracking.recalibrate` and :mod:`icipredict.predict.mapped`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from icipredict.cohort.schema import CohortError


def parse_model_ref(ref: str) -> tuple[str, str]:
    """``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``NAME@ALIAS``, ``NAME/VERSION`` or
    ``NAME`` (its champion) -> ``(name, version or alias)``."""
    ref = ref.removeprefix("models:/")
    if "@" in ref:
        name, _, version = ref.partition("@")
    elif "/" in ref:
        name, _, version = ref.partition("/")
    else:
        name, version = ref, "champion"
    if not name or not version:
        raise CohortError(f"model {ref!r}: expected NAME@ALIAS, NAME/VERSION or "
                          "models:/NAME@ALIAS", column="MODEL")
    return name, version


def recalibrate_cmd(
    model: Annotated[str, typer.Argument(help="Registered model: NAME@ALIAS, NAME/VERSION or "
                                         "models:/... (NAME alone: its champion).")],
    cohort: Annotated[str, typer.Option(
        "--cohort", help="The centre's patients with outcomes: a column-map YAML, or a centre "
        "of the cohort store (--store).")],
    store: Annotated[Path | None, typer.Option(
        "--store", envvar="ICIPREDICT_STORE", help="Cohort store for a centre name.")] = None,
    no_promote: Annotated[bool, typer.Option(
        "--no-promote", help="Register the new version without the promotion gate.")] = False,
    tracking_uri: Annotated[str | None, typer.Option(
        "--tracking-uri", envvar="MLFLOW_TRACKING_URI")] = None,
) -> None:
    """Recalibrate a model on a centre's own patients; register the result as a new version
    (lineage to the original) and send it through the promotion gate.

    Response: logistic intercept + slope on logit p. Cox survival: a calibration slope on the
    linear predictor (baseline hazard kept).
    """
    from mlflow.exceptions import MlflowException

    from icipredict.cli.common import _print_tracking, console, fail
    from icipredict.tracking.mlflow_setup import configure_tracking
    from icipredict.tracking.recalibrate import recalibrate

    configure_tracking(tracking_uri, experiment=None)
    try:
        name, version = parse_model_ref(model)
        result = recalibrate(name, version, cohort, store=store, promote_it=not no_promote)
    except (ValueError, MlflowException) as exc:  # CohortError is a ValueError
        fail(exc)
    for line in result.lines():
        console.print(line, highlight=False, soft_wrap=True)
    _print_tracking(name, result.version)
    if result.decision is not None and not result.decision.promoted:
        raise typer.Exit(code=1)


def mapped_list(patients: Path | None, column_map: Path, model: str, sort_by: str,
                cache_dir: Path | None) -> list[Any]:
    """``predict-list FILE --column-map MAP``: the board scores, with the file's own IDs."""
    from icipredict.predict.mapped import score_mapped_file

    if patients is None:
        raise CohortError("--column-map reads a list file: give PATIENTS (the centre's file)")
    return score_mapped_file(patients, column_map, model, sort_by=sort_by, cache_dir=cache_dir)


__all__ = ["mapped_list", "parse_model_ref", "recalibrate_cmd"]
