"""``.npy`` structured event arrays (fields ``t``, ``x``, ``y``, ``p`` of any integer dtypes, any order).

Reads Tonic-, expelliarmus- or evio-style structured arrays memory-mapped, so iteration stays in
bounded memory; a plain ``[N, 4]`` integer array is read when ``columns`` names its columns
(e.g. ``columns="txyp"``). Writes ``EVENT_DTYPE``. The format holds no metadata: writing warns
(:class:`evio.LossWarning`) when a sensor size or other metadata would be lost.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE, FIELDS, from_fields
from ..registry import FormatSpec
from .._npy import NPY_MAGIC, npy_header
from .base import EventReader, EventWriter

_RESERVED_HEADER = 128


class NpyReader(EventReader):
    format_name = "npy"

    def __init__(self, path, *, columns: str | None = None, **options):
        super().__init__(path, **options)
        try:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise FormatError(f"cannot read npy ({exc})", self.path) from None
        if not isinstance(arr, np.ndarray):
            raise FormatError("not an npy array", self.path)
        with open(self.path, "rb") as f:
            major, minor = np.lib.format.read_magic(f)
        self.version = f"npy {major}.{minor}"
        if arr.dtype.names is not None:
            missing = [f for f in FIELDS if f not in arr.dtype.names]
            if missing:
                raise FormatError(f"structured array lacks fields {missing}; has {list(arr.dtype.names)}", self.path)
            if arr.ndim != 1:
                raise FormatError(f"event array must be 1-D, has shape {arr.shape}", self.path)
            self._cols = {f: arr[f] for f in FIELDS}
        elif arr.ndim == 2 and arr.shape[1] == 4 and arr.dtype.kind in "iu":
            if columns is None or sorted(columns) != sorted("txyp"):
                raise FormatError(
                    f"plain {arr.shape} integer array: pass columns= naming its columns, e.g. columns='txyp'",
                    self.path)
            self._cols = {f: arr[:, columns.index(f)] for f in FIELDS}
        else:
            raise FormatError(
                f"expected a structured event array (fields t, x, y, p), got dtype {arr.dtype} "
                f"shape {arr.shape}", self.path)
        self.count = len(self._cols["t"])

    def _chunks(self, size):
        for a in range(0, self.count, size):
            yield from_fields(*(np.array(self._cols[f][a:a + size]) for f in FIELDS), source=self.path)

    def close(self):
        self._cols = {}


class NpyWriter(EventWriter):
    format_name = "npy"
    stores_meta = ("time_unit",)

    def __init__(self, path, **options):
        super().__init__(path, **options)
        self._file = open(self.tmp_path, "wb")
        self._file.write(b"\0" * _RESERVED_HEADER)

    def _write(self, events):
        self._file.write(events.tobytes())

    def _finish(self):
        self._file.seek(0)
        self._file.write(npy_header(EVENT_DTYPE, self.summary.count, total=_RESERVED_HEADER))
        self._file.close()

    def _release(self):
        self._file.close()


FORMAT = FormatSpec(
    name="npy",
    description="NumPy .npy structured array with fields t, x, y, p",
    suffixes=(".npy",),
    magic=(NPY_MAGIC,),
    reader=NpyReader,
    writer=NpyWriter,
)
