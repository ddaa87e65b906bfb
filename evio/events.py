"""The canonical event array and conversion of foreign event arrays into it."""

from __future__ import annotations

import sys
from collections.abc import Mapping

import numpy as np

from . import kernels
from .errors import FormatError

#: One event: ``t`` int64 (µs for camera data, timestep index for synthetic dense data),
#: ``x``/``y`` uint16 pixels (x right, y down, origin top-left), ``p`` bool (True = ON).
EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "?")])

FIELDS = ("t", "x", "y", "p")
#: Field names other libraries use (aedat: ``on``; dv-processing: ``timestamp``, ``polarity``).
FIELD_ALIASES = {"t": ("t", "timestamp", "ts"), "x": ("x",), "y": ("y",), "p": ("p", "polarity", "on", "pol")}
_COORD_MAX = np.iinfo(np.uint16).max
_T_MAX = np.iinfo(np.int64).max


def check_sensor_size(value, *, polarities: tuple[int, ...] = (2,)) -> tuple[int, int, int]:
    """``(W, H)`` or ``(W, H, P)`` in pixels -> ``(W, H, P)``, the one order of every evio function.

    ``W`` and ``H`` lie in 1..65536 (coordinates are uint16); ``P`` (polarity channels, Tonic's third
    element) defaults to 2 and must be one of ``polarities``: where a function cannot honour one
    polarity channel it refuses ``P = 1`` instead of dropping it. Raises ``ValueError``.
    """
    try:
        size = tuple(value)
        ints = tuple(int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"sensor_size must be (W, H) or (W, H, P) in pixels, got {value!r}") from None
    if len(ints) not in (2, 3) or any(i != v for i, v in zip(ints, size)):
        raise ValueError(f"sensor_size must be (W, H) or (W, H, P) in pixels, got {value!r}")
    W, H = ints[:2]
    P = ints[2] if len(ints) == 3 else 2
    if not (0 < W <= _COORD_MAX + 1 and 0 < H <= _COORD_MAX + 1):
        raise ValueError(f"sensor_size (W, H) must lie within 1..65536 pixels, got {value!r}")
    if P not in polarities:
        allowed = " or ".join(str(k) for k in polarities)
        raise ValueError(f"sensor_size P (polarity channels) must be {allowed} here, got {P} in {value!r}")
    return W, H, P


def record_bytes(ev: np.ndarray) -> np.ndarray:
    """The bytes of a contiguous ``EVENT_DTYPE`` array on a little-endian machine (the layout the
    byte-level kernel paths read and write), else, or with ``EVIO_SCALAR_KERNELS=1``
    (``kernels.SCALAR``), an empty uint8 array (the kernels then use the fields)."""
    if ev.dtype != EVENT_DTYPE or not ev.flags.c_contiguous or sys.byteorder != "little" or kernels.SCALAR:
        return np.empty(0, dtype=np.uint8)
    return ev.view(np.uint8)


def empty_events(n: int = 0) -> np.ndarray:
    """A zero-filled event array of length ``n``."""
    return np.zeros(n, dtype=EVENT_DTYPE)


def from_fields(t, x, y, p, *, source=None) -> np.ndarray:
    """Build an ``EVENT_DTYPE`` array from four 1-D arrays, checking every value fits."""
    n = np.asarray(t).shape[0] if np.ndim(t) == 1 else 0
    out = np.empty(n, dtype=EVENT_DTYPE)
    fill_fields(out, t, x, y, p, source=source)
    return out


def fill_fields(out: np.ndarray, t, x, y, p, *, source=None) -> None:
    """Fill the ``EVENT_DTYPE`` array ``out`` from four 1-D arrays of its length, checking every value fits."""
    fields = {"t": np.asarray(t), "x": np.asarray(x), "y": np.asarray(y), "p": np.asarray(p)}
    for name, arr in fields.items():
        if arr.ndim != 1:
            raise FormatError(f"field {name!r} must be 1-D, got shape {arr.shape}", source)
    lengths = {k: len(v) for k, v in fields.items()}
    if len(set(lengths.values())) != 1:
        raise FormatError(f"fields have different lengths {lengths}", source)
    if len(out) != lengths["t"]:
        raise ValueError(f"output holds {len(out)} events, fields hold {lengths['t']}")
    out["t"] = _checked_t(fields["t"], source)
    out["x"] = _checked_coord(fields["x"], "x", source)
    out["y"] = _checked_coord(fields["y"], "y", source)
    out["p"] = _polarity(fields["p"], source)


def as_events(data, *, source=None) -> np.ndarray:
    """Return ``data`` as an ``EVENT_DTYPE`` array (no copy if it already is one).

    Accepts a structured array with fields ``t, x, y, p`` in any order and of any integer
    dtypes (Tonic, expelliarmus, …; the aliases ``timestamp``/``ts`` for ``t`` and
    ``polarity``/``on``/``pol`` for ``p`` used by aedat and dv-processing too) or a mapping of
    four 1-D arrays (SpikingJelly's ``{'t','x','y','p'}``). Polarity ``p > 0`` is ON, so ``{0, 1}`` and ``{-1, 1}`` both work.
    Raises :class:`FormatError` when a value does not fit (negative or > 65535 coordinates,
    non-integer or out-of-range times) instead of wrapping it.
    """
    if isinstance(data, np.ndarray) and data.dtype == EVENT_DTYPE:
        if data.ndim != 1:
            raise FormatError(f"events must be 1-D, got shape {data.shape}", source)
        return data
    if isinstance(data, Mapping) or (hasattr(data, "files") and hasattr(data, "__getitem__")):
        keys = list(data.keys()) if isinstance(data, Mapping) else list(data.files)
        names = _field_names(keys, source)
        return from_fields(*(data[n] for n in names), source=source)
    arr = np.asarray(data)
    if arr.dtype.names is None:
        raise FormatError(
            f"expected a structured array with fields t, x, y, p; got dtype {arr.dtype}", source
        )
    names = _field_names(list(arr.dtype.names), source)
    arr = arr.reshape(-1) if arr.ndim == 0 else arr
    return from_fields(*(arr[n] for n in names), source=source)


def _field_names(available: list, source) -> list:
    """The names holding t, x, y, p among ``available`` (canonical names first, then aliases)."""
    names, missing = [], []
    for f in FIELDS:
        found = next((a for a in FIELD_ALIASES[f] if a in available), None)
        (names if found is not None else missing).append(found if found is not None else f)
    if missing:
        raise FormatError(f"missing event fields {missing}; found {sorted(map(str, available))}", source)
    return names


def _checked_t(t: np.ndarray, source) -> np.ndarray:
    if t.dtype == np.bool_ or not np.issubdtype(t.dtype, np.integer):
        raise FormatError(f"timestamps must be integers (µs or timestep index), got {t.dtype}", source)
    if t.dtype.kind == "u" and t.dtype.itemsize == 8 and len(t) and t.max() > _T_MAX:
        raise FormatError(f"timestamp {int(t.max())} does not fit int64", source)
    return t


def _checked_coord(c: np.ndarray, name: str, source) -> np.ndarray:
    if c.dtype == np.bool_ or not np.issubdtype(c.dtype, np.integer):
        raise FormatError(f"{name} must be integer pixel coordinates, got {c.dtype}", source)
    if len(c) and c.dtype != np.uint16 and c.dtype != np.uint8:
        lo, hi = int(c.min()), int(c.max())
        if lo < 0 or hi > _COORD_MAX:
            bad = lo if lo < 0 else hi
            raise FormatError(f"{name} = {bad} does not fit 0..{_COORD_MAX}", source)
    return c


def _polarity(p: np.ndarray, source) -> np.ndarray:
    if p.dtype == np.bool_:
        return p
    if not (np.issubdtype(p.dtype, np.integer) or np.issubdtype(p.dtype, np.floating)):
        raise FormatError(f"polarity must be bool or numeric, got {p.dtype}", source)
    return p > 0
