"""CSV text (``t,x,y,p`` header, one event per line) for inspection and interop.

Columns may come in any order (named by the header). Polarity ``1`` is ON; ``0`` and ``-1`` are OFF.
Metadata is written as one leading comment line ``# evio-meta: {json}`` (``pandas.read_csv(...,
comment="#")`` skips it); pass ``store_meta=False`` for a bare CSV.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import FormatError
from ..events import FIELDS, from_fields
from ..kernels import text
from ..registry import FormatSpec
from .base import EventReader, EventWriter, HeaderAfterBody

META_PREFIX = b"# evio-meta: "
_BLOCK = 1 << 22
_MESSAGES = {
    text.PARSE_BAD_CHAR: "unexpected character",
    text.PARSE_FIELD_COUNT: "expected 4 comma-separated values",
    text.PARSE_OVERFLOW: "integer out of int64 range",
    text.PARSE_EMPTY_FIELD: "empty or non-integer value",
}


def _looks_like_csv(path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return False
    for line in head.splitlines():
        if line.startswith(b"#"):
            continue
        names = [n.strip() for n in line.decode("ascii", "replace").split(",")]
        return sorted(names) == sorted(FIELDS)
    return False


class CsvReader(EventReader):
    format_name = "csv"

    def __init__(self, path, **options):
        super().__init__(path, **options)
        self._file = open(self.path, "rb")
        try:
            self._data_start, self._order = self._read_header()
        except BaseException:
            self._file.close()
            raise

    def _read_header(self):
        offset = 0
        while True:
            line = self._file.readline(1 << 20)
            if not line:
                raise FormatError("no header line t,x,y,p", self.path, offset)
            if not line.endswith(b"\n") and len(line) == 1 << 20:
                raise FormatError("header line too long", self.path, offset)
            if line.startswith(META_PREFIX):
                try:
                    meta = json.loads(line[len(META_PREFIX):])
                except ValueError:
                    raise FormatError("evio-meta comment is not valid JSON", self.path, offset) from None
                if not isinstance(meta, dict):
                    raise FormatError("evio-meta comment is not a JSON object", self.path, offset)
                self.meta.update(meta)
                self.meta["format"] = self.format_name
            elif not line.startswith(b"#") and line.strip():
                names = line.strip().decode("ascii", "replace").split(",")
                names = [n.strip() for n in names]
                if sorted(names) != sorted(FIELDS):
                    raise FormatError(f"header must name t, x, y, p; got {line.strip()[:80]!r}", self.path, offset)
                return offset + len(line), [names.index(f) for f in FIELDS]
            offset += len(line)

    def _chunks(self, size):
        self._file.seek(self._data_start)
        offset = self._data_start
        carry = b""
        out = np.empty((size, 4), dtype=np.int64)
        eof = False
        while True:
            block = b"" if eof else self._file.read(_BLOCK)
            if not block and not eof:
                eof = True
            buf = carry + block
            if eof and buf and not buf.endswith(b"\n"):
                buf += b"\n"
            if not buf:
                return
            arr = np.frombuffer(buf, dtype=np.uint8)
            pos = 0
            while True:
                rows, used, err, at = text.parse_rows(arr[pos:], out)
                if err != text.PARSE_OK:
                    line_start = offset + pos + used
                    raise FormatError(f"{_MESSAGES[err]} in the line starting at byte {line_start}",
                                      self.path, offset + pos + int(at))
                if rows:
                    cols = out[:rows]
                    yield from_fields(*(cols[:, j] for j in self._order), source=self.path)
                pos += used
                if rows < size:
                    break
            offset += pos
            carry = buf[pos:]
            if eof:
                if carry.strip():
                    raise FormatError("unparseable trailing data", self.path, offset)
                return
            if len(carry) > 1 << 20:
                raise FormatError("line longer than 1 MiB", self.path, offset)

    def close(self):
        self._file.close()


class CsvWriter(HeaderAfterBody, EventWriter):
    """Options: ``store_meta`` (bool, default True: a leading ``# evio-meta:`` comment line)."""

    format_name = "csv"

    def __init__(self, path, *, store_meta: bool = True, **options):
        self.stores_meta = None if store_meta else ("time_unit",)
        super().__init__(path, **options)
        self.store_meta = bool(store_meta)
        self._open_spool()

    def _write(self, events):
        step = 1 << 16
        for a in range(0, len(events), step):
            part = events[a:a + step]
            buf = np.empty(len(part) * text.MAX_ROW_BYTES, dtype=np.uint8)
            n = text.format_rows(part["t"], part["x"], part["y"], part["p"].view(np.uint8), buf)
            self._body.write(buf[:n].tobytes())

    def _finish(self):
        meta = META_PREFIX + json.dumps(self.final_meta()).encode() + b"\n" if self.store_meta else b""
        self._emit(meta + b"t,x,y,p\n")


FORMAT = FormatSpec(
    name="csv",
    description="CSV text with a t,x,y,p header (one event per line)",
    suffixes=(".csv",),
    sniff=_looks_like_csv,
    reader=CsvReader,
    writer=CsvWriter,
)
