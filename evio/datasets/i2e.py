"""I2E Hugging Face parquet shards as a map-style dataset, and a writer of such shards.

Hub layout: ``<root>/<config>/<split>-00000-of-00004.parquet`` (or ``<root>/<config>/data/...``),
columns ``file_path``, ``label``, ``data`` (see :mod:`evio.formats.parquet`). Needs pyarrow.
"""

from __future__ import annotations

import glob
import operator
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .. import packbits
from .._npy import u8_payload
from .._torch import as_numpy
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


class I2EShards:
    """I2E parquet shards as a map-style dataset: ``ds[i] -> (sample, label)``.

    ``paths_or_glob``: a shard file, a list of files, a glob, or a folder (a Hub root together with
    ``config="I2E-CIFAR10"``, or a config folder). ``split`` keeps shards whose name starts with it
    (``"train"``, ``"validation"``). ``decode="dense"`` gives ``[T, 2, H, W]`` of ``dtype``;
    ``decode="events"`` gives ``EVENT_DTYPE`` events (``t`` = timestep, channel 0 = ON).
    ``transform``/``target_transform`` are applied to sample/label. Files are memory-mapped and
    opened lazily in each process; row groups are read whole, the last ``cache_size`` kept.
    Picklable, so it works in ``DataLoader`` workers.
    """

    def __init__(self, paths_or_glob, split: str | None = None, decode: str = "dense", dtype=np.float32,
                 transform=None, target_transform=None, *, config: str | None = None, cache_size: int = 4):
        if decode not in ("dense", "events"):
            raise ValueError(f"decode must be 'dense' or 'events', got {decode!r}")
        if int(cache_size) < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        pyarrow()
        self.decode = decode
        self.dtype = packbits.decoded_dtype(dtype)
        self.transform, self.target_transform = transform, target_transform
        self.split = split
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
        self.cache_size = int(cache_size)
        self._cache: OrderedDict = OrderedDict()
        self._shape = None
        self._labels = None
        self._file_paths = None
        kv = self.shards[0].kv_meta()
        self.class_names: list[str] | None = kv.get("class_names")
        self.classes: int | None = len(self.class_names) if self.class_names else self._classes_from_stats()

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

    # -- pickling: paths only; handles and cache are rebuilt in each process ---------------------
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        state["_file_paths"] = None
        return state

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, i) -> tuple[int, int]:
        n = len(self)
        i = operator.index(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {n} samples")
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

    def __getitem__(self, i):
        g, j = self._locate(i)
        rows = self._rows(g)
        row, path = rows.row0 + j, rows.path
        if self.decode == "dense":
            sample = decode(rows.cell(j), row, path, dtype=self.dtype)
        else:
            dense = decode(rows.cell(j), row, path, dtype=bool)
            if dense.shape[1] != 2:
                raise FormatError(f"row {row}: decode='events' needs 2 channels (ON, OFF), sample has "
                                  f"shape {dense.shape}", path)
            sample = from_dense(dense, channels="on_off")
        label = int(rows.labels[j])
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return sample, label

    def get_batch(self, indices: Sequence[int], out=None):
        """Dense ``[N, T, 2, H, W]`` of ``dtype`` for ``indices``, decoded in one call (into ``out`` if given:
        a NumPy array or CPU torch tensor). No transform is applied; labels are ``ds.labels[indices]``."""
        held: dict[int, object] = {}
        cells, where = [], []
        for i in indices:
            g, j = self._locate(i)
            if g not in held:
                held[g] = self._rows(g)
            rows = held[g]
            cells.append(rows.cell(j))
            where.append((rows.path, rows.row0 + j))
        if not cells:
            raise ValueError("get_batch needs at least one index")
        try:
            return packbits.loads(cells, dtype=self.dtype, out=out)
        except FormatError:
            pass
        first = None
        for cell, (path, row) in zip(cells, where):
            shape = decode(cell, row, path, dtype=bool).shape
            if first is None:
                first = (shape, path, row)
            elif shape != first[0]:
                raise FormatError(f"row {row} has shape {shape}, but {first[1]} row {first[2]} has {first[0]}; "
                                  "a batch needs one shape", path)
        return packbits.loads(cells, dtype=self.dtype, out=out)

    def block_shuffle(self, seed=None) -> np.ndarray:
        """Every index once: row groups in random order, rows shuffled within each. As a ``DataLoader``
        ``sampler`` it reads each row group about once per epoch instead of once per sample."""
        rng = np.random.default_rng(seed)
        parts = [self._starts[g] + rng.permutation(int(self._starts[g + 1] - self._starts[g]))
                 for g in rng.permutation(len(self._starts) - 1)]
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)

    @property
    def shape(self) -> tuple[int, int, int, int] | None:
        """``(T, C, H, W)`` of the first sample (None when there is none)."""
        if self._shape is None and len(self):
            rows = self._rows(0)
            try:
                self._shape = packbits.shape_of(u8_payload(rows.cell(0)))
            except ValueError as exc:
                raise FormatError(f"row {rows.row0}: {exc}", rows.path) from None
        return self._shape

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
            parts = [np.asarray(c.to_numpy()).astype(np.int64) for c in self._column("label")]
            self._labels = np.concatenate(parts) if parts else np.empty(0, np.int64)
        return self._labels

    @property
    def file_paths(self) -> list[str | None]:
        """The ``file_path`` of every sample (None where a shard has no such column)."""
        if self._file_paths is None:
            out: list = []
            for shard in self.shards:
                if "file_path" in shard.columns:
                    out += shard.file.read(columns=["file_path"]).column(0).to_pylist()
                else:
                    out += [None] * shard.num_rows
            self._file_paths = out
        return self._file_paths

    def close(self) -> None:
        """Drop open files and cached row groups (they reopen on the next access)."""
        self._cache.clear()
        for shard in self.shards:
            shard.close()

    def __repr__(self) -> str:
        return (f"<I2EShards {self.config!r} split={self.split!r} samples={len(self)} shards={len(self.shards)} "
                f"decode={self.decode!r}>")


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
