"""Read somatic mutation files (MAF) into the canonical ``mutations`` table.

Accepted: plain ``.maf``/``.txt``, gzip-compressed (detected by its magic bytes, whatever the
suffix), cBioPortal ``data_mutations*.txt``. Leading ``#`` lines (``#version 2.4``) are skipped.
Parsing is done by :mod:`pyarrow.csv` (multi-threaded, no Python row loops); only the columns the
contract needs are materialised, so wide MAFs (100+ columns) stay cheap.

Column mapping (MAF -> canonical):

=======================  ==========================================================
Tumor_Sample_Barcode     sample_id (required)
Hugo_Symbol              hugo_symbol (required)
Variant_Classification   variant_classification (required)
HGVSp_Short              hgvsp_short (fallbacks: Protein_Change, HGVSp)
Chromosome               chromosome
Start_Position           start_position
Reference_Allele         reference_allele
Tumor_Seq_Allele2        tumor_seq_allele2
VAF / t_vaf / tumor_vaf  vaf; else t_alt_count / (t_alt_count + t_ref_count). An explicit VAF
 / i_TumorVAF_WU         column whose values exceed 1 is read as a percentage (logged).
=======================  ==========================================================
"""

from __future__ import annotations

import gzip
import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from icipredict.cohort.schema import SOURCE_ROW, CohortError, validate_table

log = logging.getLogger(__name__)

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
}
REQUIRED_MAF_COLUMNS = ("Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification")
HGVSP_FALLBACKS = ("Protein_Change", "HGVSp")
VAF_COLUMNS = ("VAF", "vaf", "t_vaf", "tumor_vaf", "Tumor_VAF", "i_TumorVAF_WU", "i_TumorVAF")
COUNT_COLUMNS = ("t_alt_count", "t_ref_count")


STATUS_COLUMNS = ("Mutation_Status", "Validation_Status")


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
    dropped: dict[str, int] = field(default_factory=dict)
    n_rows: int = 0
    path: Path = Path()


def _is_gzip(path: Path) -> bool:
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


def _read_arrow(path: Path, gz: bool, skip: int, columns: list[str], threads: bool) -> pa.Table:
    bad: list[tuple[int | None, str]] = []

    def on_invalid(row) -> str:  # pyarrow.csv.InvalidRow
        bad.append((row.number, row.text[:80]))
        return "error"

    source = pa.input_stream(str(path), compression="gzip" if gz else None)
    try:
        return pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(skip_rows=skip, use_threads=threads),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns,
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        if bad:
            number, text = bad[0]
            raise CohortError(f"ragged MAF row (wrong number of tab-separated fields): {text!r}",
                              file=path, row=number) from exc
        raise CohortError(f"cannot parse MAF: {exc}", file=path) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise CohortError(f"cannot read MAF (corrupt or truncated gzip?): {exc}", file=path) from exc


def load_maf(path: str | Path, *, validate: bool = True) -> pd.DataFrame:
    """Read a MAF file's somatic variants: ``read_maf(path, validate=validate).mutations``.

    Parameters
    ----------
    path
        ``.maf``, ``.maf.gz`` or cBioPortal ``data_mutations*.txt``.
    validate
        Apply the strict checks (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Canonical mutation columns plus ``_source_row``; germline and non-variant rows excluded.
    """
    return read_maf(path, validate=validate).mutations


def read_maf(path: str | Path, *, validate: bool = True) -> MafRead:
    """Read a MAF file: somatic variants, germline variants apart, other rows counted by reason.

    Parameters
    ----------
    path
        ``.maf``, ``.maf.gz`` or cBioPortal ``data_mutations*.txt``.
    validate
        Check the result against :data:`icipredict.cohort.schema.MUTATIONS`.

    Returns
    -------
    MafRead
        ``mutations`` and ``germline`` have the canonical mutation columns plus ``_source_row``
        (1-based line in the file, counting the ``#`` lines and the header).

    Raises
    ------
    CohortError
        Missing file, missing required MAF column, ragged rows, truncated gzip, bad values; the
        message names the file, row and MAF column.
    """
    path = Path(path)
    if not path.is_file():
        raise CohortError("MAF file not found", file=path)
    gz = _is_gzip(path)
    n_comment, header = _read_header(path, gz)
    missing = [c for c in REQUIRED_MAF_COLUMNS if c not in header]
    if missing:
        raise CohortError(
            f"required MAF column(s) {missing} missing; header has {header[:12]}"
            f"{' ...' if len(header) > 12 else ''}",
            file=path, row=n_comment + 1, column=missing[0],
        )
    hgvsp = next((c for c in ("HGVSp_Short", *HGVSP_FALLBACKS) if c in header), None)
    vaf_col = next((c for c in VAF_COLUMNS if c in header), None)
    wanted = [c for c in MAF_COLUMNS if c in header and c != "HGVSp_Short"]
    wanted += [c for c in (hgvsp, vaf_col) if c is not None]
    wanted += [c for c in STATUS_COLUMNS if c in header]
    if vaf_col is None:
        wanted += [c for c in COUNT_COLUMNS if c in header]
    try:
        table = _read_arrow(path, gz, n_comment, wanted, threads=True)
    except CohortError as exc:
        if exc.row is None and "gzip" not in exc.message:
            # threaded parsing may not know the row number: re-parse serially to locate it
            table = _read_arrow(path, gz, n_comment, wanted, threads=False)
        else:
            raise
    first_data_line = n_comment + 2
    out = pd.DataFrame({SOURCE_ROW: np.arange(first_data_line, first_data_line + table.num_rows)})
    names: dict[str, str] = {}
    for maf_col, canon in MAF_COLUMNS.items():
        src = hgvsp if canon == "hgvsp_short" else maf_col
        if canon == "start_position":
            continue
        if src is not None and src in table.column_names:
            out[canon] = _strings(table[src])
            names[canon] = src
        else:
            out[canon] = None
    if "Start_Position" in table.column_names:
        names["start_position"] = "Start_Position"
        start = _numbers(table["Start_Position"], path, "Start_Position", out)
        out["start_position"] = pd.array(start, dtype="Float64").round().astype("Int64")
    else:
        out["start_position"] = pd.array([pd.NA] * len(out), dtype="Int64")
    out["vaf"], names["vaf"] = _vaf(table, vaf_col, path, out)
    kind, dropped = _classify(table)
    somatic = out[kind == "somatic"].reset_index(drop=True)
    germline = out[kind == "germline"].reset_index(drop=True)
    if validate:
        validate_table(somatic, "mutations", source=path, column_names=names)
        validate_table(germline, "germline_mutations", source=path, column_names=names)
    log.info("read %d somatic variants of %d samples from %s (%d germline, dropped %s)",
             len(somatic), somatic["sample_id"].nunique(), path, len(germline), dropped)
    return MafRead(mutations=somatic, germline=germline, dropped=dropped, n_rows=len(out),
                   path=path)


def _status(table: pa.Table, name: str) -> np.ndarray:
    """Trimmed values of a status column as an object array ('' when absent or empty)."""
    if name not in table.column_names:
        return np.full(table.num_rows, "", dtype=object)
    values = pc.fill_null(pc.utf8_trim_whitespace(table[name]), "")
    return np.asarray(values.to_pylist(), dtype=object)


def _classify(table: pa.Table) -> tuple[np.ndarray, dict[str, int]]:
    """Per row ``"somatic"``, ``"germline"`` or ``"dropped"``, and the dropped rows by reason."""
    mutation = _status(table, "Mutation_Status")
    validation = _status(table, "Validation_Status")
    lower = np.char.lower(mutation.astype(str))
    kind = np.full(table.num_rows, "dropped", dtype=object)
    kind[(lower == "somatic") | (lower == "")] = "somatic"
    kind[lower == "germline"] = "germline"
    reasons = np.full(table.num_rows, None, dtype=object)
    wild = np.char.lower(validation.astype(str)) == "wildtype"
    reasons[wild] = "Validation_Status=" + validation[wild].astype(str)
    bad = (kind == "dropped") & ~wild
    reasons[bad] = "Mutation_Status=" + mutation[bad].astype(str)
    kind[wild] = "dropped"
    found = pd.Series(reasons[kind == "dropped"]).value_counts()
    return kind, {str(k): int(v) for k, v in found.items()}


def _strings(column: pa.ChunkedArray) -> np.ndarray:
    """Trimmed strings as a numpy object array ('' -> None), via a dictionary (MAF columns repeat
    a lot, so this is much faster than converting every cell)."""
    trimmed = pc.utf8_trim_whitespace(column)
    encoded = pc.dictionary_encode(trimmed).combine_chunks()
    categories = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    categories[categories == ""] = None
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    out = np.full(len(codes), None, dtype=object)
    valid = codes >= 0
    out[valid] = categories[codes[valid]]
    return out


def _numbers(column: pa.ChunkedArray, path: Path, name: str, frame: pd.DataFrame) -> np.ndarray:
    """Parse numbers in Arrow; on failure locate the first bad value for the error."""
    trimmed = pc.utf8_trim_whitespace(column)
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    try:
        return pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raw = pd.Series(trimmed.to_pandas())
        num = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & num.isna()
        idx = int(bad.to_numpy().nonzero()[0][0])
        raise CohortError(f"expected a number, got {raw.iloc[idx]!r} "
                          f"({int(bad.sum())} such value(s))", file=path,
                          row=int(frame[SOURCE_ROW].iloc[idx]), column=name) from None


def _vaf(table: pa.Table, vaf_col: str | None, path: Path,
         frame: pd.DataFrame) -> tuple[np.ndarray, str]:
    if vaf_col is not None:
        vaf = _numbers(table[vaf_col], path, vaf_col, frame)
        if np.nanmax(vaf, initial=0.0) > 1:
            log.info("%s: VAF column %s has values > 1, read as percent", path, vaf_col)
            vaf = vaf / 100.0
        return vaf, vaf_col
    if all(c in table.column_names for c in COUNT_COLUMNS):
        alt = _numbers(table["t_alt_count"], path, "t_alt_count", frame)
        ref = _numbers(table["t_ref_count"], path, "t_ref_count", frame)
        depth = alt + ref
        with np.errstate(invalid="ignore", divide="ignore"):
            vaf = np.where(depth > 0, alt / np.where(depth > 0, depth, 1), np.nan)
        return vaf, "t_alt_count"
    return np.full(table.num_rows, np.nan), "VAF"
