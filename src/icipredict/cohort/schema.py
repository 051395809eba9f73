"""Table contracts of the harmonised cohort and the error every loader raises.

The cohort is a set of tables (pandas DataFrames) with fixed column names, canonical units and
closed vocabularies. Every loader produces them, every later stage reads them, and
:func:`validate_table` checks them. Units are part of the contract: a value in the wrong unit is
converted by :mod:`icipredict.cohort.harmonise` *before* validation, never after.

"Not profiled" (a gene absent from a panel, no image, a lab not measured) is a missing value
(``NaN``/``None``), never zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.errors import InputError

#: Column that loaders carry through to point at the source file's line (1-based, header = 1).
SOURCE_ROW = "_source_row"


class CohortError(InputError):
    """A problem with cohort input, located as precisely as the loader can (file, row, column)."""


class CohortErrors(CohortError):
    """Several :class:`CohortError` at once (so a user fixes a file in one pass)."""

    def __init__(self, errors: Sequence[CohortError]) -> None:
        self.errors = list(errors)
        lines = "\n".join(f"  - {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} problem(s) in cohort input:\n{lines}")

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Column:
    """One column of a table contract.

    Parameters
    ----------
    name
        Canonical column name.
    kind
        ``"str"``, ``"float"``, ``"int"`` (nullable integer), ``"bool01"`` (0/1, nullable) or ``"date"``.
    description
        What the column holds, with its unit.
    unit
        Canonical unit (``None`` when dimensionless or categorical).
    required
        Whether the column must be present (values may still be missing unless ``nullable`` is False).
    nullable
        Whether missing values are allowed.
    minimum, maximum
        Inclusive plausible range for numbers.
    allowed
        Closed vocabulary for strings.
    """

    name: str
    kind: str
    description: str
    unit: str | None = None
    required: bool = False
    nullable: bool = True
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TableContract:
    """The contract of one cohort table: its columns and its key."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        """Canonical column names in contract order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


SEX = ("male", "female")
RECIST = ("CR", "PR", "SD", "PD", "NE")
DRUG_CLASSES = ("PD-1/PD-L1", "CTLA-4", "combination")
MSI_STATUS = ("MSI-H", "MSS")
MODALITIES = ("CT", "MR", "PET")
SMOKING = ("never", "former", "current")

PATIENTS = TableContract(
    name="patients",
    description="One row per patient: demographics and disease at the start of ICI.",
    key=("patient_id",),
    columns=(
        Column("patient_id", "str", "Pseudonymous patient ID (keyed hash once in the store).",
               required=True, nullable=False),
        Column("centre", "str", "Centre that contributed the patient.", required=True,
               nullable=False),
        Column("sex", "str", "Sex.", allowed=SEX),
        Column("age", "float", "Age at ICI start.", unit="years", minimum=0, maximum=120),
        Column("bmi", "float", "Body-mass index.", unit="kg/m2", minimum=8, maximum=90),
        Column("ecog", "int", "ECOG performance status.", minimum=0, maximum=4),
        Column("smoking", "str", "Smoking history.", allowed=SMOKING),
        Column("cancer_type", "str",
               "Cancer type as the cohort's harmonised label (see harmonise.CANCER_TYPES).",
               required=True, nullable=False),
        Column("stage_iv", "bool01", "1 = stage IV at ICI start, 0 = stage I-III."),
    ),
)

SAMPLES = TableContract(
    name="samples",
    description="One row per sequenced tumour sample, with its assay and sample-level genomics.",
    key=("sample_id",),
    columns=(
        Column("sample_id", "str", "Pseudonymous sample ID.", required=True, nullable=False),
        Column("patient_id", "str", "Patient the sample belongs to.", required=True,
               nullable=False),
        Column("panel", "str", "Sequencing assay (see harmonise.PANELS)."),
        Column("panel_size_mb", "float", "Size of the sequenced territory used for TMB.",
               unit="Mb", minimum=0.01, maximum=100),
        Column("tumour_purity", "float", "Tumour purity.", unit="fraction", minimum=0,
               maximum=1),
        Column("tmb", "float", "Reported tumour mutational burden.", unit="mut/Mb", minimum=0,
               maximum=2000),
        Column("msi_status", "str", "Microsatellite status.", allowed=MSI_STATUS),
        Column("msi_score", "float", "MSIsensor score.", minimum=0, maximum=100),
        Column("fcna", "float", "Fraction of genome with copy-number alteration.",
               unit="fraction", minimum=0, maximum=1),
        Column("hed", "float", "HLA-I evolutionary divergence (mean).", minimum=0, maximum=50),
        Column("hla_loh", "bool01", "1 = loss of heterozygosity at HLA-I."),
        Column("pdl1_tps", "float", "PD-L1 tumour proportion score.", unit="%", minimum=0,
               maximum=100),
    ),
)

MUTATIONS = TableContract(
    name="mutations",
    description=(
        "Somatic mutations, one row per variant (MAF). Canonical names are snake_case versions of "
        "the MAF columns: Tumor_Sample_Barcode -> sample_id, Hugo_Symbol -> hugo_symbol, ..."
    ),
    columns=(
        Column("sample_id", "str", "Sample (MAF Tumor_Sample_Barcode).", required=True,
               nullable=False),
        Column("hugo_symbol", "str", "Gene (MAF Hugo_Symbol).", required=True, nullable=False),
        Column("variant_classification", "str", "MAF Variant_Classification.", required=True,
               nullable=False),
        Column("hgvsp_short", "str", "Protein change (MAF HGVSp_Short)."),
        Column("chromosome", "str", "Chromosome (MAF Chromosome)."),
        Column("start_position", "int", "Start position (MAF Start_Position).", minimum=0),
        Column("reference_allele", "str", "MAF Reference_Allele."),
        Column("tumor_seq_allele2", "str", "MAF Tumor_Seq_Allele2."),
        Column("vaf", "float", "Variant allele fraction.", unit="fraction", minimum=0,
               maximum=1),
        Column("mutation_status", "str", "MAF Mutation_Status as written (Somatic: confirmed "
               "on a matched normal; missing: not given, e.g. tumour-only sequencing)."),
    ),
)

GERMLINE_MUTATIONS = TableContract(
    name="germline_mutations",
    description=(
        "Germline variants (MAF Mutation_Status = Germline), kept apart from the somatic "
        "``mutations``: never counted in TMB nor in the somatic BRCA1/2 registry. Same columns as "
        "``mutations``."
    ),
    columns=MUTATIONS.columns,
)

LABS = TableContract(
    name="labs",
    description="Baseline blood values at ICI start, one row per patient, in canonical units.",
    key=("patient_id",),
    columns=(
        Column("patient_id", "str", "Patient.", required=True, nullable=False),
        Column("neutrophils", "float", "Absolute neutrophil count.", unit="10^9/L", minimum=0,
               maximum=200),
        Column("lymphocytes", "float", "Absolute lymphocyte count.", unit="10^9/L", minimum=0,
               maximum=200),
        Column("nlr", "float", "Neutrophil-to-lymphocyte ratio.", minimum=0, maximum=500),
        Column("albumin", "float", "Serum albumin.", unit="g/dL", minimum=0.5, maximum=7),
        Column("platelets", "float", "Platelet count.", unit="10^9/L", minimum=0, maximum=3000),
        Column("haemoglobin", "float", "Haemoglobin.", unit="g/dL", minimum=2, maximum=25),
        Column("ldh", "float", "Lactate dehydrogenase.", unit="U/L", minimum=0, maximum=20000),
    ),
)

TREATMENTS = TableContract(
    name="treatments",
    description="The ICI treatment (one row per patient for the index line).",
    key=("patient_id",),
    columns=(
        Column("patient_id", "str", "Patient.", required=True, nullable=False),
        Column("drug", "str", "Drug name(s), lower case, '+' between combined drugs."),
        Column("drug_class", "str", "ICI class.", allowed=DRUG_CLASSES),
        Column("line", "int", "Line of systemic therapy.", minimum=1, maximum=20),
        Column("prior_systemic_therapy", "bool01", "1 = systemic therapy before ICI."),
        Column("start_date", "date", "Date ICI started."),
    ),
)

IMAGING = TableContract(
    name="imaging",
    description="One row per imaged lesion: image and mask URIs, or a precomputed radiomics table.",
    key=("patient_id", "lesion_id"),
    columns=(
        Column("patient_id", "str", "Patient.", required=True, nullable=False),
        Column("lesion_id", "str", "Lesion label within the patient.", required=True,
               nullable=False),
        Column("modality", "str", "Imaging modality.", allowed=MODALITIES),
        Column("image_uri", "str", "Path/URI of the image (NIfTI, NRRD or DICOM series folder; "
               "'folder#<SeriesInstanceUID>' when it holds several)."),
        Column("mask_uri", "str", "Path/URI of the lesion mask: a label map, or a DICOM "
               "RTSTRUCT/SEG with its ROI or segment after '#' (rs.dcm#GTV-1)."),
        Column("radiomics_uri", "str", "Path/URI of a precomputed radiomics table, if sent."),
    ),
)

OUTCOMES = TableContract(
    name="outcomes",
    description="Response and survival after ICI start; times in months with event flags (1 = event).",
    key=("patient_id",),
    columns=(
        Column("patient_id", "str", "Patient.", required=True, nullable=False),
        Column("bor", "str", "RECIST 1.1 best overall response.", allowed=RECIST),
        Column("responder", "bool01", "1 = CR or PR, 0 = SD/PD/NE."),
        Column("os_months", "float", "Overall survival time.", unit="months", minimum=0,
               maximum=600),
        Column("os_event", "bool01", "1 = died, 0 = censored at os_months."),
        Column("pfs_months", "float", "Progression-free survival time.", unit="months",
               minimum=0, maximum=600),
        Column("pfs_event", "bool01", "1 = progressed or died, 0 = censored at pfs_months."),
    ),
)

RADIOMICS = TableContract(
    name="radiomics",
    description="Radiomics feature values (precomputed or computed), long format.",
    key=("patient_id", "lesion_id", "feature"),
    columns=(
        Column("patient_id", "str", "Patient.", required=True, nullable=False),
        Column("lesion_id", "str", "Lesion.", required=True, nullable=False),
        Column("feature", "str", "Feature name (pyradiomics naming).", required=True,
               nullable=False),
        Column("value", "float", "Feature value.", required=True),
    ),
)

PANEL_GENES = TableContract(
    name="panel_genes",
    description=(
        "Genes covered by each sequencing panel (cBioPortal gene panel files). A gene absent from "
        "a sample's panel is 'not profiled' for that sample (missing), never wild type. Panels "
        "with no rows here (e.g. exomes) count as covering every gene."
    ),
    key=("panel", "hugo_symbol"),
    columns=(
        Column("panel", "str", "Panel name.", required=True, nullable=False),
        Column("hugo_symbol", "str", "Gene on the panel.", required=True, nullable=False),
    ),
)

CNA = TableContract(
    name="cna",
    description=(
        "Discrete copy-number calls (cBioPortal COPY_NUMBER_ALTERATION DISCRETE profile, GISTIC "
        "-2..2) of the homologous-recombination genes only, one row per sample and gene "
        "(0 = profiled, no change). A gene or sample absent here is not profiled, never neutral."
    ),
    key=("sample_id", "hugo_symbol"),
    columns=(
        Column("sample_id", "str", "Sample.", required=True, nullable=False),
        Column("hugo_symbol", "str", "Gene.", required=True, nullable=False),
        Column("cna", "int", "-2 deep (homozygous) deletion, -1 shallow (hemizygous) deletion, "
               "0 neutral, 1 gain, 2 amplification.", required=True, minimum=-2, maximum=2),
    ),
)

CONTRACTS: dict[str, TableContract] = {
    c.name: c
    for c in (PATIENTS, SAMPLES, MUTATIONS, LABS, TREATMENTS, IMAGING, OUTCOMES, RADIOMICS,
              PANEL_GENES, GERMLINE_MUTATIONS, CNA)
}

#: Columns that hold identifiers to pseudonymise, per table.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id",),
    "samples": ("sample_id", "patient_id"),
    "mutations": ("sample_id",),
    "labs": ("patient_id",),
    "treatments": ("patient_id",),
    "imaging": ("patient_id",),
    "outcomes": ("patient_id",),
    "radiomics": ("patient_id",),
    "panel_genes": (),
    "germline_mutations": ("sample_id",),
    "cna": ("sample_id",),
}


def empty_table(name: str) -> pd.DataFrame:
    """Return an empty DataFrame with the canonical columns and dtypes of table ``name``."""
    contract = CONTRACTS[name]
    return pd.DataFrame({c.name: pd.Series(dtype=_pandas_dtype(c.kind)) for c in contract.columns})


def _pandas_dtype(kind: str) -> str:
    return {
        "str": "object",
        "float": "float64",
        "int": "Int64",
        "bool01": "Int64",
        "date": "datetime64[ns]",
    }[kind]


@dataclass
class Cohort:
    """A harmonised cohort: the contract tables as DataFrames.

    Tables a source does not provide are empty (with canonical columns), never absent.
    ``load_report`` is not a table: ``"<file name>: <reason>"`` -> number of source rows the
    loaders dropped for that reason (e.g. ``"data_mutations.txt: Mutation_Status=Wildtype"``).
    """

    patients: pd.DataFrame = field(default_factory=lambda: empty_table("patients"))
    samples: pd.DataFrame = field(default_factory=lambda: empty_table("samples"))
    mutations: pd.DataFrame = field(default_factory=lambda: empty_table("mutations"))
    labs: pd.DataFrame = field(default_factory=lambda: empty_table("labs"))
    treatments: pd.DataFrame = field(default_factory=lambda: empty_table("treatments"))
    imaging: pd.DataFrame = field(default_factory=lambda: empty_table("imaging"))
    outcomes: pd.DataFrame = field(default_factory=lambda: empty_table("outcomes"))
    radiomics: pd.DataFrame = field(default_factory=lambda: empty_table("radiomics"))
    panel_genes: pd.DataFrame = field(default_factory=lambda: empty_table("panel_genes"))
    germline_mutations: pd.DataFrame = field(
        default_factory=lambda: empty_table("germline_mutations"))
    cna: pd.DataFrame = field(default_factory=lambda: empty_table("cna"))
    load_report: dict[str, int] = field(default_factory=dict)

    TABLES = tuple(CONTRACTS)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return ``{table name: DataFrame}`` for every contract table."""
        return {name: getattr(self, name) for name in self.TABLES}

    def validate(self, source: str | Path | None = None) -> Cohort:
        """Validate every table (see :func:`validate_table`) and cross-table keys; return self."""
        errors: list[CohortError] = []
        for name, df in self.tables().items():
            errors.extend(validate_table(df, name, source=source, raise_errors=False))
        errors.extend(_check_foreign_keys(self, source))
        if errors:
            raise errors[0] if len(errors) == 1 else CohortErrors(errors)
        return self

    def without_source_rows(self) -> Cohort:
        """Return a copy with the loaders' bookkeeping column dropped and canonical order."""
        out = {}
        for name, df in self.tables().items():
            cols = CONTRACTS[name].column_names
            out[name] = df.drop(columns=[SOURCE_ROW], errors="ignore").reindex(columns=cols)
        return Cohort(**out, load_report=dict(self.load_report))

    def frame(self) -> pd.DataFrame:
        """One row per patient: patients + labs + treatments + outcomes + first sample's genomics."""
        df = self.patients.drop(columns=[SOURCE_ROW], errors="ignore")
        for name in ("labs", "treatments", "outcomes"):
            other = getattr(self, name).drop(columns=[SOURCE_ROW], errors="ignore")
            df = df.merge(other.drop_duplicates("patient_id"), on="patient_id", how="left")
        samples = self.samples.drop(columns=[SOURCE_ROW], errors="ignore")
        df = df.merge(samples.drop_duplicates("patient_id"), on="patient_id", how="left")
        return df


def _row_of(df: pd.DataFrame, index) -> int | None:
    if SOURCE_ROW in df.columns:
        value = df.at[index, SOURCE_ROW]
        return int(value) if pd.notna(value) else None
    return None


def validate_table(
    df: pd.DataFrame,
    name: str,
    *,
    source: str | Path | None = None,
    column_names: dict[str, str] | None = None,
    raise_errors: bool = True,
    max_errors: int = 50,
) -> list[CohortError]:
    """Check a table against its contract.

    Parameters
    ----------
    df
        The table, in canonical column names and units. If it has a ``_source_row`` column, errors
        point at that line of the source file.
    name
        Contract name (``"patients"``, ``"labs"``, ...).
    source
        File the table came from, named in errors.
    column_names
        Map canonical -> source column name, so errors name the column as the user wrote it.
    raise_errors
        Raise the first error (or a :class:`CohortErrors` with all) instead of returning them.
    max_errors
        Stop collecting after this many errors.

    Returns
    -------
    list of CohortError
        Empty when the table satisfies its contract.
    """
    contract = CONTRACTS[name]
    column_names = column_names or {}
    errors: list[CohortError] = []

    def err(msg: str, row: int | None = None, col: str | None = None) -> None:
        shown = column_names.get(col, col) if col else None
        errors.append(CohortError(f"{name}: {msg}", file=source, row=row, column=shown))

    for col in contract.columns:
        if col.required and col.name not in df.columns:
            err(f"required column missing (expected {col.description})", col=col.name)
    if errors:
        return _finish(errors, raise_errors)

    for col in contract.columns:
        if col.name not in df.columns or len(errors) >= max_errors:
            continue
        values = df[col.name]
        missing = values.isna()
        if not col.nullable and missing.any():
            for idx in values.index[missing][:5]:
                err("missing value where one is required", _row_of(df, idx), col.name)
        present = values[~missing]
        if present.empty:
            continue
        if col.kind in ("float", "int", "bool01"):
            _check_numbers(df, present, col, err)
        elif col.kind == "str" and col.allowed is not None:
            bad = ~present.astype(str).isin(col.allowed)
            for idx in present.index[bad][:5]:
                err(f"unknown value {present[idx]!r}; expected one of {list(col.allowed)}",
                    _row_of(df, idx), col.name)

    if contract.key and all(k in df.columns for k in contract.key):
        dup = df.duplicated(list(contract.key), keep="first")
        for idx in df.index[dup][:5]:
            key = ", ".join(f"{k}={df.at[idx, k]!r}" for k in contract.key)
            err(f"duplicate key ({key}); each must appear once", _row_of(df, idx),
                contract.key[0])
    return _finish(errors[:max_errors], raise_errors)


def _check_numbers(df: pd.DataFrame, present: pd.Series, col: Column,
                   err: Callable[[str, int | None, str | None], None]) -> None:
    """Numbers, 0/1 flags, whole numbers and the plausible range of one column's values."""
    numeric = pd.to_numeric(present, errors="coerce")
    bad = numeric.isna()
    for idx in present.index[bad][:5]:
        err(f"expected a number, got {present[idx]!r}", _row_of(df, idx), col.name)
    numeric = numeric[~bad]
    if col.kind == "bool01":
        bad01 = ~numeric.isin([0, 1])
        for idx in numeric.index[bad01][:5]:
            err(f"expected 0 or 1, got {present[idx]!r}", _row_of(df, idx), col.name)
    if col.kind == "int":
        badint = ~np.isclose(numeric, np.round(numeric))
        for idx in numeric.index[badint][:5]:
            err(f"expected a whole number, got {present[idx]!r}", _row_of(df, idx),
                col.name)
    if col.minimum is not None:
        low = numeric < col.minimum
        for idx in numeric.index[low][:5]:
            err(f"value {numeric[idx]!r} below plausible minimum {col.minimum}"
                f"{' ' + col.unit if col.unit else ''} (wrong unit declared?)",
                _row_of(df, idx), col.name)
    if col.maximum is not None:
        high = numeric > col.maximum
        for idx in numeric.index[high][:5]:
            err(f"value {numeric[idx]!r} above plausible maximum {col.maximum}"
                f"{' ' + col.unit if col.unit else ''} (wrong unit declared?)",
                _row_of(df, idx), col.name)


def _finish(errors: list[CohortError], raise_errors: bool) -> list[CohortError]:
    if errors and raise_errors:
        raise errors[0] if len(errors) == 1 else CohortErrors(errors)
    return errors


def _check_foreign_keys(cohort: Cohort, source: str | Path | None) -> Iterable[CohortError]:
    known = set(cohort.patients["patient_id"].dropna())
    for name in ("samples", "labs", "treatments", "imaging", "outcomes"):
        df = getattr(cohort, name)
        if df.empty or "patient_id" not in df.columns:
            continue
        unknown = ~df["patient_id"].isin(known)
        for idx in df.index[unknown][:5]:
            yield CohortError(
                f"{name}: patient_id {df.at[idx, 'patient_id']!r} not in the patients table",
                file=source, row=_row_of(df, idx), column="patient_id",
            )
    for name in ("mutations", "germline_mutations", "cna"):
        df = getattr(cohort, name)
        if df.empty or cohort.samples.empty:
            continue
        samples = set(cohort.samples["sample_id"].dropna())
        unknown = ~df["sample_id"].isin(samples)
        if unknown.any():
            idx = df.index[unknown][0]
            yield CohortError(
                f"{name}: {int(unknown.sum())} variant(s) of sample(s) not in the samples "
                f"table, e.g. {df.at[idx, 'sample_id']!r}",
                file=source, row=_row_of(df, idx),
                column="Sample_Id" if name == "cna" else "Tumor_Sample_Barcode",
            )
