"""Invalid UTF-8 refused as the bytes stream past, naming the line and the column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from icipredict.cohort.schema import CohortError


class Utf8Checked:
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
        """File protocol: the stream is read."""
        return True

    def seekable(self) -> bool:
        """File protocol: the stream cannot seek."""
        return False

    def read_buffer(self, size: int = -1) -> pa.Buffer:
        """Up to ``size`` bytes (all with -1), checked before they are handed on."""
        data = self._raw.read_buffer(size if size is not None and size >= 0 else None)
        self._check(data)
        return data

    def read(self, size: int = -1) -> bytes:
        """Like :meth:`read_buffer`, as ``bytes``."""
        return self.read_buffer(size).to_pybytes()

    def close(self) -> None:
        """Close the underlying stream."""
        self._raw.close()
        self.closed = True

    def _check(self, data: pa.Buffer) -> None:
        """Validate the complete lines of ``data``; keep its partial last line for the next."""
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
