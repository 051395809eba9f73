"""Read mutation files (MAF) into the canonical ``mutations`` and ``germline_mutations`` tables.

Accepted: plain ``.maf``/``.txt``, gzip-compressed (detected by its magic bytes, whatever the
suffix), cBioPortal ``data_mutations*.txt``/``data_mutations_extended.maf``. Leading ``#`` lines
(``#version 2.4``) are skipped; blank lines are skipped (they are not data rows).

Reading streams: :mod:`pyarrow.csv` parses the file block by block (``BLOCK_SIZE``), only the
columns the contract needs are read (strings dictionary-encoded, numbers parsed by the reader),
each block is checked, classified and reduced at once, and numeric columns grow in place, so
memory stays bounded by the output (about 40 bytes a variant) rather than by the file: 10
million variants take about 6 s and 0.8 GB (``benchmarks/maf_reading.py``). String columns come
out as pandas ``category`` (Arrow-backed ``string`` above :data:`MAX_CATEGORIES` distinct
values, e.g. HGVSp of a huge file).

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

Somatic means somatic
---------------------
``Mutation_Status`` (case-insensitive): ``Somatic`` or absent/empty -> ``mutations``;
``Germline`` -> ``germline_mutations`` (never somatic: not in TMB, not in the somatic BRCA1/2
registry); any other value (``Wildtype``, ``None``, ``LOH``, ``Unknown``, ...) is not a somatic
variant: the row is dropped and counted as ``"Mutation_Status=<value>"``. cBioPortal's importer
skips ``Validation_Status = Wildtype`` rows as not variants: they are dropped and counted as
``"Validation_Status=<value>"`` whatever their mutation status. Every data row is accounted for:
``n_rows == len(mutations) + len(germline) + sum(dropped.values())``.

Strict rules (``validate=True``), after cBioPortal's validator (``validateData.py``,
``MutationsExtendedValidator`` and the clinical ID rule)
-------------------------------------------------------------------------------------------
Each broken rule is a :class:`~icipredict.cohort.schema.CohortError` naming the file, the 1-based
line and the MAF column, and the file is refused (checked on every data row, as the validator
does). Several rules broken in one block are raised together (:class:`CohortErrors`).

- **Invalid UTF-8** anywhere in the file (cBioPortal: error "File contains invalid UTF-8 bytes").
- **Ragged row**: a line with another number of tab-separated fields than the header;
  a **repeated column header** (cBioPortal: error).
- ``Tumor_Sample_Barcode``, ``Hugo_Symbol`` empty (cBioPortal: ``checkNotBlank``, error).
- **Sample IDs** with whitespace or any of ``, ; * :`` (cBioPortal's IDs may only hold letters,
  digits, points, underscores and hyphens; the sample would never match the clinical file).
- ``Variant_Classification`` empty (cBioPortal: error) or **not in the MAF vocabulary**
  (:data:`VARIANT_CLASSIFICATIONS`, case-sensitive like cBioPortal, which includes its extra
  ``Splice_Region``, ``Fusion`` and ``Unknown``). cBioPortal only warns and keeps the value;
  we refuse it, because a class we do not know (``Missense_mUtAtioN``) would silently leave TMB.
- ``Chromosome`` ``NA``/empty, when the file has the column: a variant must have a location.
- ``Start_Position`` empty when the file has the column, or not written as a whole number
  (cBioPortal: "The start position of this variant is not an integer", error, e.g.
  ``16449539.0``).
- **Reference allele equal to the tumour allele**: ``Reference_Allele`` equals
  ``Tumor_Seq_Allele2`` and ``Tumor_Seq_Allele1`` (when given) too, so no allele differs from the
  reference (cBioPortal takes the tumour allele that differs from the reference; here there is
  none). ``NA``/empty alleles are not compared.
- Numbers (VAF, read counts) that are not numbers (``.`` and ``NA`` are missing, as in
  cBioPortal); VAF outside [0, 1] after the percent rule.

Warnings only in cBioPortal and not checked here: allele/Variant_Type consistency, SWISSPROT,
amino-acid change syntax, custom driver annotations, off-panel genes. Rows of classes cBioPortal
filters at import (``Silent``, ``Intron``, UTR, flank, ``IGR``, ``RNA``) are kept: TMB counts only
nonsynonymous classes (:mod:`icipredict.features.genomic`).
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from icipredict.cohort.schema import (
    MUTATIONS,
    SOURCE_ROW,
    CohortError,
    CohortErrors,
)

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
#: Bytes parsed per block: bounds the memory of the reader.
BLOCK_SIZE = 8 << 20
#: Let pyarrow parse the next block while this one is processed.
USE_THREADS = True
#: Hand Arrow's freed block memory back to the system every this many blocks.
RELEASE_EVERY = 8
#: Row kinds.
SOMATIC, GERMLINE, DROPPED = 0, 1, 2
#: Canonical string columns (dictionary-encoded -> pandas category).
STRING_COLUMNS = ("sample_id", "hugo_symbol", "variant_classification", "hgvsp_short",
                  "chromosome", "reference_allele", "tumor_seq_allele2")


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
class _Layout:
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
        cols = [c for c in MAF_COLUMNS if c != "HGVSp_Short"]
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


def _layout(path: Path, gz: bool) -> _Layout:
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
    return _Layout(header=header, n_comment=n_comment, hgvsp=hgvsp, vaf=vaf)


class _Utf8Checked:
    """A byte stream that refuses invalid UTF-8 as it passes, naming the line and the column.

    pyarrow reads it through ``read_buffer``: each buffer is validated by Arrow (no copy, no
    Python string) up to its last line end; the partial last line is checked with the next one.
    """

    closed = False

    def __init__(self, raw: pa.NativeFile, path: Path, header: list[str]) -> None:
        self._raw, self._path, self._header = raw, path, header
        self._tail = b""
        self._lines = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read_buffer(self, size: int = -1) -> pa.Buffer:
        data = self._raw.read_buffer(size if size is not None and size >= 0 else None)
        self._check(data)
        return data

    def read(self, size: int = -1) -> bytes:
        return self.read_buffer(size).to_pybytes()

    def close(self) -> None:
        self._raw.close()
        self.closed = True

    def _check(self, data: pa.Buffer) -> None:
        if not data.size:  # end of file: the last line has no line end
            self._validate(pa.py_buffer(self._tail))
            self._tail = b""
            return
        view = np.frombuffer(data, dtype=np.uint8)
        first, last = _first_newline(view), _last_newline(view)
        if first < 0:  # no line end in this buffer
            self._tail += data.to_pybytes()
            return
        self._validate(pa.py_buffer(self._tail + data.slice(0, first + 1).to_pybytes()))
        self._validate(data.slice(first + 1, last - first))
        self._tail = data.slice(last + 1).to_pybytes()

    def _validate(self, segment: pa.Buffer) -> None:
        """Validate complete lines; count them."""
        offsets = pa.py_buffer(np.array([0, segment.size], dtype=np.int64))
        block = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, segment])
        try:
            block.cast(pa.large_string())
        except pa.ArrowInvalid:
            self._locate(segment.to_pybytes())
        self._lines += int(np.count_nonzero(np.frombuffer(segment, dtype=np.uint8) == 10))

    def _locate(self, whole: bytes) -> None:
        """Raise the error for the first invalid byte of ``whole`` (which starts a line)."""
        try:
            whole.decode("utf-8")
        except UnicodeDecodeError as exc:
            start = whole.rfind(b"\n", 0, exc.start) + 1
            field = whole.count(b"\t", start, exc.start)
            raise CohortError(
                f"invalid UTF-8 bytes {whole[exc.start:exc.end]!r}: save the file as UTF-8",
                file=self._path, row=self._lines + whole.count(b"\n", 0, exc.start) + 1,
                column=self._header[field] if field < len(self._header) else None) from None


def _first_newline(view: np.ndarray, window: int = 1 << 16) -> int:
    """Index of the first ``\\n`` in ``view`` (-1 if none), scanning a window at a time."""
    for start in range(0, len(view), window):
        hits = np.flatnonzero(view[start:start + window] == 10)
        if len(hits):
            return start + int(hits[0])
    return -1


def _last_newline(view: np.ndarray, window: int = 1 << 16) -> int:
    """Index of the last ``\\n`` in ``view`` (-1 if none)."""
    for end in range(len(view), 0, -window):
        hits = np.flatnonzero(view[max(0, end - window):end] == 10)
        if len(hits):
            return max(0, end - window) + int(hits[-1])
    return -1


def _open_reader(path: Path, gz: bool, layout: _Layout,
                 typed: bool) -> pacsv.CSVStreamingReader:
    """A streaming reader of the wanted columns, one row per line.

    Strings come dictionary-encoded; with ``typed``, numbers are parsed by the reader (fast; a
    bad number fails the block without a row, so the caller then re-reads untyped).
    """
    raw = pa.input_stream(str(path), compression="gzip" if gz else None)
    return pacsv.open_csv(
        _Utf8Checked(raw, path, layout.header),
        read_options=pacsv.ReadOptions(skip_rows=layout.n_comment + 1,  # our trimmed header
                                       column_names=layout.header, block_size=BLOCK_SIZE,
                                       use_threads=USE_THREADS),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False,
                                         ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            include_columns=layout.wanted,
            column_types={c: _reader_type(c, typed) for c in layout.wanted},
            strings_can_be_null=True,
        ),
    )


def _reader_type(column: str, typed: bool) -> pa.DataType:
    """Arrow type the reader gives ``column``."""
    if column not in _NUMERIC:
        return pa.dictionary(pa.int32(), pa.string())
    if not typed:
        return pa.string()
    return pa.int64() if column == "Start_Position" else pa.float64()


def _locate_ragged(path: Path, gz: bool, layout: _Layout, exc: Exception) -> CohortError:
    """Find the first line whose number of fields differs from the header's (error path only)."""
    opener = gzip.open if gz else open
    expected = len(layout.header) - 1
    with opener(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if number < layout.first_data_line:
                continue
            line = line.rstrip(b"\r\n")
            fields = line.count(b"\t") + 1
            if line and fields != expected + 1:
                text = line[:80].decode("utf-8", "replace")
                return CohortError(
                    f"ragged MAF row (wrong number of tab-separated fields: {fields}, header "
                    f"has {expected + 1}): {text!r}", file=path, row=number)
    return CohortError(f"cannot parse MAF: {exc}", file=path)


def load_maf(path: str | Path, *, validate: bool = True) -> pd.DataFrame:
    """Read a MAF file's somatic variants: ``read_maf(path, validate=validate).mutations``.

    Parameters
    ----------
    path
        ``.maf``, ``.maf.gz`` or cBioPortal ``data_mutations*.txt``.
    validate
        Apply the strict rules (see the module docstring).

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
        Apply the strict rules of the module docstring (cBioPortal's validator). Without it,
        only what is needed to read the file is checked (UTF-8, ragged rows, numbers).

    Returns
    -------
    MafRead
        ``mutations`` and ``germline`` have the canonical mutation columns (strings as pandas
        ``category``) plus ``_source_row`` (1-based line in the file, counting the ``#`` lines
        and the header); ``dropped`` counts the rows that are not variants by reason.

    Raises
    ------
    CohortError
        Missing file, missing required MAF column, ragged rows, invalid UTF-8, truncated gzip, a
        broken strict rule; the message names the file, row and MAF column
        (:class:`CohortErrors` when one block breaks several rules).
    """
    path = Path(path)
    if not path.is_file():
        raise CohortError("MAF file not found", file=path)
    gz = _is_gzip(path)
    layout = _layout(path, gz)
    try:
        acc = _read_blocks(path, gz, layout, validate, typed=True)
    except _Untyped:
        acc = _read_blocks(path, gz, layout, validate, typed=False)
    read = acc.result(path, layout, validate)
    log.info("read %d somatic variants of %d samples from %s (%d germline, dropped %s)",
             len(read.mutations), read.mutations["sample_id"].nunique(), path,
             len(read.germline), read.dropped)
    return read


def _expected_rows(path: Path, gz: bool) -> int:
    """A guess of the number of data rows (for preallocation; growing corrects it)."""
    size = path.stat().st_size * (4 if gz else 1)
    return min(size // 100, 50_000_000)


class _Untyped(Exception):
    """The reader could not parse a number: read again with numbers as text, to locate it."""


def _read_blocks(path: Path, gz: bool, layout: _Layout, validate: bool,
                 typed: bool) -> _Accumulator:
    """Stream the file block by block into an accumulator."""
    acc = _Accumulator(_expected_rows(path, gz))
    next_line = layout.first_data_line
    try:
        with _open_reader(path, gz, layout, typed) as reader:
            for i, batch in enumerate(reader):
                acc.add(_block(batch, next_line, layout, path, validate))
                next_line += batch.num_rows
                if i % RELEASE_EVERY == 0:  # hand freed block memory back to the system
                    pa.default_memory_pool().release_unused()
    except pa.ArrowInvalid as exc:
        if "conversion error" in str(exc) and typed:
            raise _Untyped from exc
        if "number of columns" in str(exc) or ("Expected" in str(exc) and "columns" in str(exc)):
            raise _locate_ragged(path, gz, layout, exc) from None
        raise CohortError(f"cannot parse MAF: {exc}", file=path) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise CohortError(f"cannot read MAF (corrupt or truncated gzip?): {exc}",
                          file=path) from exc
    return acc


# ------------------------------------------------------------------------------------------
# One block: encode, check, classify, reduce
# ------------------------------------------------------------------------------------------

@dataclass
class _Text:
    """A string column of one block, dictionary-encoded: per-row codes (-1 = empty) and values.

    Values are trimmed and distinct, so checks run on the few distinct values, not on the rows.
    """

    codes: np.ndarray
    values: pa.Array

    @classmethod
    def of(cls, column: pa.Array) -> _Text:
        """Encode ``column``: trim, '' and whitespace -> empty, merge values equal once trimmed."""
        encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        words = pc.utf8_trim_whitespace(encoded.dictionary)
        if pc.count_distinct(words).as_py() < len(words) or pc.any(pc.equal(words, "")).as_py():
            merged = pc.dictionary_encode(
                pc.if_else(pc.equal(words, ""), pa.scalar(None, pa.string()), words))
            remap = pc.fill_null(merged.indices, -1).to_numpy(zero_copy_only=False)
            codes = np.append(remap, -1).astype(codes.dtype)[codes]
            words = merged.dictionary
        return cls(codes=codes, values=words)

    @property
    def empty(self) -> np.ndarray:
        """Rows without a value."""
        return self.codes < 0

    def rows(self, value_mask: pa.Array | np.ndarray, empty: bool = False) -> np.ndarray:
        """Per-row boolean from a per-value boolean (``empty`` for rows without a value)."""
        if isinstance(value_mask, pa.Array):
            value_mask = pc.fill_null(value_mask, False).to_numpy(zero_copy_only=False)
        return np.append(np.asarray(value_mask, dtype=bool), empty)[self.codes]

    def value(self, row: int) -> str | None:
        """The value of one row."""
        code = int(self.codes[row])
        return None if code < 0 else self.values[code].as_py()

    def strings(self) -> pa.Array:
        """The rows as a plain string array (nulls for empty)."""
        return pc.take(self.values, pa.array(self.codes, mask=self.codes < 0))

    def take(self, mask: np.ndarray) -> _Text:
        """The rows where ``mask`` holds, codes in the smallest integer type."""
        return _Text(codes=self.codes[mask].astype(_code_type(len(self.values))),
                     values=self.values)


def _code_type(n_values: int) -> type:
    """Smallest signed integer type holding codes 0..n_values-1 and -1."""
    for kind in (np.int8, np.int16, np.int32):
        if n_values < np.iinfo(kind).max:
            return kind
    return np.int64


@dataclass
class _Rows:
    """Kept rows of one block for one table: string columns, positions, VAF, source lines."""

    text: dict[str, _Text | None]
    start: np.ndarray
    start_missing: np.ndarray
    vaf: np.ndarray
    lines: np.ndarray


@dataclass
class _Block:
    """One block reduced: kept rows per table, dropped counts, rows read and the largest VAF."""

    kept: dict[int, _Rows]
    dropped: Counter
    n_rows: int
    vaf_max: float


def _block(batch: pa.RecordBatch, first_line: int, layout: _Layout, path: Path,
           validate: bool) -> _Block:
    """Check, classify and reduce one block of rows starting at file line ``first_line``."""
    text = {name: _Text.of(batch.column(name)) for name in batch.schema.names
            if name not in _NUMERIC}
    raw = {name: batch.column(name) for name in batch.schema.names if name in _NUMERIC}
    lines = np.arange(first_line, first_line + batch.num_rows, dtype=np.int64)
    blank = _blank(text, raw, batch.num_rows)
    if blank is not None:
        text = {k: v.take(~blank) for k, v in text.items()}
        raw = {k: v.filter(pa.array(~blank)) for k, v in raw.items()}
        lines = lines[~blank]
    errors = _strict(text, lines, path) if validate else []
    kind, dropped = _classify(text, len(lines))
    start, start_missing = _start_positions(raw.get("Start_Position"), lines, path, validate,
                                            errors)
    vaf = _vaf(raw, layout, lines, path, errors)
    if errors:
        errors.sort(key=lambda e: e.row or 0)
        raise errors[0] if len(errors) == 1 else CohortErrors(errors)
    kept = {}
    for code in (SOMATIC, GERMLINE):
        mask = kind == code
        kept[code] = _Rows(
            text={c: text[src].take(mask) if src in text else None
                  for c, src in _string_sources(layout).items()},
            start=start[mask], start_missing=start_missing[mask], vaf=vaf[mask],
            lines=lines[mask])
    vmax = float(np.nanmax(vaf)) if layout.vaf is not None and np.isfinite(vaf).any() else 0.0
    return _Block(kept=kept, dropped=dropped, n_rows=len(lines), vaf_max=vmax)


#: MAF columns parsed as numbers (not dictionary-encoded).
_NUMERIC = frozenset({"Start_Position", *VAF_COLUMNS, *COUNT_COLUMNS})


def _string_sources(layout: _Layout) -> dict[str, str]:
    """Canonical string column -> MAF column it is read from."""
    return {c: layout.source(c) for c in STRING_COLUMNS}


def _blank(text: dict[str, _Text], raw: dict[str, pa.Array], n: int) -> np.ndarray | None:
    """Rows with every read column empty (blank lines), or None when there are none."""
    if not text["Tumor_Sample_Barcode"].empty.any():
        return None
    blank = np.ones(n, dtype=bool)
    for column in text.values():
        blank &= column.empty
    for values in raw.values():
        blank &= pc.is_null(values).to_numpy(zero_copy_only=False)
    return blank if blank.any() else None


def _rule(errors: list[CohortError], mask: np.ndarray, lines: np.ndarray, path: Path,
          column: str, message, value=None) -> None:
    """Add an error at the first row where ``mask`` holds; ``message`` may take its value."""
    hits = np.flatnonzero(mask)
    if not len(hits):
        return
    idx = int(hits[0])
    text = message(value(idx)) if callable(message) else message
    more = f" ({len(hits)} such rows in this block)" if len(hits) > 1 else ""
    errors.append(CohortError(text + more, file=path, row=int(lines[idx]), column=column))


def _strict(text: dict[str, _Text], lines: np.ndarray, path: Path) -> list[CohortError]:
    """cBioPortal's rules on one block (see the module docstring)."""
    errors: list[CohortError] = []
    for name in ("Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification"):
        _rule(errors, text[name].empty, lines, path, name, "empty value where one is required")
    sample = text["Tumor_Sample_Barcode"]
    _rule(errors, sample.rows(pc.match_substring_regex(sample.values, INVALID_SAMPLE_ID)),
          lines, path, "Tumor_Sample_Barcode",
          lambda v: f"sample ID {v!r} holds a space or one of , ; * : (cBioPortal allows only "
                    "letters, digits, points, underscores and hyphens)", sample.value)
    vc = text["Variant_Classification"]
    known = pc.is_in(vc.values, value_set=pa.array(VARIANT_CLASSIFICATIONS))
    _rule(errors, vc.rows(pc.invert(known)), lines, path, "Variant_Classification",
          lambda v: f"{v!r} is not a MAF Variant_Classification (case-sensitive){_hint(v)}",
          vc.value)
    if "Chromosome" in text:
        _rule(errors, text["Chromosome"].empty, lines, path, "Chromosome",
              "chromosome empty or NA: a variant needs a location")
    _rule(errors, _no_change(text), lines, path, "Tumor_Seq_Allele2",
          lambda v: f"tumour allele equal to the reference allele {v!r}: not a variant",
          text["Reference_Allele"].value if "Reference_Allele" in text else None)
    return errors


def _hint(value: str | None) -> str:
    """'; did you mean X?' when ``value`` is a known class in another case."""
    if value is None:
        return ""
    match = next((c for c in VARIANT_CLASSIFICATIONS if c.lower() == value.lower()), None)
    return f"; did you mean {match!r}?" if match else ""


def _no_change(text: dict[str, _Text]) -> np.ndarray:
    """Rows whose tumour alleles (2, and 1 when given) all equal the reference allele."""
    ref, alt2 = text.get("Reference_Allele"), text.get("Tumor_Seq_Allele2")
    if ref is None or alt2 is None:
        return np.zeros(0, dtype=bool)
    same = (ref.codes >= 0) & (_in_codes_of(alt2, ref) == ref.codes)
    alt1 = text.get("Tumor_Seq_Allele1")
    if alt1 is not None:
        codes1 = _in_codes_of(alt1, ref)
        same &= (alt1.codes < 0) | (codes1 == ref.codes)
    return same


def _in_codes_of(column: _Text, reference: _Text) -> np.ndarray:
    """``column``'s rows as codes of ``reference``'s values (-2 where it has no such value)."""
    where = pc.index_in(column.values, value_set=reference.values)
    remap = np.append(pc.fill_null(where, -2).to_numpy(zero_copy_only=False), -2)
    return remap[column.codes]


def _classify(text: dict[str, _Text], n: int) -> tuple[np.ndarray, Counter]:
    """Per row SOMATIC, GERMLINE or DROPPED; the dropped rows counted by reason."""
    kind = np.full(n, SOMATIC, dtype=np.int8)
    dropped: Counter = Counter()
    status = text.get("Mutation_Status")
    if status is not None:
        lower = pc.utf8_lower(status.values)
        kind[~status.rows(pc.equal(lower, "somatic"), empty=True)] = DROPPED
        kind[status.rows(pc.equal(lower, "germline"))] = GERMLINE
    validation = text.get("Validation_Status")
    wild = (validation.rows(pc.equal(pc.utf8_lower(validation.values), "wildtype"))
            if validation is not None else np.zeros(n, dtype=bool))
    if wild.any():
        dropped.update(_reasons("Validation_Status", validation, wild))
    bad_status = (kind == DROPPED) & ~wild
    if bad_status.any():
        dropped.update(_reasons("Mutation_Status", status, bad_status))
    kind[wild] = DROPPED
    return kind, dropped


def _reasons(column: str, values: _Text, rows: np.ndarray) -> Counter:
    """``"<column>=<value>"`` -> number of ``rows`` with that value."""
    counts = np.bincount(values.codes[rows], minlength=len(values.values))
    names = values.values.to_pylist()
    return Counter({f"{column}={names[i]}": int(c) for i, c in enumerate(counts) if c})


def _numbers(values: pa.Array, lines: np.ndarray, path: Path, column: str,
             errors: list[CohortError]) -> np.ndarray:
    """Parse numbers (float64, NaN for empty); on failure add an error at the first bad value."""
    if not pa.types.is_string(values.type):  # parsed by the reader
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    trimmed = pc.utf8_trim_whitespace(values)
    dot = pc.equal(trimmed, ".")  # cBioPortal accepts '.' for a missing read count
    for candidate in (values, pc.if_else(dot, pa.scalar(None, pa.string()), trimmed)):
        try:
            return pc.cast(candidate, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    raw = pd.Series(trimmed.to_pandas()).replace({"": None, ".": None})
    bad = (raw.notna() & pd.to_numeric(raw, errors="coerce").isna()).to_numpy()
    _rule(errors, bad, lines, path, column, lambda v: f"expected a number, got {v!r}",
          lambda i: raw.iloc[i])
    return np.full(len(values), np.nan)


def _start_positions(raw: pa.Array | None, lines: np.ndarray, path: Path, validate: bool,
                     errors: list[CohortError]) -> tuple[np.ndarray, np.ndarray]:
    """Start positions (int64) and their missing mask; whole numbers only when validating."""
    n = len(lines)
    if raw is None:
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    column = "Start_Position"
    missing = pc.is_null(raw).to_numpy(zero_copy_only=False)
    if validate:
        _rule(errors, missing, lines, path, column,
              "start position empty or NA: a variant needs a location")
        values = _whole_numbers(raw, lines, path, errors)
    elif pa.types.is_integer(raw.type):
        values = pc.fill_null(raw, 0).to_numpy(zero_copy_only=False)
    else:
        numbers = _numbers(raw, lines, path, column, errors)
        missing = np.isnan(numbers)
        values = np.where(missing, 0, np.round(numbers)).astype(np.int64)
    return values, missing


def _whole_numbers(raw: pa.Array, lines: np.ndarray, path: Path,
                   errors: list[CohortError]) -> np.ndarray:
    """Start positions written as whole non-negative numbers (cBioPortal: ``isdigit``)."""
    if pa.types.is_integer(raw.type):  # parsed by the reader
        values = pc.fill_null(raw, 0).to_numpy(zero_copy_only=False)
        _rule(errors, values < 0, lines, path, "Start_Position",
              lambda v: f"start position {v!r} is not a whole number", lambda i: int(values[i]))
        return values
    try:
        values = pc.fill_null(pc.cast(raw, pa.int64()), 0).to_numpy(zero_copy_only=False)
        if not len(values) or values.min() >= 0:
            return values
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    trimmed = pc.utf8_trim_whitespace(raw)
    whole = pc.fill_null(pc.match_substring_regex(trimmed, r"^[0-9]+$"), True)
    _rule(errors, pc.invert(whole).to_numpy(zero_copy_only=False), lines, path,
          "Start_Position", lambda v: f"start position {v!r} is not a whole number",
          lambda i: trimmed[i].as_py())
    if pc.all(whole).as_py():
        return pc.fill_null(pc.cast(trimmed, pa.int64()), 0).to_numpy(zero_copy_only=False)
    return np.zeros(len(raw), dtype=np.int64)


def _vaf(raw: dict[str, pa.Array], layout: _Layout, lines: np.ndarray, path: Path,
         errors: list[CohortError]) -> np.ndarray:
    """VAF as read (percent scaling is decided on the whole file), or from the read counts."""
    if layout.vaf is not None:
        return _numbers(raw[layout.vaf], lines, path, layout.vaf, errors)
    if all(c in raw for c in COUNT_COLUMNS):
        alt = _numbers(raw["t_alt_count"], lines, path, "t_alt_count", errors)
        ref = _numbers(raw["t_ref_count"], lines, path, "t_ref_count", errors)
        depth = alt + ref
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(depth > 0, alt / np.where(depth > 0, depth, 1), np.nan)
    return np.full(len(lines), np.nan)


# ------------------------------------------------------------------------------------------
# Blocks -> tables
# ------------------------------------------------------------------------------------------

class _Growing:
    """A numpy column appended to block by block; grows by doubling (untouched capacity costs
    no memory), so no list of block arrays is kept and no final concatenation copies it."""

    def __init__(self, dtype: type, capacity: int) -> None:
        self.data = np.empty(max(capacity, 1024), dtype=dtype)
        self.n = 0

    def append(self, values: np.ndarray) -> None:
        """Add ``values`` at the end."""
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data)), dtype=self.data.dtype)
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.data[self.n:need] = values
        self.n = need

    def array(self) -> np.ndarray:
        """The values appended (a view)."""
        return self.data[:self.n]


class _Table:
    """One output table being built: string columns per block, numeric columns growing."""

    def __init__(self, capacity: int) -> None:
        self.text: dict[str, list[_Text | None]] = {c: [] for c in STRING_COLUMNS}
        self.start = _Growing(np.int64, capacity)
        self.start_missing = _Growing(np.bool_, capacity)
        self.vaf = _Growing(np.float64, capacity)
        self.lines = _Growing(np.int64, capacity)

    def add(self, rows: _Rows) -> None:
        """Append one block's rows."""
        for name, column in rows.text.items():
            self.text[name].append(column)
        self.start.append(rows.start)
        self.start_missing.append(rows.start_missing)
        self.vaf.append(rows.vaf)
        self.lines.append(rows.lines)

    def frame(self, percent: bool) -> pd.DataFrame:
        """The table (each string column assembled, then its block parts freed)."""
        n = self.lines.n
        out: dict[str, object] = {}
        for name in MUTATIONS.column_names:
            if name in STRING_COLUMNS:
                out[name] = _strings(self.text.pop(name), n)
            elif name == "start_position":
                out[name] = pd.arrays.IntegerArray(self.start.array(),
                                                   self.start_missing.array())
            else:
                vaf = self.vaf.array()
                if percent:
                    vaf /= 100.0
                out[name] = vaf
        out[SOURCE_ROW] = self.lines.array()
        return pd.DataFrame(out, copy=False)


class _Accumulator:
    """Collects the reduced blocks and assembles the two tables at the end."""

    def __init__(self, capacity: int) -> None:
        self.tables = {SOMATIC: _Table(capacity), GERMLINE: _Table(0)}
        self.dropped: Counter = Counter()
        self.n_rows = 0
        self.vaf_max = 0.0

    def add(self, block: _Block) -> None:
        """Keep one block's rows."""
        for code, rows in block.kept.items():
            self.tables[code].add(rows)
        self.dropped.update(block.dropped)
        self.n_rows += block.n_rows
        self.vaf_max = max(self.vaf_max, block.vaf_max)

    def result(self, path: Path, layout: _Layout, validate: bool) -> MafRead:
        """The two tables, the dropped counts and the number of data rows."""
        percent = layout.vaf is not None and self.vaf_max > 1
        if percent:
            log.info("%s: VAF column %s has values > 1, read as percent", path, layout.vaf)
        tables = {code: self.tables.pop(code).frame(percent) for code in (SOMATIC, GERMLINE)}
        if validate:
            for df in tables.values():
                _check_vaf(df, path, layout.source("vaf"))
        return MafRead(mutations=tables[SOMATIC], germline=tables[GERMLINE],
                       dropped=dict(self.dropped), n_rows=self.n_rows, path=path)


#: Above this many distinct values a string column is Arrow-backed text, not a category.
MAX_CATEGORIES = 1_000_000


def _strings(parts: list[_Text | None], n: int) -> pd.Categorical | pd.arrays.ArrowStringArray:
    """One string column of ``n`` rows from the blocks' encodings (one global dictionary)."""
    parts = [p for p in parts if p is not None and len(p.codes)]
    if not parts:
        return pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8), categories=[])
    values = pa.concat_arrays([p.values for p in parts])
    distinct = pc.unique(values)
    where = pc.index_in(values, value_set=distinct).to_numpy(zero_copy_only=False)
    codes = np.empty(n, dtype=_code_type(len(distinct)))
    row = offset = 0
    for p in parts:
        remap = np.append(where[offset:offset + len(p.values)], -1).astype(codes.dtype)
        codes[row:row + len(p.codes)] = remap[p.codes]
        row, offset = row + len(p.codes), offset + len(p.values)
        p.codes = None
    if len(distinct) > MAX_CATEGORIES:
        typed = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), distinct)
        return pd.arrays.ArrowStringArray(typed.cast(pa.string()))
    return pd.Categorical.from_codes(codes, categories=pd.Index(distinct.to_pandas()))


def _check_vaf(df: pd.DataFrame, path: Path, column: str) -> None:
    """VAF within the contract's range (after the percent rule)."""
    spec = MUTATIONS.column("vaf")
    vaf = df["vaf"].to_numpy()
    bad = (vaf < spec.minimum) | (vaf > spec.maximum)
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise CohortError(f"mutations: VAF {vaf[idx]!r} outside [{spec.minimum}, {spec.maximum}]"
                          f" ({int(bad.sum())} such rows)", file=path,
                          row=int(df[SOURCE_ROW].iloc[idx]), column=column)
