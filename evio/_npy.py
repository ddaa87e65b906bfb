"""``.npy`` headers and payloads, written and parsed in one place, never trusting a header."""

from __future__ import annotations

import ast
import struct
from functools import lru_cache

import numpy as np

from .errors import FormatError

NPY_MAGIC = b"\x93NUMPY"


@lru_cache(maxsize=256)
def npy_header(dtype: np.dtype, n: int, total: int | None = None) -> bytes:
    """A version-1.0 ``.npy`` header for a 1-D array of ``n`` items, padded to ``total`` bytes if given
    (else to a multiple of 64, byte for byte as ``np.save``)."""
    text = "{'descr': %r, 'fortran_order': False, 'shape': (%d,), }" % (np.lib.format.dtype_to_descr(dtype), n)
    if total is None:
        total = 10 + len(text) + 1
        total += (64 - total % 64) % 64
    pad = total - 10 - len(text) - 1
    if pad < 0:
        raise ValueError("npy header does not fit the reserved space")
    text = text + " " * pad + "\n"
    return NPY_MAGIC + b"\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def read_header(f, name: str, path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the ``.npy`` header at the position of the binary stream
    ``f``, which is left at the first data byte. :class:`FormatError` (``name: ...``) for a bad header
    or an object dtype (which would need pickle)."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported npy version {version}")
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise FormatError(f"{name}: bad npy header ({exc})", path) from None
    if dtype.hasobject:
        raise FormatError(f"{name}: object arrays are not event data (and would need pickle)", path)
    return shape, fortran, dtype


class NpyStream:
    """Reads a 1-D ``.npy`` payload item by item from a binary stream."""

    def __init__(self, fileobj, name: str, path):
        self.f, self.name, self.path = fileobj, name, path
        self.shape, self.fortran, self.dtype = read_header(fileobj, name, path)
        self.remaining = int(np.prod(self.shape)) if len(self.shape) else 1

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


@lru_cache(maxsize=256)
def _u8_header(head: bytes) -> tuple[int, int]:
    """``(data_offset, n)`` of a 1-D ``|u1`` npy; ``head`` holds the magic and header."""
    if not head.startswith(NPY_MAGIC):
        raise ValueError("not npy bytes (no \\x93NUMPY magic)")
    major = head[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", head[8:10]), 10
    elif major in (2, 3):
        (hlen,), start = struct.unpack("<I", head[8:12]), 12
    else:
        raise ValueError(f"unsupported npy version {major}")
    text = head[start:start + hlen]
    if len(text) != hlen:
        raise ValueError("npy header is truncated")
    try:
        d = ast.literal_eval(text.decode("latin1"))
    except (ValueError, SyntaxError):
        raise ValueError("npy header is not a valid dict") from None
    if not isinstance(d, dict) or np.dtype(d.get("descr", "O")) != np.uint8 or d.get("fortran_order"):
        raise ValueError(f"npy header must describe a 1-D uint8 array, got {d!r}")
    shape = d.get("shape")
    if not (isinstance(shape, tuple) and len(shape) == 1 and isinstance(shape[0], int)):
        raise ValueError(f"npy array must be 1-D, got shape {shape!r}")
    return start + hlen, shape[0]


def u8_payload(data) -> memoryview:
    """The data of the ``.npy`` bytes ``data`` of a 1-D uint8 array, checked against its header
    (``ValueError`` when they disagree)."""
    mv = memoryview(data).cast("B")
    if len(mv) < 10 or len(mv) < 12 and mv[6] != 1:
        raise ValueError(f"{len(mv)} bytes are too short for npy")
    hlen = struct.unpack("<H", mv[8:10])[0] if mv[6] == 1 else struct.unpack("<I", mv[8:12])[0]
    offset, n = _u8_header(bytes(mv[: min(len(mv), 12 + hlen)]))
    if len(mv) - offset != n:
        raise ValueError(f"npy header announces {n} bytes, {len(mv) - offset} follow")
    return mv[offset:]
