"""Read mutation files (MAF) into the canonical ``mutations`` and ``germline_mutations`` tables.

Accepted: plain ``.maf``/``.txt``, gzip-compressed (detected by its magic bytes, whatever the
suffix), cBioPortal ``data_mutations*.txt``/``data_mutations_extended.maf``. Leading ``#`` lines
(``#version 2.4``) are skipped; blank lines are skipped (they are not data rows).

Reading streams: :mod:`pyarrow.csv` parses the file block by block (``BLOCK_SIZE``), only the
columns the contract needs are read, each block is checked, classified and reduced to
dictionary-encoded strings at once, so memory stays bounded by the output (about 40 bytes a
variant) rather than by the file. String columns come out as pandas ``category``.

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
- **Ragged row**: a line with another number of tab-separated fields than the header.
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
- Numbers (VAF, read counts) that are not numbers; VAF outside [0, 1] after the percent rule.

Warnings only in cBioPortal and not checked here: allele/Variant_Type consistency, SWISSPROT,
amino-acid change syntax, custom driver annotations, off-panel genes. Rows of classes cBioPortal
filters at import (``Silent``, ``Intron``, UTR, flank, ``IGR``, ``RNA``) are kept: TMB counts only
nonsynonymous classes (:mod:`icipredict.features.genomic`).
"""

from __future__ import annotations

import gzip
import io
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
INVALID_SAMPLE_ID = r"[\s,;*:]"
#: Bytes parsed per block: bounds the memory of the reader.
BLOCK_SIZE = 16 << 20
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
    hgvsp = next((c for c in ("HGVSp_Short", *HGVSP_FALLBACKS) if c in header), None)
    vaf = next((c for c in VAF_COLUMNS if c in header), None)
    return _Layout(header=header, n_comment=n_comment, hgvsp=hgvsp, vaf=vaf)


class _Utf8Checked(io.RawIOBase):
    """A byte stream that refuses invalid UTF-8 as it passes, naming the line and the column.

    Checks whole lines (a multi-byte character never straddles two reads), so it costs one
    decode of the file and no extra pass.
    """

    def __init__(self, raw: pa.NativeFile, path: Path, header: list[str]) -> None:
        super().__init__()
        self._raw, self._path, self._header = raw, path, header
        self._tail = b""
        self._lines = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        self._check(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()

    def _check(self, data: bytes) -> None:
        chunk = self._tail + data
        cut = len(chunk) if not data else chunk.rfind(b"\n") + 1
        whole, self._tail = chunk[:cut], chunk[cut:]
        try:
            whole.decode("utf-8")
        except UnicodeDecodeError as exc:
            start = whole.rfind(b"\n", 0, exc.start) + 1
            field = whole.count(b"\t", start, exc.start)
            raise CohortError(
                f"invalid UTF-8 bytes {whole[exc.start:exc.end]!r}: save the file as UTF-8",
                file=self._path, row=self._lines + whole.count(b"\n", 0, exc.start) + 1,
                column=self._header[field] if field < len(self._header) else None) from None
        self._lines += whole.count(b"\n")


def _open_reader(path: Path, gz: bool, layout: _Layout) -> pacsv.CSVStreamingReader:
    """A streaming reader of the wanted columns, as strings, one row per line."""
    raw = pa.input_stream(str(path), compression="gzip" if gz else None)
    return pacsv.open_csv(
        _Utf8Checked(raw, path, layout.header),
        read_options=pacsv.ReadOptions(skip_rows=layout.n_comment, block_size=BLOCK_SIZE,
                                       use_threads=True),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False,
                                         ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            include_columns=layout.wanted,
            column_types={c: pa.string() for c in layout.wanted},
            strings_can_be_null=True,
        ),
    )


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
    acc = _Accumulator()
    next_line = layout.first_data_line
    try:
        with _open_reader(path, gz, layout) as reader:
            for batch in reader:
                acc.add(_block(batch, next_line, layout, path, validate))
                next_line += batch.num_rows
    except pa.ArrowInvalid as exc:
        if "number of columns" in str(exc) or "Expected" in str(exc):
            raise _locate_ragged(path, gz, layout, exc) from None
        raise CohortError(f"cannot parse MAF: {exc}", file=path) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise CohortError(f"cannot read MAF (corrupt or truncated gzip?): {exc}",
                          file=path) from exc
    read = acc.result(path, layout, validate)
    log.info("read %d somatic variants of %d samples from %s (%d germline, dropped %s)",
             len(read.mutations), read.mutations["sample_id"].nunique(), path,
             len(read.germline), read.dropped)
    return read


# ------------------------------------------------------------------------------------------
# One block: tidy, check, classify, reduce
# ------------------------------------------------------------------------------------------

@dataclass
class _Block:
    """One block reduced: kept rows per kind, dropped counts, rows read and the largest VAF."""

    kept: dict[str, dict[str, pa.Array]]
    dropped: Counter
    n_rows: int
    vaf_max: float


def _tidy(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Trimmed strings with '' as null."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _block(batch: pa.RecordBatch, first_line: int, layout: _Layout, path: Path,
           validate: bool) -> _Block:
    """Check, classify and reduce one block of rows starting at file line ``first_line``."""
    cols = {name: _tidy(batch.column(name)) for name in batch.schema.names}
    lines = np.arange(first_line, first_line + batch.num_rows, dtype=np.int64)
    blank = _blank(cols, batch.num_rows)
    if blank.any():
        cols = {k: v.filter(pa.array(~blank)) for k, v in cols.items()}
        lines = lines[~blank]
    n = len(lines)
    errors: list[CohortError] = []
    if validate:
        errors += _strict(cols, lines, path)
    kind, dropped = _classify(cols, n)
    start = _start_positions(cols, lines, path, validate, errors)
    vaf = _vaf(cols, layout, lines, path, errors)
    if errors:
        errors.sort(key=lambda e: (e.row or 0))
        raise errors[0] if len(errors) == 1 else CohortErrors(errors)
    kept = {}
    for code, name in ((SOMATIC, "somatic"), (GERMLINE, "germline")):
        mask = pa.array(kind == code)
        out = {c: pc.dictionary_encode(cols[src].filter(mask)) if src in cols else None
               for c, src in _string_sources(layout).items()}
        out["start_position"] = start.filter(mask)
        out["vaf"] = vaf.filter(mask)
        out[SOURCE_ROW] = pa.array(lines[kind == code])
        kept[name] = out
    vmax = pc.max(vaf).as_py() if layout.vaf is not None else None
    return _Block(kept=kept, dropped=dropped, n_rows=n, vaf_max=vmax if vmax is not None else 0.0)


def _string_sources(layout: _Layout) -> dict[str, str]:
    """Canonical string column -> MAF column it is read from."""
    return {c: layout.source(c) for c in STRING_COLUMNS}


def _blank(cols: dict[str, pa.Array], n: int) -> np.ndarray:
    """Rows with every read column empty: blank lines."""
    blank = np.ones(n, dtype=bool)
    for values in cols.values():
        blank &= pc.is_null(values).to_numpy(zero_copy_only=False)
    return blank


def _first(mask: pa.Array | np.ndarray, lines: np.ndarray) -> tuple[int, int] | None:
    """(index, count) of the first True of ``mask`` (nulls are False), or None."""
    if isinstance(mask, (pa.Array, pa.ChunkedArray)):
        mask = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    hits = np.flatnonzero(mask)
    return (int(hits[0]), len(hits)) if len(hits) else None


def _rule(errors: list[CohortError], mask, lines: np.ndarray, path: Path, column: str,
          message, values: pa.Array | None = None) -> None:
    """Add an error at the first row where ``mask`` holds (message may use the row's value)."""
    found = _first(mask, lines)
    if found is None:
        return
    idx, count = found
    value = values[idx].as_py() if values is not None else None
    text = message(value) if callable(message) else message
    more = f" ({count} such rows in this block)" if count > 1 else ""
    errors.append(CohortError(text + more, file=path, row=int(lines[idx]), column=column))


def _strict(cols: dict[str, pa.Array], lines: np.ndarray, path: Path) -> list[CohortError]:
    """cBioPortal's rules on one block (see the module docstring)."""
    errors: list[CohortError] = []
    for name in ("Tumor_Sample_Barcode", "Hugo_Symbol", "Variant_Classification"):
        _rule(errors, pc.is_null(cols[name]), lines, path, name, "empty value where one is "
              "required")
    sample = cols["Tumor_Sample_Barcode"]
    _rule(errors, pc.match_substring_regex(sample, INVALID_SAMPLE_ID), lines, path,
          "Tumor_Sample_Barcode",
          lambda v: f"sample ID {v!r} holds a space or one of , ; * : (cBioPortal allows only "
                    "letters, digits, points, underscores and hyphens)", sample)
    vc = cols["Variant_Classification"]
    unknown = pc.invert(pc.is_in(vc, value_set=pa.array(VARIANT_CLASSIFICATIONS)))
    _rule(errors, pc.and_(pc.is_valid(vc), unknown), lines, path, "Variant_Classification",
          lambda v: f"{v!r} is not a MAF Variant_Classification (case-sensitive){_hint(v)}", vc)
    if "Chromosome" in cols:
        _rule(errors, pc.is_null(cols["Chromosome"]), lines, path, "Chromosome",
              "chromosome empty or NA: a variant needs a location")
    if "Start_Position" in cols:
        _rule(errors, pc.is_null(cols["Start_Position"]), lines, path, "Start_Position",
              "start position empty or NA: a variant needs a location")
    _rule(errors, _no_change(cols), lines, path, "Tumor_Seq_Allele2",
          lambda v: f"tumour allele equal to the reference allele {v!r}: not a variant",
          cols.get("Reference_Allele"))
    return errors


def _hint(value: str | None) -> str:
    """'; did you mean X?' when ``value`` is a known class in another case."""
    if value is None:
        return ""
    match = next((c for c in VARIANT_CLASSIFICATIONS if c.lower() == value.lower()), None)
    return f"; did you mean {match!r}?" if match else ""


def _no_change(cols: dict[str, pa.Array]) -> pa.Array | np.ndarray:
    """Rows whose tumour alleles (2, and 1 when given) all equal the reference allele."""
    ref, alt2 = cols.get("Reference_Allele"), cols.get("Tumor_Seq_Allele2")
    if ref is None or alt2 is None:
        return np.zeros(0, dtype=bool)
    same = pc.equal(ref, alt2)
    alt1 = cols.get("Tumor_Seq_Allele1")
    if alt1 is not None:
        same = pc.and_(same, pc.or_(pc.is_null(alt1), pc.equal(ref, alt1)))
    return same


def _classify(cols: dict[str, pa.Array], n: int) -> tuple[np.ndarray, Counter]:
    """Per row SOMATIC, GERMLINE or DROPPED; the dropped rows counted by reason."""
    kind = np.full(n, SOMATIC, dtype=np.int8)
    dropped: Counter = Counter()
    status = cols.get("Mutation_Status")
    if status is not None:
        lower = pc.utf8_lower(status)
        somatic = pc.fill_null(pc.equal(lower, "somatic"), True).to_numpy(zero_copy_only=False)
        germline = pc.fill_null(pc.equal(lower, "germline"), False).to_numpy(
            zero_copy_only=False)
        kind[~somatic] = DROPPED
        kind[germline] = GERMLINE
    validation = cols.get("Validation_Status")
    wild = (pc.fill_null(pc.equal(pc.utf8_lower(validation), "wildtype"), False).to_numpy(
        zero_copy_only=False) if validation is not None else np.zeros(n, dtype=bool))
    if wild.any():
        dropped.update(_reasons("Validation_Status", validation.filter(pa.array(wild))))
    bad_status = (kind == DROPPED) & ~wild
    if bad_status.any():
        dropped.update(_reasons("Mutation_Status", status.filter(pa.array(bad_status))))
    kind[wild] = DROPPED
    return kind, dropped


def _reasons(column: str, values: pa.Array) -> Counter:
    """``"<column>=<value>"`` -> count."""
    counts = pc.value_counts(values)
    return Counter({f"{column}={v}": int(c) for v, c in zip(
        counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)})


def _numbers(values: pa.Array, lines: np.ndarray, path: Path, column: str,
             errors: list[CohortError]) -> pa.Array:
    """Parse numbers; on failure add an error at the first bad value and return nulls."""
    try:
        return pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raw = pd.Series(values.to_pandas())
        bad = raw.notna() & pd.to_numeric(raw, errors="coerce").isna()
        _rule(errors, bad.to_numpy(), lines, path, column,
              lambda v: f"expected a number, got {v!r}", values)
        return pa.nulls(len(values), pa.float64())


def _start_positions(cols: dict[str, pa.Array], lines: np.ndarray, path: Path, validate: bool,
                     errors: list[CohortError]) -> pa.Array:
    """Start positions as int64 (whole numbers only when validating, as cBioPortal)."""
    raw = cols.get("Start_Position")
    if raw is None:
        return pa.nulls(len(lines), pa.int64())
    if validate:
        whole = pc.match_substring_regex(raw, r"^[0-9]+$")
        before = len(errors)
        _rule(errors, pc.and_(pc.is_valid(raw), pc.invert(whole)), lines, path,
              "Start_Position", lambda v: f"start position {v!r} is not a whole number", raw)
        if len(errors) > before:
            return pa.nulls(len(lines), pa.int64())
        return pc.cast(raw, pa.int64())
    numbers = _numbers(raw, lines, path, "Start_Position", errors)
    return pc.cast(pc.round(numbers), pa.int64())


def _vaf(cols: dict[str, pa.Array], layout: _Layout, lines: np.ndarray, path: Path,
         errors: list[CohortError]) -> pa.Array:
    """VAF as read (percent scaling is decided on the whole file), or from the read counts."""
    if layout.vaf is not None:
        return _numbers(cols[layout.vaf], lines, path, layout.vaf, errors)
    if all(c in cols for c in COUNT_COLUMNS):
        alt = _numbers(cols["t_alt_count"], lines, path, "t_alt_count", errors)
        ref = _numbers(cols["t_ref_count"], lines, path, "t_ref_count", errors)
        depth = pc.add(alt, ref)
        positive = pc.greater(depth, 0)
        return pc.if_else(positive, pc.divide(alt, depth), pa.scalar(None, pa.float64()))
    return pa.nulls(len(lines), pa.float64())


# ------------------------------------------------------------------------------------------
# Blocks -> tables
# ------------------------------------------------------------------------------------------

class _Accumulator:
    """Collects the reduced blocks and assembles the two tables at the end."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, list[pa.Array]]] = {"somatic": {}, "germline": {}}
        self.dropped: Counter = Counter()
        self.n_rows = 0
        self.vaf_max = 0.0

    def add(self, block: _Block) -> None:
        for kind, arrays in block.kept.items():
            for name, array in arrays.items():
                self.parts[kind].setdefault(name, []).append(array)
        self.dropped.update(block.dropped)
        self.n_rows += block.n_rows
        self.vaf_max = max(self.vaf_max, block.vaf_max)

    def result(self, path: Path, layout: _Layout, validate: bool) -> MafRead:
        percent = layout.vaf is not None and self.vaf_max > 1
        if percent:
            log.info("%s: VAF column %s has values > 1, read as percent", path, layout.vaf)
        tables = {kind: self._frame(kind, percent) for kind in ("somatic", "germline")}
        if validate:
            for df in tables.values():
                _check_vaf(df, path, layout.source("vaf"))
        return MafRead(mutations=tables["somatic"], germline=tables["germline"],
                       dropped=dict(self.dropped), n_rows=self.n_rows, path=path)

    def _frame(self, kind: str, percent: bool) -> pd.DataFrame:
        parts = self.parts[kind]
        n = sum(len(a) for a in parts.get(SOURCE_ROW, []))
        out: dict[str, object] = {}
        for name in MUTATIONS.column_names:
            chunks = parts.pop(name, [])
            if name in STRING_COLUMNS:
                out[name] = _categorical(chunks, n)
            elif name == "start_position":
                out[name] = _concat(chunks, pa.int64()).to_pandas(
                    types_mapper={pa.int64(): pd.Int64Dtype()}.get).array
            else:
                vaf = _concat(chunks, pa.float64()).to_numpy(zero_copy_only=False)
                out[name] = vaf / 100.0 if percent else vaf
        out[SOURCE_ROW] = _concat(parts.pop(SOURCE_ROW, []), pa.int64()).to_numpy(
            zero_copy_only=False)
        return pd.DataFrame(out)


def _concat(chunks: list[pa.Array], kind: pa.DataType) -> pa.ChunkedArray:
    return pa.chunked_array(chunks, type=kind)


def _categorical(chunks: list, n: int) -> pd.Categorical:
    """Unify the blocks' dictionaries into one pandas Categorical (smallest code dtype)."""
    if not chunks or chunks[0] is None:
        return pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8), categories=[])
    kind = pa.dictionary(pa.int32(), pa.string())
    table = pa.table({"x": pa.chunked_array(chunks, type=kind)}).unify_dictionaries()
    chunks.clear()
    column = table.column(0)
    if column.num_chunks == 0:
        return pd.Categorical.from_codes(np.zeros(0, dtype=np.int8), categories=[])
    categories = column.chunk(0).dictionary.to_pandas()
    codes = pc.fill_null(pa.chunked_array([c.indices for c in column.chunks]), -1)
    del table, column
    return pd.Categorical.from_codes(codes.to_numpy(), categories=categories)


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
