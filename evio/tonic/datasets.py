"""``tonic.Dataset`` classes backed by evio: ``ds[i] -> (sample, target)`` after ``transform(sample)``,
``target_transform(target)`` and ``transforms(sample, target)``, in Tonic's order.

Each has Tonic's attributes ``sensor_size`` ``(W, H, P)``, ``dtype``, ``ordering``, ``classes`` and
``targets``, pickles without open files (``DataLoader`` workers, fork or spawn) and works with
``tonic.SlicedDataset``, ``tonic.DiskCachedDataset`` and ``tonic.MemoryCachedDataset``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tonic

from .. import api, registry
from .. import datasets as evio_datasets
from ..datasets._neuromorphic import apply_transforms
from ..image._arrays import load
from ..image.folder import IMAGE_SUFFIXES
from .transforms import EVENTS_STRUCT, to_tonic


class _Base(tonic.dataset.Dataset):
    dtype = EVENTS_STRUCT
    ordering = EVENTS_STRUCT.names
    sensor_size: tuple | None = None

    def __init__(self, root, transform, target_transform, transforms):
        super().__init__(os.fspath(root), transform=transform, target_transform=target_transform,
                         transforms=transforms)
        self.root = Path(root).expanduser()

    def _finish(self, sample, target):
        return apply_transforms(self, sample, target)

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return f"<evio.tonic.datasets.{type(self).__name__} {str(self.root)!r} samples={len(self)}>"


class I2E(_Base):
    """I2E parquet shards (Hub layout ``<root>/<config>/<split>-*.parquet``, see
    :class:`evio.datasets.I2EShards`) as a Tonic dataset.

    ``as_events=True``: samples are Tonic events (:data:`~evio.tonic.transforms.EVENTS_STRUCT`) with
    ``t`` the timestep (0..T-1) and ``p`` True for ON (I2E channel 0); Tonic's ``ToFrame`` puts them
    in channel ``p``, i.e. ON in channel 1. ``as_events=False``: dense ``[T, 2, H, W]`` of
    ``frame_dtype`` (bool by default; channel 0 = ON, as stored). ``sensor_size`` is ``(W, H, 2)``;
    ``classes`` the shards' class names (else ``"0".."K-1"``); ``targets`` int64 labels.
    """

    def __init__(self, root, config: str | None = "I2E-CIFAR10", split: str | None = "train",
                 as_events: bool = True, transform=None, target_transform=None, transforms=None, *,
                 frame_dtype=bool):
        super().__init__(root, transform, target_transform, transforms)
        self.config, self.split, self.as_events = config, split, bool(as_events)
        self.shards = evio_datasets.I2EShards(root, split=split, config=config, dtype=frame_dtype,
                                              decode="events" if self.as_events else "dense")
        self.sensor_size = self.shards.sensor_size
        names = self.shards.class_names
        self.classes = list(names) if names else [str(k) for k in range(self.shards.classes or 0)]
        self.targets = self.shards.labels

    def __getitem__(self, index):
        sample, target = self.shards[index]
        return self._finish(to_tonic(sample) if self.as_events else sample, target)

    def __getitems__(self, indices) -> list:
        """``[(sample, target), ...]`` for ``indices`` (a ``DataLoader`` with ``batch_size`` calls this): dense
        samples are decoded in one call, and without transforms the default collate takes that batch
        without a copy (:meth:`evio.datasets.I2EShards.__getitems__`)."""
        if self.as_events:
            return [self[i] for i in indices]
        batch = self.shards.__getitems__(indices)
        if self.transform is None and self.target_transform is None and self.transforms is None:
            return batch
        return [self._finish(sample, target) for sample, target in batch]


class _Recordings(_Base):
    """A recorded evio dataset (``events(i)``, ``targets``) with Tonic's event dtype of that dataset."""

    def _wrap(self, recordings):
        self.recordings = recordings
        self.targets = list(recordings.targets)
        self.sensor_size = tuple(recordings.sensor_size)
        self.classes = list(recordings.classes)

    def __getitem__(self, index):
        events = to_tonic(self.recordings.events(index), self.dtype)
        return self._finish(events, self.targets[index])


class CIFAR10DVS(_Recordings):
    """CIFAR10-DVS (:class:`evio.datasets.CIFAR10DVS`: the original AEDAT 2.0 files or Tonic's AEDAT 4
    copies, ``split`` ``"all"``/``"train"``/``"test"``, ``orientation``, ``download``) with Tonic's
    ``CIFAR10DVS`` dtype ``[t u8, x u2, y u2, p ?]``, ``t`` in µs as stored, 128 x 128 pixels."""

    dtype = tonic.datasets.CIFAR10DVS.dtype
    ordering = dtype.names

    def __init__(self, root, split: str = "all", transform=None, target_transform=None, transforms=None,
                 **options):
        super().__init__(root, transform, target_transform, transforms)
        self._wrap(evio_datasets.CIFAR10DVS(root, split, **options))


class DVS128Gesture(_Recordings):
    """DVS128 Gesture (:class:`evio.datasets.DVS128Gesture`: the IBM release cut by its label csv files,
    ``split`` ``"train"``/``"test"``/``"all"``, ``label_order``) with Tonic's ``DVSGesture`` dtype
    ``[x i2, y i2, p ?, t i8]``, ``t`` in µs (not Tonic's ms-rounded copy), 128 x 128 pixels."""

    dtype = tonic.datasets.DVSGesture.dtype
    ordering = dtype.names

    def __init__(self, root, split: str = "train", transform=None, target_transform=None, transforms=None,
                 **options):
        super().__init__(root, transform, target_transform, transforms)
        self._wrap(evio_datasets.DVS128Gesture(root, split, **options))


class EventFolder(_Base):
    """Every evio-readable event file under ``root`` matching ``pattern`` (sorted paths), as Tonic events.

    ``label_from="parent"``: the target is the index of the file's folder (relative to ``root``) among
    the sorted folder names, which are ``classes``; or a callable ``path -> int``. ``format``: read
    every matching file with this evio format (default: files with a known suffix, and ``.zarr`` stores).
    ``sensor_size``: ``(W, H, P)``, default the first file's (``evio.info``) with ``P = 2``.
    ``dtype``: the Tonic event dtype of the samples (default ``tonic.io.events_struct``).
    """

    def __init__(self, root, pattern: str = "**/*", label_from="parent", transform=None, target_transform=None,
                 transforms=None, *, format: str | None = None, sensor_size=None, dtype=EVENTS_STRUCT):
        super().__init__(root, transform, target_transform, transforms)
        if not self.root.is_dir():
            raise FileNotFoundError(f"no such folder: {self.root}")
        self.format, self.dtype = format, np.dtype(dtype)
        self.ordering = self.dtype.names
        self.files = [p for p in sorted(self.root.glob(pattern)) if self._readable(p)]
        if not self.files:
            raise FileNotFoundError(f"no evio-readable event files match {pattern!r} under {self.root}")
        if label_from == "parent":
            folders = [p.parent.relative_to(self.root).as_posix() for p in self.files]
            self.classes = sorted(set(folders))
            self.targets = [self.classes.index(f) for f in folders]
        elif callable(label_from):
            self.targets = [int(label_from(p)) for p in self.files]
            self.classes = sorted(set(self.targets))
        else:
            raise ValueError(f"label_from must be 'parent' or a callable path -> int, got {label_from!r}")
        if sensor_size is None:
            found = api.info(self.files[0], format=format).get("sensor_size")
            sensor_size = None if found is None else (*found[:2], 2)
        self.sensor_size = None if sensor_size is None else tuple(sensor_size)

    def _readable(self, path: Path) -> bool:
        inside = path.relative_to(self.root).parts[:-1]
        if any(part.startswith(".") or part.lower().endswith(".zarr") for part in inside) or path.name.startswith("."):
            return False
        if path.is_dir():
            return path.suffix.lower() == ".zarr" and self.format in (None, "zarr")
        return path.is_file() and (self.format is not None or bool(registry.by_suffix(path)))

    def __getitem__(self, index):
        events = api.read(self.files[index], format=self.format)
        return self._finish(to_tonic(events, self.dtype), self.targets[index])


class Images(_Base):
    """Images with integer labels, for I2E on the fly: ``ds[i] -> (transform(image), label)``.

    ``source``: an ImageFolder-layout folder ``root/<class>/<image>`` (classes sorted by name, images
    read with Pillow as RGB uint8 ``[H, W, 3]``) or an array of images ``[N, H, W, 3]`` / ``[N, H, W]``
    with ``labels`` (default all 0). Compose image augmentations and
    :class:`evio.tonic.transforms.I2E` (``mode="train"``) as ``transform``: in ``DataLoader`` workers
    each worker then draws its own reproducible augmentations (see ``docs/tonic.md``).
    """

    def __init__(self, source, labels=None, transform=None, target_transform=None, transforms=None):
        is_folder = isinstance(source, (str, os.PathLike))
        super().__init__(source if is_folder else ".", transform, target_transform, transforms)
        if is_folder:
            if not self.root.is_dir():
                raise FileNotFoundError(f"no such folder: {self.root}")
            self.classes = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
            self.images, self.targets = [], []
            for label, name in enumerate(self.classes):
                found = [p for p in sorted((self.root / name).rglob("*"))
                         if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
                self.images += found
                self.targets += [label] * len(found)
            if not self.images:
                raise FileNotFoundError(f"no images in class folders {self.root}/<class>/ "
                                        f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        else:
            self.images = np.asarray(source)
            if self.images.ndim not in (3, 4):
                raise ValueError(f"images must be [N, H, W, 3] or [N, H, W], got shape {self.images.shape}")
            n = len(self.images)
            self.targets = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64).reshape(-1)
            if len(self.targets) != n:
                raise ValueError(f"{n} images but {len(self.targets)} labels")
            self.classes = [str(k) for k in range(int(self.targets.max()) + 1 if n else 0)]

    def __getitem__(self, index):
        image = self.images[index]
        return self._finish(load(image) if isinstance(image, Path) else image, int(self.targets[index]))
