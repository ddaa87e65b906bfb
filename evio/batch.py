"""Many recordings as one resumable job: what ``evio convert-many SRC... DST`` runs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import registry
from . import _fs
from ._fs import is_remote, local_path, name_of, redact
from .datasets._neuromorphic import NeuromorphicDataset, prepare
from .jobs import Job, Location, inputs_digest, work_folder


def convert_many(srcs: Sequence[str | os.PathLike], dst: str | os.PathLike, *, format: str | None = None,
                 frames=None, sensor_size=None, engine=None, workers: int | None = None, resume: bool = False,
                 overwrite: bool = False, progress: Callable[[int], None] | None = None,
                 storage_options: dict | None = None):
    """Convert many recordings, one task each, on ``engine`` (as :func:`evio.jobs.use_engine`): a
    resumable job (:mod:`evio.jobs`).

    Without ``frames``: one output per input, ``dst/<input stem><suffix>`` (``dst`` a folder,
    created if missing), in ``format`` (a format name or a suffix such as ``".h5"``); returns the
    output paths. With ``frames`` (``T``, or a dict of :func:`evio.frames` options): one frame store
    ``dst`` (``.zarr``, layout ``evio-frames-1``, read it with :class:`evio.datasets.PreparedFrames`)
    holding each recording integrated into ``[T, 2, H, W]`` frames (label 0, ``file_path`` the
    recording's path relative to the inputs' common folder); returns ``dst``. ``sensor_size``:
    ``(W, H)`` pixels (default: the first recording's). Existing outputs are refused unless
    ``overwrite``; a failed or killed run is finished by the same call with ``resume=True``.
    ``progress(n)`` is called as recordings are done (those an earlier run did: ``progress.resumed(n)``
    when it has that method).

    Sources and ``dst`` may be URLs (``s3://bucket/rec.aedat4``; ``storage_options`` for their file
    system): each task downloads its recording (a zarr store is read in place), and the job's
    working folder is a prefix beside a remote ``dst``, which every worker writes its part to.
    """
    srcs = [local_path(s) if is_remote(local_path(s)) else Path(local_path(s)) for s in srcs]
    if not srcs:
        raise ValueError("no recordings to convert")
    for src in srcs:
        if isinstance(src, str):
            if not _fs.exists(src, storage_options):
                raise FileNotFoundError(2, "no such file or folder", redact(src))
        elif not src.is_file() and not src.is_dir():
            raise FileNotFoundError(2, "no such file or folder", str(src))
    dst = local_path(dst)
    remote = is_remote(dst)
    if not remote:
        dst = Path(dst)
    if frames is not None:
        if any(isinstance(src, str) for src in srcs):
            raise ValueError("a frame store (frames=...) is made from local recordings; download them first, "
                             "or convert them one output each")
        return prepare(RecordingFiles(srcs, frames=frames, sensor_size=sensor_size), dst, engine=engine,
                       workers=workers, resume=resume, overwrite=overwrite, progress=progress,
                       storage_options=storage_options)
    if format is None:
        raise ValueError("pass format=... (a format name or a suffix) for the outputs, or frames=T for one frame store")
    spec = registry.get_format(format)
    if not spec.can_write or spec.kind != "events":
        raise ValueError(f"the {spec.name} format cannot hold a converted recording; choose an event format")
    suffix = format.lower() if format.startswith(".") else spec.suffixes[0]
    folder = Location(dst, storage_options)
    names = [f"{Path(name_of(src) if isinstance(src, str) else src.name).stem}{suffix}" for src in srcs]
    seen: dict[str, object] = {}
    for src, name in zip(srcs, names):
        if name in seen:
            raise ValueError(f"{_shown(seen[name])} and {_shown(src)} would both be written to "
                             f"{folder}/{name}; convert them separately")
        seen[name] = src
    outputs = [folder.url_of(name) for name in names]
    if remote:
        if not folder.exists():
            _fs.check_destination(dst, storage_options)   # the bucket exists
    else:
        parent = dst.parent if str(dst.parent) else Path(".")
        if not parent.is_dir():
            raise FileNotFoundError(f"destination folder does not exist: {parent}")
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(17, "destination must be a folder (one output per recording)", str(folder))
    if not overwrite and not (resume and Location(work_folder(dst), storage_options).exists()):
        clash = [f"{folder}/{name}" for name in names if folder.exists(name)]
        if clash:
            raise FileExistsError(17, "destination exists (pass overwrite=True to replace it)", ", ".join(clash))
    fingerprint = {"job": "convert-many", "inputs": inputs_digest(srcs, storage_options),
                   "srcs": [redact(s) if isinstance(s, str) else str(s.resolve()) for s in srcs],
                   "format": spec.name, "suffix": suffix, "sensor_size": None if sensor_size is None else list(sensor_size)}
    tasks = [str(src) for src in srcs]
    context = (spec.name, suffix, None if sensor_size is None else tuple(sensor_size), storage_options)
    with Job(dst, fingerprint, resume=resume, overwrite=overwrite, storage_options=storage_options) as job:
        job.run(_convert_task, context, tasks, engine=engine, workers=workers,
                on_done=None if progress is None else lambda index, _: progress(1),
                on_resumed=None if progress is None else lambda index, _: getattr(progress, "resumed", progress)(1))
        if folder.local:
            dst.mkdir(exist_ok=True)
        for index, out in enumerate(outputs):
            job.place(_converted_name(index, suffix), out)
    return outputs


def _shown(path) -> str:
    return redact(path) if isinstance(path, str) else str(path)


def _converted_name(index: int, suffix: str) -> str:
    return f"parts/{index:07d}{suffix}"


def _convert_task(context, index: int, src: str, work: Path):
    """Job task: convert one recording into its part (written atomically by :func:`evio.convert`)."""
    from .api import convert

    format, suffix, sensor_size, storage_options = context
    name = _converted_name(index, suffix)
    (work / name).parent.mkdir(parents=True, exist_ok=True)
    read_options = {"storage_options": storage_options} if storage_options and is_remote(src) else None
    convert(src, work / name, format=format, sensor_size=sensor_size, read_options=read_options)
    return [name], None


class RecordingFiles(NeuromorphicDataset):
    """Event files as a map-style dataset: ``events(i)`` reads file ``i`` (label 0); its name is the
    path relative to the files' common folder. ``sensor_size``: ``(W, H)`` pixels, default the first
    file's."""

    def __init__(self, paths, *, frames, sensor_size=None):
        paths = [Path(p) for p in paths]
        if not paths:
            raise ValueError("no recordings")
        common = Path(os.path.commonpath([os.path.abspath(p) for p in paths]))
        root = common if common.is_dir() else common.parent
        super().__init__(root, frames=frames)
        self.paths = [str(p) for p in paths]
        self.names = [Path(os.path.relpath(os.path.abspath(p), root)).as_posix() for p in paths]
        self.targets = [0] * len(paths)
        if sensor_size is None:
            from .api import open as open_events

            with open_events(paths[0]) as reader:
                sensor_size = reader.sensor_size
            if sensor_size is None:
                raise ValueError(f"{paths[0]}: the file holds no sensor size; pass sensor_size=(W, H)")
        W, H = (int(v) for v in tuple(sensor_size)[:2])
        self.sensor_size = (W, H, 2)

    def events(self, index: int) -> np.ndarray:
        from .api import read

        return read(self.paths[index])

    def options(self) -> dict:
        return {"sensor_size": list(self.sensor_size[:2])}
