"""A folder or array of images -> I2E samples on disk (Hugging Face shards or a zarr sample store),
converted in worker processes: what ``evio i2e SRC DST`` runs."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import packbits
from .._atomic import AtomicDestination
from .._npy import u8_payload
from ..errors import FormatError
from ..events import check_sensor_size
from ..formats._zarr import compressors, writing_empty_chunks, zarr_module
from ..formats.base import clean_meta
from ..formats.parquet import SHARD_BYTES, SPLIT_RE, ShardFile, pyarrow
from ..formats.sample_store import LAYOUT as SAMPLES_LAYOUT
from ..formats.sample_store import MAX_SHARD_SAMPLES, TABLE_CHUNK
from ..formats.sample_store import SHARD_BYTES as STORE_SHARD_BYTES
from .._fs import check_destination, is_remote, local_path, name_of
from ..jobs import Job, Location, inputs_digest, write_part
from .i2e import DEFAULT_RATIO, PRESETS, i2e
from .resize import preprocess

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".jfif"}
IMAGE_KEYS = ("images", "x", "data", "arr_0")
LABEL_KEYS = ("labels", "y", "targets", "label", "arr_1")
#: Images per task of an ``evio i2e`` job (the unit of work, of progress and of resuming).
CHUNK = 256


class FolderConversion(NamedTuple):
    """What :func:`i2e_folder` wrote."""

    #: The shard files, or ``[dst]`` for a zarr sample store (URLs for a URL destination).
    paths: list
    #: float64 ``[N]``: the fraction of elements set (events) in each sample, in sample order.
    event_rates: np.ndarray
    #: The threshold ratio used (the preset's when none was given).
    ratio: float
    #: The config name written (the preset's when none was given).
    config_name: str


def i2e_folder(src, dst, ratio: float | None = None, *, preset: str | None = None, sensor_size=None,
               interpolation: str = "bicubic", kernel: str = "torchvision", axes: str = "auto",
               config_name: str | None = None, split: str = "train", workers: int = 1, engine=None,
               resume: bool = False, images_per_task: int = CHUNK, rows_per_shard: int | None = None,
               overwrite: bool = True, progress: Callable[[int, int], None] | None = None,
               storage_options: dict | None = None) -> FolderConversion:
    """Convert images to I2E samples: a resumable job (:mod:`evio.jobs`) whose tasks each write one
    part of the output (a parquet shard, or one shard of ``images_per_task`` samples of a zarr store),
    run on ``engine`` (default: ``workers`` local processes; 1: none; ``"local"``, a Dask scheduler
    address or a ``distributed.Client``: on Dask). Any engine writes the same bytes.

    ``src``: an ImageFolder tree ``src/<class>/<image>`` (labels = sorted class index, class names kept),
    a folder of images (labels 0), or a ``.npy``/``.npz`` array of uint8 images (``.npz`` keys
    ``images``/``x``/``data``/``arr_0`` and ``labels``/``y``/``targets``/``arr_1``; ``axes`` as
    :func:`evio.i2e`). ``dst`` ending in ``.zarr``: one zarr sample store; anything else: Hugging Face
    shards ``dst/<config_name>/<split>-0000k-of-0000n.parquet`` (``rows_per_shard``: default ~500 MB).
    Either replaces what it names (``overwrite=False``: ``FileExistsError`` instead) once every part is
    written. A failed or killed run leaves its finished parts in ``.<dst>.evio-job``: the same call
    with ``resume=True`` finishes the job (``overwrite=True`` without ``resume`` starts over).
    ``ratio``, ``preset``, ``sensor_size`` (``(W, H)`` in pixels, an int for a square; default the
    preset's, else no resize), ``interpolation`` and ``kernel`` as :func:`evio.i2e` and
    :func:`evio.i2e.preprocess`. ``progress(n, total)`` is called after each ``n`` samples converted
    (samples an earlier run converted: ``progress.resumed(n, total)`` when it has that method).

    ``dst`` may be a URL (``s3://bucket/out``; ``storage_options`` for its file system): the job's
    working folder is then a prefix beside it, which every worker writes its parts to.
    """
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
    if int(images_per_task) < 1:
        raise ValueError(f"images_per_task must be >= 1, got {images_per_task}")
    if rows_per_shard is not None and int(rows_per_shard) < 1:
        raise ValueError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
    src = Path(src)
    dst = local_path(dst)
    remote = is_remote(dst)
    if not remote:
        dst = Path(dst)
    if sensor_size is None and preset is not None:
        sensor_size = PRESETS[preset]["sensor_size"]
    if sensor_size is not None:
        square = isinstance(sensor_size, (int, np.integer))
        sensor_size = check_sensor_size((sensor_size, sensor_size) if square else sensor_size)[:2]
    if ratio is None:
        ratio = PRESETS[preset]["ratio"] if preset else DEFAULT_RATIO
    config_name = config_name or (PRESETS[preset]["config"] if preset else "I2E-custom")
    options = (None if sensor_size is None else tuple(sensor_size), float(ratio), interpolation, kernel, axes)
    if not src.exists():
        raise FileNotFoundError(f"no such file or folder: {src}")
    shards = not (name_of(dst) if remote else dst.name).lower().endswith(".zarr")
    if remote and not (shards and Location(dst, storage_options).exists()):
        check_destination(dst, storage_options)   # a store evio wrote, or nothing in a bucket that exists
    if not overwrite:
        _refuse_existing(dst, shards, config_name, split, storage_options)
    if src.is_dir():
        paths, labels, class_names = _scan_folder(src)
        items, source, inputs = [str(p) for p in paths], None, paths
        file_paths = [f"{lab}/{p.stem}.npy" for p, lab in zip(paths, labels)]
        first = items[:1]
    elif src.suffix.lower() in (".npy", ".npz"):
        images, labels = _load_array(src)
        class_names, items, source, inputs = None, None, str(src), [src]
        file_paths = [f"{lab}/{i}.npy" for i, lab in enumerate(labels)]
        first = np.asarray(images[:1])
        del images
    else:
        raise FormatError(f"{src}: src must be an image folder (ImageFolder layout) or a .npy/.npz array")
    if shards:
        parent = Path(".") if remote or not str(dst.parent) else dst.parent
        if not parent.is_dir():
            raise FileNotFoundError(f"destination folder does not exist: {parent}")
        pyarrow()
        if not config_name or config_name in (".", "..") or "/" in config_name or "\\" in config_name:
            raise ValueError(f"config_name must be a plain folder name, got {config_name!r}")
        if not SPLIT_RE.fullmatch(str(split)):
            raise ValueError(f"split must be letters, digits, '_' or '.', got {split!r}")
    elif not remote:
        AtomicDestination(dst)   # refuses a folder evio did not write
    if not file_paths:
        raise FormatError(f"{src}: no images to convert")
    probe = _convert_chunk((first, *options))[0]
    shape = packbits.shape_of(u8_payload(probe))
    n = len(file_paths)
    step = int(rows_per_shard) if rows_per_shard else max(1, SHARD_BYTES // len(probe))
    if not shards:
        step = min(int(images_per_task), max(1, min(MAX_SHARD_SAMPLES, STORE_SHARD_BYTES // int(np.prod(shape)))))
    bounds = [(a, min(a + step, n)) for a in range(0, n, step)]
    labels = np.asarray(labels, np.int64)
    meta = {"generator": "evio.i2e", "ratio": float(ratio), "preset": preset, "interpolation": interpolation,
            "resize_kernel": kernel, "sensor_size": None if sensor_size is None else list(sensor_size)}
    if shards:
        tasks = [(a, b, None if items is None else items[a:b], labels[a:b].tolist(), file_paths[a:b])
                 for a, b in bounds]
        layout = {"config": config_name, "split": split, "class_names": class_names, "shards": len(tasks)}
    else:
        tasks = [(a, b, None if items is None else items[a:b], None, None) for a, b in bounds]
        layout = {"per_shard": step}
    fingerprint = {"job": "i2e", "src": str(src.resolve()), "inputs": inputs_digest(inputs), "options": options,
                   "shape": list(shape), "layout": layout, "dst": "shards" if shards else "zarr"}

    def on_done(index: int, result) -> None:
        if progress is not None:
            progress(bounds[index][1] - bounds[index][0], n)

    def on_resumed(index: int, result) -> None:
        if progress is not None:
            getattr(progress, "resumed", progress)(bounds[index][1] - bounds[index][0], n)

    with Job(dst, fingerprint, resume=resume, overwrite=overwrite, storage_options=storage_options) as job:
        if not shards and not job.started:
            _create_sample_store(job.folder.zarr_store("store"), n, shape, labels, file_paths, step)
        try:
            results = job.run(_i2e_task, (source, options, list(shape), layout), tasks, engine=engine,
                              workers=workers, on_done=on_done, on_resumed=on_resumed,
                              shared=[] if shards else ["store/dense/zarr.json"])
        finally:
            _ARRAY.clear()
        rates = [np.load(io.BytesIO(job.folder.read_bytes(_rates_name(k))), allow_pickle=False)
                 for k in range(len(tasks))]
        if shards:
            written = _place_shards(job, dst, config_name, split, len(tasks), storage_options)
        else:
            if class_names is not None:
                meta["class_names"] = class_names
            _finish_sample_store(job.folder.zarr_store("store"), n, sum(r for r in results), shape, meta,
                                 config_name, split)
            job.place("store", dst)
            written = [dst]
    return FolderConversion(written, np.concatenate(rates) if rates else np.zeros(0), float(ratio), config_name)


def _rates_name(index: int) -> str:
    return f"parts/rates-{index:07d}.npy"


def _shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


_ARRAY: dict = {}  # path -> the images of an array source, loaded once per worker process


def _source_images(source: str) -> np.ndarray:
    if source not in _ARRAY:
        _ARRAY.clear()
        _ARRAY[source] = _load_array(Path(source))[0]
    return _ARRAY[source]


def _i2e_task(context, index: int, task, work: Path):
    """Job task: convert images ``a:b`` (paths, or rows of the array source) and write them as one
    part: parquet shard ``index``, or zarr shard ``index`` of the store in the working folder; their
    event rates go to a small ``.npy`` part. Returns the event count."""
    source, options, shape, layout = context
    a, b, items, labels, file_paths = task
    if source is not None:
        items = _source_images(source)[a:b]
    cells = _convert_chunk((items, *options))
    got = packbits.shape_of(u8_payload(cells[0]))
    if list(got) != list(shape):
        raise FormatError(f"images of different sizes give samples {tuple(shape)} and {tuple(got)} (sample {a}); "
                          "pass sensor_size=(W, H) or a preset")
    counts = _event_counts(cells, got)
    files = [_rates_name(index)]
    write_part(work / files[0], lambda tmp: _save_npy(tmp, counts / np.prod(got)))
    if "shards" in layout:
        name = "parts/" + _shard_name(layout["split"], index, layout["shards"])
        meta = {k: layout[k] for k in ("config", "split", "class_names")}

        def write_shard(tmp: Path) -> None:
            shard = ShardFile(tmp, meta=meta)
            try:
                shard.add(file_paths, labels, cells)
                shard.close()
            except BaseException:
                shard.abort()
                raise

        write_part(work / name, write_shard)
        files.append(name)
    else:
        with writing_empty_chunks():
            dense = zarr_module().open_array(store=str(work / "store" / "dense"), mode="r+", zarr_format=3)
            dense[a:b] = packbits.loads(cells, dtype=bool)
        files.append(f"store/dense/c/{a // layout['per_shard']}/0/0/0/0")
    return files, int(counts.sum())


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _place_shards(job: Job, dst, config_name: str, split: str, count: int, storage_options=None) -> list:
    """Move the finished shards to ``dst/<config_name>/`` and remove the split's other shards."""
    folder = Location(dst, storage_options)
    if folder.local:
        (folder.root / config_name).mkdir(parents=True, exist_ok=True)
    names = [f"{config_name}/{_shard_name(split, k, count)}" for k in range(count)]
    for k, name in enumerate(names):
        job.place(f"parts/{_shard_name(split, k, count)}", folder.url_of(name))
    for old in _split_shards(folder, config_name, split):
        if old not in names:
            folder.remove(old)
    return [folder.url_of(name) for name in names]


def _split_shards(folder: Location, config_name: str, split: str) -> list[str]:
    """The shards of ``split`` in ``folder/<config_name>/``, relative to ``folder``."""
    if not folder.is_dir(config_name):
        return []
    pattern = re.compile(rf"{re.escape(split)}-\d+-of-\d+\.parquet")
    return [f"{config_name}/{name}" for name in folder.files(config_name)
            if "/" not in name and pattern.fullmatch(name)]


def _create_sample_store(path: Path, n: int, shape, labels: np.ndarray, file_paths: list[str], per_shard: int) -> None:
    """An empty zarr sample store (see :mod:`evio.formats.sample_store`) for ``n`` samples of ``shape``,
    ``per_shard`` samples per shard file, with its labels and file paths."""
    zarr = zarr_module()
    root = zarr.open_group(store=_store(path), mode="w", zarr_format=3)
    codec = compressors("default", None)
    root.create_array("dense", shape=(n, *shape), dtype=bool, chunks=(1, *shape), fill_value=False,
                      shards=(per_shard, *shape), compressors=codec, config={"write_empty_chunks": True})
    label = root.create_array("label", shape=(n,), dtype=np.int64, chunks=(TABLE_CHUNK,), fill_value=0,
                              compressors=codec, config={"write_empty_chunks": True})
    names = root.create_array("file_path", shape=(n,), dtype=str, chunks=(TABLE_CHUNK,),
                              config={"write_empty_chunks": True})
    if n:
        label[:] = labels
        names[:] = np.array(file_paths, dtype=object).astype(str)


def _store(path):
    """A zarr store argument: a local path as a string, a store object as it is."""
    return str(path) if isinstance(path, (str, Path)) else path


def _finish_sample_store(path: Path, n: int, event_count: int, shape, meta: dict, config: str, split: str) -> None:
    """Write the root attributes of a sample store whose samples are all written."""
    T, C, H, W = (int(v) for v in shape)
    meta = clean_meta({**meta, "time_unit": "timestep"})
    meta.update({"config": config, "split": split, "T": T, "C": C, "H": H, "W": W, "sensor_size": [W, H]})
    meta.setdefault("channels", "on_off")
    root = zarr_module().open_group(store=_store(path), mode="r+", zarr_format=3)
    root.attrs.update({"evio_layout": SAMPLES_LAYOUT, "sample_count": n, "event_count": int(event_count),
                       "config": config, "split": split, "channels": "on_off", "T": T, "C": C, "H": H, "W": W,
                       "sensor_size": [W, H], "time_unit": "timestep", "evio_meta": json.dumps(meta)})


def _scan_folder(root: Path) -> tuple[list[Path], list[int], list[str] | None]:
    """ImageFolder layout ``root/<class>/<image>`` (classes sorted by name, labels 0..K-1), or a
    folder of images without class subfolders (labels 0, no class names)."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        paths = _images_in(root, recursive=False)
        if not paths:
            raise FormatError(f"{root}: no images (expected image files, or class subfolders in the ImageFolder "
                              "layout root/<class>/<image>)")
        return paths, [0] * len(paths), None
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = _images_in(root / name, recursive=True)
        paths += found
        labels += [label] * len(found)
    if not paths:
        raise FormatError(f"{root}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in the class subfolders")
    return paths, labels, classes


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    return [p for p in sorted(folder.rglob("*") if recursive else folder.iterdir())
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]


def _load_array(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from ``.npy`` (labels all 0) or ``.npz`` (keys ``IMAGE_KEYS``, ``LABEL_KEYS``)."""
    if path.suffix.lower() == ".npy":
        images = np.load(path, mmap_mode="r", allow_pickle=False)
        return images, np.zeros(len(images), np.int64)
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        key = next((k for k in IMAGE_KEYS if k in keys), None)
        if key is None:
            raise FormatError(f"{path}: no image array (looked for keys {IMAGE_KEYS}, found {keys})")
        images = z[key]
        lkey = next((k for k in LABEL_KEYS if k in keys and k != key), None)
        labels = np.zeros(len(images), np.int64) if lkey is None else np.asarray(z[lkey]).reshape(-1)
    if len(labels) != len(images):
        raise FormatError(f"{path}: {len(images)} images but {len(labels)} labels")
    if labels.dtype.kind not in "iub":
        raise FormatError(f"{path}: labels must be integers, got dtype {labels.dtype}")
    return images, labels.astype(np.int64)


def _refuse_existing(dst, shards: bool, config_name: str, split: str, storage_options=None) -> None:
    folder = Location(dst, storage_options)
    if not shards:
        if folder.exists():
            raise FileExistsError(17, "destination exists (pass overwrite=True to replace it)", str(folder))
        return
    existing = _split_shards(folder, config_name, split)
    if existing:
        raise FileExistsError(17, "destination shards exist (pass overwrite=True to replace the split)",
                              f"{folder}/{existing[0]}")


def _convert_chunk(job) -> list[bytes]:
    """Worker: ``(images or paths, sensor_size (W, H) or None, ratio, interpolation, kernel, axes)`` ->
    packed I2E cells."""
    items, size, ratio, interpolation, kernel, axes = job
    if isinstance(items, list):
        imgs = [preprocess(p, sensor_size=size, interpolation=interpolation, kernel=kernel) for p in items]
        shapes = sorted({im.shape for im in imgs})
        if len(shapes) > 1:
            raise FormatError(f"images of different sizes {shapes[:3]} ...; pass sensor_size=(W, H) or a preset")
        batch, axes = np.stack(imgs), "NHWC"
    else:
        batch = np.asarray(items)
        if size is not None:
            batch = preprocess(batch, sensor_size=size, interpolation=interpolation, kernel=kernel, axes=axes)
            axes = "NHWC"
    return i2e(batch, ratio, output="packed", axes=axes)


def _event_counts(cells: list[bytes], shape) -> np.ndarray:
    body = (int(np.prod(shape)) + 7) // 8
    return np.array([int(np.bitwise_count(np.frombuffer(c, np.uint8, body, len(c) - body)).sum()) for c in cells])
