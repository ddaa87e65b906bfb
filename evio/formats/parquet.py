"""I2E Hugging Face parquet shards (``.parquet``): one labelled dense sample per row.

Columns: ``file_path`` (string, ``"{label}/{index}.npy"``), ``label`` (int64) and ``data`` (binary:
the whole ``.npy`` file of one sample, see :mod:`evio.packbits`). A shard is a *sample collection*,
not an event stream: read it with :meth:`I2EParquetReader.samples` or :class:`evio.datasets.I2EShards`;
write one file with :class:`I2EParquetWriter`, a Hub split of shards with :class:`I2EShardWriter`.
Needs pyarrow (``pip install 'evio-toolkit[parquet]'``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from .. import packbits
from .._atomic import sweep_stale, temp_sibling
from .._npy import u8_payload
from ..errors import FormatError
from ..registry import FormatSpec
from .base import DEFAULT_CHUNK_SIZE, AtomicWriter
from .sample_store import RATE_SAMPLES, SampleReader, SampleWriter, check_batch

COLUMNS = ("file_path", "label", "data")
#: Rows per row group written by evio (the Hugging Face ``datasets`` default for binary data).
ROW_GROUP_SIZE = 100
#: Bytes of ``data`` cells per shard file when ``rows_per_shard`` is not given (the Hub's 500 MB).
SHARD_BYTES = 500_000_000
#: A split name as the Hub layout allows it (``train``, ``validation``, ...).
SPLIT_RE = re.compile(r"[A-Za-z0-9_.]+")
#: Key of evio's entry in the parquet key-value metadata (JSON: config, split).
META_KEY = b"evio_i2e"
_SPLIT_NAME = re.compile(r"^(?P<split>[^-]+)-\d+-of-\d+\.parquet$", re.IGNORECASE)
_KNOWN_SPLITS = ("train", "validation", "val", "test")


def pyarrow():
    """``(pyarrow, pyarrow.parquet)``, or ImportError with the install hint."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading and writing parquet needs pyarrow: pip install 'evio-toolkit[parquet]'") from None
    return pa, pq


def split_of(path) -> str | None:
    """Split named by a Hub shard file name (``train-00000-of-00004.parquet`` -> ``"train"``)."""
    name = Path(path).name
    m = _SPLIT_NAME.match(name)
    if m:
        return m.group("split")
    head = re.split(r"[-_.]", name, maxsplit=1)[0].lower()
    return head if head in _KNOWN_SPLITS else None


def config_of(path) -> str:
    """Config named by the Hub layout ``<root>/<config>/[data/]<split>-*.parquet``."""
    parent = Path(path).resolve().parent
    return parent.parent.name if parent.name == "data" else parent.name


class ParquetShard:
    """One parquet file, memory-mapped and opened lazily (again after a fork); picklable."""

    def __init__(self, path):
        self.path = Path(path)
        self._pf = None
        self._source = None
        self._pid = None

    def __getstate__(self):
        return {"path": self.path, "_pf": None, "_source": None, "_pid": None}

    @property
    def file(self):
        """The open ``pyarrow.parquet.ParquetFile``."""
        if self._pf is None or self._pid != os.getpid():
            self._open()
        return self._pf

    def _open(self) -> None:
        pa, pq = pyarrow()
        self._pf = self._source = None
        if not self.path.is_file():
            raise FileNotFoundError(f"no such file: {self.path}")
        try:
            self._source = pa.memory_map(str(self.path), "r")
            pf = pq.ParquetFile(self._source)
        except (pa.ArrowException, OSError) as exc:
            self.close()
            raise FormatError(f"not a readable parquet file (truncated or damaged?): {_short(exc)}",
                              self.path) from None
        names = pf.schema_arrow.names
        for col in ("label", "data"):
            if col not in names:
                self.close()
                raise FormatError(f"not an I2E shard: no column {col!r} (columns: {names})", self.path)
        data_type = pf.schema_arrow.field("data").type
        if not (pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type)
                or getattr(pa.types, "is_binary_view", lambda _: False)(data_type)):
            self.close()
            raise FormatError(f"column 'data' must be binary, is {data_type}", self.path)
        if not pa.types.is_integer(pf.schema_arrow.field("label").type):
            self.close()
            raise FormatError(f"column 'label' must be integers, is {pf.schema_arrow.field('label').type}",
                              self.path)
        self._pf, self._pid = pf, os.getpid()

    @property
    def columns(self) -> list[str]:
        names = self.file.schema_arrow.names
        return [c for c in COLUMNS if c in names]

    @property
    def row_group_rows(self) -> list[int]:
        md = self.file.metadata
        return [md.row_group(i).num_rows for i in range(md.num_row_groups)]

    @property
    def num_rows(self) -> int:
        return int(self.file.metadata.num_rows)

    def kv_meta(self) -> dict:
        """evio's own key-value metadata and the class names of Hugging Face ``datasets`` metadata."""
        raw = self.file.schema_arrow.metadata or {}
        out = {}
        try:
            out.update(json.loads(raw[META_KEY]))
        except (KeyError, ValueError, TypeError):
            pass
        try:
            names = json.loads(raw[b"huggingface"])["info"]["features"]["label"]["names"]
            if isinstance(names, list):
                out["class_names"] = [str(n) for n in names]
        except (KeyError, ValueError, TypeError):
            pass
        return out

    def label_max(self) -> int | None:
        """Largest label according to the row-group statistics, or None where any is missing."""
        md = self.file.metadata
        col = md.schema.names.index("label")
        best = None
        for i in range(md.num_row_groups):
            rg = md.row_group(i)
            if rg.num_rows == 0:
                continue
            st = rg.column(col).statistics
            if st is None or not st.has_min_max:
                return None
            best = st.max if best is None else max(best, st.max)
        return None if best is None else int(best)

    def read_row_group(self, k: int, row0: int, columns=None) -> Rows:
        pa, _ = pyarrow()
        try:
            table = self.file.read_row_group(k, columns=list(columns or self.columns))
        except (pa.ArrowException, OSError) as exc:
            raise FormatError(f"cannot read row group {k} (rows from {row0}): {_short(exc)}", self.path) from None
        return Rows(table, row0, self.path)

    def iter_rows(self, batch_size: int, columns=None):
        """Yield :class:`Rows` of at most ``batch_size`` rows, in file order."""
        pa, _ = pyarrow()
        row0 = 0
        it = self.file.iter_batches(batch_size=batch_size, columns=list(columns or self.columns))
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise FormatError(f"cannot read rows from {row0}: {_short(exc)}", self.path) from None
            rows = Rows(batch, row0, self.path)
            row0 += len(rows)
            yield rows

    def close(self) -> None:
        if self._source is not None:
            try:
                self._source.close()
            except Exception:
                pass
        self._pf = self._source = None


class Rows:
    """Rows ``row0 .. row0 + n`` of one shard: labels, file paths and zero-copy views of the ``data`` cells."""

    def __init__(self, table, row0: int, path: Path):
        pa, _ = pyarrow()
        self.row0, self.path = int(row0), path
        self.n = table.num_rows
        names = table.schema.names
        self.labels = self._labels(table.column(names.index("label"))) if "label" in names else None
        paths = table.column(names.index("file_path")) if "file_path" in names else None
        self._paths = paths
        data = table.column(names.index("data"))
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks() if data.num_chunks != 1 else data.chunk(0)
        if not (pa.types.is_binary(data.type) or pa.types.is_large_binary(data.type)):
            data = data.cast(pa.large_binary())
        if data.null_count:
            j = int(np.flatnonzero(~np.asarray(data.is_valid()))[0])
            raise FormatError(f"row {self.row0 + j}: data is null", path)
        bufs = data.buffers()
        off_type = np.int64 if pa.types.is_large_binary(data.type) else np.int32
        if self.n and bufs[1] is not None:
            self.offsets = np.frombuffer(bufs[1], off_type)[data.offset:data.offset + self.n + 1].astype(np.int64)
        else:
            self.offsets = np.zeros(self.n + 1, np.int64)
        self._buf = memoryview(bufs[2]).cast("B") if bufs[2] is not None else memoryview(b"")
        self._keep = data

    def _labels(self, col) -> np.ndarray:
        if col.null_count:
            j = int(np.flatnonzero(~np.asarray(col.is_valid()))[0])
            raise FormatError(f"row {self.row0 + j}: label is null", self.path)
        return np.asarray(col.to_numpy(zero_copy_only=False)).astype(np.int64)

    def __len__(self) -> int:
        return self.n

    def cell(self, j: int) -> memoryview:
        return self._buf[self.offsets[j]:self.offsets[j + 1]]

    def cells(self, js=None) -> list[memoryview]:
        return [self.cell(j) for j in (range(self.n) if js is None else js)]

    def file_path(self, j: int) -> str | None:
        return None if self._paths is None else self._paths[j].as_py()

    def file_paths(self) -> list[str]:
        if self._paths is None:
            return [""] * self.n
        return ["" if p is None else p for p in self._paths.to_pylist()]

    def payloads(self, js=None) -> list[memoryview]:
        """Validated raw payloads (shape header + packed bits) of the cells; FormatError names the row."""
        out = []
        for j in (range(self.n) if js is None else js):
            try:
                p = u8_payload(self.cell(j))
                packbits.shape_of(p)
            except ValueError as exc:
                raise FormatError(f"row {self.row0 + j}: {exc}", self.path) from None
            out.append(p)
        return out


def decode(cells, rows, path, dtype=bool, out=None) -> np.ndarray:
    """``packbits.loads`` of one cell (``rows`` an int; gives ``[T, C, H, W]``) or of a list of cells
    (``rows`` their row numbers; gives ``[N, T, C, H, W]``). A FormatError names the file and row."""
    if not isinstance(cells, list):
        try:
            return packbits.loads(cells, dtype=dtype, out=out)
        except FormatError as exc:
            raise FormatError(f"row {rows}: {exc.reason}", path) from None
    try:
        return packbits.loads(cells, dtype=dtype, out=out)
    except FormatError:
        pass
    first = None
    for cell, row in zip(cells, rows):
        try:
            shape = packbits.shape_of(u8_payload(cell))
        except ValueError as exc:
            raise FormatError(f"row {row}: {exc}", path) from None
        if first is None:
            first = (shape, row)
        elif shape != first[0]:
            raise FormatError(f"row {row} has shape {shape}, row {first[1]} has {first[0]}; "
                              "a batch needs one shape", path)
    return packbits.loads(cells, dtype=dtype, out=out)


_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint8)


def count_set_bits(payloads: list, n_bits: int) -> int:
    """Set elements in raw payloads of ``n_bits`` elements each (padding bits ignored)."""
    if not payloads:
        return 0
    rows = np.stack([np.frombuffer(p, np.uint8)[packbits.HEADER_BYTES:] for p in payloads])
    if n_bits % 8:
        rows[:, -1] &= np.uint8((0xFF << (8 - n_bits % 8)) & 0xFF)
    if hasattr(np, "bitwise_count"):
        return int(np.bitwise_count(rows).sum(dtype=np.int64))
    return int(_POPCOUNT[rows].sum(dtype=np.int64))


class I2EParquetReader(SampleReader):
    """Reads one I2E parquet shard. Options: ``rate_samples`` (samples scanned by ``evio.info``; None = all)."""

    format_name = "i2e-parquet"

    def __init__(self, path, *, chunk_size: int = DEFAULT_CHUNK_SIZE, rate_samples: int | None = RATE_SAMPLES):
        super().__init__(path, chunk_size=chunk_size, rate_samples=rate_samples)
        self.shard = ParquetShard(self.path)
        pf = self.shard.file
        self.count = self.shard.num_rows
        self.version = f"parquet {pf.metadata.format_version}"
        kv = self.shard.kv_meta()
        self.meta.update({"config": kv.get("config") or config_of(self.path),
                          "split": kv.get("split") or split_of(self.path), "channels": "on_off"})
        if "class_names" in kv:
            self.meta["class_names"] = kv["class_names"]
        shape = None
        if self.count:
            rows = next(self.shard.iter_rows(1, columns=["data"]))
            shape = packbits.shape_of(rows.payloads()[0])
        self._set_shape(shape)

    def _samples(self, size: int):
        for rows in self.shard.iter_rows(size):
            if not len(rows):
                continue
            dense = decode(rows.cells(), range(rows.row0, rows.row0 + len(rows)), self.path, dtype=bool)
            if dense.shape[1:] != self.shape:
                raise FormatError(f"row {rows.row0} has shape {dense.shape[1:]}, row 0 has {self.shape}; "
                                  "a collection holds one shape", self.path)
            yield dense, rows.labels, rows.file_paths()

    def _count_events(self, limit):
        n_bits = int(np.prod(self.shape))
        events = scanned = 0
        for rows in self.shard.iter_rows(self.default_batch_size(), columns=["label", "data"]):
            take = len(rows) if limit is None else min(len(rows), limit - scanned)
            payloads = rows.payloads(range(take))
            for j, p in enumerate(payloads):
                if packbits.shape_of(p) != self.shape:
                    raise FormatError(f"row {rows.row0 + j} has shape {packbits.shape_of(p)}, row 0 has "
                                      f"{self.shape}; a collection holds one shape", self.path)
            events += count_set_bits(payloads, n_bits)
            scanned += take
            if limit is not None and scanned >= limit:
                break
        return events, scanned

    def close(self) -> None:
        self.shard.close()


def folder_shards(folder) -> list[Path]:
    """The shard files of a Hub-layout folder with one config: ``folder/[data/]*.parquet``, else the
    same in its only subfolder that holds any; [] otherwise (none, or several configs)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = _parquet_files(folder)
    if found:
        return found
    configs = _configs(folder)
    return _parquet_files(configs[0]) if len(configs) == 1 else []


def is_shard_folder(path) -> bool:
    try:
        return bool(folder_shards(path))
    except OSError:
        return False


def _parquet_files(folder: Path) -> list[Path]:
    return [p for d in (folder, folder / "data") for p in sorted(d.glob("*.parquet"))
            if p.is_file() and not p.name.startswith(".")]


def _configs(folder: Path) -> list[Path]:
    return [d for d in sorted(folder.iterdir())
            if d.is_dir() and not d.name.startswith(".") and _parquet_files(d)]


class I2EShardFolderReader(SampleReader):
    """Reads a folder of I2E shards in the Hub layout, as ``evio i2e SRC DIR`` writes it:
    ``DIR/<config>/[data/]<split>-0000k-of-0000n.parquet`` with one config, or the config folder.
    Options: ``split`` (only that split's shards; reading the samples of a folder that holds several
    splits needs it), ``rate_samples`` (samples scanned by ``evio.info``; None = all)."""

    format_name = "i2e-shards"

    def __init__(self, path, *, split: str | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 rate_samples: int | None = RATE_SAMPLES):
        super().__init__(path, chunk_size=chunk_size, rate_samples=rate_samples)
        files = folder_shards(self.path)
        if not files:
            configs = [d.name for d in _configs(self.path)] if self.path.is_dir() else []
            if configs:
                raise FormatError(f"holds several configs {configs}; read one config folder, e.g. "
                                  f"{self.path / configs[0]}", self.path)
            raise FormatError("no I2E shards: expected <config>/<split>-0000k-of-0000n.parquet files in this "
                              "folder", self.path)
        self.splits = sorted({split_of(f) or "?" for f in files})
        if split is not None:
            files = [f for f in files if split_of(f) == split]
            if not files:
                raise FormatError(f"no {split!r} shards (splits here: {', '.join(self.splits)})", self.path)
            self.splits = [split]
        self.shards: list[I2EParquetReader] = []
        try:
            for f in files:
                self.shards.append(I2EParquetReader(f, rate_samples=None))
        except BaseException:
            self.close()
            raise
        self.count = sum(s.count for s in self.shards)
        self.version = self.shards[0].version
        self.meta.update({k: v for k, v in self.shards[0].meta.items() if k in ("config", "channels", "class_names")})
        self.meta["split"] = self.splits[0] if len(self.splits) == 1 else None
        if len(self.splits) > 1:
            self.meta["splits"] = self.splits
        shapes = sorted({s.shape for s in self.shards if s.shape is not None})
        if len(shapes) > 1:
            self.close()
            raise FormatError(f"shards of different sample shapes {shapes}; a collection holds one shape", self.path)
        self._set_shape(shapes[0] if shapes else None)

    def _samples(self, size: int):
        if len(self.splits) > 1:
            raise FormatError(f"holds the splits {self.splits}; read one with split=NAME", self.path)
        return (batch for shard in self.shards for batch in shard.samples(size))

    def _count_events(self, limit):
        events = scanned = 0
        for shard in self.shards:
            if limit is not None and scanned >= limit:
                break
            e, n = shard._count_events(None if limit is None else limit - scanned)
            events, scanned = events + e, scanned + n
        return events, scanned

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


def hf_features(class_names: list[str]) -> dict:
    """Hugging Face ``datasets`` schema metadata: ``label`` as a ``ClassLabel`` with these names."""
    return {"info": {"features": {
        "file_path": {"dtype": "string", "_type": "Value"},
        "label": {"names": [str(n) for n in class_names], "_type": "ClassLabel"},
        "data": {"dtype": "binary", "_type": "Value"},
    }}}


class ShardFile:
    """Writes rows to one parquet file at ``path`` (not atomic by itself), ``row_group_size`` rows per group."""

    def __init__(self, path, *, row_group_size: int = ROW_GROUP_SIZE, compression="snappy", meta: dict | None = None):
        pa, pq = pyarrow()
        if int(row_group_size) < 1:
            raise ValueError(f"row_group_size must be >= 1, got {row_group_size}")
        self.path = Path(path)
        self.row_group_size = int(row_group_size)
        meta = dict(meta or {})
        kv = {META_KEY: json.dumps({k: meta[k] for k in ("config", "split") if meta.get(k)}).encode()}
        if meta.get("class_names"):
            kv[b"huggingface"] = json.dumps(hf_features(meta["class_names"])).encode()
        self.schema = pa.schema([("file_path", pa.string()), ("label", pa.int64()), ("data", pa.binary())],
                                metadata=kv)
        try:
            self._writer = pq.ParquetWriter(str(self.path), self.schema, compression=compression,
                                            use_dictionary=["label"])
        except (pa.ArrowException, ValueError) as exc:
            raise ValueError(f"cannot write parquet with compression={compression!r}: {_short(exc)}") from None
        self._paths: list[str] = []
        self._labels: list[int] = []
        self._cells: list[bytes] = []
        self.rows = 0

    def add(self, file_paths: list[str], labels, cells: list[bytes]) -> None:
        self._paths.extend(file_paths)
        self._labels.extend(int(v) for v in labels)
        self._cells.extend(cells)
        while len(self._cells) >= self.row_group_size:
            self._flush(self.row_group_size)

    def _flush(self, n: int) -> None:
        pa, _ = pyarrow()
        table = pa.table([pa.array(self._paths[:n], pa.string()), pa.array(self._labels[:n], pa.int64()),
                          pa.array(self._cells[:n], pa.binary())], schema=self.schema)
        self._writer.write_table(table, row_group_size=n)
        del self._paths[:n], self._labels[:n], self._cells[:n]
        self.rows += n

    def close(self) -> None:
        if self._cells:
            self._flush(len(self._cells))
        self._writer.close()

    def abort(self) -> None:
        try:
            self._writer.close()
        except Exception:
            pass


class I2EShardWriter(AtomicWriter):
    """Writes ``<out_dir>/<config_name>/<split>-0000k-of-0000n.parquet`` atomically.

    Shards go to hidden temporary files and get their final names on :meth:`close`, once ``n`` is
    known; other ``<split>-*-of-*.parquet`` files in that folder are then removed (the split is
    replaced). On failure nothing is left behind. ``out_dir`` is created if its parent exists.
    ``rows_per_shard`` defaults to about 500 MB of ``data`` per shard; ``row_group_size`` to 100 rows.
    ``class_names`` become Hugging Face ``ClassLabel`` metadata of the ``label`` column.
    """

    def __init__(self, out_dir, config_name: str, split: str = "train", *, rows_per_shard: int | None = None,
                 row_group_size: int = ROW_GROUP_SIZE, compression="snappy", class_names=None):
        pyarrow()
        name = str(config_name)
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise ValueError(f"config_name must be a plain folder name, got {config_name!r}")
        if not SPLIT_RE.fullmatch(str(split)):
            raise ValueError(f"split must be letters, digits, '_' or '.', got {split!r}")
        if rows_per_shard is not None and int(rows_per_shard) < 1:
            raise ValueError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
        if int(row_group_size) < 1:
            raise ValueError(f"row_group_size must be >= 1, got {row_group_size}")
        self.out_dir = Path(out_dir)
        self.config_name, self.split = name, str(split)
        self.rows_per_shard = None if rows_per_shard is None else int(rows_per_shard)
        self.row_group_size, self.compression = int(row_group_size), compression
        self.class_names = None if class_names is None else [str(n) for n in class_names]
        parent = self.out_dir.parent if str(self.out_dir.parent) else Path(".")
        if not parent.is_dir():
            raise FileNotFoundError(f"destination folder does not exist: {parent}")
        self.folder = self.out_dir / name
        self._created = [p for p in (self.out_dir, self.folder) if not p.exists()]
        for p in self._created:
            p.mkdir()
        sweep_stale(self.folder)
        self._parts: list[Path] = []
        self._file: ShardFile | None = None
        self._in_shard = 0
        self.count = 0
        self.shape = None
        self.paths: list[Path] = []
        self._closed = False

    def write_samples(self, dense, labels, file_paths=None) -> None:
        """Append a batch: ``dense`` bool ``[n, T, C, H, W]`` (or one sample), ``labels`` n ints,
        ``file_paths`` n strings (default ``f"{label}/{index}.npy"``)."""
        if self._closed:
            raise ValueError(f"{self.folder}: writer is closed")
        try:
            dense, labels, file_paths = check_batch(dense, labels, file_paths, self.count, self.shape)
            if not len(dense):
                return
            if self.shape is None:
                self.shape = tuple(int(v) for v in dense.shape[1:])
            self._append_cells(packbits.dumps(dense), labels, file_paths)
        except BaseException:
            self.abort()
            raise

    def write_cells(self, cells, labels, file_paths, shape) -> None:
        """Append ``.npy`` cells that are already packed (``packbits.dumps`` output of samples of
        ``shape`` ``(T, C, H, W)``), with ``labels`` and ``file_paths``: saves an unpack and a repack."""
        if self._closed:
            raise ValueError(f"{self.folder}: writer is closed")
        shape = tuple(int(v) for v in shape)
        if self.shape is not None and shape != self.shape:
            raise ValueError(f"sample shape {shape} differs from this writer's {self.shape}")
        if not (len(cells) == len(labels) == len(file_paths)):
            raise ValueError(f"{len(cells)} cells, {len(labels)} labels and {len(file_paths)} file paths")
        if not len(cells):
            return
        try:
            self.shape = shape
            self._append_cells(cells, labels, file_paths)
        except BaseException:
            self.abort()
            raise

    def _append_cells(self, cells, labels, file_paths) -> None:
        if self.rows_per_shard is None:
            self.rows_per_shard = max(1, SHARD_BYTES // len(cells[0]))
        a = 0
        while a < len(cells):
            if self._file is None or self._in_shard >= self.rows_per_shard:
                self._next_shard()
            b = min(len(cells), a + self.rows_per_shard - self._in_shard)
            self._file.add(file_paths[a:b], labels[a:b], cells[a:b])
            self._in_shard += b - a
            a = b
        self.count += len(cells)

    def _next_shard(self) -> None:
        if self._file is not None:
            self._file.close()
        part = temp_sibling(self.folder / f"{self.split}-{len(self._parts):05d}")
        self._parts.append(part)
        self._file = ShardFile(part, row_group_size=self.row_group_size, compression=self.compression,
                               meta={"config": self.config_name, "split": self.split,
                                     "class_names": self.class_names})
        self._in_shard = 0

    def close(self) -> list[Path]:
        """Finish, give the shards their final names and return them."""
        if self._closed:
            return self.paths
        try:
            if self._file is None:
                self._next_shard()
            self._file.close()
            self._file = None
            n = len(self._parts)
            final = [self.folder / f"{self.split}-{k:05d}-of-{n:05d}.parquet" for k in range(n)]
            for part, dst in zip(self._parts, final):
                os.replace(part, dst)
            self._parts = []
            keep = set(final)
            for old in self.folder.glob(f"{self.split}-*-of-*.parquet"):
                if old not in keep and re.fullmatch(rf"{re.escape(self.split)}-\d+-of-\d+\.parquet", old.name):
                    old.unlink()
            self.paths = final
            self._closed = True
            return final
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Remove everything written so far."""
        if self._closed:
            return
        self._closed = True
        if self._file is not None:
            self._file.abort()
            self._file = None
        for part in self._parts:
            try:
                part.unlink()
            except FileNotFoundError:
                pass
        for p in reversed(self._created):
            try:
                p.rmdir()
            except OSError:
                pass


class I2EParquetWriter(SampleWriter):
    """Writes one I2E shard file. Options: ``row_group_size`` (default 100), ``compression``
    (parquet codec, default ``"snappy"``), ``config_name``, ``split`` (kept in the file's key-value
    metadata); ``meta["class_names"]`` becomes Hugging Face ``ClassLabel`` metadata."""

    format_name = "i2e-parquet"

    def __init__(self, path, *, row_group_size: int = ROW_GROUP_SIZE, compression="snappy", **options):
        super().__init__(path, **options)
        self._file = ShardFile(self.tmp_path, row_group_size=row_group_size, compression=compression,
                               meta=self.meta)

    def _write_samples(self, dense, labels, file_paths):
        self._file.add(file_paths, labels, packbits.dumps(dense))

    def _finish(self) -> None:
        self._file.close()

    def _release(self) -> None:
        self._file.abort()


def _short(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


FORMAT = FormatSpec(
    name="i2e-parquet",
    description="I2E Hugging Face parquet shard (file_path, label, data = packed .npy sample); needs pyarrow",
    suffixes=(".parquet",),
    magic=(b"PAR1",),
    reader=I2EParquetReader,
    writer=I2EParquetWriter,
    kind="samples",
)

FOLDER_FORMAT = FormatSpec(
    name="i2e-shards",
    description="folder of I2E parquet shards in the Hub layout <config>/<split>-0000k-of-0000n.parquet "
                "(written by evio i2e, or evio convert SRC DIR/); needs pyarrow",
    suffixes=(),
    directory=True,
    sniff=is_shard_folder,
    reader=I2EShardFolderReader,
    kind="samples",
)
