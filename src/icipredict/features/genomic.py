"""Genomic features: TMB from mutations, per-gene alteration flags, sample-level pass-through.

Definitions
-----------
**TMB** follows cBioPortal's ``TMB (nonsynonymous)`` (the datahub curation script
``calc_nonsyn_tmb.py``, the definition MSK-IMPACT studies on cBioPortal carry): the number of MAF
rows of the sample whose ``Variant_Classification`` is in :data:`NONSYNONYMOUS_CLASSES`, divided by
the sample's sequenced coding territory in Mb (``samples.panel_size_mb``). A sequenced sample
without eligible variants has TMB 0; a sample never sequenced has TMB missing; like cBioPortal we do
not compute TMB on a territory below 0.2 Mb.

**Gene flags** (``mut_<GENE>``): 1 = at least one nonsynonymous variant in the gene; 0 = the gene is
on the sample's panel (``panel_genes``; a panel without rows there is genome-wide, e.g. WES) and no
such variant; missing = not profiled (gene off the panel, sample never sequenced, panel unknown,
or no sample at all). Not profiled is never wild type.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.cohort.harmonise import panel_size_mb
from icipredict.cohort.maf import MAF_COLUMNS
from icipredict.cohort.schema import CohortError

log = logging.getLogger(__name__)

#: Variant classes counted for TMB: cBioPortal's nonsynonymous list (datahub-study-curation-tools,
#: tmb/calculate_tmb/calc_nonsyn_tmb.py). ``Splice_Region`` is in it; ``Translation_Start_Site``,
#: ``Silent``, UTR, intron, flank, RNA and IGR variants are not.
NONSYNONYMOUS_CLASSES: frozenset[str] = frozenset({
    "Frame_Shift_Del",
    "Frame_Shift_Ins",
    "In_Frame_Del",
    "In_Frame_Ins",
    "Missense_Mutation",
    "Nonsense_Mutation",
    "Splice_Site",
    "Nonstop_Mutation",
    "Splice_Region",
})

#: maftools' default non-synonymous set (``vc_nonSyn`` of ``read.maf``): cBioPortal's without
#: ``Splice_Region``, plus ``Translation_Start_Site``. Used to cross-check against maftools.
MAFTOOLS_CLASSES: frozenset[str] = (NONSYNONYMOUS_CLASSES - {"Splice_Region"}) | {
    "Translation_Start_Site"}

#: Genes flagged by default (ICI response/resistance and the network's BRCA registry).
DEFAULT_GENES: tuple[str, ...] = (
    "BRCA1", "BRCA2", "POLE", "STK11", "KEAP1", "PTEN", "B2M", "JAK1", "JAK2", "EGFR", "KRAS",
    "TP53", "ARID1A", "SMARCA4", "PBRM1", "MDM2", "MDM4",
)

#: Sample-level columns passed through unchanged (when the cohort has them).
PASSTHROUGH: tuple[str, ...] = ("msi_status", "msi_score", "fcna", "hed", "hla_loh")

#: cBioPortal does not compute TMB on a territory smaller than this (Mb).
MIN_TERRITORY_MB = 0.2


#: Columns :func:`read_maf_fast` reads by default (enough for TMB and gene flags).
TMB_MAF_COLUMNS: tuple[str, ...] = ("Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification")


def gene_column(gene: str) -> str:
    """Feature column name of a gene's alteration flag (``mut_<GENE>``)."""
    return f"mut_{gene}"


# --------------------------------------------------------------------------------------------
# Fast MAF reading
# --------------------------------------------------------------------------------------------


def _comment_lines(path: Path) -> int:
    """Number of leading ``#`` lines (MAF version headers) to skip."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            n += 1
    return n


def read_maf_fast(path: str | Path, columns: Sequence[str] = TMB_MAF_COLUMNS) -> pd.DataFrame:
    """Read selected MAF columns with pyarrow's multithreaded CSV reader.

    Strings are dictionary-encoded (pandas ``category``), so a 10-million-variant MAF fits in a
    few hundred MB instead of several GB of Python strings.

    Parameters
    ----------
    path
        MAF file (tab-separated, plain or ``.gz``; leading ``#`` version lines are skipped).
    columns
        MAF column names to read (default: sample, gene, variant classification).

    Returns
    -------
    DataFrame
        The columns renamed to canonical ``mutations`` names (see :data:`MAF_COLUMNS`).

    Raises
    ------
    CohortError
        If the file is missing or lacks a requested column.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = Path(path)
    if not path.is_file():
        raise CohortError("MAF file not found", file=path)
    skip = _comment_lines(path)
    read = pacsv.ReadOptions(skip_rows=skip, block_size=64 << 20)
    parse = pacsv.ParseOptions(delimiter="\t", quote_char=False)
    str_cols = [c for c in columns if c not in ("Start_Position",)]
    # decode strings straight into dictionaries: never materialises 10M Python/Arrow strings
    convert = pacsv.ConvertOptions(
        include_columns=list(columns),
        column_types={c: pa.dictionary(pa.int32(), pa.string()) for c in str_cols},
        strings_can_be_null=False,
    )
    try:
        table = pacsv.read_csv(path, read_options=read, parse_options=parse,
                               convert_options=convert)
    except KeyError as exc:  # pyarrow names the missing include column
        raise CohortError(f"MAF lacks column {exc}; expected {list(columns)}", file=path,
                          row=skip + 1) from exc
    except pa.ArrowInvalid as exc:
        raise CohortError(f"cannot parse MAF: {exc}", file=path) from exc
    table = table.rename_columns([MAF_COLUMNS.get(n, n) for n in table.column_names])
    return table.to_pandas()


def maf_nonsynonymous_counts(path: str | Path,
                             classes: Iterable[str] = NONSYNONYMOUS_CLASSES) -> pd.Series:
    """Count nonsynonymous variants per sample straight from a MAF file with DuckDB.

    Streams the file (never holds it in memory); use it on MAFs too big for a DataFrame.

    Returns
    -------
    Series
        ``sample_id`` -> number of eligible variants (samples with none are absent).
    """
    import duckdb

    path = Path(path)
    if not path.is_file():
        raise CohortError("MAF file not found", file=path)
    con = duckdb.connect()
    try:
        # streaming aggregate: cap DuckDB's buffer pool, no progress bar in library code
        con.execute("SET threads TO 2; SET memory_limit = '1GB'; "
                    "SET preserve_insertion_order = false; SET enable_progress_bar = false")
        con.read_csv(str(path), delimiter="\t", header=True, all_varchar=True,
                     skiprows=_comment_lines(path), quotechar="").create_view("maf")
        df = con.execute(
            "SELECT Tumor_Sample_Barcode AS sample_id, count(*) AS n FROM maf "
            "WHERE Variant_Classification IN (SELECT unnest(?)) GROUP BY 1",
            [sorted(classes)],
        ).df()
    finally:
        con.close()
    return df.set_index("sample_id")["n"].astype("int64").sort_index()


# --------------------------------------------------------------------------------------------
# TMB
# --------------------------------------------------------------------------------------------


def nonsynonymous(mutations: pd.DataFrame,
                  classes: Iterable[str] = NONSYNONYMOUS_CLASSES) -> pd.DataFrame:
    """Rows of ``mutations`` whose variant classification counts for TMB."""
    return mutations[mutations["variant_classification"].isin(list(classes))]


def nonsynonymous_counts(mutations: pd.DataFrame,
                         classes: Iterable[str] = NONSYNONYMOUS_CLASSES) -> pd.Series:
    """Number of nonsynonymous variants per ``sample_id`` (vectorised groupby)."""
    hits = nonsynonymous(mutations, classes)
    counts = hits.groupby(hits["sample_id"].astype(str), observed=True).size()
    counts.index.name = "sample_id"
    return counts.astype("int64")


def sequenced_samples(mutations: pd.DataFrame, samples: pd.DataFrame,
                      patients: pd.DataFrame | None = None) -> pd.Index:
    """Samples whose mutations were reported (so "no variant" means wild type, not unknown).

    A sample counts as sequenced when it has at least one row in ``mutations`` (of any class), or
    when ``patients`` is given and the sample's patient belongs to a centre that contributed
    mutations (a sequenced sample can have no variant at all). Samples of centres that sent no
    MAF are not sequenced as far as the cohort knows.
    """
    ids = set(mutations["sample_id"].astype(str).unique()) if len(mutations) else set()
    if patients is not None and ids and {"patient_id", "centre"} <= set(patients.columns):
        s = samples[["sample_id", "patient_id"]].astype(str).merge(
            patients[["patient_id", "centre"]].astype({"patient_id": str}),
            on="patient_id", how="left")
        centres = set(s.loc[s["sample_id"].isin(ids), "centre"].dropna())
        ids |= set(s.loc[s["centre"].isin(centres), "sample_id"])
    return pd.Index(sorted(ids), name="sample_id")


def _territory(samples: pd.DataFrame) -> pd.Series:
    """Panel size per sample; filled from the panel name when only that is given."""
    if "panel_size_mb" in samples.columns:
        size = pd.to_numeric(samples["panel_size_mb"], errors="coerce")
    else:
        size = pd.Series(np.nan, index=samples.index, dtype=float)
    if "panel" in samples.columns:
        def lookup(p: object) -> float:
            try:
                return panel_size_mb(p)  # NaN for known panels of unknown size
            except CohortError:
                return np.nan
        from_name = samples["panel"].map(lookup)
        size = size.fillna(from_name)
    return size.astype(float)


def compute_tmb(mutations: pd.DataFrame, samples: pd.DataFrame, *,
                sequenced: Iterable[str] | None = None,
                classes: Iterable[str] = NONSYNONYMOUS_CLASSES) -> pd.DataFrame:
    """TMB per sample from the ``mutations`` table.

    Parameters
    ----------
    mutations
        Canonical ``mutations`` table.
    samples
        Canonical ``samples`` table (``panel_size_mb``, else ``panel`` looked up in
        :data:`~icipredict.cohort.harmonise.PANELS`).
    sequenced
        Sample IDs known to be sequenced (default: :func:`sequenced_samples` without centres,
        i.e. samples with at least one MAF row).
    classes
        Variant classes to count (default :data:`NONSYNONYMOUS_CLASSES`).

    Returns
    -------
    DataFrame
        Index ``sample_id``; columns ``n_nonsynonymous``, ``panel_size_mb``, ``tmb_computed``
        (mut/Mb; missing when not sequenced or territory unknown or < 0.2 Mb).
    """
    samples = samples.drop_duplicates("sample_id").copy()
    samples["sample_id"] = samples["sample_id"].astype(str)
    territory = pd.Series(_territory(samples).to_numpy(), index=samples["sample_id"])
    if sequenced is None:
        sequenced = sequenced_samples(mutations, samples)
    seq = pd.Index(list(sequenced)).astype(str)
    counts = nonsynonymous_counts(mutations, classes).reindex(territory.index)
    is_seq = territory.index.isin(seq)
    n = counts.where(~is_seq, counts.fillna(0))
    tmb = n / territory
    tmb = tmb.where(territory >= MIN_TERRITORY_MB)
    # Sequenced (a MAF row or a panel name says so), but the coding territory is unknown: no
    # TMB can be computed (the reported one is used where given). Said once per call, never a
    # crash and never a 0. Samples with neither are simply not profiled: nothing to warn about.
    panel_given = (samples["panel"].notna().to_numpy() if "panel" in samples.columns
                   else np.zeros(len(samples), dtype=bool))
    has_rows = counts.notna().to_numpy()
    unknown = is_seq & territory.isna().to_numpy() & (panel_given | has_rows)
    if unknown.any():
        log.warning("%d sequenced sample(s) have no panel size (panel unknown or not given), "
                    "e.g. %s: TMB not computed for them (reported TMB used where given)",
                    int(unknown.sum()), list(territory.index[unknown][:3]))
    out = pd.DataFrame({"n_nonsynonymous": n.astype("Float64").astype("Int64"),
                        "panel_size_mb": territory, "tmb_computed": tmb.astype(float)})
    out.index.name = "sample_id"
    return out


@dataclass(frozen=True)
class TMBAgreement:
    """Agreement between computed and reported TMB over samples that have both."""

    n: int
    pearson: float
    spearman: float
    median_abs_diff: float
    bias: float
    loa_low: float
    loa_high: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def tmb_agreement(computed: pd.Series, reported: pd.Series) -> TMBAgreement:
    """Compare computed and reported TMB (aligned on the index).

    Returns
    -------
    TMBAgreement
        ``n`` pairs, Pearson and Spearman correlation, median absolute difference, Bland-Altman
        bias (mean of computed - reported) and 95% limits of agreement (bias +/- 1.96 SD).
        Statistics are NaN when fewer than 2 (correlations: 3) pairs exist.
    """
    from scipy import stats

    both = pd.concat({"c": computed, "r": reported}, axis=1).astype(float).dropna()
    n = len(both)
    diff = both["c"] - both["r"]
    nan = float("nan")
    if n < 2:
        return TMBAgreement(n, nan, nan, float(diff.abs().median()) if n else nan,
                            float(diff.mean()) if n else nan, nan, nan)
    sd = float(diff.std(ddof=1))
    bias = float(diff.mean())
    constant = both["c"].nunique() < 2 or both["r"].nunique() < 2
    pearson = nan if n < 3 or constant else float(stats.pearsonr(both["c"], both["r"])[0])
    spearman = nan if n < 3 or constant else float(stats.spearmanr(both["c"], both["r"])[0])
    return TMBAgreement(n, pearson, spearman, float(diff.abs().median()), bias,
                        bias - 1.96 * sd, bias + 1.96 * sd)


# --------------------------------------------------------------------------------------------
# Gene flags
# --------------------------------------------------------------------------------------------


def gene_flags(mutations: pd.DataFrame, samples: pd.DataFrame, panel_genes: pd.DataFrame,
               genes: Sequence[str] = DEFAULT_GENES, *,
               sequenced: Iterable[str] | None = None,
               classes: Iterable[str] = NONSYNONYMOUS_CLASSES) -> pd.DataFrame:
    """Per-sample alteration flags: 1 mutated, 0 profiled wild type, NaN not profiled.

    Parameters
    ----------
    mutations, samples, panel_genes
        Canonical cohort tables.
    genes
        Hugo symbols to flag.
    sequenced
        Sample IDs known to be sequenced (default: samples with at least one MAF row).
    classes
        Variant classes that count as an alteration.

    Returns
    -------
    DataFrame
        Index ``sample_id`` (every sample of ``samples``), one float column ``mut_<GENE>`` per gene.
        A sample with an unknown panel name gets 1 where a variant is seen and NaN elsewhere.
    """
    genes = list(genes)
    samples = samples.drop_duplicates("sample_id")
    sample_ids = samples["sample_id"].astype(str).to_numpy()
    panel = samples["panel"] if "panel" in samples.columns else pd.Series(np.nan, samples.index)
    panel = panel.to_numpy(dtype=object)
    if sequenced is None:
        sequenced = sequenced_samples(mutations, samples)
    is_seq = np.isin(sample_ids, pd.Index(list(sequenced)).astype(str))

    hits = nonsynonymous(mutations, classes)
    hits = hits[hits["hugo_symbol"].isin(genes)]
    mutated = (pd.crosstab(hits["sample_id"].astype(str), hits["hugo_symbol"].astype(str)) > 0)
    mutated = mutated.reindex(index=sample_ids, columns=genes, fill_value=False).to_numpy(bool)

    pg = panel_genes[panel_genes["hugo_symbol"].isin(genes)] if len(panel_genes) else panel_genes
    listed_panels = pd.Index(panel_genes["panel"].astype(str).unique()) if len(panel_genes) \
        else pd.Index([])
    covers = (pd.crosstab(pg["panel"].astype(str), pg["hugo_symbol"].astype(str)) > 0) \
        if len(pg) else pd.DataFrame(dtype=bool)
    covers = covers.reindex(index=listed_panels, columns=genes, fill_value=False)
    known_panel = pd.notna(panel)
    panel_str = np.where(known_panel, panel.astype(str), "")
    genome_wide = known_panel & ~np.isin(panel_str, listed_panels)
    on_panel = covers.reindex(index=panel_str, fill_value=False).to_numpy(bool)

    profiled = (is_seq & known_panel)[:, None] & (genome_wide[:, None] | on_panel)
    values = np.where(profiled, 0.0, np.nan)
    values[mutated] = 1.0
    out = {gene_column(g): values[:, j] for j, g in enumerate(genes)}
    flags = pd.DataFrame(out, index=pd.Index(sample_ids, name="sample_id"))
    return flags


# --------------------------------------------------------------------------------------------
# One row per sample / per patient
# --------------------------------------------------------------------------------------------


def sample_genomics(mutations: pd.DataFrame, samples: pd.DataFrame, panel_genes: pd.DataFrame,
                    *, patients: pd.DataFrame | None = None,
                    genes: Sequence[str] = DEFAULT_GENES,
                    classes: Iterable[str] = NONSYNONYMOUS_CLASSES) -> pd.DataFrame:
    """Sample-level genomic features: TMB (computed, reported, used), gene flags, pass-through.

    ``tmb`` is the computed TMB where it can be computed, else the reported one.

    Returns
    -------
    DataFrame
        Index ``sample_id``; columns ``patient_id``, ``tmb``, ``tmb_computed``, ``tmb_reported``,
        ``tmb_source`` ("computed"/"reported"/None), :data:`PASSTHROUGH` columns and ``mut_<GENE>``.
    """
    samples = samples.drop_duplicates("sample_id").copy()
    samples["sample_id"] = samples["sample_id"].astype(str)
    seq = sequenced_samples(mutations, samples, patients)
    tmb = compute_tmb(mutations, samples, sequenced=seq, classes=classes)
    flags = gene_flags(mutations, samples, panel_genes, genes, sequenced=seq, classes=classes)
    out = samples.set_index("sample_id")
    keep = ["patient_id"] + [c for c in PASSTHROUGH if c in out.columns]
    out = out[keep].copy()
    out["tmb_reported"] = (pd.to_numeric(samples.set_index("sample_id")["tmb"], errors="coerce")
                           if "tmb" in samples.columns else np.nan)
    out["tmb_computed"] = tmb["tmb_computed"]
    out["tmb"] = out["tmb_computed"].fillna(out["tmb_reported"])
    out["tmb_source"] = np.where(out["tmb_computed"].notna(), "computed",
                                 np.where(out["tmb_reported"].notna(), "reported",
                                          None))  # type: ignore[call-overload]  # numpy's stubs reject None, a valid object scalar
    agreement = tmb_agreement(out["tmb_computed"], out["tmb_reported"])
    if agreement.n:
        log.info("TMB computed vs reported: %s", agreement.as_dict())
    return out.join(flags)
