"""I2E packed samples: the ``.npy`` bytes stored in the ``data`` column of the I2E Hugging Face shards.

Layout of one sample: a ``.npy`` file (v1.0) holding a 1-D uint8 array whose first 8 bytes are
``(T, C, H, W)`` as little-endian uint16 and whose rest is ``np.packbits`` of the boolean tensor
(MSB first, C order, zero-padded to a whole byte). I2E uses C = 2 with channel 0 = ON.

``dumps``/``loads`` work on those ``.npy`` bytes; ``pack``/``unpack`` on the raw uint8 payload
(header + body) without the ``.npy`` wrapper.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence

import numpy as np

from ._npy import npy_header, u8_payload
from ._torch import as_numpy, is_torch
from .errors import FormatError
from .kernels import dense as kernels

#: Bytes of the ``(T, C, H, W)`` uint16 shape header in front of the packed body.
HEADER_BYTES = 8
_U1 = np.dtype(np.uint8)
_DTYPES = {bool: np.bool_, np.bool_: np.bool_, np.uint8: np.uint8, np.float32: np.float32,
           np.float64: np.float64, np.float16: np.float16, np.int8: np.int8}


# -- writing -------------------------------------------------------------------------------------

def pack(dense) -> np.ndarray:
    """bool ``[T, C, H, W]`` -> raw uint8 payload: 4 x uint16 LE shape, then ``np.packbits`` body."""
    arr = as_numpy(dense)
    if arr.ndim != 4:
        raise ValueError(f"expected a [T, C, H, W] tensor, got shape {arr.shape}")
    if max(arr.shape) > 65535:
        raise ValueError(f"every dimension must fit uint16, got shape {arr.shape}")
    header = np.asarray(arr.shape, dtype="<u2").view(np.uint8)
    body = np.packbits(np.ascontiguousarray(arr, dtype=bool).reshape(-1))
    return np.concatenate([header, body])


def dumps(dense):
    """``[T, C, H, W]`` -> the ``.npy`` bytes of one I2E sample, byte for byte as the published shards.

    A ``[N, T, C, H, W]`` batch gives a list of ``N`` byte strings.
    """
    arr = as_numpy(dense)
    if arr.ndim == 5:
        return [dumps(a) for a in arr]
    raw = pack(arr)
    return npy_header(_U1, len(raw)) + raw.tobytes()


# -- reading -------------------------------------------------------------------------------------

def shape_of(raw) -> tuple[int, int, int, int]:
    """``(T, C, H, W)`` of a raw payload (header + body), checked against the body length."""
    mv = memoryview(raw).cast("B")
    if len(mv) < HEADER_BYTES:
        raise ValueError(f"payload of {len(mv)} bytes has no 8-byte shape header")
    shape = _SHAPE.unpack_from(mv)
    n = shape[0] * shape[1] * shape[2] * shape[3]
    body = len(mv) - HEADER_BYTES
    if body != (n + 7) // 8:
        raise ValueError(f"header shape {shape} needs {(n + 7) // 8} body bytes, found {body}")
    return shape


_SHAPE = struct.Struct("<4H")
_DTYPE_CACHE: dict = {}


def decoded_dtype(dtype) -> np.dtype:
    """The NumPy dtype :func:`loads` and :func:`unpack` decode to for ``dtype`` (bool, uint8, int8, float16,
    float32 or float64); ``ValueError`` for any other."""
    try:
        return _DTYPE_CACHE[dtype]
    except (KeyError, TypeError):
        pass
    key = dtype if dtype in _DTYPES else np.dtype(dtype).type
    if key not in _DTYPES:
        raise ValueError(f"unsupported output dtype {dtype!r}; use bool, uint8, int8, float16, float32 or float64")
    result = np.dtype(_DTYPES[key])
    try:
        _DTYPE_CACHE[dtype] = result
    except TypeError:
        pass
    return result


def checked_out(out, shape, dtype):
    """``(NumPy view, out)`` of a caller's ``out`` (NumPy array or CPU torch tensor) of ``shape``, checked, to
    decode into in its own dtype."""
    arr = as_numpy(out) if is_torch(out) else out
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"out must be a NumPy array or a CPU torch tensor, got {type(out).__name__}")
    decoded_dtype(arr.dtype.type)
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"out has shape {tuple(arr.shape)}, expected {tuple(shape)}")
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        raise ValueError("out must be C-contiguous and writeable")
    return arr, out


def unpack(raw, dtype=bool, out=None):
    """Raw payload (header + body) -> ``[T, C, H, W]`` of ``dtype`` (or into ``out``).

    A sequence of payloads, or a 2-D uint8 array of equal-length payloads, gives ``[N, T, C, H, W]``.
    """
    dtype = decoded_dtype(dtype)
    if isinstance(raw, np.ndarray) and raw.ndim == 2:
        raw = list(raw)
    if isinstance(raw, (list, tuple)):
        return _unpack_many([memoryview(np.ascontiguousarray(r) if isinstance(r, np.ndarray) else r).cast("B")
                             for r in raw], dtype, out, "payload")
    mv = memoryview(np.ascontiguousarray(raw) if isinstance(raw, np.ndarray) else raw).cast("B")
    return _unpack_one(mv, dtype, out)


def _unpack_one(mv: memoryview, dtype: np.dtype, out):
    shape = _checked_shape(mv, "payload")
    if out is None:
        arr = handle = np.empty(shape, dtype=dtype)
    else:
        arr, handle = checked_out(out, shape, dtype)
    body = np.frombuffer(mv, dtype=np.uint8, offset=HEADER_BYTES)
    unpack_bodies(body[None], np.zeros(1, np.int64), shape, arr.reshape(1, -1))
    return handle


def unpack_bodies(bodies: np.ndarray, offsets: np.ndarray, shape, flat: np.ndarray) -> None:
    """Unpack the bit-packed body of sample ``i`` (at ``bodies.ravel()[offsets[i]:]``, ``n = T*C*H*W`` bits of
    ``shape``) into row ``i`` of ``flat [N, n]`` (bool, uint8, float16 or float32)."""
    n = shape[0] * shape[1] * shape[2] * shape[3]
    bodies = bodies.reshape(-1)
    if flat.dtype == np.float32 and n % 2 == 0:
        words = flat[:, : 8 * (n // 8)].view(np.uint64)
        kernels.unpack_bits_f32_batch(bodies, offsets, n, flat, words, kernels.F32_WORDS)
    elif flat.dtype == np.float16:
        tmp = np.empty(flat.shape, np.uint8)
        kernels.unpack_bits_batch(bodies, offsets, n, tmp)
        np.copyto(flat, tmp)
    else:
        kernels.unpack_bits_batch(bodies, offsets, n, flat.view(np.uint8) if flat.dtype.kind == "b" else flat)


def loads(data, dtype=bool, out=None):
    """``.npy`` bytes of one I2E sample -> ``[T, C, H, W]`` of ``dtype`` (``bool``, ``np.uint8``, ``np.float32``…).

    A sequence of samples gives ``[N, T, C, H, W]``; all must share one shape. ``out`` may be a
    preallocated NumPy array or CPU torch tensor of the right shape; it is filled in its own dtype
    (``dtype`` is then ignored) and returned.
    Raises :class:`FormatError` when a header disagrees with its body.
    """
    dtype = decoded_dtype(dtype)
    if isinstance(data, (list, tuple)):
        payloads = []
        for i, item in enumerate(data):
            try:
                payloads.append(u8_payload(item))
            except ValueError as exc:
                raise FormatError(f"sample {i}: {exc}") from None
        return _unpack_many(payloads, dtype, out, "sample")
    try:
        payload = u8_payload(data)
    except ValueError as exc:
        raise FormatError(str(exc)) from None
    return _unpack_one(payload, dtype, out)


def _checked_shape(mv: memoryview, what: str):
    try:
        return shape_of(mv)
    except ValueError as exc:
        raise FormatError(f"{what}: {exc}") from None


def _unpack_many(payloads: Sequence[memoryview], dtype, out, what: str):
    if not payloads:
        raise ValueError("no samples to decode")
    shape = _checked_shape(payloads[0], f"{what} 0")
    size = len(payloads[0])
    for i, mv in enumerate(payloads):
        if len(mv) != size or bytes(mv[:HEADER_BYTES]) != bytes(payloads[0][:HEADER_BYTES]):
            other = _checked_shape(mv, f"{what} {i}")
            raise FormatError(f"{what} {i} has shape {other}, {what} 0 has {shape}; a batch needs one shape")
    if out is None:
        arr = handle = np.empty((len(payloads), *shape), dtype=dtype)
    else:
        arr, handle = checked_out(out, (len(payloads), *shape), dtype)
    bodies = np.concatenate([np.frombuffer(mv, np.uint8) for mv in payloads])
    offsets = np.arange(len(payloads), dtype=np.int64) * size + HEADER_BYTES
    unpack_bodies(bodies, offsets, shape, arr.reshape(len(payloads), -1))
    return handle


def readme_decode(data: bytes) -> np.ndarray:
    """The decoder from the I2E dataset card, kept verbatim in behaviour as a reference and benchmark baseline."""
    raw_data = np.load(io.BytesIO(data))
    shape_header = raw_data[:HEADER_BYTES].view(np.uint16)
    original_shape = tuple(shape_header)
    unpacked = np.unpackbits(raw_data[HEADER_BYTES:])
    return unpacked[: np.prod(original_shape)].reshape(original_shape).astype(np.float32).copy()
