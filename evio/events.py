"""The canonical event array and conversion of foreign event arrays into it."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errors import FormatError

#: One event: ``t`` int64 (µs for camera data, timestep index for synthetic dense data),
#: ``x``/``y`` uint16 pixels (x right, y down, origin top-left), ``p`` bool (True = ON).
EVENT_DTYPE = np.dtype([("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "?")])

FIELDS = ("t", "x", "y", "p")
_COORD_MAX = np.iinfo(np.uint16).max
_T_MAX = np.iinfo(np.int64).max


def empty_events(n: int = 0) -> np.ndarray:
    """A zero-filled event array of length ``n``."""
    return np.zeros(n, dtype=EVENT_DTYPE)


def from_fields(t, x, y, p, *, source=None) -> np.ndarray:
    """Build an ``EVENT_DTYPE`` array from four 1-D arrays, checking every value fits."""
    fields = {"t": np.asarray(t), "x": np.asarray(x), "y": np.asarray(y), "p": np.asarray(p)}
    n = None
    for name, arr in fields.items():
        if arr.ndim != 1:
            raise FormatError(f"field {name!r} must be 1-D, got shape {arr.shape}", source)
        if n is None:
            n = len(arr)
        elif len(arr) != n:
            lengths = {k: len(v) for k, v in fields.items()}
            raise FormatError(f"fields have different lengths {lengths}", source)
    out = np.empty(n, dtype=EVENT_DTYPE)
    out["t"] = _checked_t(fields["t"], source)
    out["x"] = _checked_coord(fields["x"], "x", source)
    out["y"] = _checked_coord(fields["y"], "y", source)
    out["p"] = _polarity(fields["p"], source)
    return out


def as_events(data, *, source=None) -> np.ndarray:
    """Return ``data`` as an ``EVENT_DTYPE`` array (no copy if it already is one).

    Accepts a structured array with fields ``t, x, y, p`` in any order and of any integer
    dtypes (Tonic, expelliarmus, aedat, …) or a mapping of four 1-D arrays (SpikingJelly's
    ``{'t','x','y','p'}``). Polarity ``p > 0`` is ON, so ``{0, 1}`` and ``{-1, 1}`` both work.
    Raises :class:`FormatError` when a value does not fit (negative or > 65535 coordinates,
    non-integer or out-of-range times) instead of wrapping it.
    """
    if isinstance(data, np.ndarray) and data.dtype == EVENT_DTYPE:
        if data.ndim != 1:
            raise FormatError(f"events must be 1-D, got shape {data.shape}", source)
        return data
    if isinstance(data, Mapping) or (hasattr(data, "files") and hasattr(data, "__getitem__")):
        keys = list(data.keys()) if isinstance(data, Mapping) else list(data.files)
        missing = [f for f in FIELDS if f not in keys]
        if missing:
            raise FormatError(f"missing event fields {missing}; found {sorted(keys)}", source)
        return from_fields(*(data[f] for f in FIELDS), source=source)
    arr = np.asarray(data)
    if arr.dtype.names is None:
        raise FormatError(
            f"expected a structured array with fields t, x, y, p; got dtype {arr.dtype}", source
        )
    missing = [f for f in FIELDS if f not in arr.dtype.names]
    if missing:
        raise FormatError(f"missing event fields {missing}; found {list(arr.dtype.names)}", source)
    arr = arr.reshape(-1) if arr.ndim == 0 else arr
    return from_fields(*(arr[f] for f in FIELDS), source=source)


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
