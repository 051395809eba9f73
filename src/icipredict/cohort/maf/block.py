"""One block of rows: encode, check, classify (somatic, germline, dropped) and reduce."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from icipredict.cohort.maf.layout import (
    DROPPED,
    GERMLINE,
    NUMERIC_COLUMNS,
    SOMATIC,
    STRING_COLUMNS,
    Layout,
)
from icipredict.cohort.maf.rules import start_positions, strict_errors, vaf_values
from icipredict.cohort.maf.text import Text
from icipredict.cohort.schema import CohortErrors


@dataclass
class Rows:
    """Kept rows of one block for one table: string columns, positions, VAF, source lines."""

    text: dict[str, Text | None]
    start: np.ndarray
    start_missing: np.ndarray
    vaf: np.ndarray
    lines: np.ndarray


@dataclass
class Block:
    """One block reduced: kept rows per table, dropped counts, rows read and the largest VAF."""

    kept: dict[int, Rows]
    dropped: Counter
    n_rows: int
    vaf_max: float


def reduce_block(batch: pa.RecordBatch, first_line: int, layout: Layout, path: Path,
                 validate: bool) -> Block:
    """Check, classify and reduce one block of rows starting at file line ``first_line``."""
    text = {name: Text.of(batch.column(name)) for name in batch.schema.names
            if name not in NUMERIC_COLUMNS}
    raw = {name: batch.column(name) for name in batch.schema.names if name in NUMERIC_COLUMNS}
    lines = np.arange(first_line, first_line + batch.num_rows, dtype=np.int64)
    blank = _blank(text, raw, batch.num_rows)
    if blank is not None:
        text = {k: v.take(~blank) for k, v in text.items()}
        raw = {k: v.filter(pa.array(~blank)) for k, v in raw.items()}
        lines = lines[~blank]
    errors = strict_errors(text, lines, path) if validate else []
    kind, dropped = _classify(text, len(lines))
    start, start_missing = start_positions(raw.get("Start_Position"), lines, path, validate,
                                           errors)
    vaf = vaf_values(raw, layout, lines, path, errors)
    if errors:
        errors.sort(key=lambda e: e.row or 0)
        raise errors[0] if len(errors) == 1 else CohortErrors(errors)
    kept = {}
    for code in (SOMATIC, GERMLINE):
        mask = kind == code
        kept[code] = Rows(
            text={c: text[src].take(mask) if src in text else None
                  for c, src in _string_sources(layout).items()},
            start=start[mask], start_missing=start_missing[mask], vaf=vaf[mask],
            lines=lines[mask])
    vmax = float(np.nanmax(vaf)) if layout.vaf is not None and np.isfinite(vaf).any() else 0.0
    return Block(kept=kept, dropped=dropped, n_rows=len(lines), vaf_max=vmax)


def _string_sources(layout: Layout) -> dict[str, str]:
    """Canonical string column -> MAF column it is read from."""
    return {c: layout.source(c) for c in STRING_COLUMNS}


def _blank(text: dict[str, Text], raw: dict[str, pa.Array], n: int) -> np.ndarray | None:
    """Rows with every read column empty (blank lines), or None when there are none."""
    if not text["Tumor_Sample_Barcode"].empty.any():
        return None
    blank = np.ones(n, dtype=bool)
    for column in text.values():
        blank &= column.empty
    for values in raw.values():
        blank &= pc.is_null(values).to_numpy(zero_copy_only=False)
    return blank if blank.any() else None


def _classify(text: dict[str, Text], n: int) -> tuple[np.ndarray, Counter]:
    """Per row SOMATIC, GERMLINE or DROPPED; the dropped rows counted by reason."""
    kind = np.full(n, SOMATIC, dtype=np.int8)
    dropped: Counter = Counter()
    status = text.get("Mutation_Status")
    if status is not None:
        lower = pc.utf8_lower(status.values)
        kind[~status.rows(pc.equal(lower, "somatic"), empty=True)] = DROPPED
        kind[status.rows(pc.equal(lower, "germline"))] = GERMLINE
    validation = text.get("Validation_Status")
    wild = np.zeros(n, dtype=bool)
    if validation is not None:
        wild = validation.rows(pc.equal(pc.utf8_lower(validation.values), "wildtype"))
        if wild.any():
            dropped.update(_reasons("Validation_Status", validation, wild))
    bad_status = (kind == DROPPED) & ~wild
    if status is not None and bad_status.any():  # only Mutation_Status has dropped rows yet
        dropped.update(_reasons("Mutation_Status", status, bad_status))
    kind[wild] = DROPPED
    return kind, dropped


def _reasons(column: str, values: Text, rows: np.ndarray) -> Counter:
    """``"<column>=<value>"`` -> number of ``rows`` with that value."""
    counts = np.bincount(values.codes[rows], minlength=len(values.values))
    names = values.values.to_pylist()
    return Counter({f"{column}={names[i]}": int(c) for i, c in enumerate(counts) if c})
