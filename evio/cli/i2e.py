"""``evio i2e SRC DST``: a folder or array of images -> I2E samples (Hugging Face shards or a zarr store)."""

from __future__ import annotations

import math
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
import numpy as np

from .. import packbits
from ..datasets.i2e import SHARD_BYTES, I2EShardWriter
from ..errors import FormatError
from ..image.i2e import PRESETS, i2e
from ..image.resize import INTERPOLATIONS, KERNELS, preprocess
from ._app import Progress

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".jfif"}
IMAGE_KEYS = ("images", "x", "data", "arr_0")
LABEL_KEYS = ("labels", "y", "targets", "label", "arr_1")
#: Images per task sent to a worker process.
CHUNK = 64


def image_folder(root: Path) -> tuple[list[Path], list[int], list[str] | None]:
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


def image_array(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from ``.npy`` (labels all 0) or ``.npz`` (keys ``images``/``x``/``data``/``arr_0``
    and ``labels``/``y``/``targets``/``arr_1``)."""
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


def convert_chunk(job) -> list[bytes]:
    """Worker: ``(images or paths, size, ratio, interpolation, kernel, layout)`` -> packed I2E cells."""
    items, size, ratio, interpolation, kernel, layout = job
    if isinstance(items, list):
        imgs = [preprocess(p, size, interpolation, kernel=kernel) for p in items]
        shapes = sorted({im.shape for im in imgs})
        if len(shapes) > 1:
            raise FormatError(f"images of different sizes {shapes[:3]} ...; pass --size or --preset")
        batch, layout = np.stack(imgs), "NHWC"
    else:
        batch = np.asarray(items)
        if size is not None:
            batch, layout = preprocess(batch, size, interpolation, kernel=kernel, layout=layout), "NHWC"
    return i2e(batch, ratio, out="packed", layout=layout)


def _parse_size(text: str | None):
    if text is None:
        return None
    parts = text.lower().replace(",", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"expected N or HxW, got {text!r}", param_hint="--size") from None
    if len(values) not in (1, 2) or min(values) < 1:
        raise click.BadParameter(f"expected N or HxW with positive sizes, got {text!r}", param_hint="--size")
    return (values[0], values[0]) if len(values) == 1 else tuple(values)


def _open_writer(dst: Path, config: str, split: str, rows_per_shard, class_names, meta: dict, force: bool):
    if dst.suffix.lower() == ".zarr":
        if dst.exists() and not force:
            raise FileExistsError(17, "destination exists (use --force to overwrite)", str(dst))
        from ..formats.sample_store import SampleStoreWriter

        if class_names is not None:
            meta = {**meta, "class_names": class_names}
        return SampleStoreWriter(dst, config_name=config, split=split, meta=meta)
    existing = sorted((dst / config).glob(f"{split}-*-of-*.parquet")) if (dst / config).is_dir() else []
    if existing and not force:
        raise FileExistsError(17, "destination shards exist (use --force to replace the split)", str(existing[0]))
    return I2EShardWriter(dst, config, split, rows_per_shard=rows_per_shard, class_names=class_names)


@click.command("i2e")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("--preset", type=click.Choice(sorted(PRESETS)), help="Published I2E config: size and ratio.")
@click.option("--ratio", type=float,
              help="Threshold as a fraction of each image's V range (default: preset's, else 0.07).")
@click.option("--size", "size_text", metavar="N|HxW", help="Resize to this size (default: preset's, else as is).")
@click.option("--interpolation", type=click.Choice(INTERPOLATIONS), default="bicubic", show_default=True)
@click.option("--resize-kernel", type=click.Choice(KERNELS), default="torchvision", show_default=True,
              help="torchvision: exact port of its uint8 resize; pil: Pillow (±1 LSB).")
@click.option("--layout", default="auto", show_default=True, help="Layout of an array SRC (NHWC, NCHW, NHW).")
@click.option("--config", "config_name", help="Config folder name (default: preset's, e.g. I2E-CIFAR10).")
@click.option("--split", default="train", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=min(2, os.cpu_count() or 1), show_default=True,
              help="Worker processes (1: no pool).")
@click.option("--rows-per-shard", type=click.IntRange(min=1), help="Samples per parquet shard (default ~500 MB).")
@click.option("-f", "--force", is_flag=True, help="Replace an existing DST (zarr) or split (shards).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def i2e_command(src, dst, preset, ratio, size_text, interpolation, resize_kernel, layout, config_name, split,
                workers, rows_per_shard, force, quiet):
    """Convert images to I2E event samples.

    SRC: an ImageFolder tree (SRC/<class>/<image>; labels = sorted class index), a folder of
    images (labels 0), or a .npy/.npz array of uint8 images (.npz keys images/x and labels/y). DST ending in .zarr: a zarr sample store;
    anything else: Hugging Face shards DST/<config>/<split>-0000k-of-0000n.parquet. Prints the
    event rate (mean, std over samples) and the throughput at the end.
    """
    start = time.monotonic()
    size = _parse_size(size_text) or (PRESETS[preset]["size"] if preset else None)
    if ratio is None:
        ratio = PRESETS[preset]["ratio"] if preset else 0.07
    config = config_name or (PRESETS[preset]["config"] if preset else "I2E-custom")
    if src.is_dir():
        paths, labels, class_names = image_folder(src)
        jobs = [(paths[a:a + CHUNK], size, ratio, interpolation, resize_kernel, "NHWC")
                for a in range(0, len(paths), CHUNK)]
        file_paths = [f"{lab}/{p.stem}.npy" for p, lab in zip(paths, labels)]
    elif src.suffix.lower() in (".npy", ".npz"):
        images, labels = image_array(src)
        class_names = None
        jobs = [(images[a:a + CHUNK], size, ratio, interpolation, resize_kernel, layout)
                for a in range(0, len(images), CHUNK)]
        file_paths = [f"{lab}/{i}.npy" for i, lab in enumerate(labels)]
    else:
        raise FormatError(f"{src}: SRC must be an image folder (ImageFolder layout) or a .npy/.npz array")
    total = len(file_paths)
    meta = {"generator": "evio.i2e", "ratio": float(ratio), "preset": preset, "interpolation": interpolation,
            "resize_kernel": resize_kernel, "size": None if size is None else list(size)}
    progress = Progress(total, f"{src.name} -> {dst.name}", enabled=not quiet, unit="images")
    counts: list[np.ndarray] = []
    done = 0
    writer = _open_writer(dst, config, split, rows_per_shard, class_names, meta, force)
    try:
        with writer:
            for cells in _results(jobs, workers):
                shape = packbits.shape_of(packbits._npy_payload(cells[0]))
                batch_labels, batch_paths = labels[done:done + len(cells)], file_paths[done:done + len(cells)]
                if isinstance(writer, I2EShardWriter):
                    writer.write_cells(cells, batch_labels, batch_paths, shape)
                else:
                    writer.write_samples(packbits.loads(cells, dtype=bool), batch_labels, batch_paths)
                counts.append(_event_counts(cells, shape) / np.prod(shape))
                done += len(cells)
                progress(len(cells))
    finally:
        progress.close()
    if not quiet:
        seconds = time.monotonic() - start
        rates = np.concatenate(counts) if counts else np.zeros(0)
        mean = float(rates.mean()) if len(rates) else math.nan
        std = float(rates.std()) if len(rates) else math.nan
        click.echo(f"{src} -> {dst}: {done:,} samples in {seconds:.2f} s ({done / max(seconds, 1e-9):,.0f} images/s); "
                   f"event rate mean {100 * mean:.2f} %, std {100 * std:.2f} % (ratio {ratio:g}, config {config})")


def _event_counts(cells: list[bytes], shape) -> np.ndarray:
    body = (int(np.prod(shape)) + 7) // 8
    return np.array([int(np.bitwise_count(np.frombuffer(c, np.uint8, body, len(c) - body)).sum()) for c in cells])


def _results(jobs, workers: int):
    """Yield ``convert_chunk`` results in job order, at most ``2 * workers`` jobs in flight."""
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield convert_chunk(job)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        it = iter(jobs)
        for job in it:
            pending.append(pool.submit(convert_chunk, job))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(convert_chunk, nxt))
            yield result
