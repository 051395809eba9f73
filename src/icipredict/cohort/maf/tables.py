"""Reduced blocks -> the two output tables, numeric columns growing in place, strings merged."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from icipredict.cohort.maf.block import Block, Rows
from icipredict.cohort.maf.layout import GERMLINE, SOMATIC, STRING_COLUMNS, Layout, MafRead
from icipredict.cohort.maf.rules import check_vaf
from icipredict.cohort.maf.text import Text, code_type
from icipredict.cohort.schema import MUTATIONS, SOURCE_ROW

log = logging.getLogger(__name__)

#: Above this many distinct values a string column is Arrow-backed text, not a category.
MAX_CATEGORIES = 1_000_000


class _Growing:
    """A numpy column appended to block by block; grows by doubling (untouched capacity costs
    no memory), so no list of block arrays is kept and no final concatenation copies it."""

    def __init__(self, dtype: type, capacity: int) -> None:
        self.data: np.ndarray = np.empty(max(capacity, 1024), dtype=dtype)
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
        self.text: dict[str, list[Text | None]] = {c: [] for c in STRING_COLUMNS}
        self.start = _Growing(np.int64, capacity)
        self.start_missing = _Growing(np.bool_, capacity)
        self.vaf = _Growing(np.float64, capacity)
        self.lines = _Growing(np.int64, capacity)

    def add(self, rows: Rows) -> None:
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


class Accumulator:
    """Collects the reduced blocks and assembles the two tables at the end."""

    def __init__(self, capacity: int) -> None:
        self.tables = {SOMATIC: _Table(capacity), GERMLINE: _Table(0)}
        self.dropped: Counter = Counter()
        self.n_rows = 0
        self.vaf_max = 0.0

    def add(self, block: Block) -> None:
        """Keep one block's rows."""
        for code, rows in block.kept.items():
            self.tables[code].add(rows)
        self.dropped.update(block.dropped)
        self.n_rows += block.n_rows
        self.vaf_max = max(self.vaf_max, block.vaf_max)

    def result(self, path: Path, layout: Layout, validate: bool) -> MafRead:
        """The two tables, the dropped counts and the number of data rows."""
        percent = layout.vaf is not None and self.vaf_max > 1
        if percent:
            log.info("%s: VAF column %s has values > 1, read as percent", path, layout.vaf)
        tables = {code: self.tables.pop(code).frame(percent) for code in (SOMATIC, GERMLINE)}
        if validate:
            for df in tables.values():
                check_vaf(df, path, layout.source("vaf"))
        return MafRead(mutations=tables[SOMATIC], germline=tables[GERMLINE],
                       dropped=dict(self.dropped), n_rows=self.n_rows, path=path)


def _strings(parts: list[Text | None], n: int) -> pd.Categorical | pd.arrays.ArrowStringArray:
    """One string column of ``n`` rows from the blocks' encodings (one global dictionary)."""
    present = [p for p in parts if p is not None and len(p.codes)]
    if not present:
        return pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8), categories=[])
    values = pa.concat_arrays([p.values for p in present])
    distinct = pc.unique(values)
    where = pc.index_in(values, value_set=distinct).to_numpy(zero_copy_only=False)
    codes: np.ndarray = np.empty(n, dtype=code_type(len(distinct)))
    row = offset = 0
    for p in present:
        remap = np.append(where[offset:offset + len(p.values)], -1).astype(codes.dtype)
        codes[row:row + len(p.codes)] = remap[p.codes]
        row, offset = row + len(p.codes), offset + len(p.values)
        del p.codes  # free each block's codes as soon as they are copied (peak memory)
    if len(distinct) > MAX_CATEGORIES:
        typed = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), distinct)
        return pd.arrays.ArrowStringArray(typed.cast(pa.string()))
    return pd.Categorical.from_codes(codes, categories=pd.Index(distinct.to_pandas()))
