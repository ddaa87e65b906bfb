"""Many recordings as one resumable job: what ``evio convert-many SRC... DST`` runs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import registry
from ._atomic import AtomicDestination
from .datasets._neuromorphic import NeuromorphicDataset, prepare
from .jobs import Job, inputs_digest, work_folder


def convert_many(srcs: Sequence[str | os.PathLike], dst: str | os.PathLike, *, format: str | None = None,
                 frames=None, sensor_size=None, engine=None, workers: int | None = None, resume: bool = False,
                 overwrite: bool = False, progress: Callable[[int], None] | None = None):
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
    ``progress(n)`` is called as recordings are done.
    """
    srcs = [Path(s) for s in srcs]
    if not srcs:
        raise ValueError("no recordings to convert")
    for src in srcs:
        if not src.is_file() and not src.is_dir():
            raise FileNotFoundError(2, "no such file or folder", str(src))
    dst = Path(dst)
    if frames is not None:
        return prepare(RecordingFiles(srcs, frames=frames, sensor_size=sensor_size), dst, engine=engine,
                       workers=workers, resume=resume, overwrite=overwrite, progress=progress)
    if format is None:
        raise ValueError("pass format=... (a format name or a suffix) for the outputs, or frames=T for one frame store")
    spec = registry.get_format(format)
    if not spec.can_write or spec.kind != "events":
        raise ValueError(f"the {spec.name} format cannot hold a converted recording; choose an event format")
    suffix = format.lower() if format.startswith(".") else spec.suffixes[0]
    outputs = [dst / f"{src.stem}{suffix}" for src in srcs]
    seen: dict[Path, Path] = {}
    for src, out in zip(srcs, outputs):
        if out in seen:
            raise ValueError(f"{seen[out]} and {src} would both be written to {out}; convert them separately")
        seen[out] = src
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"destination folder does not exist: {parent}")
    if dst.exists() and not dst.is_dir():
        raise FileExistsError(17, "destination must be a folder (one output per recording)", str(dst))
    if not overwrite and not (resume and work_folder(dst).exists()):
        clash = [str(out) for out in outputs if out.exists()]
        if clash:
            raise FileExistsError(17, "destination exists (pass overwrite=True to replace it)", ", ".join(clash))
    fingerprint = {"job": "convert-many", "inputs": inputs_digest(srcs), "srcs": [str(s.resolve()) for s in srcs],
                   "format": spec.name, "suffix": suffix, "sensor_size": None if sensor_size is None else list(sensor_size)}
    tasks = [str(src) for src in srcs]
    with Job(dst, fingerprint, resume=resume, overwrite=overwrite) as job:
        (job.path / "parts").mkdir(exist_ok=True)
        job.run(_convert_task, (spec.name, suffix, None if sensor_size is None else tuple(sensor_size)), tasks,
                engine=engine, workers=workers, on_done=None if progress is None else lambda index, _: progress(1))
        dst.mkdir(exist_ok=True)
        for index, out in enumerate(outputs):
            dest = AtomicDestination(out)
            dest.tmp = job.path / _converted_name(index, suffix)
            dest.commit()
    return outputs


def _converted_name(index: int, suffix: str) -> str:
    return f"parts/{index:07d}{suffix}"


def _convert_task(context, index: int, src: str, work: Path):
    """Job task: convert one recording into its part (written atomically by :func:`evio.convert`)."""
    from .api import convert

    format, suffix, sensor_size = context
    name = _converted_name(index, suffix)
    convert(src, work / name, format=format, sensor_size=sensor_size)
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
