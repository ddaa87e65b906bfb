"""zarr v3 event store (``.zarr`` folder): the HDF5 store's layout, Blosc-zstd compressed, time-indexed.

Readable with plain zarr-python: ``zarr.open_group(p)["events/t"][:] + zarr.open_group(p)["t_offset"][()]``.
"""

from __future__ import annotations

import numpy as np

from .._fs import is_remote, redact, zarr_layout, zarr_store
from ..errors import FormatError
from ..registry import FormatSpec
from ._store import StoreReader, StoreWriter
from ._zarr import compressors, settle_writes, zarr_module


def _is_zarr_v3_folder(path) -> bool:
    return (path / "zarr.json").is_file()


def _is_event_store(path) -> bool:
    """A zarr v3 folder that is not an evio sample store (those belong to ``zarr-samples``)."""
    from .sample_store import is_sample_store

    return _is_zarr_v3_folder(path) and not is_sample_store(path)


def is_event_store_url(url: str, storage_options: dict | None = None) -> bool:
    """Whether the URL holds a zarr v3 store that is not an evio sample or frame store."""
    from .sample_store import FRAMES_LAYOUT, LAYOUT

    layout = zarr_layout(url, storage_options)
    return layout is not None and layout not in (LAYOUT, FRAMES_LAYOUT)


class ZarrReader(StoreReader):
    """Options: ``fields={'t': 'path/to/t', ...}`` for layouts other than ``events/t`` or top-level ``t``;
    ``storage_options`` (dict, for fsspec) where ``path`` is a URL such as ``s3://bucket/rec.zarr``:
    chunks are then fetched as the events in them are read."""

    format_name = "zarr"

    def __init__(self, path, *, storage_options: dict | None = None, **options):
        self._url = path if is_remote(path) else None
        self._storage_options = storage_options
        super().__init__(path, **options)

    def _open_root(self):
        if self._url is not None:
            return self._open_url()
        if not self.path.is_dir():
            raise FormatError("a zarr store is a folder, but this is a file", self.path, 0)
        if not _is_zarr_v3_folder(self.path):
            raise FormatError("not a zarr v3 store: zarr.json is missing", self.path)
        zarr = zarr_module()
        try:
            return zarr.open_group(store=str(self.path), mode="r", zarr_format=3)
        except Exception as exc:
            raise FormatError(f"cannot open zarr store ({type(exc).__name__}: {exc})", self.path) from None

    def _open_url(self):
        self.path = redact(self._url)
        zarr = zarr_module()
        try:
            store = zarr_store(self._url, self._storage_options)
            return zarr.open_group(store=store, mode="r", zarr_format=3)
        except (ImportError, PermissionError):
            raise
        except FileNotFoundError:
            raise FormatError("not a zarr v3 store: zarr.json is missing", self.path) from None
        except Exception as exc:
            raise FormatError(f"cannot open zarr store ({type(exc).__name__}: {redact(exc, self._url)})",
                              self.path) from None

    def _verify(self, arrays):
        for name, arr in arrays.items():
            try:
                have, want = arr.nchunks_initialized, arr.nchunks
            except Exception as exc:
                raise FormatError(f"cannot list chunks of {name} ({exc})", self.path) from None
            if have != want:
                raise FormatError(f"truncated or damaged zarr store: {name} has {have} of {want} chunks",
                                  self.path)


class ZarrWriter(StoreWriter):
    """Options: ``compression`` ('blosc-zstd' default, 'blosc-lz4', 'zstd', 'gzip', None),
    ``compression_level``, ``chunk_length`` (events per chunk), ``time_index`` (bool)."""

    format_name = "zarr"

    def __init__(self, path, *, compression="default", compression_level=None, **options):
        self._codec = compressors(compression, compression_level)
        super().__init__(path, compression=compression, **options)

    def _create_root(self):
        return zarr_module().open_group(store=str(self.tmp_path), mode="w", zarr_format=3)

    def _create_array(self, name, dtype):
        return self._root.create_array(
            name, shape=(0,), dtype=dtype, chunks=(self.chunk_length,), fill_value=0,
            compressors=self._codec, config={"write_empty_chunks": True},
        )

    def _append(self, arr, data):
        arr.append(data)

    def _write_value(self, name, data):
        data = np.asarray(data)
        arr = self._root.create_array(name, shape=data.shape, dtype=data.dtype, compressors=self._codec,
                                      config={"write_empty_chunks": True},
                                      **({} if data.ndim == 0 else {"chunks": (max(1, min(len(data), 1 << 20)),)}))
        arr[...] = data

    def _set_attrs(self, attrs):
        self._root.attrs.update(attrs)

    def _release(self):
        settle_writes()
        super()._release()


FORMAT = FormatSpec(
    name="zarr",
    description="zarr v3 event store (events/t,x,y,p + ms_to_idx), chunked, Blosc-zstd compressed",
    suffixes=(".zarr",),
    directory=True,
    sniff=_is_event_store,
    reader=ZarrReader,
    writer=ZarrWriter,
)
