"""HDF5 event store (``.h5``, ``.hdf5``): DSEC-style layout, chunked, compressed, time-indexed.

Opens in plain h5py (``f["events/t"][:] + f["t_offset"][()]``) with the default ``lzf`` or
``gzip`` compression; ``blosc-zstd``/``blosc-lz4`` need ``import hdf5plugin`` in the reader too.
Reads the layouts of DSEC, TUM-VIE, eTraM, MVSEC, evlib, event-vision-library and Prophesee
(``_store.LAYOUTS``); a dataset whose codec plugin is missing (ECF, Blosc) is named at open.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..errors import FormatError
from ..registry import FormatSpec
from ._store import StoreReader, StoreWriter

MAGIC = b"\x89HDF\r\n\x1a\n"
COMPRESSIONS = ("lzf", "gzip", "blosc-zstd", "blosc-lz4", None)
#: HDF5 filter id of Prophesee's ECF codec (Metavision HDF5 event files).
ECF_FILTER_ID = 0x8ECF


def _h5py():
    import h5py

    return h5py


def _compression_kwargs(compression, level):
    if compression == "default":
        compression = "lzf"
    if compression is None or compression == "none":
        return {}
    if compression == "lzf":
        return {"compression": "lzf", "shuffle": True}
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4 if level is None else int(level), "shuffle": True}
    if compression in ("blosc-zstd", "blosc-lz4"):
        try:
            import hdf5plugin
        except ImportError:
            raise ImportError(
                f"compression={compression!r} needs hdf5plugin: pip install 'evio-toolkit[blosc]'"
            ) from None
        cname = compression.split("-")[1]
        return dict(hdf5plugin.Blosc(cname=cname, clevel=3 if level is None else int(level),
                                     shuffle=hdf5plugin.Blosc.BITSHUFFLE))
    raise ValueError(f"unknown HDF5 compression {compression!r}; choose one of {COMPRESSIONS}")


def _has_signature(path) -> bool:
    """HDF5 files start with the signature at byte 0, or after a user block at 512, 1024, 2048, … bytes."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            offset = 0
            while offset + len(MAGIC) <= size:
                f.seek(offset)
                if f.read(len(MAGIC)) == MAGIC:
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False
    return False


#: HDF5 filter ids of codecs that need a plugin -> how to get it.
FILTER_PLUGINS = {
    ECF_FILTER_ID: "ECF, Prophesee's codec: install Prophesee's hdf5 ECF plugin (github.com/prophesee-ai/hdf5_ecf) "
                   "and point HDF5_PLUGIN_PATH at it",
    32001: "Blosc: pip install hdf5plugin (evio-toolkit[blosc])",
    32015: "Zstandard: pip install hdf5plugin (evio-toolkit[blosc])",
    32004: "LZ4: pip install hdf5plugin (evio-toolkit[blosc])",
    32008: "Bitshuffle: pip install hdf5plugin (evio-toolkit[blosc])",
}


class HDF5Reader(StoreReader):
    """Options: ``fields={'t': 'path/to/t', ...}`` for layouts evio does not recognise (a value may
    also be ``(path, column)`` or ``(path, compound member)``), ``time_unit`` of the stored t
    (``"s"``, ``"ms"``, ``"us"``, ``"ns"``; default: ``"s"`` for float t, else ``"us"``)."""

    format_name = "hdf5"

    def _check_readable(self, path, arr):
        """A dataset compressed with a filter HDF5 cannot load: ``FormatError`` naming the codec."""
        h5z = _h5py().h5z
        plist = arr.id.get_create_plist()
        for i in range(plist.get_nfilters()):
            filter_id = plist.get_filter(i)[0]
            if h5z.filter_avail(filter_id) or arr.shape[0] == 0:
                continue
            try:  # a plugin on HDF5_PLUGIN_PATH is loaded on first use only
                arr[0:1]
                continue
            except Exception:
                pass
            codec = FILTER_PLUGINS.get(filter_id, f"HDF5 filter {filter_id}, whose plugin is not installed")
            raise FormatError(f"cannot read dataset {path}: it is compressed with {codec}", self.path)

    def _open_root(self):
        h5py = _h5py()
        try:
            import hdf5plugin  # noqa: F401  (registers Blosc & co. when installed)
        except ImportError:
            pass
        try:
            return h5py.File(self.path, "r", rdcc_nbytes=16 << 20, rdcc_nslots=10007)
        except OSError as exc:
            msg = str(exc)
            match = re.search(r"eof = (\d+)", msg)
            if "truncated" in msg:
                raise FormatError(f"truncated HDF5 file ({msg})", self.path,
                                  int(match.group(1)) if match else None) from None
            if "signature" in msg:
                raise FormatError("not an HDF5 file (no HDF5 signature)", self.path, 0) from None
            raise FormatError(f"cannot open HDF5 file ({msg})", self.path) from None

    def _close_root(self) -> None:
        self._root.close()


class HDF5Writer(StoreWriter):
    """Options: ``compression`` ('lzf' default, 'gzip', 'blosc-zstd', 'blosc-lz4', None),
    ``compression_level``, ``chunk_length`` (events per chunk), ``time_index`` (bool)."""

    format_name = "hdf5"

    def __init__(self, path, *, compression="default", compression_level=None, **options):
        self._filters = _compression_kwargs(compression, compression_level)
        super().__init__(path, compression=compression, **options)

    def _create_root(self):
        return _h5py().File(self.tmp_path, "w", libver=("earliest", "latest"))

    def _create_array(self, name, dtype):
        return self._root.create_dataset(
            name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(self.chunk_length,), **self._filters
        )

    def _append(self, arr, data):
        n = arr.shape[0]
        arr.resize((n + len(data),))
        arr[n:] = data

    def _write_value(self, name, data):
        data = np.asarray(data)
        if data.ndim == 0:
            self._root.create_dataset(name, data=data)
        else:
            self._root.create_dataset(name, data=data, chunks=True, **self._filters)

    def _set_attrs(self, attrs):
        for key, value in attrs.items():
            self._root.attrs[key] = value

    def _close_root(self):
        # A full disk fails the flush, after which the file can still be closed (see _release); a
        # failed H5Fclose leaves HDF5 in a state where any later close or exit crashes the process.
        try:
            self._root.flush()
        except RuntimeError as exc:
            match = re.search(r"errno = (\d+)", str(exc))
            if match is None:
                raise
            raise OSError(int(match.group(1)), os.strerror(int(match.group(1)))) from exc
        self._root.close()

    def _release(self):
        if self._root is not None:
            _writes_to_devnull(self._root)
        super()._release()


def _writes_to_devnull(h5file) -> None:
    """Point the file's descriptor at /dev/null, so that closing a file being discarded writes
    nothing (and cannot fail on a full disk)."""
    try:
        fd = h5file.id.get_vfd_handle()
    except Exception:
        return
    if not isinstance(fd, int) or fd < 0:
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


FORMAT = FormatSpec(
    name="hdf5",
    description="HDF5 event store (DSEC-style events/t,x,y,p + ms_to_idx; reads DSEC, TUM-VIE, MVSEC, "
                "Prophesee, evlib layouts)",
    suffixes=(".h5", ".hdf5"),
    magic=(MAGIC,),
    sniff=_has_signature,
    reader=HDF5Reader,
    writer=HDF5Writer,
)
