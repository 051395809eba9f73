"""``icipredict cohort ...``: ingest, summary, patients, BRCA registry, versions, restore, rekey, synth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icipredict.cli.common import (
    StoreOption,
    _rich_table,
    cohort_app,
    console,
    err_console,
    fail,
)
from icipredict.errors import IcipredictError


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
