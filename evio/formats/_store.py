"""Chunked, compressed, time-indexed event stores (the shared logic of HDF5 and zarr).

Layout (DSEC-style, see docs/formats/hdf5.md)::

    events/t   int64   t - t_offset (µs, or timestep index)
    events/x   uint16  pixels
    events/y   uint16  pixels
    events/p   uint8   1 = ON, 0 = OFF
    t_offset   int64   scalar, added to events/t on read
    ms_to_idx  uint64  ms_to_idx[m] = first event with t - t_offset >= m * 1000, last entry = event count
               (named ``time_index`` with attribute ``time_index_bin_width`` when a coarser bin was needed)

Root attributes: ``sensor_size`` [W, H], ``time_unit``, ``event_count``, ``on_count``, ``t_min``,
``t_max``, ``sorted_by_t``, ``evio_meta`` (all metadata as JSON), ``evio_layout``.

Layouts written by other tools are recognised without options (:data:`LAYOUTS`); a field may be a
1-D dataset, a column of an N x K dataset (MVSEC) or a member of a compound dataset (Prophesee).
Float timestamps are seconds unless ``time_unit=`` says otherwise, and become integer µs rounded
to the nearest (halves up).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator

import numpy as np

from ..errors import FormatError, IndexWarning
from ..events import EVENT_DTYPE, FIELDS, empty_events, fill_fields
from ..kernels.summary import Summary
from ..kernels.time_index import DEFAULT_BIN_WIDTH, TimeIndexBuilder, window_bounds
from .base import DEFAULT_CHUNK_SIZE, EventReader, EventWriter

LAYOUT = "evio-events-1"
DEFAULT_CHUNK_LENGTH = 1 << 16
#: Window searches read the t values of both boundary brackets at once when they span fewer events.
_MERGED_T_READ = 1 << 22
_STORED_DTYPES = {"t": np.dtype("<i8"), "x": np.dtype("<u2"), "y": np.dtype("<u2"), "p": np.dtype("u1")}
_DEFAULT_FIELDS = {f: f"events/{f}" for f in FIELDS}
#: ``time_unit=`` of the stored t -> (multiplier, divisor) giving µs.
TIME_UNITS = {"s": (1_000_000, 1), "ms": (1000, 1), "us": (1, 1), "ns": (1, 1000)}
#: Layouts recognised without ``fields=``, tried in this order: name -> (what it is, t, x, y, p). A
#: field is a dataset path, or ``(path, column)`` of an N x K dataset, or ``(path, member)`` of a
#: compound dataset. evio's own files and the ``events/`` group are named by :meth:`StoreReader._layout_name`.
LAYOUTS = {
    "events": ("events/{t,x,y,p} (evio, DSEC, TUM-VIE, eTraM)", *_DEFAULT_FIELDS.values()),
    "evlib": ("events/{ts,xs,ys,ps}, ts in float µs (evlib.save_events_to_hdf5)",
              "events/ts", "events/xs", "events/ys", "events/ps"),
    "raw_events": ("raw_events/{t,x,y,p}, t in float s (event-vision-library, evlib-style exports)",
                   "raw_events/t", "raw_events/x", "raw_events/y", "raw_events/p"),
    "mvsec": ("MVSEC davis/left/events, N x 4 [x, y, t s, p]",
              ("davis/left/events", 2), ("davis/left/events", 0), ("davis/left/events", 1),
              ("davis/left/events", 3)),
    "prophesee": ("Prophesee Metavision CD/events {x, y, p, t} (ECF codec)",
                  ("CD/events", "t"), ("CD/events", "x"), ("CD/events", "y"), ("CD/events", "p")),
    "top-level": ("top-level t, x, y, p", "t", "x", "y", "p"),
    "top-level-named": ("top-level timestamp, x, y, polarity", "timestamp", "x", "y", "polarity"),
}
#: Names of the ``events/`` layouts and of ``fields=``, beside those of :data:`LAYOUTS`.
_LAYOUT_DESCRIPTIONS = {"evio": "events/{t,x,y,p} + t_offset + ms_to_idx (evio)",
                        "dsec": "events/{x,y,t,p} + t_offset (+ ms_to_idx) (DSEC, eTraM)",
                        "tum-vie": "events/{x,y,t,p} + ms_to_idx (TUM-VIE)",
                        "fields": "the fields= mapping"}
#: The unit of a float t where a layout's writer has its own (else float t is seconds).
LAYOUT_FLOAT_TIME_UNITS = {"evlib": "us"}


class StoreReader(EventReader):
    """Reads an event store; subclasses provide ``_open_root`` and may add ``_verify``."""

    def __init__(self, path, *, chunk_size: int = DEFAULT_CHUNK_SIZE, fields: dict | None = None,
                 time_unit: str | None = None):
        super().__init__(path, chunk_size=chunk_size)
        if time_unit is not None and time_unit not in TIME_UNITS:
            raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, got {time_unit!r}")
        self._root = None
        self._block = None
        try:
            self._root = self._open_root()
            self._setup(fields, time_unit)
        except BaseException:
            self.close()
            raise

    # -- worker safety: the open root belongs to one process; pickles and forks reopen it --------
    def _handles(self) -> tuple:
        root, arrays, pid = self.__dict__.get("_store_handles", (None, None, None))
        if root is not None and pid != os.getpid():
            root = self._open_root()
            arrays = {f: root[path] for f, (path, _) in self._mapping.items()}
            self.__dict__["_store_handles"] = (root, arrays, os.getpid())
        return root, arrays

    @property
    def _root(self):
        return self._handles()[0]

    @_root.setter
    def _root(self, root) -> None:
        self.__dict__["_store_handles"] = (root, None, os.getpid())

    @property
    def _arrays(self):
        return self._handles()[1]

    @_arrays.setter
    def _arrays(self, arrays) -> None:
        root, _, pid = self.__dict__["_store_handles"]
        self.__dict__["_store_handles"] = (root, arrays, pid)

    def __getstate__(self):
        state = dict(self.__dict__)
        if state.get("_store_handles", (None,))[0] is not None:
            state["_store_handles"] = ("reopen", None, None)
        state["_block"] = None
        return state

    # -- backend hooks ---------------------------------------------------------------------
    def _open_root(self):
        raise NotImplementedError

    def _verify(self, arrays: dict) -> None:
        """Extra integrity checks on an evio-written store (e.g. that every chunk exists);
        ``arrays`` maps each stored path (``events/t``, ``ms_to_idx``, ...) to its array."""

    def _close_root(self) -> None:
        pass

    def _check_readable(self, path: str, arr) -> None:
        """Raise :class:`FormatError` naming what is missing when ``arr`` cannot be decoded (a codec)."""

    # -- layout ----------------------------------------------------------------------------
    def _contains(self, name: str) -> bool:
        try:
            return name in self._root
        except Exception:
            return False

    def _pick_fields(self, fields: dict | None) -> tuple[dict, str]:
        """``({field: (path, column or member or None)}, layout name)``."""
        if fields is not None:
            unknown = set(fields) - set(FIELDS)
            if unknown:
                raise ValueError(f"fields= maps t, x, y, p to dataset paths; unknown keys {sorted(unknown)}")
            mapping = {f: _field_spec(v) for f, v in {**_DEFAULT_FIELDS, **fields}.items()}
            layout = "fields"
        else:
            for layout, (_, *paths) in LAYOUTS.items():
                mapping = {f: _field_spec(v) for f, v in zip(FIELDS, paths)}
                if all(self._contains(path) for path, _ in mapping.values()):
                    break
            else:
                raise FormatError(
                    "no events found: expected datasets events/{t,x,y,p}, raw_events/{t,x,y,p}, "
                    "davis/left/events (MVSEC), CD/events (Prophesee) or t, x, y, p at the top level; "
                    "pass fields={...} for other layouts", self.path)
        missing = sorted({path for path, _ in mapping.values() if not self._contains(path)})
        if missing:
            raise FormatError(f"missing datasets {missing}", self.path)
        return mapping, layout

    def _field_length(self, f: str, arr, path: str, key) -> int:
        """Events in field ``f`` stored at ``path`` (``key``: column or member); checks shape and dtype."""
        shape, dtype = tuple(arr.shape), arr.dtype
        where = path if key is None else f"{path}[{key!r}]"
        if isinstance(key, int):
            if len(shape) != 2 or not 0 <= key < shape[1]:
                raise FormatError(f"dataset {path} must be 2-D with a column {key}, has shape {shape}", self.path)
        elif len(shape) != 1:
            raise FormatError(f"dataset {path} must be 1-D, has shape {shape}", self.path)
        if isinstance(key, str):
            if dtype.names is None or key not in dtype.names:
                raise FormatError(f"dataset {path} has no member {key!r} (members {dtype.names})", self.path)
            dtype = dtype[key]
        if dtype.kind not in "biuf":
            raise FormatError(f"dataset {where} must hold numbers, has dtype {dtype}", self.path)
        return int(shape[0])

    def _setup(self, fields, time_unit) -> None:
        mapping, layout = self._pick_fields(fields)
        arrays = {f: self._root[path] for f, (path, _) in mapping.items()}
        lengths = {f: self._field_length(f, arrays[f], *mapping[f]) for f in FIELDS}
        if len(set(lengths.values())) != 1:
            raise FormatError(f"event datasets have different lengths {lengths}", self.path)
        for path in sorted({path for path, _ in mapping.values()}):
            self._check_readable(path, self._root[path])
        self._mapping = mapping
        self._arrays = arrays
        self.count = lengths["t"]
        attrs = dict(self._root.attrs)
        self._attrs = attrs
        self._evio_written = attrs.get("evio_layout") == LAYOUT
        self.layout = self._layout_name(layout)
        self.version = LAYOUT if self._evio_written else self.layout
        t_dtype = _member_dtype(arrays["t"], mapping["t"][1])
        self._float_t = t_dtype.kind == "f"
        float_unit = LAYOUT_FLOAT_TIME_UNITS.get(layout, "s")
        self.source_time_unit = time_unit or (float_unit if self._float_t else "us")
        self._time_scale = TIME_UNITS[self.source_time_unit]
        if self._evio_written:
            declared = int(attrs.get("event_count", -1))
            if declared != self.count:
                raise FormatError(
                    f"truncated or damaged store: attribute event_count={declared} but datasets hold {self.count}",
                    self.path,
                )
            stored = {mapping[f][0]: arr for f, arr in arrays.items()}
            stored.update({name: self._root[name] for name in ("t_offset", "ms_to_idx", "time_index")
                           if self._contains(name)})
            self._verify(stored)
        self.t_offset = self._read_t_offset()
        meta = {}
        if "evio_meta" in attrs:
            try:
                meta = json.loads(_as_str(attrs["evio_meta"]))
            except (TypeError, ValueError):
                raise FormatError("attribute evio_meta is not valid JSON", self.path) from None
            if not isinstance(meta, dict):
                raise FormatError("attribute evio_meta is not a JSON object", self.path)
        if "sensor_size" in attrs:
            meta["sensor_size"] = [int(v) for v in np.asarray(attrs["sensor_size"]).ravel()[:2]]
        if "time_unit" in attrs:
            meta["time_unit"] = _as_str(attrs["time_unit"])
        self.meta.update(meta)
        self.meta["format"] = self.format_name
        if self._time_scale != (1, 1):
            self.meta["time_unit"] = "us"
        self._index, self._bin_width = self._load_index() if self._time_scale == (1, 1) else (None, None)

    def _layout_name(self, layout: str) -> str:
        """``"evio"``, ``"dsec"`` (``events/`` with ``t_offset``), ``"tum-vie"`` (``events/`` with
        ``ms_to_idx``), ``"events"`` (the group alone), else the key of :data:`LAYOUTS` or ``"fields"``."""
        if layout != "events":
            return layout
        if self._attrs.get("evio_layout") == LAYOUT:
            return "evio"
        if self._contains("t_offset"):
            return "dsec"
        return "tum-vie" if self._contains("ms_to_idx") else "events"

    def extra_info(self) -> dict:
        described = _LAYOUT_DESCRIPTIONS.get(self.layout) or LAYOUTS[self.layout][0]
        out = {"layout": f"{self.layout}: {described}"}
        if self._float_t or self.source_time_unit != "us":
            out["stored_time_unit"] = self.source_time_unit + (" (float)" if self._float_t else "")
        return out

    def _read_t_offset(self) -> int:
        if not self._contains("t_offset"):
            return 0
        value = self._read_dataset(self._root["t_offset"], "t_offset", ())
        if value.size != 1 or value.dtype.kind not in "iu":
            raise FormatError(f"t_offset must be one integer, got {value!r}", self.path)
        return int(value.ravel()[0])

    def _load_index(self):
        if self._contains("ms_to_idx"):
            name, width = "ms_to_idx", DEFAULT_BIN_WIDTH
        elif self._contains("time_index"):
            name, width = "time_index", int(self._attrs.get("time_index_bin_width", 0))
        else:
            return None, None
        index = self._read_dataset(self._root[name], name)
        if index.ndim != 1 or index.dtype.kind not in "iu" or width <= 0 or len(index) == 0:
            raise FormatError(f"damaged time index {name}", self.path)
        index = index.astype(np.int64)
        if index[0] < 0 or np.any(np.diff(index) < 0) or index[-1] > self.count:
            raise FormatError(f"damaged time index {name}: not non-decreasing within 0..{self.count}", self.path)
        if index[-1] != self.count:
            index = np.append(index, self.count)
        return index, width

    # -- reading -----------------------------------------------------------------------------
    def _read_field(self, f: str, a: int, b: int) -> np.ndarray:
        """Stored values of field ``f`` for events ``a..b``; integral floats of x, y, p as integers."""
        path, key = self._mapping[f]
        if key is None:
            values = self._read_dataset(self._arrays[f], f"{f}[{a}:{b}]", slice(a, b))
        else:
            if self._block is None or self._block[0] != (path, a, b):
                self._block = ((path, a, b), self._read_dataset(self._arrays[f], f"{path}[{a}:{b}]", slice(a, b)))
            rows = self._block[1]
            values = rows[:, key] if isinstance(key, int) else rows[key]
        if f != "t" and values.dtype.kind == "f":
            values = self._integral(values, f, path, a)
        return values

    def _integral(self, values: np.ndarray, f: str, path: str, a: int) -> np.ndarray:
        """Float coordinates / polarities (MVSEC stores float64) as int64; refuses fractions."""
        whole = np.isfinite(values) & (values == np.floor(values))
        if not whole.all():
            i = int(np.argmin(whole))
            raise FormatError(f"{f} of event {a + i} in {path} is {values[i]!r}, not a whole number", self.path)
        if f == "p":
            return (values > 0).astype(np.uint8)
        if len(values) and (values.min() < 0 or values.max() > np.iinfo(np.uint16).max):
            bad = values.min() if values.min() < 0 else values.max()
            raise FormatError(f"{f} = {bad!r} in {path} does not fit 0..65535", self.path)
        return values.astype(np.int64)

    def _read_dataset(self, arr, what: str, selection=Ellipsis) -> np.ndarray:
        try:
            return np.asarray(arr[selection])
        except Exception as exc:
            hint = ""
            if "filter" in str(exc).lower() or "plugin" in str(exc).lower():
                hint = "; compressed with a filter plugin: pip install hdf5plugin (evio-toolkit[blosc])"
            raise FormatError(f"cannot read {what} ({type(exc).__name__}: {exc}){hint}", self.path) from None

    def _read_t(self, a: int, b: int) -> np.ndarray:
        """Absolute int64 timestamps of events ``a..b`` (µs unless the store says otherwise)."""
        t = self._read_field("t", a, b)
        if t.dtype.kind == "f" or self._time_scale != (1, 1):
            return self._scaled_t(t, a, b)
        if t.dtype.kind == "u" and t.dtype.itemsize == 8 and len(t) and t.max() > np.iinfo(np.int64).max:
            raise FormatError(f"t[{a}:{b}] holds values beyond int64", self.path)
        t = t.astype(np.int64, copy=not t.flags.writeable)
        if self.t_offset:
            t += np.int64(self.t_offset)
        return t

    def _scaled_t(self, t: np.ndarray, a: int, b: int) -> np.ndarray:
        """``t + t_offset`` in :attr:`source_time_unit`, as int64 µs rounded to the nearest (halves up)."""
        mul, div = self._time_scale
        if t.dtype.kind == "f":
            us = (t.astype(np.float64) + self.t_offset) * (mul / div)
            if not np.all(np.isfinite(us)) or (len(us) and (us.min() < -2.0**63 or us.max() >= 2.0**63)):
                raise FormatError(f"t[{a}:{b}] holds values that are not finite or beyond int64 µs", self.path)
            return np.floor(us + 0.5).astype(np.int64)
        if t.dtype.kind == "u" and t.dtype.itemsize == 8 and len(t) and t.max() > np.iinfo(np.int64).max:
            raise FormatError(f"t[{a}:{b}] holds values beyond int64", self.path)
        t = t.astype(np.int64) + np.int64(self.t_offset)
        limit = np.iinfo(np.int64).max // mul
        if len(t) and (t.max() > limit or t.min() < -limit):
            raise FormatError(f"t[{a}:{b}] in {self.source_time_unit} does not fit int64 µs", self.path)
        t = t * mul
        return (t + div // 2) // div if div > 1 else t

    def _read_range(self, a: int, b: int, t: np.ndarray | None = None) -> np.ndarray:
        """Events ``a..b``, filled chunk by chunk into one array; ``t`` if already read."""
        out = np.empty(max(b - a, 0), dtype=EVENT_DTYPE)
        for s in range(a, b, self.chunk_size):
            e = min(s + self.chunk_size, b)
            ts = self._read_t(s, e) if t is None else t[s - a:e - a]
            fill_fields(out[s - a:e - a], ts, *(self._read_field(f, s, e) for f in "xyp"), source=self.path)
        return out

    def _chunks(self, size: int) -> Iterator[np.ndarray]:
        for a in range(0, self.count, size):
            yield self._read_range(a, min(a + size, self.count))

    def read(self) -> np.ndarray:
        return self._read_range(0, self.count)

    def time_window(self, t0: int, t1: int) -> np.ndarray:
        """Events with ``t0 <= t < t1``; with a time index only the chunks around the window are read.

        The index is checked against the timestamps at the window's edges: one that does not match
        (damaged, or written for other data) is not trusted, and every event is scanned instead,
        with a warning.
        """
        t0, t1 = int(t0), int(t1)
        if self._index is None:
            return super().time_window(t0, t1)
        if t1 <= t0:
            return empty_events()
        lo0, hi0, lo1, hi1 = window_bounds(self._index, self._bin_width, self.t_offset, t0, t1)
        a, b = max(lo0 - 1, 0), min(hi1 + 1, self.count)
        if b - a <= _MERGED_T_READ:
            t = self._read_t(a, b)
            i0 = lo0 + int(np.searchsorted(t[lo0 - a:hi0 - a], np.int64(t0), side="left"))
            i1 = max(i0, lo1 + int(np.searchsorted(t[lo1 - a:hi1 - a], np.int64(t1), side="left")))
            edges_match = self._starts_at(i0, t0, t, a) and self._starts_at(i1, t1, t, a)
            if edges_match:
                return self._read_range(i0, i1, t[i0 - a:i1 - a])
        else:
            i0 = lo0 + int(np.searchsorted(self._read_t(lo0, hi0), np.int64(t0), side="left"))
            lo1 = max(lo1, i0)
            i1 = max(i0, lo1 + int(np.searchsorted(self._read_t(lo1, hi1), np.int64(t1), side="left")))
            edges_match = self._starts_at(i0, t0) and self._starts_at(i1, t1)
            if edges_match:
                return self._read_range(i0, i1)
        warnings.warn(f"{self.path}: the time index does not match the timestamps (damaged?); "
                      "scanning every event instead", IndexWarning, stacklevel=2)
        return super().time_window(t0, t1)

    def _starts_at(self, i: int, tq: int, t: np.ndarray | None = None, a: int = 0) -> bool:
        """Whether event ``i`` is the first with ``t >= tq`` (``t``: timestamps from event ``a`` on)."""
        def at(k: int) -> int:
            if t is not None and 0 <= k - a < len(t):
                return int(t[k - a])
            return int(self._read_t(k, k + 1)[0])

        return (i == 0 or at(i - 1) < tq) and (i == self.count or at(i) >= tq)

    @property
    def has_time_index(self) -> bool:
        return self._index is not None

    def summary(self) -> Summary:
        a = self._attrs
        stored = ("on_count", "t_min", "t_max", "sorted_by_t")
        if self._evio_written and self._time_scale == (1, 1) and all(k in a for k in stored):
            s = Summary()
            s.count = self.count
            if self.count:
                s.on = int(a["on_count"])
                s.t_min, s.t_max = int(a["t_min"]), int(a["t_max"])
            s.is_sorted = bool(a["sorted_by_t"])
            return s
        return super().summary()

    def close(self) -> None:
        if self._root is not None:
            self._close_root()
            self._root = None


class StoreWriter(EventWriter):
    """Writes an event store; subclasses provide the backend hooks below."""

    def __init__(self, path, *, sensor_size=None, meta=None, chunk_length: int = DEFAULT_CHUNK_LENGTH,
                 compression="default", time_index: bool = True):
        super().__init__(path, sensor_size=sensor_size, meta=meta)
        if int(chunk_length) < 1:
            raise ValueError(f"chunk_length must be >= 1, got {chunk_length}")
        self.chunk_length = int(chunk_length)
        self.compression = compression
        self._want_index = bool(time_index)
        self._index: TimeIndexBuilder | None = None
        self._t_offset: int | None = None
        self._pending: list[np.ndarray] = []
        self._pending_count = 0
        self._root = self._create_root()
        self._arrays = {f: self._create_array(f"events/{f}", _STORED_DTYPES[f]) for f in FIELDS}

    # -- backend hooks -----------------------------------------------------------------------
    def _create_root(self):
        raise NotImplementedError

    def _create_array(self, name: str, dtype: np.dtype):
        raise NotImplementedError

    def _append(self, arr, data: np.ndarray) -> None:
        raise NotImplementedError

    def _write_value(self, name: str, data: np.ndarray) -> None:
        raise NotImplementedError

    def _set_attrs(self, attrs: dict) -> None:
        raise NotImplementedError

    def _close_root(self) -> None:
        pass

    # -- writing -----------------------------------------------------------------------------
    def _write(self, events: np.ndarray) -> None:
        if not len(events):
            return
        if self._t_offset is None:
            self._t_offset = int(events["t"][0])
            if self._want_index:
                self._index = TimeIndexBuilder(self._t_offset)
        if self._index is not None:
            if self.summary.is_sorted:
                self._index.add(events["t"])
            else:
                self._index = None
        self._pending.append(events)
        self._pending_count += len(events)
        if self._pending_count >= self.chunk_length:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if not self._pending:
            return
        events = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        keep = 0 if final else len(events) % self.chunk_length
        out, rest = events[: len(events) - keep], events[len(events) - keep :]
        self._pending = [rest] if keep else []
        self._pending_count = keep
        if not len(out):
            return
        t_rel = out["t"] - np.int64(self._t_offset)
        self._append(self._arrays["t"], t_rel)
        self._append(self._arrays["x"], np.ascontiguousarray(out["x"]))
        self._append(self._arrays["y"], np.ascontiguousarray(out["y"]))
        self._append(self._arrays["p"], np.ascontiguousarray(out["p"]).view(np.uint8))

    def _finish(self) -> None:
        self._flush(final=True)
        s = self.summary
        self._write_value("t_offset", np.int64(self._t_offset or 0))
        if self._index is not None and s.is_sorted:
            index = self._index.finish()
            if self._index.bin_width == DEFAULT_BIN_WIDTH:
                self._write_value("ms_to_idx", index)
            else:
                self._write_value("time_index", index)
        meta = self.final_meta()
        attrs = {
            "evio_layout": LAYOUT,
            "event_count": s.count,
            "on_count": s.on,
            "sorted_by_t": bool(s.is_sorted),
            "time_unit": meta.get("time_unit", "us"),
            "evio_meta": json.dumps(meta),
        }
        if self._index is not None and s.is_sorted and self._index.bin_width != DEFAULT_BIN_WIDTH:
            attrs["time_index_bin_width"] = self._index.bin_width
        if s.count:
            attrs["t_min"], attrs["t_max"] = s.t_min, s.t_max
        if meta.get("sensor_size") is not None:
            attrs["sensor_size"] = [int(v) for v in meta["sensor_size"]]
        self._set_attrs(attrs)
        self._close_root()
        self._root = None

    def _release(self) -> None:
        if self._root is not None:
            try:
                self._close_root()
            finally:
                self._root = None


def _field_spec(value) -> tuple[str, int | str | None]:
    """A ``fields=`` value (``"path"``, or ``("path", column)``, or ``("path", "member")``) as ``(path, key)``."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str) \
            and isinstance(value[1], (int, str)) and not isinstance(value[1], bool):
        return value[0], value[1]
    raise ValueError(f"a field is a dataset path, (path, column) or (path, member); got {value!r}")


def _member_dtype(arr, key) -> np.dtype:
    return arr.dtype[key] if isinstance(key, str) else arr.dtype


def _as_str(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        value = value.item()
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    return str(value)


def path_size(path) -> int:
    """Bytes on disk of a file, or of every file under a folder."""
    if os.path.isdir(path):
        return sum(
            os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files
        )
    return os.path.getsize(path)
