"""A folder or array of images -> I2E samples on disk (Hugging Face shards or a zarr sample store),
converted in worker processes: what ``evio i2e SRC DST`` runs."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import packbits
from .._npy import u8_payload
from ..errors import FormatError
from ..events import check_sensor_size
from .i2e import DEFAULT_RATIO, PRESETS, i2e
from .resize import preprocess

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".jfif"}
IMAGE_KEYS = ("images", "x", "data", "arr_0")
LABEL_KEYS = ("labels", "y", "targets", "label", "arr_1")
#: Images per task sent to a worker process.
CHUNK = 64


class FolderConversion(NamedTuple):
    """What :func:`i2e_folder` wrote."""

    #: The shard files, or ``[dst]`` for a zarr sample store.
    paths: list[Path]
    #: float64 ``[N]``: the fraction of elements set (events) in each sample, in sample order.
    event_rates: np.ndarray
    #: The threshold ratio used (the preset's when none was given).
    ratio: float
    #: The config name written (the preset's when none was given).
    config_name: str


def i2e_folder(src, dst, ratio: float | None = None, *, preset: str | None = None, sensor_size=None,
               interpolation: str = "bicubic", kernel: str = "torchvision", axes: str = "auto",
               config_name: str | None = None, split: str = "train", workers: int = 1,
               rows_per_shard: int | None = None, overwrite: bool = True,
               progress: Callable[[int, int], None] | None = None) -> FolderConversion:
    """Convert images to I2E samples, ``CHUNK`` images per task over ``workers`` processes (1: none).

    ``src``: an ImageFolder tree ``src/<class>/<image>`` (labels = sorted class index, class names kept),
    a folder of images (labels 0), or a ``.npy``/``.npz`` array of uint8 images (``.npz`` keys
    ``images``/``x``/``data``/``arr_0`` and ``labels``/``y``/``targets``/``arr_1``; ``axes`` as
    :func:`evio.i2e`). ``dst`` ending in ``.zarr``: one zarr sample store; anything else: Hugging Face
    shards ``dst/<config_name>/<split>-0000k-of-0000n.parquet`` (``rows_per_shard``: default ~500 MB).
    Either replaces what it names (``overwrite=False``: ``FileExistsError`` instead), atomically: on any
    failure nothing is left behind.
    ``ratio``, ``preset``, ``sensor_size`` (``(W, H)`` in pixels, an int for a square; default the
    preset's, else no resize), ``interpolation`` and ``kernel`` as :func:`evio.i2e` and
    :func:`evio.i2e.preprocess`. ``progress(n, total)`` is called after each ``n`` samples written.
    """
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    src, dst = Path(src), Path(dst)
    if sensor_size is None and preset is not None:
        sensor_size = PRESETS[preset]["sensor_size"]
    if sensor_size is not None:
        square = isinstance(sensor_size, (int, np.integer))
        sensor_size = check_sensor_size((sensor_size, sensor_size) if square else sensor_size)[:2]
    if ratio is None:
        ratio = PRESETS[preset]["ratio"] if preset else DEFAULT_RATIO
    config_name = config_name or (PRESETS[preset]["config"] if preset else "I2E-custom")
    options = (sensor_size, ratio, interpolation, kernel)
    if not src.exists():
        raise FileNotFoundError(f"no such file or folder: {src}")
    shards = dst.suffix.lower() != ".zarr"
    if not overwrite:
        _refuse_existing(dst, shards, config_name, split)
    if src.is_dir():
        paths, labels, class_names = _scan_folder(src)
        jobs = [(paths[a:a + CHUNK], *options, "NHWC") for a in range(0, len(paths), CHUNK)]
        file_paths = [f"{lab}/{p.stem}.npy" for p, lab in zip(paths, labels)]
    elif src.suffix.lower() in (".npy", ".npz"):
        images, labels = _load_array(src)
        class_names = None
        jobs = [(images[a:a + CHUNK], *options, axes) for a in range(0, len(images), CHUNK)]
        file_paths = [f"{lab}/{i}.npy" for i, lab in enumerate(labels)]
    else:
        raise FormatError(f"{src}: src must be an image folder (ImageFolder layout) or a .npy/.npz array")
    meta = {"generator": "evio.i2e", "ratio": float(ratio), "preset": preset, "interpolation": interpolation,
            "resize_kernel": kernel, "sensor_size": None if sensor_size is None else list(sensor_size)}
    rates: list[np.ndarray] = []
    done = 0
    with _open_writer(shards, dst, config_name, split, rows_per_shard, class_names, meta) as writer:
        for cells in _results(jobs, int(workers)):
            shape = packbits.shape_of(u8_payload(cells[0]))
            batch_labels, batch_paths = labels[done:done + len(cells)], file_paths[done:done + len(cells)]
            if shards:
                writer.write_cells(cells, batch_labels, batch_paths, shape)
            else:
                writer.write_samples(packbits.loads(cells, dtype=bool), batch_labels, batch_paths)
            rates.append(_event_counts(cells, shape) / np.prod(shape))
            done += len(cells)
            if progress is not None:
                progress(len(cells), len(file_paths))
    return FolderConversion(list(writer.paths) if shards else [dst], np.concatenate(rates) if rates else np.zeros(0),
                            float(ratio), config_name)


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


def _refuse_existing(dst: Path, shards: bool, config_name: str, split: str) -> None:
    if not shards:
        if dst.exists():
            raise FileExistsError(17, "destination exists (pass overwrite=True to replace it)", str(dst))
        return
    folder = dst / config_name
    existing = sorted(folder.glob(f"{split}-*-of-*.parquet")) if folder.is_dir() else []
    if existing:
        raise FileExistsError(17, "destination shards exist (pass overwrite=True to replace the split)",
                              str(existing[0]))


def _open_writer(shards: bool, dst: Path, config_name: str, split: str, rows_per_shard, class_names, meta: dict):
    if shards:
        from ..formats.parquet import I2EShardWriter

        return I2EShardWriter(dst, config_name, split, rows_per_shard=rows_per_shard, class_names=class_names)
    from ..formats.sample_store import SampleStoreWriter

    if class_names is not None:
        meta = {**meta, "class_names": class_names}
    return SampleStoreWriter(dst, config_name=config_name, split=split, meta=meta)


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


def _results(jobs, workers: int):
    """Yield ``_convert_chunk`` results in job order, at most ``2 * workers`` jobs in flight."""
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield _convert_chunk(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        it = iter(jobs)
        for job in it:
            pending.append(pool.submit(_convert_chunk, job))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(_convert_chunk, nxt))
            yield result
