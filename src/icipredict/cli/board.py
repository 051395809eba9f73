"""Tumour-board commands: ``predict``, ``predict-list``, ``serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icipredict.cli.common import (
    ModelOption,
    _set_tracking,
    app,
    console,
    fail,
)
from icipredict.cohort.schema import CohortError
from icipredict.errors import IcipredictError

# ---------------------------------------------------------------------------------------------
# tumour board: predict / predict-list / serve
# ---------------------------------------------------------------------------------------------


@app.command("predict")
def predict_cmd(
    patient: Annotated[Path | None, typer.Option(
        "--patient", help="Patient record (JSON following the published schema "
        "patient_record.schema.json, also GET /schema of 'icipredict serve'). Relative "
        "image/mask paths in it are relative to the record file's folder.")] = None,
    patient_id: Annotated[str | None, typer.Option(
        "--patient-id", help="Score a patient of the cohort store by its pseudonymous ID "
        "(P-...) instead of a record; needs --store.")] = None,
    store: Annotated[Path | None, typer.Option(
        "--store", envvar="ICIPREDICT_STORE",
        help="Cohort store file that --patient-id is read from.")] = None,
    model: str = ModelOption,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write the one-page HTML report here.")] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the score as JSON here (versioned layout; null, never NaN).")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", envvar="ICIPREDICT_RADIOMICS_CACHE",
        help="Radiomics feature cache for image + mask files (default: a temporary folder).")
    ] = None,
    tracking_uri: Annotated[str | None, typer.Option(
        "--tracking-uri", help="MLflow tracking/registry URI (default: MLFLOW_TRACKING_URI "
        "or sqlite:///mlflow.db).")] = None,
) -> None:
    """Score one patient for the tumour board: response chance, survival, reasons, warnings.

    Give either a patient record (--patient p.json: clinical values with units, mutations or a
    MAF path, precomputed radiomics or image + mask files) or a stored patient
    (--patient-id P-... --store cohort.duckdb). Prints a one-line summary and the warnings;
    --report and --json write the board's page and the machine-readable score.

    Example: icipredict predict --patient patient.json --report patient.html --json score.json
    """
    from icipredict.predict.report import write_report
    from icipredict.predict.scorer import score, score_stored

    if (patient is None) == (patient_id is None):
        fail(CohortError("give either --patient RECORD.json or --patient-id ID (with --store)"))
    if patient_id is not None and store is None:
        fail(CohortError("--patient-id needs --store (the cohort store file)"))
    _set_tracking(tracking_uri)
    try:
        if patient_id is not None:
            assert store is not None  # checked above: --patient-id needs --store
            s = score_stored(patient_id, store, model, cache_dir=cache_dir)
        else:
            assert patient is not None  # checked above: exactly one of --patient, --patient-id
            s = score(patient, model, cache_dir=cache_dir, image_dir=patient.parent)
    except IcipredictError as exc:
        fail(exc)
    if json_out is not None:
        json_out.write_text(s.to_json(indent=2))
    if report is not None:
        write_report(s, report)
    r = s.response
    console.print(f"[bold]{s.patient_id or (patient.name if patient else '')}[/]: "
                  f"{r.meaning} Risk group {s.risk.group or 'n/a'}; "
                  f"model {s.model.name} v{s.model.version}")
    for w in s.warnings:
        console.print(f"  [yellow]warning:[/] {w.message}")


@app.command("predict-list")
def predict_list_cmd(
    patients: Annotated[Path | None, typer.Argument(
        help="CSV (one patient per row) or JSON list of records; or leave out and query the "
        "cohort store (--store with --centre/--cancer-type/--started-from/...).")] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for list.html, list.csv, "
                                          "warnings.csv and one report per patient.")] = Path("weekly-list"),
    store: Annotated[Path | None, typer.Option(
        "--store", envvar="ICIPREDICT_STORE",
        help="Cohort store to query instead of a list file.")] = None,
    patient_id: Annotated[list[str] | None, typer.Option(
        "--patient-id", help="Store query: these pseudonymous IDs (repeat the option).")] = None,
    centre: Annotated[list[str] | None, typer.Option(
        "--centre", help="Store query: patients of this centre (repeatable).")] = None,
    cancer_type: Annotated[list[str] | None, typer.Option(
        "--cancer-type", help="Store query: this cancer type, OncoTree code (repeatable).")
    ] = None,
    started_from: Annotated[str | None, typer.Option(
        "--started-from", help="Store query: ICI start on or after YYYY-MM-DD.")] = None,
    started_to: Annotated[str | None, typer.Option(
        "--started-to", help="Store query: ICI start on or before YYYY-MM-DD.")] = None,
    without_outcome: Annotated[bool, typer.Option(
        "--without-outcome", help="Store query: only patients with no outcome recorded yet.")
    ] = False,
    model: str = ModelOption,
    sort_by: Annotated[str, typer.Option("--sort-by", help="response or risk")] = "response",
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", envvar="ICIPREDICT_RADIOMICS_CACHE",
        help="Radiomics feature cache for stored image + mask files.")] = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri")] = None,
    column_map: Annotated[Path | None, typer.Option(
        "--column-map", help="Read PATIENTS in the centre's own format through this column "
        "map (one table); the output keeps the file's own patient IDs.")] = None,
) -> None:
    """Score the weekly list: sorted HTML and CSV plus one report per patient.

    The list is a file of patient records, or a query of the cohort store, e.g.
    icipredict predict-list --store cohort.duckdb --centre Leiden --started-from 2026-11-23
    """
    from icipredict.predict.report import write_list
    from icipredict.predict.scorer import StoreQuery, score_batch, score_store_list

    query_given = any([patient_id, centre, cancer_type, started_from, started_to,
                       without_outcome])
    if (patients is None) == (store is None):
        fail(CohortError("give either a list file (PATIENTS) or --store with a query"))
    if query_given and store is None:
        fail(CohortError("--patient-id/--centre/--cancer-type/--started-from/--started-to/"
                         "--without-outcome query the cohort store: add --store"))
    if sort_by not in ("response", "risk"):
        fail(CohortError(f"--sort-by must be response or risk, got {sort_by!r}"))
    _set_tracking(tracking_uri)
    try:
        if column_map is not None:
            from icipredict.cli.recalibrate import mapped_list

            scores = mapped_list(patients, column_map, model, sort_by, cache_dir)
        elif store is not None:
            query = StoreQuery(patient_ids=patient_id or None, centres=centre or None,
                               cancer_types=cancer_type or None, started_from=started_from,
                               started_to=started_to, without_outcome=without_outcome)
            scores = score_store_list(store, query, model, sort_by=sort_by, cache_dir=cache_dir)
        else:
            assert patients is not None  # checked above: a list file or --store
            scores = score_batch(patients, model, sort_by=sort_by, cache_dir=cache_dir,
                                 image_dir=patients.parent)
    except IcipredictError as exc:
        fail(exc)
    if not scores:
        console.print("[yellow]no patient matches the query[/]: nothing written")
        return
    paths = write_list(scores, out_dir)
    console.print(f"{len(scores)} patient(s) scored: {paths['html']}, {paths['csv']} and "
                  f"{paths['warnings']} (one row per warning)")


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    model: str = ModelOption,
    store: Annotated[Path | None, typer.Option(
        "--store", help="Cohort store: POST /score then also accepts {\"patient_id\": ...}."
    )] = None,
    image_root: Annotated[Path | None, typer.Option(
        "--image-root", envvar="ICIPREDICT_IMAGE_ROOT",
        help="Folder that record image/mask paths are read under (none: records with images "
        "are refused).")] = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri")] = None,
) -> None:
    """Run the REST API and board page (token from ICIPREDICT_API_TOKEN)."""
    import os

    import uvicorn

    from icipredict.predict.service import TOKEN_ENV, create_app

    if not os.environ.get(TOKEN_ENV):
        fail(CohortError(f"set {TOKEN_ENV} to the API token before serving"))
    _set_tracking(tracking_uri)
    uvicorn.run(create_app(model, store=store, image_root=image_root), host=host, port=port,
                log_level="info")
