"""NumPy ``.npz`` archives: one format, several layouts told apart by their keys.

- ``spikingjelly`` (keys ``t``, ``x``, ``y``, ``p``; the write default): this module.
- ``i2e-sparse`` (keys ``events``, ``shape``): :mod:`evio.formats.npz_i2e_sparse`.
- ``i2e-dense`` (key ``arr_0``): :mod:`evio.formats.npz_i2e_dense`.
- ``es-imagenet`` (keys ``pos``, ``neg``): :mod:`evio.formats.npz_es_imagenet`.

Reading picks the layout whose keys the archive holds (``layout=`` forces one); writing takes
``layout=`` (default ``"spikingjelly"``). ``reader.version`` names the layout. Every reader refuses
an archive that inflates more than ``max_inflation`` times its size (default 100; ``None``: no cap;
see :func:`evio.formats._npzio.check_inflation`).

The SpikingJelly layout (``events_np`` folders) has one 1-D array per field. It reads any integer
dtypes (SpikingJelly writes ``t`` big-endian ``>u4``, ``x``/``y`` uint32, ``p`` int64) and streams them
in bounded memory. It writes ``t`` int64, ``x``/``y`` uint16, ``p`` uint8 (1 = ON) and the metadata as
JSON in an extra ``evio_meta`` key that SpikingJelly ignores.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from typing import NamedTuple

import numpy as np

from ..errors import FormatError
from ..events import FIELDS, from_fields
from ..registry import FormatSpec
from . import npz_es_imagenet, npz_i2e_dense, npz_i2e_sparse
from .._npy import NpyStream, npy_header
from ._npzio import MAX_INFLATION, check_inflation, member_keys, open_zip
from .base import EventReader, EventWriter

ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_WRITE_DTYPES = {"t": np.dtype("<i8"), "x": np.dtype("<u2"), "y": np.dtype("<u2"), "p": np.dtype("u1")}


class NpzReader(EventReader):
    """The SpikingJelly layout: 1-D ``t``, ``x``, ``y``, ``p`` arrays, streamed."""

    format_name = "npz"
    layout = "spikingjelly"
    layout_options: tuple[str, ...] = ()

    def __init__(self, path, *, max_inflation: float | None = MAX_INFLATION, **options):
        super().__init__(path, **options)
        self.version = self.layout
        self._file = open_zip(self.path)
        try:
            check_inflation(self._file, self.path, max_inflation)
            names = {n[:-4] for n in self._file.namelist() if n.endswith(".npy")}
            missing = [f for f in FIELDS if f not in names]
            if missing:
                raise FormatError(
                    f"missing event arrays {missing}; found keys {sorted(names)} "
                    "(expected SpikingJelly's t, x, y, p)", self.path)
            lengths = {}
            for f in FIELDS:
                with self._member(f) as s:
                    if len(s.shape) != 1:
                        raise FormatError(f"{f}: must be 1-D, has shape {s.shape}", self.path)
                    lengths[f] = s.shape[0]
            if len(set(lengths.values())) != 1:
                raise FormatError(f"arrays have different lengths {lengths}", self.path)
            self.count = lengths["t"]
            if "evio_meta" in names:
                self.meta.update(self._read_meta())
                self.meta["format"] = self.format_name
        except BaseException:
            self._file.close()
            raise

    def _open_file(self):
        return open_zip(self.path)

    def _member(self, key: str) -> NpyStream:
        """Member ``key`` as a stream, once its ``.npy`` header agrees with the zip directory's size."""
        try:
            info = self._file.getinfo(f"{key}.npy")
            fileobj = self._file.open(info)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise FormatError(f"{key}: cannot open member ({exc})", self.path) from None
        try:
            stream = NpyStream(fileobj, key, self.path)
            declared = fileobj.tell() + stream.remaining * stream.dtype.itemsize
            if declared != info.file_size:
                raise FormatError(f"{key}: npy header declares {declared:,} bytes, the zip directory "
                                  f"{info.file_size:,}", self.path)
            return stream
        except BaseException:
            fileobj.close()
            raise

    def _read_meta(self) -> dict:
        with self._member("evio_meta") as s:
            if s.dtype.kind != "U" or s.remaining != 1:
                raise FormatError("evio_meta must be a single string", self.path)
            text = str(s.read(1)[0])
        try:
            meta = json.loads(text)
        except ValueError:
            raise FormatError("evio_meta is not valid JSON", self.path) from None
        if not isinstance(meta, dict):
            raise FormatError("evio_meta is not a JSON object", self.path)
        return meta

    def _chunks(self, size):
        streams = [self._member(f) for f in FIELDS]
        try:
            for _ in range(0, self.count, size):
                yield from_fields(*(s.read(size) for s in streams), source=self.path)
        finally:
            for s in streams:
                s.close()

    def close(self):
        self._file.close()


class NpzWriter(EventWriter):
    """The SpikingJelly layout. Options: ``compress`` (bool, default True as SpikingJelly's
    ``save_datasets_compressed``), ``store_meta`` (bool, default True: an extra ``evio_meta`` key)."""

    format_name = "npz"
    layout = "spikingjelly"
    layout_options = ("compress", "store_meta")

    def __init__(self, path, *, compress: bool = True, store_meta: bool = True, **options):
        self.stores_meta = None if store_meta else ("time_unit",)
        super().__init__(path, **options)
        self.compress, self.store_meta = bool(compress), bool(store_meta)
        self._spool = {f: tempfile.TemporaryFile(dir=self.path.parent, prefix=f".{self.path.name}.{f}.")
                       for f in FIELDS}

    def _write(self, events):
        for f in FIELDS:
            col = events[f].view(np.uint8) if f == "p" else events[f]
            self._spool[f].write(np.ascontiguousarray(col, dtype=_WRITE_DTYPES[f]).tobytes())

    def _finish(self):
        n = self.summary.count
        method = zipfile.ZIP_DEFLATED if self.compress else zipfile.ZIP_STORED
        with zipfile.ZipFile(self.tmp_path, "w", compression=method, allowZip64=True) as zf:
            for f in FIELDS:
                spool = self._spool[f]
                spool.seek(0)
                with zf.open(f"{f}.npy", "w", force_zip64=True) as member:
                    member.write(npy_header(_WRITE_DTYPES[f], n))
                    while block := spool.read(1 << 24):
                        member.write(block)
            if self.store_meta:
                text = np.array(json.dumps(self.final_meta()))
                with zf.open("evio_meta.npy", "w") as member:
                    np.lib.format.write_array(member, text, allow_pickle=False)
        self._release()

    def _release(self):
        for spool in self._spool.values():
            spool.close()


class Layout(NamedTuple):
    keys: tuple[str, ...]
    reader: type
    writer: type | None


#: The npz layouts by name, in detection order.
LAYOUTS: dict[str, Layout] = {
    "spikingjelly": Layout(FIELDS, NpzReader, NpzWriter),
    npz_i2e_sparse.LAYOUT: Layout(npz_i2e_sparse.KEYS, npz_i2e_sparse.I2ESparseReader,
                                  npz_i2e_sparse.I2ESparseWriter),
    npz_i2e_dense.LAYOUT: Layout(npz_i2e_dense.KEYS, npz_i2e_dense.I2EDenseReader, npz_i2e_dense.I2EDenseWriter),
    npz_es_imagenet.LAYOUT: Layout(npz_es_imagenet.KEYS, npz_es_imagenet.ESImageNetReader,
                                   npz_es_imagenet.ESImageNetWriter),
}
_GENERAL_OPTIONS = {"reader": ("chunk_size", "max_inflation"), "writer": ("sensor_size", "meta")}


def _layout(name) -> Layout:
    if name not in LAYOUTS:
        raise ValueError(f"unknown npz layout {name!r}; known layouts: {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def _check_options(name: str, cls: type, role: str, options: dict) -> None:
    allowed = set(_GENERAL_OPTIONS[role]) | set(cls.layout_options)
    for option in options:
        if option not in allowed:
            users = [n for n, lay in LAYOUTS.items() if option in getattr(lay, role).layout_options]
            hint = f"; it applies to the {' and '.join(users)} layout" if users else ""
            raise ValueError(f"the npz {role} has no option {option!r} for the {name} layout{hint}")


def detect_layout(keys, path) -> str:
    """The layout whose keys ``keys`` (the archive's array names) hold; :class:`FormatError` if none or several."""
    found = set(keys)
    matches = [name for name, lay in LAYOUTS.items() if found.issuperset(lay.keys)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise FormatError(f"keys {sorted(found)} match several npz layouts ({', '.join(matches)}); "
                          "pass layout=... to choose", path)
    partial = [(name, [k for k in lay.keys if k not in found]) for name, lay in LAYOUTS.items()
               if found.intersection(lay.keys)]
    if partial:
        name, missing = partial[0]
        if name == "spikingjelly":
            raise FormatError(f"missing event arrays {missing}; found keys {sorted(found)} "
                              "(expected SpikingJelly's t, x, y, p)", path)
        raise FormatError(f"missing keys {missing} of the {name} layout; found keys {sorted(found)}", path)
    expected = "; ".join(f"{'+'.join(lay.keys)} ({name})" for name, lay in LAYOUTS.items())
    raise FormatError(f"no known npz layout: found keys {sorted(found)}; expected {expected}", path)


def open_reader(path, *, layout: str | None = None, **options) -> EventReader:
    """The reader for the layout of ``path`` (detected from its keys unless ``layout`` names one)."""
    zf = open_zip(path)
    try:
        keys = member_keys(zf)
    finally:
        zf.close()
    if layout is None:
        layout = detect_layout(keys, path)
    else:
        missing = [k for k in _layout(layout).keys if k not in keys]
        if missing:
            raise FormatError(f"missing keys {missing} of the {layout} layout; found keys {sorted(keys)}", path)
    cls = LAYOUTS[layout].reader
    _check_options(layout, cls, "reader", options)
    return cls(path, **options)


def open_writer(path, *, layout: str = "spikingjelly", **options) -> EventWriter:
    """A writer for ``layout`` (``"spikingjelly"``, ``"i2e-sparse"``, ``"i2e-dense"`` or ``"es-imagenet"``)."""
    cls = _layout(layout).writer
    if cls is None:
        raise ValueError(f"evio cannot write the {layout} npz layout")
    _check_options(layout, cls, "writer", options)
    return cls(path, **options)


FORMAT = FormatSpec(
    name="npz",
    description="NumPy .npz: SpikingJelly t/x/y/p arrays; I2E sparse/dense and ES-ImageNet samples (layout=)",
    suffixes=(".npz",),
    magic=(ZIP_MAGIC, _EMPTY_ZIP_MAGIC),
    reader=open_reader,
    writer=open_writer,
)
