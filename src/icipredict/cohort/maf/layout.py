"""The MAF's columns: what is read from which column, the row kinds, and the header's layout."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from icipredict.cohort.schema import CohortError

#: MAF column -> canonical column of the mutations table.
MAF_COLUMNS: dict[str, str] = {
    "Tumor_Sample_Barcode": "sample_id",
    "Hugo_Symbol": "hugo_symbol",
    "Variant_Classification": "variant_classification",
    "HGVSp_Short": "hgvsp_short",
    "Chromosome": "chromosome",
    "Start_Position": "start_position",
    "Reference_Allele": "reference_allele",
    "Tumor_Seq_Allele2": "tumor_seq_allele2",
    "Mutation_Status": "mutation_status",
}
REQUIRED_MAF_COLUMNS = ("Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification")
HGVSP_FALLBACKS = ("Protein_Change", "HGVSp")
VAF_COLUMNS = ("VAF", "vaf", "t_vaf", "tumor_vaf", "Tumor_VAF", "i_TumorVAF_WU", "i_TumorVAF")
COUNT_COLUMNS = ("t_alt_count", "t_ref_count")
STATUS_COLUMNS = ("Mutation_Status", "Validation_Status")

#: Variant_Classification values accepted (case-sensitive): the MAF specification's, plus
#: cBioPortal's extra ``Splice_Region``, ``Fusion`` and ``Unknown`` (validateData.py,
#: ``MutationsExtendedValidator.VARIANT_CLASSIFICATION_VALUES``).
VARIANT_CLASSIFICATIONS: tuple[str, ...] = (
    "Frame_Shift_Del", "Frame_Shift_Ins", "In_Frame_Del", "In_Frame_Ins", "Missense_Mutation",
    "Nonsense_Mutation", "Splice_Site", "Translation_Start_Site", "Nonstop_Mutation",
    "Targeted_Region", "De_novo_Start_InFrame", "De_novo_Start_OutOfFrame",
    "Silent", "Intron", "3'UTR", "3'Flank", "5'UTR", "5'Flank", "IGR", "RNA",
    "Splice_Region", "Fusion", "Unknown",
)
#: Characters a sample ID may not hold (cBioPortal refuses them in sample IDs).
INVALID_SAMPLE_ID = r"[\s\p{Z},;*:]"
#: Row kinds.
SOMATIC, GERMLINE, DROPPED = 0, 1, 2
#: Canonical string columns (dictionary-encoded -> pandas category).
STRING_COLUMNS = ("sample_id", "hugo_symbol", "variant_classification", "hgvsp_short",
                  "chromosome", "reference_allele", "tumor_seq_allele2", "mutation_status")


#: MAF columns parsed as numbers (not dictionary-encoded).
NUMERIC_COLUMNS = frozenset({"Start_Position", *VAF_COLUMNS, *COUNT_COLUMNS})


@dataclass
class MafRead:
    """What :func:`read_maf` made of one MAF file: every data row is accounted for.

    Attributes
    ----------
    mutations
        Somatic rows (``Mutation_Status`` Somatic, any case, or absent/empty): the canonical
        ``mutations`` columns plus ``_source_row``.
    germline
        ``Mutation_Status = Germline`` rows, same columns; never somatic.
    dropped
        Reason -> number of rows that are not variants (e.g. ``"Mutation_Status=Wildtype"``).
    n_rows
        Data rows in the file: ``len(mutations) + len(germline) + sum(dropped.values())``.
    path
        The file read.
    """

    mutations: pd.DataFrame
    germline: pd.DataFrame
    dropped: dict[str, int]
    n_rows: int
    path: Path


@dataclass(frozen=True)
class Layout:
    """What the header says: where the data starts and which MAF column feeds which field."""

    header: list[str]
    n_comment: int
    hgvsp: str | None
    vaf: str | None

    @property
    def first_data_line(self) -> int:
        """1-based line of the first data row (after the ``#`` lines and the header)."""
        return self.n_comment + 2

    @property
    def wanted(self) -> list[str]:
        """MAF columns to read."""
        cols: list[str | None] = [c for c in MAF_COLUMNS if c != "HGVSp_Short"]
        cols += [self.hgvsp, self.vaf, "Tumor_Seq_Allele1", *STATUS_COLUMNS]
        if self.vaf is None:
            cols += list(COUNT_COLUMNS)
        out: list[str] = []
        for c in cols:
            if c is not None and c in self.header and c not in out:
                out.append(c)
        return out

    def source(self, canonical: str) -> str:
        """The MAF column named in errors about canonical column ``canonical``."""
        if canonical == "hgvsp_short":
            return self.hgvsp or "HGVSp_Short"
        if canonical == "vaf":
            return self.vaf or "t_alt_count"
        return {v: k for k, v in MAF_COLUMNS.items()}[canonical]


def is_gzip(path: Path) -> bool:
    """Whether the file starts with gzip's magic bytes (whatever its suffix)."""
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _read_header(path: Path, gz: bool) -> tuple[int, list[str]]:
    """Return (number of leading '#' lines, header column names)."""
    opener = gzip.open if gz else open
    n_comment = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("#"):
                    n_comment += 1
                    continue
                header = line.rstrip("\r\n").split("\t")
                return n_comment, [h.strip() for h in header]
    except (OSError, EOFError, zlib.error) as exc:
        raise CohortError(f"cannot read MAF (corrupt or truncated gzip?): {exc}", file=path) from exc
    raise CohortError("empty MAF: no header line found", file=path)


def read_layout(path: Path, gz: bool) -> Layout:
    """Read the header; refuse a file without the required columns."""
    n_comment, header = _read_header(path, gz)
    missing = [c for c in REQUIRED_MAF_COLUMNS if c not in header]
    if missing:
        raise CohortError(
            f"required MAF column(s) {missing} missing; header has {header[:12]}"
            f"{' ...' if len(header) > 12 else ''}",
            file=path, row=n_comment + 1, column=missing[0],
        )
    repeated = sorted({c for c in header if c and header.count(c) > 1})
    if repeated:  # cBioPortal: "Repeated column header"
        raise CohortError(f"repeated column header(s) {repeated}: which one holds the data?",
                          file=path, row=n_comment + 1, column=repeated[0])
    hgvsp = next((c for c in ("HGVSp_Short", *HGVSP_FALLBACKS) if c in header), None)
    vaf = next((c for c in VAF_COLUMNS if c in header), None)
    return Layout(header=header, n_comment=n_comment, hgvsp=hgvsp, vaf=vaf)
