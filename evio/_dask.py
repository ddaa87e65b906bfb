"""``evio.to_dask``: the events of an HDF5 or zarr store as a lazy ``dask.dataframe``."""

from __future__ import annotations

import json
import os
import threading

import numpy as np

#: Events per partition when neither ``partition_events`` nor ``partition_ms`` says otherwise
#: (about 55 MB as a pandas frame).
PARTITION_EVENTS = 1 << 22
_COLUMNS = {"t": np.int64, "x": np.uint16, "y": np.uint16, "p": np.bool_}


def _dask_dataframe():
    try:
        import dask.dataframe as dd
        import pandas as pd
    except ImportError:
        raise ImportError("evio.to_dask needs dask and pandas: pip install 'evio-toolkit[dask]'") from None
    return dd, pd


def to_dask(path, *, partition_events: int = PARTITION_EVENTS, partition_ms: float | None = None,
            storage_options: dict | None = None, **options):
    """The events of the HDF5 or zarr store at ``path`` (a local path or a URL of a zarr store, see
    :func:`evio.open`) as a lazy ``dask.dataframe.DataFrame``.

    Columns ``t`` (int64, µs for camera data), ``x``, ``y`` (uint16 pixels) and ``p`` (bool, True = ON);
    the index is the event number, with known divisions. Each partition is one range of the store's
    time index: about ``partition_events`` events per partition, or ``partition_ms`` milliseconds
    (1000 ``t`` units) each. Partitions are read when computed, so filtering, counting and
    histograms of a recording larger than memory run in bounded memory. ``options`` go to the reader
    (e.g. ``fields=``).
    """
    dd, pd = _dask_dataframe()
    from . import _fs, api
    from .formats._store import StoreReader

    if int(partition_events) < 1:
        raise ValueError(f"partition_events must be >= 1, got {partition_events}")
    if partition_ms is not None and not partition_ms > 0:
        raise ValueError(f"partition_ms must be > 0, got {partition_ms}")
    path = _fs.local_path(path)
    if _fs.is_remote(path) and _fs.zarr_layout(path, storage_options) is None:
        raise ValueError(f"{_fs.redact(path)}: to_dask reads zarr stores at URLs, not other files (each "
                         "partition would download it); convert it first, e.g. evio convert SRC s3://…/rec.zarr")
    with api.open(path, "r", storage_options=storage_options, **options) as reader:
        if not isinstance(reader, StoreReader):
            raise ValueError(f"{reader.path}: to_dask reads HDF5 and zarr event stores, not {reader.format_name} "
                             "files; convert it first, e.g. evio convert SRC rec.zarr")
        bounds = _bounds(reader, int(partition_events), partition_ms)
    source = _Partitions(os.fspath(path) if not _fs.is_url(path) else path, storage_options, options)
    meta = pd.DataFrame({name: np.empty(0, dtype) for name, dtype in _COLUMNS.items()},
                        index=pd.RangeIndex(0, 0))
    ranges = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    divisions = (*bounds[:-1].tolist(), max(int(bounds[-1]) - 1, int(bounds[-2])))
    return dd.from_map(source, ranges, meta=meta, divisions=divisions, label="evio-events",
                       enforce_metadata=False)


def _bounds(reader, partition_events: int, partition_ms: float | None) -> np.ndarray:
    """Event numbers where partitions start, and the event count last: cut at time-index bin edges
    where the store has an index, every ``partition_events`` events where it has none."""
    count = int(reader.count)
    index, width = reader._index, reader._bin_width
    if count == 0:
        return np.array([0, 0], np.int64)
    if index is None:
        cuts = np.arange(0, count, partition_events, dtype=np.int64)
    elif partition_ms is not None:
        step = max(1, int(round(partition_ms * 1000 / width)))
        cuts = index[::step]
    else:
        targets = np.arange(0, count, partition_events, dtype=np.int64)
        cuts = index[np.minimum(np.searchsorted(index, targets, side="left"), len(index) - 1)]
    return np.unique(np.concatenate([[0], cuts[cuts < count], [count]]).astype(np.int64))


class _Partitions:
    """Reads events ``a..b`` of one store as a pandas frame; the store stays open per process."""

    _lock = threading.Lock()
    _open: dict = {}

    def __init__(self, path: str, storage_options: dict | None, options: dict):
        self.path, self.storage_options, self.options = path, storage_options, options

    def __dask_tokenize__(self):
        return ("evio-events", self.path, json.dumps(self.storage_options, sort_keys=True, default=str),
                json.dumps(self.options, sort_keys=True, default=str))

    def _reader(self):
        from . import api

        key = (os.getpid(), *self.__dask_tokenize__())
        with self._lock:
            reader = self._open.get(key)
            if reader is None:
                reader = api.open(self.path, "r", storage_options=self.storage_options, **self.options)
                if len(self._open) >= 8:
                    self._open.pop(next(iter(self._open)))
                self._open[key] = reader
            return reader

    def __call__(self, bounds):
        _, pd = _dask_dataframe()
        a, b = bounds
        events = self._reader()._read_range(a, b)
        return pd.DataFrame({name: events[name] for name in _COLUMNS}, index=pd.RangeIndex(a, b))
