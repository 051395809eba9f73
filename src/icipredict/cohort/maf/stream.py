"""Reading a MAF file: stream it block by block with pyarrow, and the public :func:`read_maf`."""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from icipredict.cohort.maf.block import reduce_block
from icipredict.cohort.maf.layout import NUMERIC_COLUMNS, Layout, MafRead, is_gzip, read_layout
from icipredict.cohort.maf.tables import Accumulator
from icipredict.cohort.maf.utf8 import Utf8Checked
from icipredict.cohort.schema import CohortError

log = logging.getLogger(__name__)

#: Bytes parsed per block: bounds the memory of the reader.
BLOCK_SIZE = 8 << 20
#: Let pyarrow parse the next block while this one is processed.
USE_THREADS = True
#: Hand Arrow's freed block memory back to the system every this many blocks.
RELEASE_EVERY = 8


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
    gz = is_gzip(path)
    layout = read_layout(path, gz)
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


def _read_blocks(path: Path, gz: bool, layout: Layout, validate: bool,
                 typed: bool) -> Accumulator:
    """Stream the file block by block into an accumulator."""
    acc = Accumulator(_expected_rows(path, gz))
    next_line = layout.first_data_line
    try:
        with _open_reader(path, gz, layout, typed) as reader:
            for i, batch in enumerate(reader):
                acc.add(reduce_block(batch, next_line, layout, path, validate))
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


def _open_reader(path: Path, gz: bool, layout: Layout,
                 typed: bool) -> pacsv.CSVStreamingReader:
    """A streaming reader of the wanted columns, one row per line.

    Strings come dictionary-encoded; with ``typed``, numbers are parsed by the reader (fast; a
    bad number fails the block without a row, so the caller then re-reads untyped).
    """
    raw = pa.input_stream(str(path), compression="gzip" if gz else None)
    return pacsv.open_csv(
        Utf8Checked(raw, path, layout.header),
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
    if column not in NUMERIC_COLUMNS:
        return pa.dictionary(pa.int32(), pa.string())
    if not typed:
        return pa.string()
    return pa.int64() if column == "Start_Position" else pa.float64()


def _locate_ragged(path: Path, gz: bool, layout: Layout, exc: Exception) -> CohortError:
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
