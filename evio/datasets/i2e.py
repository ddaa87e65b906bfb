"""I2E Hugging Face parquet shards as a map-style dataset, and a writer of such shards.

Hub layout: ``<root>/<config>/<split>-00000-of-00004.parquet`` (or ``<root>/<config>/data/...``),
columns ``file_path``, ``label``, ``data`` (see :mod:`evio.formats.parquet`). Needs pyarrow.
"""

from __future__ import annotations

import glob
import operator
import os
import re
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .. import packbits
from .._npy import u8_payload
from .._torch import as_numpy, batch_buffer, batch_rows
from ..dense import from_dense
from ..errors import FormatError
from ..formats.parquet import (
    ROW_GROUP_SIZE,
    I2EShardWriter,
    ParquetShard,
    config_of,
    decode,
    pyarrow,
    split_of,
)
from ..formats.sample_store import SampleStoreReader, is_sample_store
from ._cell_cache import cache_id, fingerprint, open_or_build

#: Folder of the random-access cache beside the first shard (see :class:`I2EShards`).
CACHE_FOLDER = ".evio-cache"

_GLOB_CHARS = re.compile(r"[*?\[]")


def find_shards(source, config: str | None = None, split: str | None = None) -> list[Path]:
    """Parquet files named by ``source``: a file, a glob, a folder (Hub root with ``config``, a config
    folder, or a folder of shards) or a list of these; only ``split`` shards when given."""
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not items:
        raise ValueError("no shard files given")
    found: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            found += _shards_in(path, config)
        elif path.is_file():
            found.append(path)
        elif _GLOB_CHARS.search(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not matches:
                raise FileNotFoundError(f"no files match {text}")
            found += matches
        else:
            raise FileNotFoundError(f"no such file or folder: {text}")
    found = list(dict.fromkeys(found))
    if split is not None:
        picked = [p for p in found if split_of(p) == split]
        if not picked:
            have = sorted({split_of(p) or "?" for p in found})
            raise FileNotFoundError(f"no {split!r} shards among {len(found)} files (splits found: {have})")
        found = picked
    return found


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) + sorted((folder / "data").glob("*.parquet"))


def _shards_in(folder: Path, config: str | None) -> list[Path]:
    if config is not None:
        sub = folder / config
        if not sub.is_dir():
            have = sorted(d.name for d in folder.iterdir() if d.is_dir() and _parquet_files(d))
            raise FileNotFoundError(f"no config folder {config!r} in {folder} (configs found: {have})")
        folder = sub
    files = _parquet_files(folder)
    if files:
        return files
    if config is None and folder.is_dir():
        configs = sorted(d.name for d in folder.iterdir() if d.is_dir() and _parquet_files(d))
        if len(configs) == 1:
            return _parquet_files(folder / configs[0])
        if configs:
            raise ValueError(f"{folder} holds several configs {configs}; pass config=...")
    raise FileNotFoundError(f"no .parquet files in {folder}")


_DECODES = ("dense", "events", "packed")


def _sample_store(source) -> Path | None:
    if isinstance(source, (str, os.PathLike)) and is_sample_store(source):
        return Path(source)
    return None


class I2EShards:
    """I2E parquet shards (or a zarr sample store) as a map-style dataset: ``ds[i] -> (sample, label)``.

    ``paths_or_glob``: a shard file, a list of files, a glob, a folder (a Hub root together with
    ``config="I2E-CIFAR10"``, or a config folder), or a sample store folder (``evio convert shard.parquet
    samples.zarr``). ``split`` keeps shards whose name starts with it (``"train"``, ``"validation"``).
    ``decode="dense"`` gives ``[T, 2, H, W]`` of ``dtype``; ``decode="events"`` gives ``EVENT_DTYPE`` events
    (``t`` = timestep, channel 0 = ON); ``decode="packed"`` gives the bit-packed body, uint8
    ``[ceil(T * 2 * H * W / 8)]``, for :func:`evio.torch.unpack` on the consumer's device.
    ``transform``/``target_transform`` are applied to sample/label.

    ``cache=True``: the first open copies every cell once (``progress``: True for a line on stderr once
    that takes over half a second, False, or a callable ``(done, total)``) into a memory-mapped cache in
    ``cache_dir`` (default: ``.evio-cache`` beside the first shard), so shuffled access costs one decode
    per item. Later opens,
    in any process, reuse it while every source keeps its path, size, mtime and footer; otherwise it is
    rebuilt. Where it cannot be written (read-only shards and no ``cache_dir``), or with ``cache=False``,
    row groups are read whole, the last ``cache_size`` kept. ``ds[indices]`` via :meth:`__getitems__`
    decodes a ``DataLoader`` batch in one call. Picklable without open files, so it works in
    ``DataLoader`` workers (fork and spawn).
    """

    def __init__(self, paths_or_glob, split: str | None = None, decode: str = "dense", dtype=np.float32,
                 transform=None, target_transform=None, *, config: str | None = None, cache_size: int = 4,
                 cache: bool = True, cache_dir=None, progress=True):
        if decode not in _DECODES:
            raise ValueError(f"decode must be 'dense', 'events' or 'packed', got {decode!r}")
        if int(cache_size) < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.decode = decode
        self.dtype = packbits.decoded_dtype(dtype)
        self.transform, self.target_transform = transform, target_transform
        self.split = split
        self.cache_size = int(cache_size)
        self._cache: OrderedDict = OrderedDict()
        self._shape = None
        self._labels = None
        self._file_paths = None
        self._reader = None
        self.store = _sample_store(paths_or_glob)
        if self.store is not None:
            self._init_store(split, config)
        else:
            self._init_shards(paths_or_glob, split, config)
        self._cells = self._open_cell_cache(cache_dir, progress) if cache else None

    def _init_shards(self, paths_or_glob, split, config) -> None:
        pyarrow()
        self.shards = [ParquetShard(p) for p in find_shards(paths_or_glob, config=config, split=split)]
        self.config = config or config_of(self.shards[0].path)
        rg_shard, rg_index, rg_row0, sizes = [], [], [], []
        for s, shard in enumerate(self.shards):
            row0 = 0
            for k, n in enumerate(shard.row_group_rows):
                if n:
                    rg_shard.append(s), rg_index.append(k), rg_row0.append(row0), sizes.append(n)
                row0 += n
        self._rg_shard = np.asarray(rg_shard, np.int64)
        self._rg_index = np.asarray(rg_index, np.int64)
        self._rg_row0 = np.asarray(rg_row0, np.int64)
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        kv = self.shards[0].kv_meta()
        self.class_names: list[str] | None = kv.get("class_names")
        self.classes: int | None = len(self.class_names) if self.class_names else self._classes_from_stats()

    def _init_store(self, split, config) -> None:
        self.shards = []
        reader = self._store_reader()
        if split is not None and reader.meta.get("split") not in (None, split):
            raise FileNotFoundError(f"{self.store} holds the {reader.meta.get('split')!r} split, not {split!r}")
        self.config = config or reader.meta.get("config") or self.store.stem
        self._starts = np.asarray([0, reader.count], np.int64)
        self.class_names = reader.meta.get("class_names")
        if self.class_names:
            self.classes = len(self.class_names)
        else:
            self.classes = int(self.labels.max()) + 1 if len(self) else None

    def _store_reader(self):
        if self._reader is None or self._reader[1] != os.getpid():
            self._reader = (SampleStoreReader(self.store), os.getpid())
        return self._reader[0]

    def _classes_from_stats(self) -> int | None:
        best = None
        for shard in self.shards:
            if shard.num_rows == 0:
                continue
            m = shard.label_max()
            if m is None:
                return None
            best = m if best is None else max(best, m)
        return None if best is None else best + 1

    # -- the random-access cache ------------------------------------------------------------------
    def _open_cell_cache(self, cache_dir, progress):
        sources = [self.store] if self.store is not None else [s.path for s in self.shards]
        folder = Path(cache_dir) if cache_dir is not None else sources[0].resolve().parent / CACHE_FOLDER
        cid, key, n = cache_id(sources), fingerprint(sources), len(self)
        try:
            return open_or_build(folder, cid, key, n, self._cell_batches, None if progress is False else progress,
                                 what=f"{n:,} samples of {self.config}")
        except OSError as exc:
            reason = f"cannot write the random-access cache in {folder} ({exc}); pass cache_dir= a writable folder"
        except FormatError as exc:
            reason = f"not caching: {exc}"
        warnings.warn(f"{reason}. Reading whole row groups instead, which is slow for shuffled access.",
                      RuntimeWarning, stacklevel=3)
        return None

    def _cell_batches(self):
        """``(cells, labels)`` of every sample in order, in batches."""
        if self.store is not None:
            for dense, labels, _ in self._store_reader().samples(256):
                yield packbits.dumps(dense), labels
            return
        for shard in self.shards:
            for rows in shard.iter_rows(256, columns=["label", "data"]):
                yield rows.cells(), rows.labels

    # -- pickling: paths only; handles and caches are reopened in each process --------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        state["_file_paths"] = None
        state["_reader"] = None
        return state

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _index(self, i) -> int:
        n = len(self)
        i = operator.index(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {n} samples")
        return i

    def _locate(self, i) -> tuple[int, int]:
        i = self._index(i)
        g = int(np.searchsorted(self._starts, i, side="right")) - 1
        return g, i - int(self._starts[g])

    def _rows(self, g: int):
        rows = self._cache.get(g)
        if rows is not None:
            self._cache.move_to_end(g)
            return rows
        shard = self.shards[self._rg_shard[g]]
        rows = shard.read_row_group(int(self._rg_index[g]), int(self._rg_row0[g]))
        self._cache[g] = rows
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return rows

    def _cells_of(self, indices) -> tuple[list, np.ndarray, list]:
        """``(cells, labels int64, [(path, row)])`` of ``indices``."""
        cells, labels, where = [], [], []
        if self._cells is not None or self.store is not None:
            idx = [self._index(i) for i in indices]
            if self._cells is not None:
                cells = [self._cells.cell(i) for i in idx]
                labels = self._cells.labels[idx]
            else:
                reader = self._store_reader()
                reader._verify()
                cells = [packbits.dumps(reader._read(reader._dense, "dense", i, i + 1)[0]) for i in idx]
                labels = self.labels[idx]
            for i in idx:
                if self.store is not None:
                    where.append((self.store, i))
                else:
                    g = int(np.searchsorted(self._starts, i, side="right")) - 1
                    where.append((self.shards[self._rg_shard[g]].path, int(self._rg_row0[g] + i - self._starts[g])))
            return cells, np.asarray(labels, np.int64), where
        held: dict[int, object] = {}
        for i in indices:
            g, j = self._locate(i)
            if g not in held:
                held[g] = self._rows(g)
            rows = held[g]
            cells.append(rows.cell(j))
            labels.append(rows.labels[j])
            where.append((rows.path, rows.row0 + j))
        return cells, np.asarray(labels, np.int64), where

    def _finish(self, sample, label):
        label = int(label)
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return sample, label

    def __getitem__(self, i):
        (cell,), (label,), ((path, row),) = self._cells_of([i])
        if self.decode == "dense":
            sample = decode(cell, row, path, dtype=self.dtype)
        elif self.decode == "packed":
            sample = _body(cell, row, path).copy()
        else:
            dense = decode(cell, row, path, dtype=bool)
            if dense.shape[1] != 2:
                raise FormatError(f"row {row}: decode='events' needs 2 channels (ON, OFF), sample has "
                                  f"shape {dense.shape}", path)
            sample = from_dense(dense, channels="on_off")
        return self._finish(sample, label)

    def __getitems__(self, indices: Sequence[int]) -> list:
        """``[(sample, label), ...]`` for ``indices``, decoded in one call into one array (``DataLoader`` with
        ``batch_size`` calls this). The default collate gives ``[B, ...]`` and ``[B]`` tensors: without a
        transform it takes the decoded array as it is, in shared memory inside a worker, with no copy."""
        if self.decode == "events" or not len(indices):
            return [self[i] for i in indices]
        fast = self._gather(indices)
        if fast is not None:
            batch, labels = self._decode_gathered(*fast, None, shared=True), self._cells.labels[fast[0]]
        else:
            cells, labels, where = self._cells_of(indices)
            batch = self._packed(cells, where) if self.decode == "packed" else self._dense(cells, where, None)
        if isinstance(batch, tuple):
            batch, handle = batch
        else:
            handle = None
        plain = self.transform is None and self.target_transform is None
        samples = batch_rows(batch, handle) if plain else batch
        out = SampleBatch(self._finish(sample, label) for sample, label in zip(samples, labels))
        if plain:
            out.samples, out.labels = batch, labels
        return out

    def get_batch(self, indices: Sequence[int], out=None):
        """Dense ``[N, T, 2, H, W]`` of ``dtype`` for ``indices``, decoded in one call (into ``out`` if given:
        a NumPy array or CPU torch tensor). No transform is applied; labels are ``ds.labels[indices]``."""
        fast = self._gather(indices) if len(indices) else None
        if fast is not None:
            return self._decode_gathered(*fast, out, dense=True)
        cells, _, where = self._cells_of(indices)
        if not cells:
            raise ValueError("get_batch needs at least one index")
        return self._dense(cells, where, out)

    def _gather(self, indices):
        """``(idx, rows uint8 [B, cell bytes], body offset, shape)`` from the cache in one copy when every
        cell has the same length and the batch shares one header; else None (the per-cell path, which
        names a damaged row)."""
        if self._cells is None:
            return None
        idx = np.asarray(indices, np.int64).reshape(-1)
        n = len(self)
        if len(idx) and (idx.min() < -n or idx.max() >= n):
            bad = idx[(idx < -n) | (idx >= n)][0]
            raise IndexError(f"index {bad} out of range for {n} samples")
        idx = np.where(idx < 0, idx + n, idx)
        rows = self._cells.rows(idx)
        if rows is None or not len(rows):
            return None
        try:
            payload = u8_payload(rows[0])
            shape = packbits.shape_of(payload)
        except ValueError:
            return None
        body = rows.shape[1] - len(payload) + packbits.HEADER_BYTES
        if len(rows) > 1 and not (rows[1:, :body] == rows[0, :body]).all():
            return None
        return idx, rows, body, shape

    def _decode_gathered(self, idx, rows, body, shape, out, dense=False, shared=False):
        """The batch (``out`` if given); with ``shared``, ``(array, tensor)`` from :func:`batch_buffer`."""
        packed = self.decode == "packed" and not dense
        if out is None:
            size = (len(rows), rows.shape[1] - body) if packed else (len(rows), *shape)
            dtype = np.uint8 if packed else self.dtype
            arr, tensor = batch_buffer(size, dtype) if shared else (np.empty(size, dtype), None)
            handle = (arr, tensor) if shared else arr
        else:
            arr, handle = packbits.checked_out(out, (len(rows), *shape), self.dtype)
        if packed:
            arr[...] = rows[:, body:]
            return handle
        offsets = np.arange(len(rows), dtype=np.int64) * rows.shape[1] + body
        packbits.unpack_bodies(rows, offsets, shape, arr.reshape(len(rows), -1))
        return handle

    def _dense(self, cells, where, out):
        try:
            return packbits.loads(cells, dtype=self.dtype, out=out)
        except FormatError:
            pass
        _check_one_shape(cells, where)
        return packbits.loads(cells, dtype=self.dtype, out=out)

    def _packed(self, cells, where) -> np.ndarray:
        bodies = [_body(cell, row, path) for cell, (path, row) in zip(cells, where)]
        if any(len(b) != len(bodies[0]) for b in bodies):
            _check_one_shape(cells, where)
        return np.stack(bodies)

    def block_shuffle(self, seed=None) -> np.ndarray:
        """Every index once: row groups in random order, rows shuffled within each. As a ``DataLoader``
        ``sampler`` it reads each row group about once per epoch instead of once per sample (useful with
        ``cache=False``)."""
        rng = np.random.default_rng(seed)
        parts = [self._starts[g] + rng.permutation(int(self._starts[g + 1] - self._starts[g]))
                 for g in rng.permutation(len(self._starts) - 1)]
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)

    @property
    def shape(self) -> tuple[int, int, int, int] | None:
        """``(T, C, H, W)`` of the first sample (None when there is none)."""
        if self._shape is None and len(self):
            (cell,), _, ((path, row),) = self._cells_of([0])
            try:
                self._shape = packbits.shape_of(u8_payload(cell))
            except ValueError as exc:
                raise FormatError(f"row {row}: {exc}", path) from None
        return self._shape

    @property
    def packed_bytes(self) -> int | None:
        """Bytes of one ``decode="packed"`` sample: ``ceil(T * C * H * W / 8)``."""
        shape = self.shape
        return None if shape is None else (int(np.prod(shape)) + 7) // 8

    @property
    def sensor_size(self) -> tuple[int, int, int] | None:
        """Tonic-style ``(W, H, C)``, e.g. ``(128, 128, 2)``."""
        shape = self.shape
        return None if shape is None else (shape[3], shape[2], shape[1])

    def _column(self, name: str) -> list:
        pa, _ = pyarrow()
        out = []
        for shard in self.shards:
            try:
                out.append(shard.file.read(columns=[name]).column(0))
            except (pa.ArrowException, OSError) as exc:
                raise FormatError(f"cannot read column {name!r}: {exc}", shard.path) from None
        return out

    @property
    def labels(self) -> np.ndarray:
        """int64 ``[len(ds)]``: every label (reads only the ``label`` column)."""
        if self._labels is None:
            if getattr(self, "_cells", None) is not None:
                self._labels = np.asarray(self._cells.labels)
            elif self.store is not None:
                reader = self._store_reader()
                self._labels = reader._read(reader._label, "label", 0, len(self)).astype(np.int64)
            else:
                parts = [np.asarray(c.to_numpy()).astype(np.int64) for c in self._column("label")]
                self._labels = np.concatenate(parts) if parts else np.empty(0, np.int64)
        return self._labels

    @property
    def file_paths(self) -> list[str | None]:
        """The ``file_path`` of every sample (None where a shard has no such column)."""
        if self._file_paths is None:
            out: list = []
            if self.store is not None:
                reader = self._store_reader()
                out = [str(p) for p in reader._read(reader._file_path, "file_path", 0, len(self)).tolist()]
            for shard in self.shards:
                if "file_path" in shard.columns:
                    out += shard.file.read(columns=["file_path"]).column(0).to_pylist()
                else:
                    out += [None] * shard.num_rows
            self._file_paths = out
        return self._file_paths

    def close(self) -> None:
        """Drop open files, memory maps and cached row groups (they reopen on the next access)."""
        self._cache.clear()
        for shard in self.shards:
            shard.close()
        if self._cells is not None:
            self._cells.close()
        self._reader = None

    def __repr__(self) -> str:
        source = f"store={str(self.store)!r}" if self.store is not None else f"shards={len(self.shards)}"
        return (f"<I2EShards {self.config!r} split={self.split!r} samples={len(self)} {source} "
                f"decode={self.decode!r} cached={self._cells is not None}>")


class SampleBatch(list):
    """What :meth:`I2EShards.__getitems__` returns: ``[(sample, label), ...]``, the samples being views
    of one NumPy array ``samples`` ``[B, ...]``, with ``labels`` int64 ``[B]``; both None when a transform
    was applied. PyTorch's default collate, given these views in order, returns ``samples`` as a tensor
    instead of stacking copies of them."""

    samples = None
    labels = None


def _body(cell, row, path) -> np.ndarray:
    """The packed body of one cell, uint8 ``[ceil(T * C * H * W / 8)]`` (a view)."""
    try:
        payload = u8_payload(cell)
        packbits.shape_of(payload)
    except ValueError as exc:
        raise FormatError(f"row {row}: {exc}", path) from None
    return np.frombuffer(payload, np.uint8, offset=packbits.HEADER_BYTES)


def _check_one_shape(cells, where) -> None:
    """FormatError naming the first cell that is damaged or differs in shape from the first."""
    first = None
    for cell, (path, row) in zip(cells, where):
        shape = decode(cell, row, path, dtype=bool).shape
        if first is None:
            first = (shape, path, row)
        elif shape != first[0]:
            raise FormatError(f"row {row} has shape {shape}, but {first[1]} row {first[2]} has {first[0]}; "
                              "a batch needs one shape", path)


def write_i2e_shards(samples, labels, out_dir, config_name: str, split: str = "train",
                     rows_per_shard: int | None = None, file_paths: Iterable[str] | None = None,
                     row_group_size: int = ROW_GROUP_SIZE, compression="snappy", batch_size: int = 256,
                     class_names=None) -> list[Path]:
    """Write dense samples as I2E shards ``<out_dir>/<config_name>/<split>-0000k-of-0000n.parquet``.

    ``samples``: an iterable of bool ``[T, 2, H, W]`` (or an ``[N, T, 2, H, W]`` array); ``labels``: as
    many ints; ``file_paths``: as many strings (default ``f"{label}/{i}.npy"``); ``class_names``:
    optional label names. ``data`` cells are ``packbits.dumps(sample)``. Atomic (see
    :class:`I2EShardWriter`); returns the shard paths.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    label_it = iter(labels)
    path_it = None if file_paths is None else iter(file_paths)
    with I2EShardWriter(out_dir, config_name, split, rows_per_shard=rows_per_shard,
                        row_group_size=row_group_size, compression=compression,
                        class_names=class_names) as writer:
        batch: list = []
        seen = 0

        def flush():
            ls, ps = [], None if path_it is None else []
            for k in range(len(batch)):
                try:
                    ls.append(next(label_it))
                    if ps is not None:
                        ps.append(next(path_it))
                except StopIteration:
                    what = "labels" if len(ls) == k else "file paths"
                    raise ValueError(f"fewer {what} than samples ({seen - len(batch) + k} given)") from None
            arrays = [as_numpy(s) for s in batch]
            first = seen - len(batch)
            for k, a in enumerate(arrays):
                if a.shape != arrays[0].shape:
                    raise ValueError(f"sample {first + k} has shape {a.shape}, sample {first} {arrays[0].shape}; "
                                     "a collection holds one shape")
            writer.write_samples(np.stack(arrays), ls, ps)
            batch.clear()

        for sample in samples:
            batch.append(sample)
            seen += 1
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        for what, it in (("labels", label_it), ("file paths", path_it)):
            if it is not None and next(it, _END) is not _END:
                raise ValueError(f"more {what} than samples ({seen})")
    return writer.paths


_END = object()
