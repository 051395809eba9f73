"""``icipredict features ...``: build, radiomics, inputs, IBSI check and report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icipredict.cli.common import (
    StoreOption,
    _rich_table,
    console,
    fail,
    features_app,
)
from icipredict.cohort.schema import CohortError
from icipredict.errors import IcipredictError

# ---------------------------------------------------------------------------------------------
# features: build
# ---------------------------------------------------------------------------------------------

@features_app.command("build")
def features_build(
    config: Annotated[Path, typer.Option("--config", help="Feature spec YAML "
                                         "(e.g. models/features/rf16.yaml).")],
    out: Annotated[Path, typer.Option("--out", help="Feature matrix (Parquet, index patient_id).")],
    store: Path = StoreOption,
    state: Annotated[Path | None, typer.Option(
        "--state", help="Write the fitted builder state (JSON) here "
        "(default: next to --out, suffix .builder.json).")] = None,
    radiomics: Annotated[Path | None, typer.Option(
        "--radiomics", help="Wide radiomics table (Parquet/CSV, one row per patient_id, "
        "columns radiomics_<feature>); default: the store's radiomics table.")] = None,
    centre: Annotated[list[str] | None, typer.Option(
        "--centre", "-c", help="Only these centres (repeatable).")] = None,
) -> None:
    """Fit the feature builder on the stored cohort and write the feature matrix."""
    import pandas as pd

    from icipredict.cohort.store import CohortStore
    from icipredict.features.builder import FeatureBuilder, missingness_summary, patient_frame
    from icipredict.features.spec import read_spec

    try:
        spec = read_spec(config)
        with console.status(f"Reading cohort from {store} ..."):
            cohort = CohortStore(store).cohort(centre or None)
        rad = None
        if radiomics is not None:
            rad = (pd.read_parquet(radiomics) if radiomics.suffix == ".parquet"
                   else pd.read_csv(radiomics))
            if "patient_id" in rad.columns:
                rad = rad.set_index("patient_id")
        elif "imaging" in spec.modalities and len(cohort.radiomics):
            from icipredict.features import imaging

            rad = imaging.radiomics_matrix(cohort.radiomics)
        frame = patient_frame(cohort, rad, genes=spec.genes or ())
        builder = FeatureBuilder(spec).fit(frame)
        features = builder.transform(frame)
        raw_spec = spec.model_copy(update={"imputation": "none", "scaling": "none"})
        raw = FeatureBuilder(raw_spec).fit_transform(frame)
    except IcipredictError as exc:
        fail(exc)
    out.parent.mkdir(parents=True, exist_ok=True)
    features.to_parquet(out)
    state = state or out.with_suffix(".builder.json")
    state.write_text(builder.to_json())
    summary = missingness_summary(raw, frame["centre"] if "centre" in frame.columns else None)
    summary = summary.reset_index()
    console.print(_rich_table(summary, f"Fraction missing before imputation ({len(frame)} "
                                       "patients; columns: all, then per centre)"))
    console.print(f"[bold]{spec.name}[/]: {features.shape[0]} patients x {features.shape[1]} "
                  f"features -> {out}; builder state -> {state}")


@features_app.command("radiomics")
def features_radiomics(
    out: Annotated[Path, typer.Option("--out", help="Wide radiomics table (Parquet: patient_id "
                                      "and one radiomics_<feature> column per feature).")],
    store: Path = StoreOption,
    settings: Annotated[str, typer.Option(
        "--settings", help="Radiomics settings: a builtin (default, ibsi_a ... ibsi_e) or a "
        "pyradiomics YAML; training's default unless an experiment says otherwise.")] = "default",
    rule: Annotated[str, typer.Option(
        "--rule", help="How a patient's lesions combine: largest or mean.")] = "largest",
    centre: Annotated[list[str] | None, typer.Option(
        "--centre", "-c", help="Only these centres (repeatable).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", envvar="ICIPREDICT_RADIOMICS_CACHE",
        help="Radiomics feature cache (default ~/.cache/icipredict/radiomics; train reads the "
        "same cache).")] = None,
) -> None:
    """Compute radiomics from the stored images and masks (plus precomputed radiomics tables)."""
    from icipredict.cohort.store import CohortStore
    from icipredict.training.data import radiomics_table

    try:
        cohort = CohortStore(store).cohort(centre or None)
        rad = radiomics_table(cohort, cache_dir, progress=True, settings=settings, rule=rule)
    except IcipredictError as exc:
        fail(exc)
    if rad is None:
        fail(CohortError("no images and no radiomics table in the store", file=store))
    out.parent.mkdir(parents=True, exist_ok=True)
    rad.reset_index().to_parquet(out, index=False)
    console.print(f"radiomics of {len(rad)} patient(s) x {rad.shape[1]} features "
                  f"({len(cohort.imaging)} lesion image(s), settings {settings}) -> {out}")


@features_app.command("inputs")
def features_inputs(
    out: Annotated[Path, typer.Option("--out", help="Model-input table (Parquet).")],
    store: Path = StoreOption,
    radiomics: Annotated[Path | None, typer.Option(
        "--radiomics", help="Wide radiomics table of `features radiomics` (default: none).")
    ] = None,
    centre: Annotated[list[str] | None, typer.Option(
        "--centre", "-c", help="Only these centres (repeatable).")] = None,
) -> None:
    """Stored patients as the registry model's input with their outcomes (no IDs): the held-out
    table that `promote --eval-data` reads."""
    import pandas as pd

    from icipredict.cohort.store import CohortStore
    from icipredict.features.builder import patient_frame
    from icipredict.features.row_order import stable_patient_order

    try:
        cohort = CohortStore(store).cohort(centre or None)
        rad = pd.read_parquet(radiomics).set_index("patient_id") if radiomics else None
        # The gate's bootstrap draws by row: an order that does not change with the key.
        frame = stable_patient_order(patient_frame(cohort, rad, include_outcomes=True))
    except IcipredictError as exc:
        fail(exc)
    out.parent.mkdir(parents=True, exist_ok=True)
    # no patient or sample ID leaves the store with the table
    frame = frame.reset_index(drop=True).drop(columns=["patient_id", "sample_id"], errors="ignore")
    frame.to_parquet(out, index=False)
    console.print(f"{len(frame)} patient(s) x {frame.shape[1]} columns (inputs and outcomes) "
                  f"-> {out}")


@features_app.command("ibsi-check")
def features_ibsi_check(
    image: Annotated[Path, typer.Option("--image", help="NIfTI/NRRD image, or a DICOM series "
                                        "folder.")],
    mask: Annotated[Path, typer.Option("--mask", help="NIfTI/NRRD mask (label 1), or a DICOM "
                                       "RTSTRUCT/SEG file.")],
    config: Annotated[str, typer.Option("--config", help="IBSI configuration: A, B, C, D or "
                                        "E (builtin settings ibsi_a ... ibsi_e).")],
    reference: Annotated[Path, typer.Option("--reference", help="IBSI reference values CSV "
                                            "(layout of reference_values_A_C.csv).")],
    roi: Annotated[str | None, typer.Option("--roi", help="RTSTRUCT ROI name or SEG "
                                            "segment.")] = None,
) -> None:
    """Compute an IBSI configuration's features and compare them with IBSI reference values."""
    from icipredict.features.ibsi.check import read_inputs, report_lines, run_check

    try:
        img, msk = read_inputs(image, mask, roi=roi)
        with console.status(f"IBSI configuration {config.upper()} ..."):
            result = run_check(img, msk, config, reference)
    except IcipredictError as exc:
        fail(exc)
    for line in report_lines(result):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@features_app.command("ibsi-report")
def features_ibsi_report(
    out: Annotated[Path | None, typer.Option("--out", help="Markdown report (default: the "
                                             "checkout's docs/ibsi_phantom.md).")] = None,
    phantom_dir: Annotated[Path | None, typer.Option("--phantom-dir", help="IBSI digital "
                                                     "phantom folder.")] = None,
) -> None:
    """Recompute the IBSI phantom comparison report (docs/ibsi_phantom.md)."""
    from icipredict.features import ibsi_phantom

    target = out or ibsi_phantom.DEFAULT_REPORT
    table = ibsi_phantom.write_report(target, phantom_dir=phantom_dir)
    console.print(_rich_table(ibsi_phantom.family_summary(table), "IBSI digital phantom"))
    console.print(f"wrote {target}")


