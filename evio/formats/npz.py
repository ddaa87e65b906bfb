"""``.npz`` with one array per field, as SpikingJelly's ``events_np`` folders (keys ``t``, ``x``, ``y``, ``p``).

Reads any integer dtypes (SpikingJelly writes ``t`` big-endian ``>u4``, ``x``/``y`` uint32, ``p`` int64)
and streams them in bounded memory. Writes ``t`` int64, ``x``/``y`` uint16, ``p`` uint8 (1 = ON) and
the metadata as JSON in an extra ``evio_meta`` key that SpikingJelly ignores.
"""

from __future__ import annotations

import json
import tempfile
import zipfile

import numpy as np

from ..errors import FormatError
from ..events import FIELDS, from_fields
from ..registry import FormatSpec
from ._npyio import NpyStream, npy_header
from .base import EventReader, EventWriter

ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_WRITE_DTYPES = {"t": np.dtype("<i8"), "x": np.dtype("<u2"), "y": np.dtype("<u2"), "p": np.dtype("u1")}


def _open_zip(path):
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise FormatError(f"not a valid npz/zip file ({exc})", path) from None


class NpzReader(EventReader):
    format_name = "npz"

    def __init__(self, path, **options):
        super().__init__(path, **options)
        self._zip = _open_zip(self.path)
        try:
            names = {n[:-4] for n in self._zip.namelist() if n.endswith(".npy")}
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
            self._zip.close()
            raise

    def _member(self, key: str) -> NpyStream:
        try:
            fileobj = self._zip.open(f"{key}.npy")
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise FormatError(f"{key}: cannot open member ({exc})", self.path) from None
        try:
            return NpyStream(fileobj, key, self.path)
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
        self._zip.close()


class NpzWriter(EventWriter):
    """Options: ``compress`` (bool, default True as SpikingJelly's ``save_datasets_compressed``),
    ``store_meta`` (bool, default True: an extra ``evio_meta`` key)."""

    format_name = "npz"

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


FORMAT = FormatSpec(
    name="npz",
    description="NumPy .npz with t, x, y, p arrays (SpikingJelly events_np layout)",
    suffixes=(".npz",),
    magic=(ZIP_MAGIC, _EMPTY_ZIP_MAGIC),
    reader=NpzReader,
    writer=NpzWriter,
)
