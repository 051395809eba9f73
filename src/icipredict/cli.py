"""The one command-line interface: ``icipredict --help``.

Commands are grouped by the stage of the data's way they drive (cohort, features, ...). Each
command is a thin shell around library functions; errors from bad input are printed as one clear
message (file, row, column) and exit with status 2.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from icipredict.cli_federated import federated_app
from icipredict.cohort.schema import CohortError
from icipredict.errors import IcipredictError

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
app.add_typer(federated_app, name="federated")

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


# ---------------------------------------------------------------------------------------------
# cohort store: ingest / summary / brca / versions / restore / rekey
# ---------------------------------------------------------------------------------------------

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


@cohort_app.command("ingest")
def cohort_ingest(
    source: Annotated[Path, typer.Argument(help="Centre's data: a cBioPortal study folder, a "
                                           "column map (YAML) or a MAF/table file.")],
    centre: Annotated[str, typer.Option("--centre", "-c",
                                        help="Centre name (its rows are replaced).")],
    store: Path = StoreOption,
    accept_changes: Annotated[bool, typer.Option(
        "--accept-changes", help="Store the new version even when it drops many rows or "
        "shifts a value's unit (the refused ingest says why).")] = False,
    max_drop: Annotated[float | None, typer.Option(
        "--max-drop", min=0.0, max=1.0, envvar="ICIPREDICT_MAX_ROW_DROP",
        help="Largest share of a table's current rows a re-ingest may drop (default 0.2).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Refuse values outside a vocabulary (cancer type, drug, response, "
        "panel, ...) instead of keeping them as OTHER/missing with a warning.")] = False,
) -> None:
    """Validate, pseudonymise and store one centre's data (all-or-nothing, versioned).

    Earlier versions are kept (see `cohort versions`, `cohort restore`). A re-ingest that drops
    more than --max-drop of a table's rows, or whose times, ages or lab values change by a factor
    that signals a unit error, is refused unless --accept-changes.
    """
    import importlib

    from icipredict.cohort.store import CohortStore, source_content_hash

    try:
        content_hash = source_content_hash(source)
        with console.status(f"Loading {source} ..."):
            loaders = importlib.import_module("icipredict.cohort.loaders")
            cohort = loaders.load_source(source, centre=centre, strict=strict)
        with console.status(f"Validating and writing {centre} to {store} ..."):
            result = CohortStore(store).ingest(cohort, centre=centre, content_hash=content_hash,
                                               source=str(Path(source).resolve()),
                                               accept_changes=accept_changes, max_drop=max_drop)
    except IcipredictError as exc:
        fail(exc)
    import pandas as pd

    _print_load_report(getattr(cohort, "load_report", None) or {})  # accepted changes: logged

    counts = pd.DataFrame({"table": list(result.row_counts),
                           "rows": list(result.row_counts.values())})
    if result.changed:
        what = (f"stored as version {result.version}" if result.previous_version is None else
                f"new version {result.version} (replaces version {result.previous_version})")
    else:
        what = f"unchanged: identical to version {result.version}, nothing written"
    console.print(f"[bold]{centre}[/]: {what}  (store {store}, content hash "
                  f"{result.content_hash[:12]})")
    console.print(_rich_table(counts, "rows per table"))


def _print_load_report(report: dict[str, int]) -> None:
    """Rows the loaders dropped (or kept with a note), by file and reason, when there are any."""
    import pandas as pd

    if not report:
        return
    rows = pd.DataFrame({"file: reason": list(report), "rows": list(report.values())})
    console.print(_rich_table(rows, "rows dropped or changed at load, by reason"))


@cohort_app.command("summary")
def cohort_summary(store: Path = StoreOption) -> None:
    """Per centre: patients, modalities present, responders, events, median follow-up."""
    import pandas as pd

    from icipredict.cohort.store import CohortStore

    try:
        df = CohortStore(store).summary()
    except IcipredictError as exc:
        fail(exc)
    shown = pd.DataFrame({
        "centre": df["centre"], "patients": df["patients"], "samples": df["samples"],
        "MAF": df["with_mutations"], "imaging": df["with_imaging"], "labs": df["with_labs"],
        "resp/eval": df["responders"].astype(str) + "/" + df["evaluable"].astype(str),
        "OS ev": df["os_events"], "PFS ev": df["pfs_events"],
        "FU mo": df["median_followup_months"], "ver": df["version"]})
    console.print(_rich_table(shown, f"Cohort summary ({store.name})", transpose_if_narrow=True))
    console.print("MAF/imaging/labs: patients with that modality; FU mo: median follow-up "
                  "(reverse Kaplan-Meier on OS); ver: current version", style="dim")


@cohort_app.command("patients")
def cohort_patients(
    store: Path = StoreOption,
    centre: Annotated[list[str] | None, typer.Option(
        "--centre", "-c", help="Only patients of this centre (repeatable).")] = None,
    cancer_type: Annotated[list[str] | None, typer.Option(
        "--cancer-type", help="Only this cancer type, OncoTree code (repeatable).")] = None,
    without_outcome: Annotated[bool, typer.Option(
        "--without-outcome", help="Only patients with no outcome recorded yet.")] = False,
    limit: Annotated[int | None, typer.Option(
        "--limit", "-n", min=1, help="Print at most this many IDs.")] = None,
) -> None:
    """List stored pseudonymous patient IDs (current versions), one per line, by centre then ID.

    Use one with `icipredict predict --patient-id P-... --store ...`. The count goes to stderr,
    so the output can be piped.
    """
    from icipredict.cohort.store import CohortStore

    try:
        ids = CohortStore(store).find_patients(centres=centre or None,
                                               cancer_types=cancer_type or None,
                                               without_outcome=without_outcome)
    except IcipredictError as exc:
        fail(exc)
    shown = ids if limit is None else ids[:limit]
    for patient_id in shown:
        typer.echo(patient_id)
    more = f", first {len(shown)} shown" if len(shown) < len(ids) else ""
    err_console.print(f"{len(ids)} patient(s) in {store}{more}", style="dim", highlight=False)


@cohort_app.command("brca")
def cohort_brca(
    store: Path = StoreOption,
    csv: Annotated[Path | None,
                   typer.Option("--csv", help="Also write the registry to this CSV (germline "
                                "rows to <name>_germline.csv).")] = None,
    report: Annotated[Path | None,
                      typer.Option("--report", help="Write the HTML report (outcomes per class, "
                                   "Kaplan-Meier plots, co-alterations, TMB/MSI).")] = None,
) -> None:
    """The BRCA1/2 registry: every somatic variant classified, germline variants apart."""
    from icipredict.cohort.brca import analyse
    from icipredict.cohort.brca.registry import read_tables
    from icipredict.cohort.store import CohortStore

    try:
        analysis = analyse(read_tables(CohortStore(store)))
    except IcipredictError as exc:
        fail(exc)
    reg = analysis.registry
    df = reg.somatic
    if csv is not None:
        df.to_csv(csv, index=False)
        if not reg.germline.empty:
            reg.germline.to_csv(csv.with_name(f"{csv.stem}_germline.csv"), index=False)
    shown = df[["centre", "patient_id", "gene", "hgvsp_short", "variant_classification",
                "classification", "rule", "germline_follow_up", "allelic_status",
                "cancer_type", "bor", "os_months", "os_event"]].rename(columns={
                    "variant_classification": "MAF class", "germline_follow_up": "germ. f/u",
                    "allelic_status": "alleles"})
    carriers = df[df["classification"].isin(["pathogenic", "likely_pathogenic"])]
    console.print(_rich_table(shown, f"BRCA1/2 somatic registry: {len(df)} variant(s) in "
                                     f"{df['patient_id'].nunique()} patient(s); "
                                     f"{carriers['patient_id'].nunique()} pathogenic carrier(s) "
                                     f"(knowledge base {reg.kb_version})"))
    if not reg.germline.empty:
        console.print(_rich_table(
            reg.germline[["centre", "patient_id", "gene", "hgvsp_short", "classification",
                          "rule"]],
            f"Germline BRCA1/2 variants (not somatic carriers): {len(reg.germline)}"))
    console.print("germ. f/u: tumour-only pathogenic variant, germline testing advised "
                  "(ESMO PMWG, Mandelker et al. 2019); alleles: second hit from CNA, LOH or a "
                  "second variant (unknown: no data)", style="dim")
    if csv is not None:
        console.print(f"written to {csv}")
    if report is not None:
        from icipredict.cohort.brca.report import write_html

        write_html(analysis, report)
        console.print(f"report written to {report}")


@cohort_app.command("versions")
def cohort_versions(
    store: Path = StoreOption,
    centre: Annotated[str | None, typer.Option("--centre", "-c", help="Only this centre.")] = None,
    history: Annotated[bool, typer.Option(
        "--history", help="Also list every ingest, restore and rekey event.")] = False,
) -> None:
    """Every stored version of each centre's data (* = current): time, content hash, rows."""
    from icipredict.cohort.store import CohortStore

    try:
        df = CohortStore(store).versions(centre)
        events = CohortStore(store).history(centre) if history else None
    except IcipredictError as exc:
        fail(exc)
    df = df.assign(current=df["current"].map({True: "*", False: ""}),
                   content_hash=df["content_hash"].str[:12],
                   ingested_at=df["ingested_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    df = df.drop(columns=["key_fingerprint", "source"]).rename(
        columns=lambda c: c[2:] if c.startswith("n_") else c)
    console.print(_rich_table(df, "Stored versions (* = current; times in UTC)"))
    if events is not None:
        events = events.assign(event_at=events["event_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
        console.print(_rich_table(events.drop(columns=["event_id"]), "History (times in UTC)"))


@cohort_app.command("restore")
def cohort_restore(
    centre: Annotated[str, typer.Option("--centre", "-c", help="Centre to restore.")],
    version: Annotated[int, typer.Option("--version", min=1,
                                         help="Stored version to make current again.")],
    store: Path = StoreOption,
) -> None:
    """Make an earlier stored version of a centre current again (logged in the history)."""
    from icipredict.cohort.store import CohortStore

    try:
        result = CohortStore(store).restore(centre, version)
    except IcipredictError as exc:
        fail(exc)
    if result.changed:
        console.print(f"[bold]{centre}[/]: version {result.version} is current again (was "
                      f"version {result.previous_version}); store {store}")
    else:
        console.print(f"[bold]{centre}[/]: version {result.version} is current already; "
                      "nothing changed")


@cohort_app.command("rekey")
def cohort_rekey(
    new_key_file: Annotated[Path, typer.Option(
        "--new-key-file", help="File holding the new secret (32+ characters).")],
    store: Path = StoreOption,
    drop_unreproducible: Annotated[bool, typer.Option(
        "--drop-unreproducible", help="Remove earlier versions whose source is gone or has "
        "changed instead of refusing (a centre's current version is never removed).")] = False,
) -> None:
    """Re-pseudonymise every stored version under a new key, re-reading each version's source.

    Pseudonyms cannot be converted from one key to another (the store keeps no hospital ID), so
    each version is re-derived from the source path recorded at its ingest, which must still hold
    the same content. All-or-nothing; logged in the history. Afterwards use the new key
    (ICIPREDICT_PSEUDONYM_KEY or the key file): the old one is refused.
    """
    import importlib

    from icipredict.cohort.pseudonym import read_key_file
    from icipredict.cohort.store import CohortStore

    try:
        new_key = read_key_file(new_key_file)
        loaders = importlib.import_module("icipredict.cohort.loaders")
        with console.status(f"Re-deriving every version of {store} under the new key ..."):
            result = CohortStore(store).rekey(new_key, drop_unreproducible=drop_unreproducible,
                                              load=loaders.load_source)
    except IcipredictError as exc:
        fail(exc)
    console.print(f"store {store}: key {result.old_fingerprint} -> {result.new_fingerprint}; "
                  f"{len(result.rekeyed)} version(s) re-derived")
    for centre, version, why in result.dropped:
        console.print(f"dropped {centre} version {version}: {why}", style="yellow")
    console.print(f"From now on use the key in {new_key_file} (ICIPREDICT_PSEUDONYM_KEY or the "
                  "key file): ingests with the old key are refused.", style="bold")


@cohort_app.command("synth")
def cohort_synth(
    patients: Annotated[int, typer.Option("--patients", "-n", min=6,
                                          help="Patients across the six centres.")] = 600,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 7,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("synthetic"),
    workers: Annotated[int, typer.Option("--workers", min=1,
                                         help="Processes writing images.")] = 2,
    untreated: Annotated[int, typer.Option(
        "--untreated", min=0, help="Also write an untreated (no ICI) arm of this many patients "
        "as centre 'lakeside' (own random stream: the treated centres do not change).")] = 0,
) -> None:
    """Generate the synthetic six-centre network (real formats + the known truth)."""
    import time

    import pandas as pd

    from icipredict.synthetic import generate_network

    start = time.perf_counter()
    with console.status(f"Generating {patients} patients (seed {seed}) in {out} ..."):
        net = generate_network(out, n_patients=patients, seed=seed, workers=workers,
                               untreated=untreated)
    rows = pd.DataFrame({"centre": list(net.sources),
                         "load_source path": [str(p) for p in net.sources.values()]})
    console.print(_rich_table(rows, f"Synthetic network in {out}"))
    console.print(f"{net.n_patients} patients, {net.n_imaged} imaged, {net.n_variants} MAF rows "
                  f"in {time.perf_counter() - start:.1f} s; truth in {out / 'truth.parquet'}, "
                  f"model in {out / 'truth.yaml'}")


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

    try:
        cohort = CohortStore(store).cohort(centre or None)
        rad = pd.read_parquet(radiomics).set_index("patient_id") if radiomics else None
        frame = patient_frame(cohort, rad, include_outcomes=True)
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


__all__ = ["app", "cohort_app", "features_app", "CohortError", "fail", "console", "StoreOption"]


# ---------------------------------------------------------------------------------------------
# registry: register / promote / model card
# ---------------------------------------------------------------------------------------------

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
# demo
# ---------------------------------------------------------------------------------------------

@app.command("demo")
def demo(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where the demo writes.")] = Path(
        "icipredict-demo"),
    patients: Annotated[int, typer.Option("--patients", "-n", min=60,
                                          help="Patients in the synthetic network.")] = 600,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    retrain: Annotated[bool, typer.Option(
        "--retrain", help="Train anew even when the data and config are unchanged.")] = False,
) -> None:
    """Run the whole way of the data on the built-in synthetic six-centre network."""
    import time

    from icipredict.demo import (
        STEPS,
        DemoContext,
        closing_lines,
        harmonisation_lines,
        run_demo,
        step_ingest,
        step_tables,
    )

    start = time.perf_counter()
    ctx = DemoContext(workdir=workdir, n_patients=patients, seed=seed, retrain=retrain)

    def show(i: int, title: str, result: str) -> None:
        seconds = ctx.timings[-1][1] if ctx.timings else 0.0
        console.print(f"[bold green]{i}/{len(STEPS)}[/] [bold]{title}[/] ({seconds:.1f} s): "
                      f"{result}")
        if STEPS[i - 1][1] is step_ingest:
            console.print("Harmonisation done per centre (from the column maps):")
            for line in harmonisation_lines(ctx.harmonisation):
                console.print(line, highlight=False, soft_wrap=True)
        for caption, table in step_tables(ctx, STEPS[i - 1][1]):
            console.print(_rich_table(table, caption, transpose_if_narrow=True))

    try:
        run_demo(ctx, show)
    except IcipredictError as exc:
        fail(exc)
    steps = ", ".join(f"{i} {s:.0f} s" for i, (_, s) in enumerate(ctx.timings, start=1))
    console.print(f"Done in {time.perf_counter() - start:.0f} s (steps: {steps}).")
    for line in closing_lines(ctx):
        console.print(line, highlight=False, soft_wrap=True)


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


# ---------------------------------------------------------------------------------------------
# tumour board: predict / predict-list / serve
# ---------------------------------------------------------------------------------------------

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
            from icipredict.cli_champion import mapped_list

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


# validate (issue 12): the command lives in its own module
from icipredict.cli_validate import register as _register_validate  # noqa: E402

_register_validate(app)

from icipredict.cli_champion import recalibrate_cmd  # noqa: E402 (after fail/console exist)

app.command("recalibrate")(recalibrate_cmd)
