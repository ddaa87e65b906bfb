"""Shared machinery of the recorded event-camera datasets (CIFAR10-DVS, DVS128 Gesture, N-MNIST, ...).

A dataset is a plain map-style object: ``ds[i] -> (events or frames, target)``. It works with a
PyTorch ``DataLoader`` and with Tonic (``sensor_size``, ``dtype``, ``ordering``, and the
``transform``/``target_transform``/``transforms`` order of ``tonic.Dataset``) without importing either.

Frames (``frames=dict(T=8, by="count", ...)``) come from :func:`evio.frames` and can be cached in a
*frame store*: a zarr v3 folder (layout ``evio-frames-1``) with

    frames     [N, T, 2, H, W]  one chunk file per sample, ``frames/c.<i>.0.0.0.0``, there once
                                written; Blosc zstd bit-shuffle
    label      int64 [N]
    file_path  string [N]       the sample's name, e.g. ``airplane/cifar10_airplane_7``

and root attributes ``evio_layout``, ``dataset``, ``split``, ``sample_count``, ``frames`` (the frame
options as JSON), ``options`` (the dataset options as JSON), ``complete``, ``T``, ``H``, ``W``, ``dtype``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from .._atomic import AtomicDestination
from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..formats._zarr import compressors, settle_writes, writing_empty_chunks, zarr_module
from ..formats.sample_store import FRAMES_LAYOUT


# -- download and extraction ------------------------------------------------------------------------

def md5sum(path, block: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest, md5: str | None = None) -> Path:
    """Fetch ``url`` to ``dest`` (skipped when it exists with the right md5); the file appears only
    when complete and its md5 matches."""
    dest = Path(dest)
    if dest.is_file() and (md5 is None or md5sum(dest) == md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": "evio"})
    try:
        with urllib.request.urlopen(request) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if md5 is not None and (got := md5sum(part)) != md5:
        part.unlink()
        raise FormatError(f"md5 of the download from {url} is {got}, expected {md5}", dest)
    os.replace(part, dest)
    return dest


def extract(archive, dest) -> Path:
    """Unpack a ``.zip`` or ``.tar(.gz)`` into ``dest``; members that would land outside it are refused."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if not (root / name).resolve().is_relative_to(root):
                    raise FormatError(f"archive member {name!r} points outside the destination", archive)
            zf.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    else:
        raise FormatError("not a zip or tar archive", archive)
    return dest


# -- the dataset base -------------------------------------------------------------------------------

def check_choice(name: str, value, choices):
    """``value`` if it is one of ``choices``, else ``ValueError`` naming them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_train_ratio(train_ratio) -> float:
    """The fraction of each class in the train split, in (0, 1]."""
    if not 0.0 < float(train_ratio) <= 1.0:
        raise ValueError(f"train_ratio must be in (0, 1], got {train_ratio}")
    return float(train_ratio)


def check_frame_options(frames) -> dict | None:
    """``frames`` as a dict of :func:`evio.frames` keyword arguments (``T``, ``by``, ...) or None."""
    if frames is None:
        return None
    if isinstance(frames, int) and not isinstance(frames, bool):
        frames = {"T": frames}
    if not isinstance(frames, dict):
        raise TypeError(f"frames must be None, an int T or a dict of evio.frames options, got {frames!r}")
    from ..framing import frames as to_frames

    known = [k for k in inspect.signature(to_frames).parameters if k not in ("events", "sensor_size")]
    unknown = sorted(set(frames) - set(known))
    if unknown:
        raise ValueError(f"unknown frame options {unknown}; evio.frames takes {known}")
    options = dict(frames)
    options.setdefault("T", 8)
    options.setdefault("by", "count")
    if options.get("dtype") is not None:
        options["dtype"] = np.dtype(options["dtype"]).name
    return options


def integrate(events: np.ndarray, options: dict, sensor_size) -> np.ndarray:
    """``[T, 2, H, W]`` frames of ``events`` through :func:`evio.frames`."""
    from ..framing import frames as to_frames

    return to_frames(events, sensor_size=tuple(sensor_size[:2]), **options)


def spikingjelly_events(events: np.ndarray) -> dict:
    """``events`` as SpikingJelly's event dict: ``t``, ``x``, ``y``, ``p`` (0 OFF, 1 ON) int64 arrays."""
    return {key: events[key].astype(np.int64) for key in ("t", "x", "y", "p")}


def custom_frames_name(function, dir_name) -> str:
    """The cache folder name of ``custom_integrate_function``: ``dir_name`` or the function's
    ``__name__``, as SpikingJelly names its frames folder."""
    name = dir_name if dir_name is not None else getattr(function, "__name__", None)
    if not name or not isinstance(name, str) or name in (".", "..") or any(c in name for c in '<>/\\:"|?*'):
        raise ValueError(f"custom_integrate_function {function!r} has no name usable as a folder "
                         f"({name!r}); pass custom_integrated_frames_dir_name=...")
    return name


def sample_frames(dataset, index: int) -> np.ndarray:
    """Frames of sample ``index``; a refusal by :func:`evio.frames` names the sample."""
    try:
        return dataset.integrate(dataset.events(index))
    except FormatError as exc:
        raise FormatError(f"sample {index} ({dataset.names[index]}): {exc.reason}", exc.path, exc.offset) from None



def apply_transforms(dataset, sample, target):
    """``(sample, target)`` after ``dataset``'s ``transform``, ``target_transform`` and then
    ``transforms``, in Tonic's order."""
    if dataset.transform is not None:
        sample = dataset.transform(sample)
    if dataset.target_transform is not None:
        target = dataset.target_transform(target)
    if dataset.transforms is not None:
        sample, target = dataset.transforms(sample, target)
    return sample, target

class NeuromorphicDataset:
    """Base of the recorded datasets: ``ds[i] -> (sample, target)``.

    Subclasses fill ``self.names`` (one per sample), ``self.targets`` (int labels) and implement
    :meth:`events`, then call :meth:`_open_cache`. ``sample`` is the events (``EVENT_DTYPE``) or,
    when ``frames`` is given, their ``[T, 2, H, W]`` frames; then ``transform(sample)``,
    ``target_transform(target)`` and ``transforms(sample, target)`` are applied in that order, as in
    ``tonic.Dataset``.

    ``custom_integrate_function(events, H, W) -> frames`` (SpikingJelly's hook) replaces
    :func:`evio.frames`: it gets SpikingJelly's event dict (:func:`spikingjelly_events`) and returns
    an array ``[T, ..., H, W]`` of one shape for every sample. Its frames are cached in the frame
    store ``root/<name>/<split>.zarr``, ``<name>`` being ``custom_integrated_frames_dir_name`` or
    the function's ``__name__`` as in SpikingJelly (``cache=path`` puts it elsewhere,
    ``cache=False`` turns it off).
    """

    sensor_size = (128, 128, 2)
    dtype = EVENT_DTYPE
    ordering = EVENT_DTYPE.names
    classes: tuple[str, ...] = ()
    split: str = "all"

    def __init__(self, root, *, frames=None, cache=None, transform=None, target_transform=None,
                 transforms=None, custom_integrate_function=None, custom_integrated_frames_dir_name=None):
        self.root = Path(root).expanduser()
        self.custom_integrate_function = custom_integrate_function
        self.custom_frames_dir = None
        if custom_integrate_function is not None:
            if frames is not None:
                raise ValueError("pass either frames= or custom_integrate_function=, not both")
            if not callable(custom_integrate_function):
                raise TypeError(f"custom_integrate_function must be callable, got {custom_integrate_function!r}")
            self.custom_frames_dir = custom_frames_name(custom_integrate_function, custom_integrated_frames_dir_name)
            function = f"{getattr(custom_integrate_function, '__module__', '?')}." \
                       f"{getattr(custom_integrate_function, '__qualname__', self.custom_frames_dir)}"
            self.frame_options = {"custom_integrate_function": function, "dir_name": self.custom_frames_dir}
        elif custom_integrated_frames_dir_name is not None:
            raise ValueError("custom_integrated_frames_dir_name needs custom_integrate_function=")
        else:
            self.frame_options = self.check_frames(frames)
        if cache not in (None, False) and self.frame_options is None:
            raise ValueError("cache= stores frames; pass frames=dict(T=..., by=...) too")
        self.cache = None if cache in (None, False) else Path(cache)
        self._default_cache = cache is None and custom_integrate_function is not None
        self.transform, self.target_transform, self.transforms = transform, target_transform, transforms
        self.names: list[str] = []
        self.targets: list[int] = []
        self._store = None

    # subclasses -----------------------------------------------------------------------------------
    def events(self, index: int) -> np.ndarray:
        """Events of sample ``index`` (``EVENT_DTYPE``)."""
        raise NotImplementedError

    def options(self) -> dict:
        """The options that decide the samples' contents (kept in a frame store to match it)."""
        return {}

    def check_frames(self, frames) -> dict | None:
        """The ``frames=`` argument as frame options (see :func:`check_frame_options`)."""
        return check_frame_options(frames)

    def integrate(self, events: np.ndarray) -> np.ndarray:
        """Frames of ``events``: ``custom_integrate_function(events, H, W)`` or :func:`evio.frames`."""
        if self.custom_integrate_function is None:
            return integrate(events, self.frame_options, self.sensor_size)
        W, H = self.sensor_size[:2]
        out = np.asarray(self.custom_integrate_function(spikingjelly_events(events), H, W))
        if out.ndim < 3:
            raise ValueError(f"custom_integrate_function returned shape {out.shape}; frames are [T, ..., H, W]")
        return out

    def _open_cache(self) -> None:
        """Resolve the default cache of ``custom_integrate_function`` and create the frame store in
        this process (before any DataLoader worker starts)."""
        if self._default_cache:
            self.cache = self.root / self.custom_frames_dir / f"{self.split}.zarr"
            self._default_cache = False
        if self.cache is not None and len(self):
            self._frame_store()

    # map-style dataset ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def _index(self, index) -> int:
        n = len(self.names)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        return i

    def frames(self, index: int) -> np.ndarray:
        """``[T, 2, H, W]`` frames of sample ``index``, from the cache when it holds them."""
        if self.frame_options is None:
            raise ValueError("this dataset was made without frames=...")
        i = self._index(index)
        store = self._frame_store()
        if store is not None and store.has(i):
            return store.read(i)
        out = sample_frames(self, i)
        if store is not None:
            store.write(i, out)
        return out

    def __getitem__(self, index):
        i = self._index(index)
        sample = self.events(i) if self.frame_options is None else self.frames(i)
        target = self.targets[i]
        return apply_transforms(self, sample, target)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_store"] = None
        return state

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {str(self.root)!r} split={self.split!r} samples={len(self)}>"

    # frame store ----------------------------------------------------------------------------------
    def store_attrs(self) -> dict:
        return {"dataset": type(self).__name__, "split": self.split, "sample_count": len(self),
                "frames": json.dumps(self.frame_options, sort_keys=True),
                "options": json.dumps(self.options(), sort_keys=True)}

    def _frame_store(self):
        if self.cache is None:
            return None
        if self._store is None:
            if not self.cache.exists():
                self.cache.parent.mkdir(parents=True, exist_ok=True)
                create_frame_store(self.cache, self, complete=False)
            self._store = FrameStore(self.cache)
            self._store.check_matches(self)
        return self._store


# -- frame stores -----------------------------------------------------------------------------------

def create_frame_store(path, dataset: NeuromorphicDataset, *, complete: bool) -> None:
    """Create an empty frame store for ``dataset`` at ``path`` (atomically)."""
    if len(dataset) == 0:
        raise ValueError(f"{type(dataset).__name__}: no samples to store")
    probe = sample_frames(dataset, 0)
    dest = AtomicDestination(path)
    try:
        root = _init_store(dest.tmp, dataset, probe.shape, probe.dtype, complete)
        root["frames"][0] = probe
        dest.commit()
    except BaseException:
        settle_writes()
        dest.discard()
        raise


def _init_store(path, dataset, shape, dtype, complete):
    zarr = zarr_module()
    root = zarr.open_group(store=str(path) if isinstance(path, (str, Path)) else path, mode="w", zarr_format=3)
    n = len(dataset)
    root.create_array("frames", shape=(n, *shape), chunks=(1, *shape), dtype=dtype, fill_value=0,
                      compressors=compressors("blosc-zstd", 3), chunk_key_encoding={"name": "default", "separator": "."},
                      config={"write_empty_chunks": True})
    label = root.create_array("label", shape=(n,), dtype=np.int64, chunks=(max(n, 1),))
    label[:] = np.asarray(dataset.targets, dtype=np.int64)
    names = root.create_array("file_path", shape=(n,), dtype=str, chunks=(max(n, 1),))
    names[:] = np.asarray(dataset.names, dtype=object).astype(str)
    T, H, W = shape[0], shape[-2], shape[-1]
    root.attrs.update({"evio_layout": FRAMES_LAYOUT, "complete": bool(complete), "T": T, "H": H, "W": W,
                       "dtype": np.dtype(dtype).name, **dataset.store_attrs()})
    return root


class FrameStore:
    """A frame store on disk; ``has(i)``, ``read(i)``, ``write(i, frames)``."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._root = zarr_module().open_group(store=str(self.path), mode="r+", zarr_format=3)
            self.attrs = dict(self._root.attrs)
        except Exception as exc:  # noqa: BLE001  (zarr raises many types for a folder that is not a store)
            raise FormatError(f"cannot open frame store ({type(exc).__name__}: {exc})", self.path) from None
        if self.attrs.get("evio_layout") != FRAMES_LAYOUT:
            raise FormatError(f"not a frame store: evio_layout is {self.attrs.get('evio_layout')!r}", self.path)
        self._frames = self._root["frames"]
        self.complete = bool(self.attrs.get("complete"))

    def __len__(self) -> int:
        return int(self._frames.shape[0])

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self._root["label"][:], dtype=np.int64)

    @property
    def names(self) -> list[str]:
        return [str(v) for v in self._root["file_path"][:]]

    def check_matches(self, dataset: NeuromorphicDataset) -> None:
        """Refuse a store made for other samples or other frame options (never reuse it silently)."""
        want = dataset.store_attrs()
        diff = [k for k, v in want.items() if self.attrs.get(k) != v]
        if not diff and self.names != list(dataset.names):
            diff = ["file_path"]
        if diff:
            raise FormatError(f"frame store was made for other samples or options (differs in {diff}); "
                              "use another path or delete it", self.path)

    def _chunk_file(self, i: int) -> Path:
        return self.path / "frames" / ".".join(["c", str(i)] + ["0"] * (len(self._frames.shape) - 1))

    def has(self, i: int) -> bool:
        return self.complete or self._chunk_file(i).is_file()

    def read(self, i: int) -> np.ndarray:
        return self._frames[i]

    def write(self, i: int, frames: np.ndarray) -> None:
        if tuple(frames.shape) != tuple(self._frames.shape[1:]):
            raise ValueError(f"sample {i} gives frames of shape {frames.shape}, the store holds "
                             f"{tuple(self._frames.shape[1:])} (use by='count' or 'time' for a fixed T)")
        self._frames[i] = frames


class PreparedFrames:
    """A frame store written by ``evio dataset prepare`` (or filled by a dataset's ``cache=``) as a
    map-style dataset: ``ds[i] -> ([T, 2, H, W] frames, label)``; no raw files needed."""

    def __init__(self, path, transform=None, target_transform=None, transforms=None):
        self.store = FrameStore(path)
        self.targets = [int(v) for v in self.store.labels]
        self.names = self.store.names
        self.attrs = self.store.attrs
        self.sensor_size = (int(self.attrs["W"]), int(self.attrs["H"]), 2)
        self.transform, self.target_transform, self.transforms = transform, target_transform, transforms

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index):
        n = len(self.targets)
        i = int(index) + (n if int(index) < 0 else 0)
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        if not self.store.has(i):
            raise FormatError(f"sample {i} ({self.names[i]}) was never written to this store", self.store.path)
        sample, target = self.store.read(i), self.targets[i]
        return apply_transforms(self, sample, target)


# -- one-shot preparation ---------------------------------------------------------------------------

#: Samples per task of a preparing job (the unit of work, of progress and of resuming).
SAMPLES_PER_TASK = 16


def _prepare_task(dataset, index: int, task, work: Path):
    """Job task: integrate samples ``task = (start, stop)`` and write their chunk files into the
    store being built in the job's working folder."""
    files = []
    with writing_empty_chunks():
        array = zarr_module().open_array(store=str(work / "store" / "frames"), mode="r+", zarr_format=3)
        for i in range(*task):
            _write_sample(array, i, sample_frames(dataset, i))
            files.append(f"store/frames/c.{i}" + ".0" * (len(array.shape) - 1))
    return files, None


def _write_sample(array, index: int, frames: np.ndarray) -> None:
    if tuple(frames.shape) != tuple(array.shape[1:]):
        raise ValueError(f"sample {index} gives frames of shape {frames.shape}, sample 0 {tuple(array.shape[1:])}; "
                         "a store holds one shape (use by='count' or 'time' for a fixed T)")
    array[index] = frames


def prepare(dataset: NeuromorphicDataset, path, *, workers: int = 2, engine=None, resume: bool = False,
            overwrite: bool = True, progress=None, storage_options: dict | None = None):
    """Integrate every sample of ``dataset`` (made with ``frames=``) into a complete frame store at
    ``path``: a resumable job (:mod:`evio.jobs`) of ``SAMPLES_PER_TASK`` samples per task on
    ``engine`` (default ``workers`` local processes, 1: this process; ``"local"``, a Dask scheduler
    address or a ``distributed.Client``: on Dask), each task writing its samples' chunks. Any engine
    writes the same bytes. ``progress(n)`` is called as samples are done. The store appears at
    ``path`` only when every sample is in it, replacing what is there (``overwrite=False``:
    ``FileExistsError`` instead). A failed or killed run leaves its finished tasks in
    ``.<path>.evio-job``: the same call with ``resume=True`` finishes the job. Samples an earlier run
    did are reported through ``progress.resumed(n)`` when ``progress`` has that method.

    ``path`` may be a URL (``s3://bucket/train.zarr``; ``storage_options`` for its file system): the
    job's working folder is then a prefix beside it, which every worker writes its chunks to."""
    from .._fs import check_destination, is_remote, local_path
    from ..jobs import Job, Location

    if dataset.frame_options is None:
        raise ValueError("prepare needs a dataset made with frames=dict(T=..., by=...)")
    if len(dataset) == 0:
        raise ValueError(f"{type(dataset).__name__}: no samples to prepare")
    path = local_path(path)
    if is_remote(path):
        check_destination(path, storage_options)
    else:
        path = Path(path)
        AtomicDestination(path)   # refuses a folder evio did not write
    out = Location(path, storage_options)
    if not overwrite and out.exists():
        raise FileExistsError(17, "destination exists (pass overwrite=True to replace it)", str(out))
    n = len(dataset)
    tasks = [(a, min(a + SAMPLES_PER_TASK, n)) for a in range(0, n, SAMPLES_PER_TASK)]
    digest = hashlib.sha256(json.dumps([list(map(str, dataset.names)), list(map(int, dataset.targets))]).encode())
    fingerprint = {"job": "prepare", "root": str(dataset.root.resolve()), "attrs": dataset.store_attrs(),
                   "samples": digest.hexdigest(), "samples_per_task": SAMPLES_PER_TASK}
    clean = dataset.__class__.__new__(dataset.__class__)
    clean.__dict__.update(dataset.__getstate__())
    clean.cache = None

    def on_done(index: int, _) -> None:
        progress(tasks[index][1] - tasks[index][0])

    def on_resumed(index: int, _) -> None:
        getattr(progress, "resumed", progress)(tasks[index][1] - tasks[index][0])

    with Job(path, fingerprint, resume=resume, overwrite=overwrite, storage_options=storage_options) as job:
        if not job.started:
            first = sample_frames(dataset, 0)
            _init_store(job.folder.zarr_store("store"), dataset, first.shape, first.dtype, complete=False)
        job.run(_prepare_task, clean, tasks, engine=engine, workers=workers, shared=["store/frames/zarr.json"],
                on_done=None if progress is None else on_done, on_resumed=None if progress is None else on_resumed)
        root = zarr_module().open_group(store=job.folder.zarr_store("store"), mode="r+", zarr_format=3)
        root.attrs["complete"] = True
        job.place("store", path)
    return path
