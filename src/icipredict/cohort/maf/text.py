"""One string column of a block, dictionary-encoded: checks run on its few distinct values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class Text:
    """A string column of one block, dictionary-encoded: per-row codes (-1 = empty) and values.

    Values are trimmed and distinct, so checks run on the few distinct values, not on the rows.
    """

    codes: np.ndarray
    values: pa.Array

    @classmethod
    def of(cls, column: pa.Array) -> Text:
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

    def take(self, mask: np.ndarray) -> Text:
        """The rows where ``mask`` holds, codes in the smallest integer type."""
        return Text(codes=self.codes[mask].astype(code_type(len(self.values))),
                    values=self.values)


def code_type(n_values: int) -> type:
    """Smallest signed integer type holding codes 0..n_values-1 and -1."""
    for kind in (np.int8, np.int16, np.int32):
        if n_values < np.iinfo(kind).max:
            return kind
    return np.int64
