"""Reader and writer base classes shared by every format."""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._atomic import AtomicDestination
from .._warn import warn_loss
from ..errors import FormatError
from ..events import EVENT_DTYPE, as_events, check_sensor_size, empty_events
from ..kernels.summary import Summary
from ._buffer import join_events

DEFAULT_CHUNK_SIZE = 1 << 20


def clean_meta(meta: dict | None, sensor_size=None) -> dict:
    """Metadata as stored by writers: JSON-compatible, ``format`` turned into ``source_format``."""
    out = dict(meta or {})
    fmt = out.pop("format", None)
    if fmt is not None:
        out.setdefault("source_format", fmt)
    if sensor_size is not None:
        out["sensor_size"] = sensor_size
    if out.get("sensor_size") is not None:
        out["sensor_size"] = _sensor_size(out["sensor_size"])
    out.setdefault("time_unit", "us")
    try:
        json.loads(json.dumps(out))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata must be JSON-serialisable: {exc}") from None
    return json.loads(json.dumps(out))


def _sensor_size(value) -> list[int]:
    W, H, _ = check_sensor_size(value)
    return [W, H]


class EventReader:
    """Reads one file or store. Iterate for chunks of ``EVENT_DTYPE`` events in bounded memory.

    ``meta``: a dict with ``format``, ``sensor_size`` (``[W, H]`` pixels, or None), ``time_unit``
    (``"us"``: ``t`` in µs; ``"timestep"``: a timestep index) and whatever else the file records.
    ``count``: the number of events, or None where the file does not record it (``len()`` then
    raises). ``chunk_size``: events per chunk.

    Subclasses set ``self.meta`` and ``self.count`` in ``__init__`` and implement ``_chunks``.
    """

    format_name = "?"

    def __init__(self, path: str | os.PathLike, *, chunk_size: int = DEFAULT_CHUNK_SIZE):
        self.path = Path(path)
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.chunk_size = int(chunk_size)
        self.meta: dict = {"format": self.format_name, "sensor_size": None, "time_unit": "us"}
        self.count: int | None = None
        #: Format version or layout of this file, e.g. ``"npy 1.0"``; None where the format has none.
        self.version: str | None = None

    @property
    def sensor_size(self) -> tuple[int, int] | None:
        """``(W, H)`` in pixels, or None when the file does not say."""
        size = self.meta.get("sensor_size")
        return None if size is None else (int(size[0]), int(size[1]))

    def __len__(self) -> int:
        if self.count is None:
            raise TypeError(f"{self.format_name} files do not record their event count; use evio.info()")
        return self.count

    # -- worker safety: the open file belongs to one process; pickles and forks reopen it ----------
    def _open_file(self):
        return open(self.path, "rb")  # noqa: SIM115  (closed by close())

    @property
    def _file(self):
        handle, pid = self.__dict__.get("_handle", (None, None))
        if pid != os.getpid():
            handle = self._open_file()
            self.__dict__["_handle"] = (handle, os.getpid())
        return handle

    @_file.setter
    def _file(self, handle) -> None:
        self.__dict__["_handle"] = (handle, os.getpid())

    def __getstate__(self):
        state = dict(self.__dict__)
        if "_handle" in state:
            state["_handle"] = (None, None)
        return state

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.chunks()

    def chunks(self, chunk_size: int | None = None) -> Iterator[np.ndarray]:
        """Yield ``EVENT_DTYPE`` arrays of at most ``chunk_size`` events, in file order."""
        size = self.chunk_size if chunk_size is None else int(chunk_size)
        if size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        for chunk in self._chunks(size):
            if len(chunk):
                yield chunk

    def _chunks(self, size: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def read(self) -> np.ndarray:
        """All events at once."""
        parts = list(self.chunks())
        return join_events(parts) if parts else empty_events()

    def time_window(self, t0: int, t1: int) -> np.ndarray:
        """Events with ``t0 <= t < t1`` (in ``meta["time_unit"]``, µs for camera data), in file order.
        This generic version scans every chunk."""
        t0, t1 = int(t0), int(t1)
        parts = [c[(c["t"] >= t0) & (c["t"] < t1)] for c in self.chunks()]
        parts = [p for p in parts if len(p)]
        return join_events(parts) if parts else empty_events()

    def summary(self) -> Summary:
        """Statistics over all events (one streaming pass)."""
        s = Summary()
        for chunk in self.chunks():
            s.update(chunk)
        return s

    def extra_info(self) -> dict:
        """Format-specific entries added to :func:`evio.info` (e.g. layout details)."""
        return {}

    def close(self) -> None:
        _remove_download(self)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("close")
        if own is not None:
            cls.close = _removing_download(own)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        n = "?" if self.count is None else self.count
        return f"<{type(self).__name__} {str(self.path)!r} events={n} sensor_size={self.sensor_size}>"


def _remove_download(reader: EventReader) -> None:
    """Remove the temporary copy behind a reader of a URL, if any."""
    download = reader.__dict__.get("_download")
    if download is not None:
        download.remove()


def _removing_download(close):
    """``close`` of a reader subclass, made to remove the reader's temporary download afterwards."""

    @functools.wraps(close)
    def closing(self) -> None:
        try:
            close(self)
        finally:
            _remove_download(self)

    return closing


class AtomicWriter:
    """Lifecycle of a writer whose output appears only when :meth:`close` succeeds.

    Subclasses set ``self._dest`` (an :class:`~evio._atomic.AtomicDestination`) and
    ``self._closed = False``, and implement ``_finish`` and ``_release``. Whatever fails (a full disk,
    an interrupt, a constructor that raises half-way), the temporary output is removed, and an
    ``OSError`` names the destination.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_discards_on_failure", False):
            return

        @functools.wraps(init)
        def __init__(self, *args, **options):
            try:
                init(self, *args, **options)
            except BaseException as exc:
                if getattr(self, "_dest", None) is not None and not getattr(self, "_closed", False):
                    self._closed = True
                    self._cleanup()
                _reraise_naming(exc, getattr(self, "path", None))

        __init__._discards_on_failure = True
        cls.__init__ = __init__

    def _finish(self) -> None:
        """Flush and close the temporary output (called once, before the rename)."""

    def _release(self) -> None:
        """Close open handles without finishing (called before the temporary output is removed)."""

    def _cleanup(self) -> None:
        """Release handles as far as possible (closing may fail again on a full disk), then remove
        the temporary output."""
        try:
            self._release()
        except BaseException:
            pass
        finally:
            self._dest.discard()

    def close(self) -> None:
        """Finish the output and move it to its path; on any failure nothing is left behind."""
        if self._closed:
            return
        self._closed = True
        try:
            self._finish()
            self._dest.commit()
        except BaseException as exc:
            self._cleanup()
            _reraise_naming(exc, self.path)

    def abort(self) -> None:
        """Drop everything written so far."""
        if self._closed:
            return
        self._closed = True
        self._cleanup()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self):
        if not getattr(self, "_closed", True):
            warnings.warn(f"{self.path}: writer was never closed; its output is discarded", ResourceWarning,
                          stacklevel=2)
            try:
                self.abort()
            except Exception:
                pass


def _reraise_naming(exc: BaseException, path):
    """Raise ``exc``; an ``OSError`` about the temporary output (or about no file) is raised again
    naming the destination ``path`` instead, with the plain message for its errno."""
    if not isinstance(exc, OSError) or path is None or exc.errno is None:
        raise exc
    if exc.filename is not None and ".evio-tmp-" not in os.fspath(exc.filename):
        raise exc
    raise type(exc)(exc.errno, os.strerror(exc.errno), os.fspath(path)) from exc


class HeaderAfterBody:
    """For writers whose header depends on every event (counts, sizes): events are spooled to a
    temporary ``.body`` file beside the output and copied behind the header by :meth:`_emit`."""

    def _open_spool(self) -> None:
        self._file = open(self.tmp_path, "wb")  # noqa: SIM115  (closed by _emit/_release)
        self._body_path = self.tmp_path.with_name(self.tmp_path.name + ".body")
        self._body = open(self._body_path, "w+b")  # noqa: SIM115  (closed by _release)

    def _emit(self, header: bytes) -> None:
        """Write ``header``, then the spooled body, and close both files."""
        self._file.write(header)
        self._body.seek(0)
        while block := self._body.read(1 << 24):
            self._file.write(block)
        self._release()

    def _release(self) -> None:
        try:
            self._file.close()
        finally:
            try:
                self._body.close()
            finally:
                self._body_path.unlink(missing_ok=True)


class EventWriter(AtomicWriter):
    """Writes one file or store atomically: nothing appears at ``path`` unless :meth:`close` succeeds.

    Call :meth:`write` with chunks of events (any array :func:`evio.events.as_events` accepts).
    """

    format_name = "?"
    #: Metadata keys this format can store; others are dropped with a :class:`LossWarning`.
    stores_meta: tuple[str, ...] | None = None

    def __init__(self, path: str | os.PathLike, *, sensor_size=None, meta: dict | None = None):
        self.meta = clean_meta(meta, sensor_size)
        self.path = Path(path)
        self._dest = AtomicDestination(self.path)
        self.summary = Summary()
        self._closed = False
        self._check_meta_loss()

    @property
    def tmp_path(self) -> Path:
        return self._dest.tmp

    def _check_meta_loss(self) -> None:
        if self.stores_meta is None:
            return
        derived = ("source_format", "sensor_size_inferred")
        lost = sorted(k for k, v in self.meta.items()
                      if k not in self.stores_meta and k not in derived and v is not None)
        lost = [k for k in lost if not (k == "time_unit" and self.meta[k] == "us")]
        if lost:
            warn_loss(f"{self.path}: the {self.format_name} format cannot store metadata {lost}; it is dropped")

    def write(self, events) -> None:
        """Append a chunk of events (anything :func:`evio.as_events` accepts); an event outside
        ``sensor_size`` raises :class:`FormatError`."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        events = as_events(events)
        self.summary.update(events)
        size = self.meta.get("sensor_size")
        if size is not None and (self.summary.x_max >= size[0] or self.summary.y_max >= size[1]):
            raise FormatError(f"events reach x={self.summary.x_max}, y={self.summary.y_max}, outside "
                              f"sensor_size (W={size[0]}, H={size[1]})", self.path)
        try:
            self._write(events)
        except OSError as exc:
            _reraise_naming(exc, self.path)

    def _write(self, events: np.ndarray) -> None:
        raise NotImplementedError

    def final_meta(self) -> dict:
        """Metadata to store at close; sensor size inferred from the data when none was given."""
        meta = dict(self.meta)
        if meta.get("sensor_size") is None and self.summary.count:
            meta["sensor_size"] = list(self.summary.inferred_sensor_size)
            meta["sensor_size_inferred"] = True
        return meta

__all__ = ["AtomicWriter", "EventReader", "EventWriter", "DEFAULT_CHUNK_SIZE", "EVENT_DTYPE", "FormatError", "clean_meta"]
