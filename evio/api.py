"""The public functions: read, write, open, convert, info, formats."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import _fs, registry
from ._atomic import check_destination
from ._prefetch import prefetch
from .errors import FormatError
from .events import as_events
from .formats.base import DEFAULT_CHUNK_SIZE, EventReader, EventWriter
from .formats._store import path_size


def open(path: str | os.PathLike, mode: str = "r", *, format: str | None = None, **options):
    """Open an event file or store.

    ``mode="r"`` returns an :class:`~evio.formats.base.EventReader` (``.sensor_size``, ``.meta``,
    ``len()`` where known, iteration over chunks, ``.read()``, ``.time_window(t0, t1)``).
    ``mode="w"`` returns an :class:`~evio.formats.base.EventWriter`; pass ``sensor_size=(W, H)``
    and ``meta={...}``, call ``.write(chunk)`` repeatedly; the file appears only when it closes
    without error. ``format`` overrides the suffix (see :func:`list_formats`).

    ``path`` may be an fsspec URL (``s3://bucket/rec.zarr``, ``memory://…``, ``file://…``; needs
    ``evio-toolkit[cloud]``), with ``storage_options={...}`` for the file system (endpoint, credentials):
    a zarr event store is read chunk by chunk where it lies, anything else is downloaded to a temporary
    folder first; a written file or store is uploaded when the writer closes (see docs/cloud.md).
    """
    path = _fs.local_path(path)
    storage_options = options.pop("storage_options", None)
    if _fs.is_remote(path):
        return _open_url(path, mode, format, options, storage_options)
    if mode == "r":
        spec = registry.resolve_read(path, format)
        return _construct(spec.reader, spec.name, "reader", path, options)
    if mode == "w":
        spec = registry.resolve_write(path, format)
        check_destination(path)
        return _construct(spec.writer, spec.name, "writer", path, options)
    raise ValueError(f"mode must be 'r' or 'w', got {mode!r}")


def _open_url(url: str, mode: str, format, options: dict, storage_options):
    if mode == "r":
        if format == "zarr" or (format is None and _event_store_url(url, storage_options)):
            spec = registry.get_format("zarr")
            return _construct(spec.reader, spec.name, "reader", url, {**options, "storage_options": storage_options})
        download = _fs.Download(url, storage_options)
        try:
            reader = open(download.path, "r", format=format, **options)
        except Exception as exc:
            download.remove()
            raise _fs.naming_url(exc, download.path, url) from None
        reader.__dict__["_download"] = download
        return reader
    if mode == "w":
        spec = registry.resolve_write(Path(_fs.name_of(url)), format)
        return _fs.RemoteWriter(lambda local: _construct(spec.writer, spec.name, "writer", local, options),
                                url, storage_options)
    raise ValueError(f"mode must be 'r' or 'w', got {mode!r}")


def _event_store_url(url: str, storage_options) -> bool:
    from .formats.zarr_store import is_event_store_url

    return is_event_store_url(url, storage_options)


def _construct(cls, name: str, role: str, path, options: dict):
    try:
        return cls(path, **options)
    except TypeError as exc:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if match:
            raise ValueError(f"the {name} {role} has no option {match.group(1)!r}") from None
        raise


def read(path: str | os.PathLike, *, format: str | None = None, **options) -> np.ndarray:
    """All events of a file as one ``EVENT_DTYPE`` array ``[N]`` (``t`` in the file's ``time_unit``: µs for
    camera data); ``format`` and ``options`` as :func:`open`."""
    with open(path, "r", format=format, **options) as reader:
        return reader.read()


def write(path: str | os.PathLike, events, sensor_size=None, *, format: str | None = None,
          meta: dict | None = None, **options) -> Path | str:
    """Write events (any array :func:`evio.as_events` accepts) to ``path`` atomically; returns ``path``.

    ``sensor_size``: ``(W, H)`` in pixels (default, where the format stores one: ``max + 1`` of x and
    y, marked ``sensor_size_inferred``). ``format`` overrides the suffix, ``meta`` is stored beside the events
    where the format can hold it (else a :class:`LossWarning`), ``options`` go to the format's writer.
    A URL ``path`` (see :func:`open`) is returned as given.
    """
    events = as_events(events)
    with open(path, "w", format=format, sensor_size=sensor_size, meta=meta, **options) as writer:
        for a in range(0, max(len(events), 1), DEFAULT_CHUNK_SIZE):
            writer.write(events[a:a + DEFAULT_CHUNK_SIZE])
    return path if _fs.is_url(path) else Path(path)


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, format: str | None = None,
            src_format: str | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
            sensor_size=None, read_options: dict | None = None, progress: Callable[[int], None] | None = None,
            **write_options) -> Path | str:
    """Stream ``src`` into ``dst`` chunk by chunk (bounded memory); ``dst`` appears only on success.

    ``format`` names the destination's format (default: from its suffix), ``src_format`` the source's
    (default: from suffix and content), as ``--to`` and ``--from`` do on the command line.
    Metadata (sensor size, time unit, …) is carried over; ``sensor_size`` (``(W, H)`` in pixels)
    overrides it. ``chunk_size``: events per chunk.
    ``progress`` is called with the number of events in each chunk written.

    A sample collection (I2E parquet shard, zarr sample store) converts to another one, sample by
    sample in bounded memory, ``progress`` counting samples: see :func:`sample_targets` for how
    ``dst`` is chosen.

    ``src`` and ``dst`` may be URLs (see :func:`open`); ``storage_options={...}`` applies to both
    (``read_options={"storage_options": ...}`` overrides it for ``src``). A remote ``dst`` is written
    to a temporary local folder and uploaded on success; a URL ``dst`` is returned as given.
    """
    src, dst = _fs.local_path(src), _fs.local_path(dst)
    storage_options = write_options.pop("storage_options", None)
    read_options = dict(read_options or {})
    if storage_options is not None:
        read_options.setdefault("storage_options", storage_options)
    if _fs.is_remote(dst):
        return _convert_to_url(src, dst, storage_options, format=format, src_format=src_format,
                               chunk_size=chunk_size, sensor_size=sensor_size, read_options=read_options,
                               progress=progress, **write_options)
    if _fs.is_remote(src) and not (src_format == "zarr" or (
            src_format is None and _event_store_url(src, read_options.get("storage_options")))):
        download = _fs.Download(src, read_options.get("storage_options"))
        try:
            return convert(download.path, dst, format=format, src_format=src_format, chunk_size=chunk_size,
                           sensor_size=sensor_size, progress=progress,
                           read_options={k: v for k, v in read_options.items() if k != "storage_options"},
                           **write_options)
        except Exception as exc:
            raise _fs.naming_url(exc, download.path, src) from None
        finally:
            download.remove()
    src_spec = _source_spec(src, src_format)
    if src_spec is not None and src_spec.kind == "samples":
        return _convert_samples(src, dst, src_spec, format, sensor_size, read_options, progress,
                                write_options)
    dst_spec = registry.resolve_write(dst, format)
    if dst_spec.kind == "samples":
        raise ValueError(f"the {dst_spec.name} format holds labelled dense samples, not an event stream; "
                         "build samples with evio.to_dense and write them with write_samples()")
    check_destination(dst, sources=[src])
    with open(src, "r", format=src_format, chunk_size=chunk_size, **(read_options or {})) as reader:
        meta = dict(reader.meta)
        with open(dst, "w", format=format, sensor_size=sensor_size or meta.pop("sensor_size", None),
                  meta=meta, **write_options) as writer:
            for chunk in prefetch(reader):
                writer.write(chunk)
                if progress is not None:
                    progress(len(chunk))
    return Path(dst)


def _convert_to_url(src, dst: str, storage_options, *, format, **options) -> str:
    """:func:`convert` into a temporary local folder, then upload the result to ``dst``."""
    import shutil
    import tempfile

    if dst.endswith("/") or format == "i2e-shards" or (format == "i2e-parquet" and not dst.endswith(".parquet")):
        raise ValueError(f"{_fs.redact(dst)}: Hub-layout shard folders are written to local folders only; "
                         "write one .parquet shard or a .zarr store per URL, or upload the folder yourself")
    _fs.check_destination(dst, storage_options)
    folder = tempfile.mkdtemp(prefix="evio-upload-")
    try:
        local = Path(folder) / _fs.name_of(dst)
        convert(src, local, format=format, **options)
        _fs.upload(local, dst, storage_options)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return dst


def info(path: str | os.PathLike, *, format: str | None = None, **options) -> dict:
    """Summary of a file: format, version, sensor size, event count, t range, ON ratio, size on disk.

    ``sensor_size`` is ``[W, H]`` pixels; ``t_min``, ``t_max`` and ``duration`` are in ``time_unit``
    (``"us"``, µs, for camera data; ``"timestep"`` for dense samples).

    Every result has ``path``, ``format``, ``kind`` and ``size_bytes``; ``kind`` says which other
    keys it has: ``"events"`` (an event file or store: the keys above), ``"samples"``, ``"frames"``
    or ``"folder"``.

    For a sample collection (``kind == "samples"``): config, split, sample count, T/C/H/W, event rate
    and the total sizes of the dense, packed and sparse representations instead of the event fields.
    For a frame store of ``evio dataset prepare`` (``kind == "frames"``): dataset, split, samples,
    frame shape and dtype, frame options. For a folder that is no store: totals over every readable
    file below it (see :func:`folder_info`).
    """
    path = _fs.local_path(path)
    if _fs.is_remote(path):
        with open(path, "r", format=format, **options) as reader:
            download = reader.__dict__.get("_download")
            out = _reader_info(download.path if download else path, reader)
            if download is None:
                out["size_bytes"] = _fs.size(path, options.get("storage_options"))
            out["path"] = _fs.redact(path)
            return out
    if format is None and Path(path).is_dir():
        from .formats.sample_store import frame_store_info, is_frame_store

        if is_frame_store(path):
            return frame_store_info(path)
        if not _is_store(path):
            return folder_info(path, **options)
    with open(path, "r", format=format, **options) as reader:
        return _reader_info(path, reader)


def _reader_info(path, reader) -> dict:
    if getattr(reader, "kind", "events") == "samples":
        return _sample_info(path, reader)
    s = reader.summary()
    out = _common_info(path, reader, "events", hidden=("format", "sensor_size", "time_unit"))
    out.update({
        "event_count": s.count,
        "t_min": s.t_min,
        "t_max": s.t_max,
        "duration": None if s.count == 0 else s.t_max - s.t_min,
        "time_unit": reader.meta.get("time_unit", "us"),
        "on_count": s.on,
        "on_ratio": (s.on / s.count) if s.count else None,
        "sorted_by_t": s.is_sorted,
        "time_index": bool(getattr(reader, "has_time_index", False)),
    })
    if out["sensor_size"] is None and s.count and s.x_max >= 0:
        out["sensor_size_inferred"] = [s.x_max + 1, s.y_max + 1]
    if out["time_unit"] == "timestep":
        out["representations"] = representation_sizes(reader, s)
    out.update(reader.extra_info())
    return out


def _is_store(path) -> bool:
    head = b""
    return any(spec.directory and spec.matches_content(Path(path), head) for spec in registry.all_formats())


def folder_info(path: str | os.PathLike, **options) -> dict:
    """Totals over every file or store below ``path`` that evio reads (a dataset folder).

    Sums events, sizes on disk and, for timestep-indexed samples, the dense, packed and sparse
    representation sizes, so the I2E paper's compression comparison runs on any sample set.
    Files evio cannot read are counted in ``skipped`` (the first few listed with the reason).
    """
    root = Path(path)
    entries, stack = [], [root]
    while stack:
        folder = stack.pop()
        for child in sorted(folder.iterdir(), reverse=True):
            if child.is_dir() and not _is_store(child):
                stack.append(child)
            elif child.is_dir() or registry.by_suffix(child):
                entries.append(child)
    out = {"path": str(root), "format": "folder", "kind": "folder", "files": 0, "formats": {},
           "event_count": 0, "on_count": 0, "sample_count": 0, "size_bytes": 0, "skipped": 0,
           "skipped_examples": [], "representations": None}
    reps = {"dense_bool": 0, "packed_npy": 0, "sparse_uint8": 0}
    for entry in sorted(entries):
        try:
            item = info(entry, **options)
        except (ValueError, OSError, TypeError, ImportError) as exc:
            out["skipped"] += 1
            if len(out["skipped_examples"]) < 5:
                out["skipped_examples"].append(f"{entry.relative_to(root)}: {exc}")
            continue
        out["files"] += 1
        out["formats"][item["format"]] = out["formats"].get(item["format"], 0) + 1
        out["event_count"] += item.get("event_count") or 0
        out["on_count"] += item.get("on_count") or 0
        out["sample_count"] += item.get("sample_count", 1 if item.get("time_unit") == "timestep" else 0)
        out["size_bytes"] += item["size_bytes"]
        if item.get("representations"):
            for key in reps:
                reps[key] += item["representations"][key]
            out["representations"] = reps
    return out


def _common_info(path, reader, kind: str, hidden: tuple[str, ...]) -> dict:
    """The keys every :func:`info` result of a file or store has; ``meta`` without ``hidden`` keys."""
    return {
        "path": str(path),
        "format": reader.format_name,
        "version": reader.version,
        "kind": kind,
        "sensor_size": list(reader.sensor_size) if reader.sensor_size else None,
        "size_bytes": 0 if _fs.is_remote(path) else path_size(path),
        "meta": {k: v for k, v in reader.meta.items() if k not in hidden},
    }


def _sample_info(path, reader) -> dict:
    hidden = ("format", "sensor_size", "time_unit", "config", "split", "T", "C", "H", "W", "channels")
    out = _common_info(path, reader, "samples", hidden)
    out["time_unit"] = "timestep"
    out.update(reader.extra_info())
    return out


def representation_sizes(reader: EventReader, s) -> dict | None:
    """Bytes of one timestep-indexed sample as dense bool ``[T, 2, H, W]``, I2E packed ``.npy``
    and uint8 sparse ``(t, p, x, y)`` rows (the I2E paper's comparison), before file compression."""
    size = reader.sensor_size or (None if not s.count else (s.x_max + 1, s.y_max + 1))
    if size is None:
        return None
    T = int(reader.meta.get("T") or ((s.t_max + 1) if s.count else 1))
    n_bits = T * 2 * size[0] * size[1]
    from ._npy import npy_header

    packed = 8 + (n_bits + 7) // 8
    return {"T": T, "dense_bool": n_bits, "packed_npy": len(npy_header(np.dtype(np.uint8), packed)) + packed,
            "sparse_uint8": 4 * s.count}


def _source_spec(src, src_format):
    try:
        return registry.resolve_read(src, src_format)
    except Exception:
        return None


def sample_targets(dst, format: str | None = None, *, config_name: str | None = None,
                   split: str | None = None) -> tuple[str, list[Path]]:
    """How a sample collection converts to ``dst``: ``(format name, paths written)``.

    - ``*.zarr`` (or ``format="zarr-samples"``): one zarr sample store.
    - ``*.parquet``: one I2E shard file at exactly ``dst``.
    - an existing folder, a path ending in ``/``, any other path with ``format="i2e-parquet"``, or
      any path with ``format="i2e-shards"``:
      Hub layout ``dst/<config_name>/<split>-0000k-of-0000n.parquet`` (the paths returned are the
      existing shards of that split, which the conversion replaces).
    """
    text = os.fspath(dst)
    path = Path(dst)
    suffix = path.suffix.lower()
    folder = text.endswith(("/", os.sep)) or path.is_dir()
    if format is not None:
        spec = registry.get_format(format)
        if spec.kind != "samples":
            raise ValueError(f"a sample collection cannot be converted to {spec.name} (an event format); "
                             "use zarr-samples (.zarr) or i2e-parquet (.parquet, or a folder)")
        name = spec.name
        if name == "i2e-shards":  # a folder of shards: the Hub layout below
            name, folder = "i2e-parquet", True
    elif suffix == ".zarr":
        name = "zarr-samples"
    elif suffix == ".parquet" and not path.is_dir():
        name = "i2e-parquet"
    elif folder:
        name = "i2e-parquet"
    else:
        try:
            other = registry.resolve_write(path).name
        except FormatError:
            other = None
        if other is not None:
            raise ValueError(f"a sample collection cannot be converted to {other} (an event format); "
                             "use zarr-samples (.zarr) or i2e-parquet (.parquet, or a folder)")
        raise ValueError(f"cannot tell where to write samples from {text!r}: use a .zarr store, a .parquet "
                         "file, or a folder (an existing one, a path ending in '/', or --to i2e-parquet) for "
                         "Hub-layout shards")
    if name == "i2e-parquet" and (folder or suffix != ".parquet"):
        from .formats.parquet import pyarrow

        pyarrow()

        split = split or "train"
        sub = path / (config_name or "I2E")
        if sub.is_dir():
            old = [p for p in sorted(sub.glob(f"{split}-*-of-*.parquet"))
                   if re.fullmatch(rf"{re.escape(split)}-\d+-of-\d+\.parquet", p.name)]
        else:
            old = []
        return "i2e-parquet-hub", old
    return name, [path]


def _convert_samples(src, dst, src_spec, dst_format, sensor_size, read_options, progress, write_options):
    with open(src, "r", format=src_spec.name, **(read_options or {})) as reader:
        meta = dict(reader.meta)
        if sensor_size is not None and reader.sensor_size is not None \
                and tuple(int(v) for v in sensor_size[:2]) != tuple(reader.sensor_size):
            raise ValueError(f"sensor_size {tuple(sensor_size)} differs from the samples' {reader.sensor_size}; "
                             "samples cannot be resized")
        options = dict(write_options)
        config = options.pop("config_name", None) or meta.get("config") or "I2E"
        split = options.pop("split", None) or meta.get("split") or "train"
        name, replaced = sample_targets(dst, dst_format, config_name=config, split=split)
        if name == "i2e-parquet-hub":
            from .formats.parquet import I2EShardWriter

            if Path(src).resolve() in {p.resolve() for p in replaced}:
                raise ValueError(f"the {split} shards written under {Path(dst) / config} would replace "
                                 f"the source {src}")
            options.setdefault("class_names", meta.get("class_names"))
            writer = I2EShardWriter(dst, config, split, **options)
        else:
            check_destination(dst, sources=[src])
            writer = _construct(registry.get_format(name).writer, name, "writer", dst,
                                {"meta": meta, "config_name": config, "split": split, **options})
        with writer:
            for dense, labels, paths in prefetch(reader.samples()):
                writer.write_samples(dense, labels, paths)
                if progress is not None:
                    progress(len(labels))
    return Path(dst)


def list_formats() -> list[dict]:
    """The registered formats: name, description, suffixes, read/write support."""
    return [
        {"name": s.name, "description": s.description, "suffixes": list(s.suffixes),
         "read": s.can_read, "write": s.can_write, "kind": s.kind}
        for s in registry.all_formats()
    ]


__all__ = ["open", "read", "write", "convert", "info", "list_formats", "EventReader", "EventWriter"]
