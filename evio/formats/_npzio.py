"""Zip plumbing shared by the ``.npz`` layouts: open archives, read whole members after checking every
size the archive and the ``.npy`` header declare, write members as ``np.savez``/``np.savez_compressed`` do.

Also the writer base for the per-sample layouts (I2E, ES-ImageNet), which collect one sample's events and
write the archive when the writer closes.
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from .._npy import read_header
from ..errors import FormatError
from ..events import as_events, empty_events
from .base import EventReader, EventWriter

#: The largest member data (bytes) read whole, and written, by the per-sample layouts (256 MiB: a dense
#: [8, 2, 4096, 4096] bool tensor; real samples are a few MB at most).
MAX_MEMBER_BYTES = 1 << 28
#: Deflate cannot expand more than about 1032:1; a directory claiming more is lying.
_DEFLATE_MAX_RATIO = 1032
#: Default ``max_inflation`` of the npz readers: an archive whose members decompress to more than this
#: many times the file size is refused (recorded events written by evio inflate 3-10x; a zip bomb of
#: zeros about 1000x).
MAX_INFLATION = 100
#: Archives whose members decompress to at most this many bytes in all pass whatever their ratio
#: (an empty dense sample deflates about 1000x).
INFLATION_FLOOR = 64 << 20
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError)


def open_zip(path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise FormatError(f"not a valid npz/zip file ({exc})", path) from None


def check_inflation(zf: zipfile.ZipFile, path, max_inflation: float | None) -> None:
    """Raise :class:`FormatError` for a member whose declared size cannot be true, or naming the largest
    member when the declared sizes add up to more than ``max_inflation`` times the file size and more
    than :data:`INFLATION_FLOOR` bytes (``max_inflation=None``: no such cap). Reads never go past a
    member's declared size."""
    bad_ratio = isinstance(max_inflation, bool) or not isinstance(max_inflation, (int, float, type(None)))
    if bad_ratio or (max_inflation is not None and not max_inflation > 0):
        raise ValueError(f"max_inflation must be a positive number or None, got {max_inflation!r}")
    members = zf.infolist()
    for info in members:
        _check_directory_entry(info, info.filename.removesuffix(".npy"), path)
    total = sum(info.file_size for info in members)
    size = os.path.getsize(path)
    if max_inflation is None or total <= max(INFLATION_FLOOR, max_inflation * size):
        return
    big = max(members, key=lambda info: info.file_size)
    raise FormatError(f"members decompress to {total:,} bytes, {total / max(size, 1):,.0f} times the {size:,}-byte "
                      f"file (more than max_inflation={max_inflation}): member {big.filename!r} declares "
                      f"{big.file_size:,} bytes from {big.compress_size:,}; pass max_inflation=None (or a larger "
                      "ratio) to read it anyway", path)


def member_keys(zf: zipfile.ZipFile) -> list[str]:
    """The array names of an npz archive (its ``*.npy`` members, suffix stripped), in archive order."""
    return [n[:-4] for n in zf.namelist() if n.endswith(".npy")]


def _check_directory_entry(info: zipfile.ZipInfo, key: str, path) -> None:
    """Reject zip directory sizes that cannot be true before anything is decompressed."""
    try:
        archive_size = os.path.getsize(path)
    except OSError:
        archive_size = None
    if archive_size is not None and info.compress_size > archive_size:
        raise FormatError(f"key {key!r}: the zip directory claims {info.compress_size} compressed bytes in a "
                          f"{archive_size}-byte file", path)
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise FormatError(f"key {key!r}: stored (uncompressed) member claims {info.file_size} bytes but occupies "
                          f"{info.compress_size}", path)
    if (info.compress_type == zipfile.ZIP_DEFLATED
            and info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024):
        raise FormatError(f"key {key!r}: the zip directory claims {info.file_size} bytes from {info.compress_size} "
                          f"deflated bytes, more than deflate can produce", path)


def read_array(zf: zipfile.ZipFile, key: str, path, *, kinds: str = "biu", ndim: int | None = None,
               max_bytes: int = MAX_MEMBER_BYTES) -> np.ndarray:
    """Member ``key`` as an array, read whole once its header agrees with the member size.

    ``kinds`` are the accepted dtype kinds (``"b"`` bool, ``"i"``/``"u"`` integers); ``ndim`` the
    required number of dimensions. Every inconsistency raises :class:`FormatError` naming the key.
    """
    name = f"{key}.npy"
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise FormatError(f"missing key {key!r}", path) from None
    _check_directory_entry(info, key, path)
    try:
        with zf.open(info) as f:
            shape, fortran, dtype = read_header(f, f"key {key!r}", path)
            header_len = f.tell()
            if dtype.kind not in kinds:
                raise FormatError(f"key {key!r}: dtype {dtype} is not accepted here (need {_kind_names(kinds)})",
                                  path)
            if ndim is not None and len(shape) != ndim:
                raise FormatError(f"key {key!r}: must be {ndim}-D, has shape {shape}", path)
            if any(int(side) < 0 for side in shape):
                raise FormatError(f"key {key!r}: negative dimension in shape {shape}", path)
            nbytes = dtype.itemsize
            for side in shape:
                nbytes *= int(side)
            if nbytes > max_bytes:
                raise FormatError(f"key {key!r}: shape {shape} needs {nbytes} bytes, more than the "
                                  f"{max_bytes} evio reads from one member", path)
            if header_len + nbytes != info.file_size:
                raise FormatError(f"key {key!r}: header declares shape {shape} of {dtype} ({nbytes} bytes) but the "
                                  f"member holds {info.file_size - header_len} bytes of data", path)
            data = f.read(nbytes)
            if len(data) != nbytes or f.read(1):
                raise FormatError(f"key {key!r}: truncated, {nbytes} bytes announced, {len(data)} found", path)
    except FormatError:
        raise
    except _ZIP_ERRORS as exc:
        raise FormatError(f"key {key!r}: cannot read member ({type(exc).__name__}: {exc})", path) from None
    arr = np.frombuffer(data, dtype=dtype)
    return arr.reshape(shape, order="F" if fortran else "C")


def _kind_names(kinds: str) -> str:
    names = {"b": "bool", "i": "signed integer", "u": "unsigned integer"}
    return " or ".join(names[k] for k in kinds)


def write_members(tmp_path, arrays: dict, compress: bool) -> None:
    """Write ``{key: array}`` as ``np.savez_compressed`` (``compress``) or ``np.savez`` would."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(tmp_path, "w", compression=method, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)


def checked_int(values: np.ndarray, name: str, lo: int, hi: int, path, *, key: str | None = None,
                what: str = "row", offset: int = 0) -> None:
    """Raise :class:`FormatError` naming the first element of ``values`` outside ``lo..hi``."""
    if not len(values):
        return
    bad = np.flatnonzero((values < lo) | (values > hi))
    if len(bad):
        i = int(bad[0])
        where = f"key {key!r} {what} {offset + i}" if key is not None else f"{what} {offset + i}"
        raise FormatError(f"{where}: {name} = {int(values[i])} is outside {lo}..{hi}", path)


class NpzLayoutReader(EventReader):
    """A per-sample layout: the reader loads the (small) sample whole when it opens."""

    format_name = "npz"
    layout = "?"
    #: Reader options specific to this layout (besides ``chunk_size`` and ``max_inflation``).
    layout_options: tuple[str, ...] = ()

    def __init__(self, path, *, max_inflation: float | None = MAX_INFLATION, **options):
        super().__init__(path, **options)
        self.version = self.layout
        self._events = empty_events()
        self._details: dict = {}
        zf = open_zip(self.path)
        try:
            check_inflation(zf, self.path, max_inflation)
            self._events = self._load(zf)
        finally:
            zf.close()
        self.count = len(self._events)

    def _load(self, zf: zipfile.ZipFile) -> np.ndarray:
        raise NotImplementedError

    def _set_geometry(self, W: int, H: int, T: int) -> None:
        self.meta.update(sensor_size=[int(W), int(H)], time_unit="timestep", T=int(T))

    def _chunks(self, size):
        for a in range(0, self.count, size):
            yield self._events[a:a + size].copy()

    def extra_info(self) -> dict:
        return {"npz_layout": {"name": self.layout, **self._details}}

    def close(self):
        self._events = empty_events()


class NpzLayoutWriter(EventWriter):
    """A per-sample layout: events are collected and the archive is written when the writer closes.

    ``t`` is a timestep index: ``meta["time_unit"]`` must be ``"timestep"`` or absent. ``meta["T"]``
    (optional) fixes the number of timesteps, else it is ``max(t) + 1``.
    """

    format_name = "npz"
    layout = "?"
    stores_meta = ("sensor_size", "T", "time_unit")
    #: Writer options specific to this layout (besides ``sensor_size`` and ``meta``).
    layout_options: tuple[str, ...] = ("compress",)

    def __init__(self, path, *, compress: bool = True, sensor_size=None, meta: dict | None = None):
        meta = dict(meta or {})
        unit = meta.get("time_unit")
        if unit is not None and unit != "timestep":
            raise ValueError(f"{path}: the {self.layout} layout stores timestep indices, but the events' time_unit "
                             f"is {unit!r} (pass meta={{'time_unit': 'timestep'}} if t already counts timesteps)")
        meta["time_unit"] = "timestep"
        T = meta.get("T")
        if T is not None and (isinstance(T, bool) or not isinstance(T, (int, np.integer)) or int(T) < 1):
            raise ValueError(f"{path}: meta 'T' must be a positive integer, got {T!r}")
        super().__init__(path, sensor_size=sensor_size, meta=meta)
        self.compress = bool(compress)
        self.T = None if T is None else int(T)
        self._parts: list[np.ndarray] = []
        size = self.meta.get("sensor_size")
        if size is not None:
            self._check_size(*size)
        if self.T is not None:
            self._check_T(self.T)

    # -- layout hooks --
    #: The most timesteps the layout holds (None: no limit of its own).
    max_T: int | None = None

    def _check_size(self, W: int, H: int) -> None:
        """Raise :class:`FormatError` if the layout cannot hold a ``W`` x ``H`` sensor."""

    def _check_T(self, T: int) -> None:
        """Raise :class:`FormatError` if the layout cannot hold the ``T`` given in the metadata."""
        if self.max_T is not None and T > self.max_T:
            raise FormatError(f"the {self.layout} layout holds at most T = {self.max_T} timesteps, got T = {T}",
                              self.path)

    def _check_xy(self, events: np.ndarray, offset: int) -> None:
        """Raise :class:`FormatError` for coordinates this layout cannot hold (before anything is kept)."""

    def _arrays(self, events: np.ndarray, W: int, H: int, T: int) -> dict:
        raise NotImplementedError

    # -- shared --
    def write(self, events) -> None:
        events = as_events(events, source=self.path)
        if not self._closed and len(events):
            limit = self.T if self.T is not None else self.max_T
            hi = np.iinfo(np.int64).max if limit is None else limit - 1
            checked_int(events["t"], "t", 0, hi, self.path, what="event", offset=self.summary.count)
            self._check_xy(events, self.summary.count)
        super().write(events)

    def _write(self, events):
        self._parts.append(np.array(events))

    def _finish(self):
        events = np.concatenate(self._parts) if self._parts else empty_events()
        self._parts = []
        size = self.meta.get("sensor_size") or self.summary.inferred_sensor_size
        if size is None:
            raise ValueError(f"{self.path}: the {self.layout} layout records the sensor size; pass "
                             "sensor_size=(W, H) (there are no events to infer it from)")
        W, H = int(size[0]), int(size[1])
        self._check_size(W, H)
        T = self.T if self.T is not None else (self.summary.t_max + 1 if self.summary.count else 1)
        write_members(self.tmp_path, self._arrays(events, W, H, T), self.compress)

    def _release(self):
        self._parts = []
