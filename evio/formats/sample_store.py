"""zarr v3 sample store (``.zarr`` folder): labelled dense samples ``[N, T, C, H, W]``, one per chunk.

Also the base classes of every *sample collection* format (``FormatSpec.kind == "samples"``):
:class:`SampleReader` and :class:`SampleWriter`.

Layout (see docs/formats/zarr-samples.md)::

    dense      bool   [N, T, C, H, W]  chunks (1, T, C, H, W) in shards of S samples, Blosc zstd bit-shuffle;
                                       C = 2, channel 0 = ON
    label      int64  [N]
    file_path  string [N]              (zarr v3 ``string``, vlen-utf8)

Root attributes: ``evio_layout = "evio-samples-1"``, ``sample_count``, ``event_count``, ``config``,
``split``, ``channels = "on_off"``, ``T``, ``C``, ``H``, ``W``, ``sensor_size`` [W, H],
``time_unit = "timestep"``, ``evio_meta`` (all metadata as JSON).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._atomic import AtomicDestination, evio_layout
from .._torch import as_numpy
from ..errors import FormatError
from ..registry import FormatSpec
from ._zarr import compressors, settle_writes, zarr_module
from .base import AtomicWriter, DEFAULT_CHUNK_SIZE, EventReader, clean_meta

LAYOUT = "evio-samples-1"
#: Layout of the frame stores of ``evio dataset prepare`` (see :mod:`evio.datasets._neuromorphic`).
FRAMES_LAYOUT = "evio-frames-1"
#: Bytes of dense bool samples held in memory per batch when no batch size is given.
BATCH_BYTES = 64 << 20
#: Bytes of dense bool samples per shard file of a sample store with ``samples_per_shard="auto"``.
SHARD_BYTES = 32 << 20
#: At most this many samples per shard (each shard's index holds 16 bytes per sample slot).
MAX_SHARD_SAMPLES = 1024
#: Samples scanned for the event rate by :meth:`SampleReader.extra_info` unless told otherwise.
RATE_SAMPLES = 10_000
#: Labels and file paths per chunk of a sample store.
TABLE_CHUNK = 1 << 16
_NOT_EVENTS = ("is a sample collection (labelled dense [T, C, H, W] samples), not an event stream; use "
               "evio.datasets.I2EShards or reader.samples(), or `evio convert` it to a sample store")


class SampleReader(EventReader):
    """Reads a collection of labelled dense samples; ``len()`` and ``.count`` are the sample count.

    Subclasses set ``self.count``, ``self.shape`` (``(T, C, H, W)`` or None when empty) and
    ``self.meta``, and implement ``_samples``. Event-stream methods raise ``TypeError``.
    """

    kind = "samples"

    def __init__(self, path, *, chunk_size: int = DEFAULT_CHUNK_SIZE, rate_samples: int | None = RATE_SAMPLES):
        super().__init__(path, chunk_size=chunk_size)
        self.meta["time_unit"] = "timestep"
        self.shape: tuple[int, int, int, int] | None = None
        if rate_samples is not None and int(rate_samples) < 1:
            raise ValueError(f"rate_samples must be >= 1 or None, got {rate_samples}")
        self.rate_samples = None if rate_samples is None else int(rate_samples)

    def _set_shape(self, shape) -> None:
        self.shape = None if shape is None else tuple(int(v) for v in shape)
        T, C, H, W = self.shape or (None,) * 4
        self.meta.update({"T": T, "C": C, "H": H, "W": W, "sensor_size": None if W is None else [W, H]})

    def default_batch_size(self) -> int:
        per_sample = int(np.prod(self.shape)) if self.shape else 1
        return max(1, BATCH_BYTES // max(per_sample, 1))

    def samples(self, batch_size: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, list[str]]]:
        """Yield ``(dense bool [n, T, C, H, W], labels int64 [n], file_paths)`` in stored order."""
        size = self.default_batch_size() if batch_size is None else int(batch_size)
        if size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return self._samples(size)

    def _samples(self, size: int):
        raise NotImplementedError

    def _not_events(self):
        return TypeError(f"{self.path} {_NOT_EVENTS}")

    def chunks(self, chunk_size=None):
        raise self._not_events()

    def read(self):
        raise self._not_events()

    def time_window(self, t0, t1):
        raise self._not_events()

    def summary(self):
        raise self._not_events()

    def _count_events(self, limit: int | None) -> tuple[int, int]:
        """``(set elements, samples scanned)`` over the first ``limit`` samples (all when None)."""
        events = scanned = 0
        for dense, _, _ in self.samples():
            if limit is not None and scanned + len(dense) > limit:
                dense = dense[: limit - scanned]
            events += int(np.count_nonzero(dense))
            scanned += len(dense)
            if limit is not None and scanned >= limit:
                break
        return events, scanned

    def extra_info(self) -> dict:
        """Config, split, sample count, T/C/H/W, event rate and total representation sizes."""
        from .._npy import npy_header
        from ..packbits import HEADER_BYTES

        n = self.count or 0
        out = {"kind": "samples", "config": self.meta.get("config"), "split": self.meta.get("split"),
               "sample_count": n, "channels": self.meta.get("channels", "on_off"),
               "classes": len(self.meta["class_names"]) if self.meta.get("class_names") else None}
        T, C, H, W = self.shape or (None,) * 4
        out.update({"T": T, "C": C, "H": H, "W": W})
        if self.shape is None or n == 0:
            out.update({"event_rate": None, "event_rate_samples": 0, "event_count": 0, "representations": None})
            return out
        events, scanned = self._count_events(self.rate_samples)
        elements = T * C * H * W
        out["event_rate"] = events / (scanned * elements) if scanned else None
        out["event_rate_samples"] = scanned
        out["event_count"] = events
        if scanned < n:
            out["event_rate_note"] = f"event rate and sparse size from the first {scanned:,} of {n:,} samples"
        packed = HEADER_BYTES + (elements + 7) // 8
        total_events = events if scanned == n else round(events * n / scanned)
        out["representations"] = {
            "samples": n,
            "dense_bool": n * elements,
            "packed_npy": n * (len(npy_header(np.dtype(np.uint8), packed)) + packed),
            "sparse_uint8": 4 * total_events,
            "sparse_estimated": scanned < n,
        }
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self.path)!r} samples={self.count} shape={self.shape}>"


class SampleWriter(AtomicWriter):
    """Writes labelled dense samples atomically: nothing appears at ``path`` unless :meth:`close` succeeds.

    Call :meth:`write_samples` with batches; every sample must have the same ``[T, C, H, W]``.
    """

    format_name = "?"
    kind = "samples"

    def __init__(self, path: str | os.PathLike, *, sensor_size=None, meta: dict | None = None,
                 config_name: str | None = None, split: str | None = None):
        meta = dict(meta or {})
        meta.setdefault("time_unit", "timestep")
        self.meta = clean_meta(meta, sensor_size)
        if config_name is not None:
            self.meta["config"] = str(config_name)
        if split is not None:
            self.meta["split"] = str(split)
        self.path = Path(path)
        self._dest = AtomicDestination(self.path)
        self.count = 0
        self.event_count = 0
        self.shape: tuple[int, int, int, int] | None = None
        self._closed = False

    @property
    def tmp_path(self) -> Path:
        return self._dest.tmp

    def write_samples(self, dense, labels, file_paths=None) -> None:
        """Append ``dense`` (``[n, T, C, H, W]`` or one ``[T, C, H, W]``, bool or 0/1), ``labels`` (n ints)
        and ``file_paths`` (n strings; default ``f"{label}/{index}.npy"``)."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        dense, labels, file_paths = check_batch(dense, labels, file_paths, self.count, self.shape)
        if self.shape is None and len(dense):
            self.shape = tuple(int(v) for v in dense.shape[1:])
        if not len(dense):
            return
        self._write_samples(dense, labels, file_paths)
        self.event_count += int(np.count_nonzero(dense))
        self.count += len(dense)

    def write(self, events) -> None:
        raise TypeError(f"{self.path}: the {self.format_name} format holds labelled dense samples; "
                        "use write_samples(dense, labels, file_paths)")

    def _write_samples(self, dense: np.ndarray, labels: np.ndarray, file_paths: list[str]) -> None:
        raise NotImplementedError

    def final_meta(self) -> dict:
        meta = dict(self.meta)
        if self.shape is not None:
            T, C, H, W = self.shape
            meta.update({"T": T, "C": C, "H": H, "W": W, "sensor_size": [W, H]})
        meta.setdefault("channels", "on_off")
        return meta


def check_batch(dense, labels, file_paths, start: int, shape):
    """Validated ``(bool [n, T, C, H, W], int64 [n], list of n str)``; ``start`` numbers the samples."""
    arr = as_numpy(dense)
    if arr.ndim == 4:
        arr = arr[None]
    if arr.ndim != 5:
        raise ValueError(f"samples must be [T, C, H, W] or [N, T, C, H, W], got shape {arr.shape}")
    if max(arr.shape[1:], default=0) > 65535 or min(arr.shape[1:]) < 1:
        raise ValueError(f"every sample dimension must be within 1..65535, got {arr.shape[1:]}")
    if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise ValueError(f"sample {start} has shape {tuple(arr.shape[1:])}, earlier samples {tuple(shape)}; "
                         "a collection holds one shape")
    if arr.dtype != np.bool_:
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            i = int(np.argmax(bad.reshape(len(arr), -1).any(axis=1)))
            raise ValueError(f"sample {start + i} holds values other than 0 and 1 (dense samples are binary)")
        arr = arr.astype(bool)
    labels = as_numpy(labels).reshape(-1)
    if len(labels) != len(arr):
        raise ValueError(f"{len(arr)} samples but {len(labels)} labels (from sample {start})")
    if len(labels) and labels.dtype.kind not in "biu":
        if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if file_paths is None:
        file_paths = [f"{int(lab)}/{start + i}.npy" for i, lab in enumerate(labels)]
    else:
        file_paths = [str(p) for p in file_paths]
        if len(file_paths) != len(arr):
            raise ValueError(f"{len(arr)} samples but {len(file_paths)} file paths (from sample {start})")
    return np.ascontiguousarray(arr), labels, file_paths


# -- the zarr sample store --------------------------------------------------------------------------

def is_sample_store(path) -> bool:
    """True for a zarr v3 folder whose root attribute ``evio_layout`` is ``"evio-samples-1"``."""
    return evio_layout(path) == LAYOUT


def is_frame_store(path) -> bool:
    """True for a frame store written by ``evio dataset prepare`` (or a dataset's ``cache=``)."""
    return evio_layout(path) == FRAMES_LAYOUT


def frame_store_info(path) -> dict:
    """``evio.info`` of a frame store: dataset, split, samples, classes, frame shape ``T, C, H, W`` and
    dtype, the frame and dataset options, whether every sample is written, size on disk. Its frames
    are read with :class:`evio.datasets.PreparedFrames`."""
    from ._store import path_size

    try:
        root = zarr_module().open_group(store=str(path), mode="r", zarr_format=3)
        attrs = dict(root.attrs)
        frames, labels = root["frames"], np.asarray(root["label"][:], np.int64)
    except Exception as exc:  # zarr raises many types for a damaged store
        raise FormatError(f"cannot open frame store ({type(exc).__name__}: {exc})", path) from None
    if len(frames.shape) != 5:
        raise FormatError(f"frames must be [N, T, C, H, W], is {frames.shape}", path)
    n, T, C, H, W = (int(v) for v in frames.shape)
    complete = bool(attrs.get("complete"))
    written = n if complete else sum(1 for f in (Path(path) / "frames").glob("c.*") if f.is_file())
    options = {}
    for key in ("frames", "options"):
        try:
            options[key] = json.loads(attrs[key])
        except (KeyError, TypeError, ValueError):
            options[key] = attrs.get(key)
    return {"path": str(path), "format": "zarr-frames", "version": FRAMES_LAYOUT, "kind": "frames",
            "dataset": attrs.get("dataset"), "split": attrs.get("split"), "sample_count": n,
            "samples_written": written, "complete": complete,
            "classes": len(np.unique(labels)) if n else 0, "T": T, "C": C, "H": H, "W": W,
            "dtype": str(frames.dtype), "sensor_size": [W, H], "time_unit": "timestep",
            "frame_options": options["frames"], "dataset_options": options["options"],
            "size_bytes": path_size(path)}


class SampleStoreReader(SampleReader):
    """Reads a zarr sample store. Options: ``rate_samples`` (used only when ``event_count`` is missing)."""

    format_name = "zarr-samples"

    def __init__(self, path, *, chunk_size: int = DEFAULT_CHUNK_SIZE, rate_samples: int | None = RATE_SAMPLES):
        super().__init__(path, chunk_size=chunk_size, rate_samples=rate_samples)
        self._verified = False
        if not self.path.is_dir():
            raise FormatError("a zarr sample store is a folder, but this is a file", self.path, 0)
        try:
            self._root = zarr_module().open_group(store=str(self.path), mode="r", zarr_format=3)
            attrs = dict(self._root.attrs)
        except Exception as exc:
            raise FormatError(f"cannot open zarr store ({type(exc).__name__}: {exc})", self.path) from None
        if attrs.get("evio_layout") != LAYOUT:
            raise FormatError(f"not a sample store: root attribute evio_layout is {attrs.get('evio_layout')!r}, "
                              f"expected {LAYOUT!r}", self.path)
        self._attrs = attrs
        self.version = LAYOUT
        arrays = {}
        for name in ("dense", "label", "file_path"):
            try:
                arrays[name] = self._root[name]
            except Exception:
                raise FormatError(f"sample store lacks the array {name!r}", self.path) from None
        self._dense, self._label, self._file_path = arrays["dense"], arrays["label"], arrays["file_path"]
        if len(self._dense.shape) != 5 or self._dense.dtype != np.bool_:
            raise FormatError(f"dense must be bool [N, T, C, H, W], is {self._dense.dtype} {self._dense.shape}",
                              self.path)
        n = int(self._dense.shape[0])
        lengths = {"dense": n, "label": int(self._label.shape[0]), "file_path": int(self._file_path.shape[0]),
                   "sample_count attribute": int(attrs.get("sample_count", -1))}
        if len(set(lengths.values())) != 1:
            raise FormatError(f"truncated or damaged store: lengths differ {lengths}", self.path)
        self.count = n
        meta = {}
        if "evio_meta" in attrs:
            try:
                meta = json.loads(attrs["evio_meta"])
            except (TypeError, ValueError):
                raise FormatError("attribute evio_meta is not valid JSON", self.path) from None
            if not isinstance(meta, dict):
                raise FormatError("attribute evio_meta is not a JSON object", self.path)
        self.meta.update(meta)
        for key in ("config", "split", "channels"):
            if key in attrs:
                self.meta[key] = attrs[key]
        self.meta["format"] = self.format_name
        self.meta["time_unit"] = "timestep"
        self._set_shape(self._dense.shape[1:])

    def _verify(self) -> None:
        """Every chunk (or shard) file of the three arrays exists: zarr would read a missing one as zeros."""
        if self._verified:
            return
        for name in ("dense", "label", "file_path"):
            try:
                with open(self.path / name / "zarr.json", "rb") as f:
                    doc = json.load(f)
                outer = int(doc["chunk_grid"]["configuration"]["chunk_shape"][0])
                enc = doc.get("chunk_key_encoding", {"name": "default"})
                sep = enc.get("configuration", {}).get("separator", "/" if enc["name"] == "default" else ".")
                ndim = len(doc["shape"])
            except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                raise FormatError(f"cannot read the metadata of {name} ({type(exc).__name__}: {exc})",
                                  self.path) from None
            for k in range(-(-self.count // outer)):
                coords = sep.join([str(k)] + ["0"] * (ndim - 1))
                key = f"c{sep}{coords}" if enc["name"] == "default" else coords
                if not (self.path / name / key).is_file():
                    raise FormatError(f"truncated sample store: {name} chunk {key} "
                                      f"(from sample {k * outer}) is missing", self.path)
        self._verified = True

    def _read(self, arr, name: str, a: int, b: int) -> np.ndarray:
        try:
            return np.asarray(arr[a:b])
        except Exception as exc:
            raise FormatError(f"cannot read {name}[{a}:{b}] ({type(exc).__name__}: {exc})", self.path) from None

    def _samples(self, size: int):
        self._verify()
        for a in range(0, self.count, size):
            b = min(a + size, self.count)
            dense = self._read(self._dense, "dense", a, b)
            labels = self._read(self._label, "label", a, b).astype(np.int64, copy=False)
            paths = [str(p) for p in self._read(self._file_path, "file_path", a, b).tolist()]
            yield dense, labels, paths

    def _count_events(self, limit):
        if "event_count" in self._attrs:
            return int(self._attrs["event_count"]), self.count
        return super()._count_events(limit)

    def close(self) -> None:
        self._root = None


class SampleStoreWriter(SampleWriter):
    """Options: ``compression`` ('blosc-zstd' default, 'blosc-lz4', 'zstd', 'gzip', None),
    ``compression_level``, ``samples_per_shard`` ("auto": about 32 MiB of dense samples, at most 1024,
    per shard file; an int; None: no sharding, one file per sample), ``config_name``, ``split``."""

    format_name = "zarr-samples"

    def __init__(self, path, *, compression="default", compression_level=None, samples_per_shard="auto",
                 **options):
        if samples_per_shard not in ("auto", None) and (not isinstance(samples_per_shard, int)
                                                         or samples_per_shard < 1):
            raise ValueError(f"samples_per_shard must be 'auto', None or an int >= 1, got {samples_per_shard!r}")
        self._codec = compressors(compression, compression_level)
        super().__init__(path, **options)
        self.samples_per_shard = samples_per_shard
        self._root = zarr_module().open_group(store=str(self.tmp_path), mode="w", zarr_format=3)
        self._dense = None
        self._pending_dense: list[np.ndarray] = []
        self._pending_labels: list[np.ndarray] = []
        self._pending_paths: list[str] = []
        self._label = self._root.create_array("label", shape=(0,), dtype=np.int64, chunks=(TABLE_CHUNK,),
                                              fill_value=0, compressors=self._codec,
                                              config={"write_empty_chunks": True})
        self._file_path = self._root.create_array("file_path", shape=(0,), dtype=str, chunks=(TABLE_CHUNK,),
                                                  config={"write_empty_chunks": True})

    def _create_dense(self, shape) -> None:
        per_shard = self.samples_per_shard
        if per_shard == "auto":
            per_shard = max(1, min(MAX_SHARD_SAMPLES, SHARD_BYTES // int(np.prod(shape))))
        self._per_shard = per_shard or 1
        self._dense = self._root.create_array(
            "dense", shape=(0, *shape), dtype=bool, chunks=(1, *shape), fill_value=False,
            shards=None if per_shard is None else (per_shard, *shape),
            compressors=self._codec, config={"write_empty_chunks": True},
        )

    def _write_samples(self, dense, labels, file_paths):
        if self._dense is None:
            self._create_dense(dense.shape[1:])
        self._pending_dense.append(dense)
        self._pending_labels.append(labels)
        self._pending_paths.extend(file_paths)
        if sum(len(d) for d in self._pending_dense) >= self._per_shard:
            self._flush_dense(final=False)
        if len(self._pending_paths) >= TABLE_CHUNK:
            self._flush_table(final=False)

    def _flush_dense(self, final: bool) -> None:
        """Append whole shards only, so that no shard file is rewritten."""
        if not self._pending_dense:
            return
        dense = self._pending_dense[0] if len(self._pending_dense) == 1 else np.concatenate(self._pending_dense)
        cut = len(dense) if final else len(dense) - len(dense) % self._per_shard
        if cut:
            self._dense.append(dense[:cut])
        self._pending_dense = [dense[cut:]] if cut < len(dense) else []

    def _flush_table(self, final: bool) -> None:
        labels = np.concatenate(self._pending_labels) if self._pending_labels else np.empty(0, np.int64)
        keep = 0 if final else len(labels) % TABLE_CHUNK
        cut = len(labels) - keep
        if cut:
            self._label.append(labels[:cut])
            self._file_path.append(np.array(self._pending_paths[:cut], dtype=object).astype(str))
        self._pending_labels = [labels[cut:]] if keep else []
        self._pending_paths = self._pending_paths[cut:]

    def _finish(self) -> None:
        self._flush_dense(final=True)
        self._flush_table(final=True)
        meta = self.final_meta()
        if self._dense is None:
            shape = tuple(meta.get(k) for k in "TCHW")
            if not all(isinstance(v, int) and v > 0 for v in shape):
                raise ValueError(f"{self.path}: no samples written and no T, C, H, W in meta; "
                                 "cannot size an empty sample store")
            self._create_dense(shape)
            meta["sensor_size"] = [shape[3], shape[2]]
        T, C, H, W = self._dense.shape[1:]
        attrs = {
            "evio_layout": LAYOUT, "sample_count": self.count, "event_count": self.event_count,
            "config": meta.get("config"), "split": meta.get("split"), "channels": meta.get("channels", "on_off"),
            "T": T, "C": C, "H": H, "W": W, "sensor_size": [W, H], "time_unit": "timestep",
            "evio_meta": json.dumps(meta),
        }
        self._root.attrs.update(attrs)
        self._root = None

    def _release(self) -> None:
        settle_writes()
        self._root = None
        self._pending_dense = []


FORMAT = FormatSpec(
    name="zarr-samples",
    description="zarr v3 store of labelled dense samples [N, T, 2, H, W] (one chunk per sample)",
    suffixes=(".zarr",),
    directory=True,
    sniff=is_sample_store,
    reader=SampleStoreReader,
    writer=SampleStoreWriter,
    kind="samples",
)
