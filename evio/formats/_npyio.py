"""Streaming reads and writes of ``.npy`` payloads (plain files or zip members), never trusting headers."""

from __future__ import annotations

import struct

import numpy as np

from ..errors import FormatError

NPY_MAGIC = b"\x93NUMPY"


def npy_header(dtype: np.dtype, n: int, total: int | None = None) -> bytes:
    """A version-1.0 ``.npy`` header for a 1-D array of ``n`` items, padded to ``total`` bytes if given."""
    text = "{'descr': %r, 'fortran_order': False, 'shape': (%d,), }" % (np.lib.format.dtype_to_descr(dtype), n)
    if total is None:
        total = 10 + len(text) + 1
        total += (64 - total % 64) % 64
    pad = total - 10 - len(text) - 1
    if pad < 0:
        raise ValueError("npy header does not fit the reserved space")
    text = text + " " * pad + "\n"
    return NPY_MAGIC + b"\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


class NpyStream:
    """Reads a 1-D ``.npy`` payload item by item from a binary stream."""

    def __init__(self, fileobj, name: str, path):
        self.f, self.name, self.path = fileobj, name, path
        try:
            version = np.lib.format.read_magic(fileobj)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fileobj)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fileobj)
            else:
                raise ValueError(f"unsupported npy version {version}")
        except (ValueError, EOFError, OSError, SyntaxError) as exc:
            raise FormatError(f"{name}: bad npy header ({exc})", path) from None
        if dtype.hasobject:
            raise FormatError(f"{name}: object arrays are not event data (and would need pickle)", path)
        self.shape, self.fortran, self.dtype = shape, fortran, dtype
        self.remaining = int(np.prod(shape)) if len(shape) else 1

    def read(self, n: int) -> np.ndarray:
        n = min(int(n), self.remaining)
        nbytes = n * self.dtype.itemsize
        try:
            data = self.f.read(nbytes)
        except Exception as exc:
            raise FormatError(f"{self.name}: cannot read data ({type(exc).__name__}: {exc})", self.path) from None
        if len(data) != nbytes:
            raise FormatError(
                f"{self.name}: truncated, {self.remaining} items announced but the data ends early", self.path
            )
        self.remaining -= n
        return np.frombuffer(data, dtype=self.dtype)

    def close(self) -> None:
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
