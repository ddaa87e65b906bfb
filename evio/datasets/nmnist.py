"""N-MNIST and N-Caltech101 (Orchard et al. 2015): ATIS recordings of MNIST digits and Caltech101
images, one ``.bin`` file of 5-byte events per sample (the N-MNIST format, ``evio.formats.nmnist``).

Layouts: ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin`` (N-MNIST), ``Caltech101/<class>/*.bin``
(N-Caltech101), in ``root``, ``root/extract`` (SpikingJelly) or ``root/NMNIST`` / ``root/NCALTECH101``
(Tonic). Neither is downloaded automatically (SpikingJelly does not either); the zips put in
``root`` or ``root/download`` are md5-checked and extracted. See ``docs/datasets.md``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE, record_bytes
from ..kernels import aer
from . import _neuromorphic as nm

NMNIST_CLASSES = tuple(str(d) for d in range(10))
#: SpikingJelly's list (the files come from the page): (file name, URL, md5). Tonic fetches the same
#: zips (same md5) from Mendeley Data as ``train.zip`` / ``test.zip``.
NMNIST_RESOURCES = (
    ("Train.zip", "https://www.garrickorchard.com/datasets/n-mnist", "20959b8e626244a1b502305a9e6e2031"),
    ("Test.zip", "https://www.garrickorchard.com/datasets/n-mnist", "69ca8762b2fe404d9b9bad1103e97832"),
)
NMNIST_MIRROR = "https://data.mendeley.com/datasets/468j46mzdv"
NCALTECH101_RESOURCES = (
    ("Caltech101.zip", "https://www.garrickorchard.com/datasets/n-caltech101", "66201824eabb0239c7ab992480b50ba3"),
    ("Caltech101_annotations.zip", "https://www.garrickorchard.com/datasets/n-caltech101",
     "25e64cea645291e368db1e70f214988e"),
)
NCALTECH101_MIRROR = "https://data.mendeley.com/datasets/cy6cvx3ryv"
SPLITS = ("all", "train", "test")
#: N-Caltech101 coordinates: as recorded (SpikingJelly) or shifted so each sample starts at 0 (Tonic).
COORDINATES = ("sensor", "tonic")


def _read_all(path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        parts = []
        remaining = os.fstat(fd).st_size
        while remaining > 0:
            part = os.read(fd, remaining)
            if not part:
                break
            parts.append(part)
            remaining -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


def read_bin(path) -> np.ndarray:
    """Events of one N-MNIST / N-Caltech101 ``.bin`` file (``EVENT_DTYPE``, ``t`` in µs as stored,
    overflow rows applied and dropped as by evio's ``nmnist`` reader)."""
    data = _read_all(path)
    whole, trailing = divmod(len(data), 5)
    if trailing:
        raise FormatError(f"{trailing} trailing bytes do not form a whole 5-byte event", path, 5 * whole)
    buf = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(whole, dtype=EVENT_DTYPE)   # every byte of every record is written
    k = aer.nmnist_decode(buf, out["t"], out["x"], out["y"], out["p"], np.zeros(2, np.int64), record_bytes(out))
    return out if k == whole else out[:k]


def _bin_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".bin" and p.is_file())


def _extract_zips(root: Path, names_md5, target: Path) -> bool:
    """Extract the zips among ``names_md5`` found in ``root`` or ``root/download`` into ``target``
    (md5-checked); True when any was found."""
    found = False
    for name, md5 in names_md5:
        for archive in (root / name, root / "download" / name):
            if archive.is_file():
                if (got := nm.md5sum(archive)) != md5:
                    raise FormatError(f"md5 is {got}, expected {md5} (a damaged or different download)", archive)
                nm.extract(archive, target)
                found = True
                break
    return found


def _child(folder: Path, name: str) -> Path | None:
    """``folder/name``, matched without regard to case (``Train`` or ``train``)."""
    exact = folder / name
    if exact.is_dir():
        return exact
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.lower() == name.lower() and entry.is_dir():
                return entry
    return None


class NMNIST(nm.NeuromorphicDataset):
    """N-MNIST as a map-style dataset: ``ds[i] -> (events or [T, 2, 34, 34] frames, label)``.

    - ``root``: holds ``Train/`` and ``Test/`` (digit folders ``0``..``9`` of ``.bin`` files), in
      itself, ``extract/`` (SpikingJelly) or ``NMNIST/`` (Tonic); or ``Train.zip``/``Test.zip``
      (also Tonic's ``train.zip``/``test.zip``) in ``root`` or ``root/download``, which are
      md5-checked and extracted to ``root/extract``. No automatic download (as in SpikingJelly).
    - ``split``: ``"train"`` (default), ``"test"`` or ``"all"`` (train then test).
    - ``first_saccade_only``: keep the events with ``t < 100 ms`` (Tonic's option).
    - ``frames``, ``cache``, ``transform``, ``target_transform``, ``transforms``,
      ``custom_integrate_function``, ``custom_integrated_frames_dir_name``: as in CIFAR10DVS.

    Order and labels are SpikingJelly's: digit, then file name; label = digit. Names are
    ``"<digit>/<file stem>"``. Events: ``t`` in µs as stored, 34 x 34 pixels.
    """

    sensor_size = (34, 34, 2)
    classes = NMNIST_CLASSES

    def __init__(self, root, split: str = "train", *, first_saccade_only: bool = False, frames=None, cache=None,
                 transform=None, target_transform=None, transforms=None, custom_integrate_function=None,
                 custom_integrated_frames_dir_name=None):
        super().__init__(root, frames=frames, cache=cache, transform=transform,
                         target_transform=target_transform, transforms=transforms,
                         custom_integrate_function=custom_integrate_function,
                         custom_integrated_frames_dir_name=custom_integrated_frames_dir_name)
        nm.check_choice("split", split, SPLITS)
        self.split, self.first_saccade_only = split, bool(first_saccade_only)
        parts = ("train", "test") if split == "all" else (split,)
        base = self._find_base(parts)
        self.paths: list[Path] = []
        for part in parts:
            folder = _child(base, part)
            for label, digit in enumerate(NMNIST_CLASSES):
                cls_dir = folder / digit
                if not cls_dir.is_dir():
                    continue
                for name in _bin_files(cls_dir):
                    self.paths.append(cls_dir / name)
                    self.names.append(f"{digit}/{name[:-4]}")
                    self.targets.append(label)
        self._open_cache()

    def _find_base(self, parts) -> Path:
        bases = (self.root, self.root / "extract", self.root / "NMNIST")
        for _ in range(2):
            for base in bases:
                if all(_child(base, part) is not None for part in parts):
                    return base
            zips = [(name.lower(), md5) for name, _, md5 in NMNIST_RESOURCES]
            zips += [(name, md5) for name, _, md5 in NMNIST_RESOURCES]
            if not _extract_zips(self.root, zips, self.root / "extract"):
                break
        need = " and ".join(p.capitalize() for p in parts)
        sums = ", ".join(f"{n} md5 {m}" for n, _, m in NMNIST_RESOURCES)
        raise FileNotFoundError(
            f"no N-MNIST {need}/ folder under {self.root} (looked in it, extract/ and NMNIST/). "
            f"N-MNIST is not downloaded automatically: get Train.zip and Test.zip from "
            f"{NMNIST_RESOURCES[0][1]} (or train.zip/test.zip from {NMNIST_MIRROR}) and put them in "
            f"{self.root} or {self.root / 'download'} ({sums}); evio checks and extracts them")

    def options(self) -> dict:
        return {"first_saccade_only": self.first_saccade_only}

    def events(self, index: int) -> np.ndarray:
        """Events of sample ``index``, no transform: ``EVENT_DTYPE``, ``t`` in µs as stored, 34 x 34 pixels."""
        events = read_bin(self.paths[self._index(index)])
        if self.first_saccade_only:
            events = events[events["t"] < 100_000]
        return events


class NCaltech101(nm.NeuromorphicDataset):
    """N-Caltech101 as a map-style dataset: ``ds[i] -> (events or [T, 2, 180, 240] frames, label)``.

    - ``root``: holds ``Caltech101/<class>/*.bin`` in itself, ``extract/`` (SpikingJelly) or
      ``NCALTECH101/`` (Tonic); or ``Caltech101.zip`` in ``root`` or ``root/download``, md5-checked
      and extracted to ``root/extract``. No automatic download (as in SpikingJelly).
    - Classes are the class folders in Python's sorted order (``BACKGROUND_Google``, ``Faces_easy``,
      ``Leopards``, ``Motorbikes``, ``accordion``, ...), label = index, as SpikingJelly's
      ``DatasetFolder`` numbers them (Tonic's targets are the folder names themselves).
    - ``split``: ``"all"`` (default), ``"train"`` or ``"test"``: per class, the first
      ``ceil(n * train_ratio)`` files in name order are ``train`` (SpikingJelly's
      ``split_to_train_test_set`` without shuffling); there is no official split.
    - ``coordinates``: ``"sensor"`` (default): x, y as recorded on the 240 x 180 sensor, as
      SpikingJelly (frames 180 x 240). ``"tonic"``: each sample shifted so its smallest x and y are 0,
      as Tonic's ``NCALTECH101`` (whose ``sensor_size`` is None); ``sensor_size`` stays 240 x 180.
    - ``frames``, ``cache``, ``transform``, ``target_transform``, ``transforms``,
      ``custom_integrate_function``, ``custom_integrated_frames_dir_name``: as in CIFAR10DVS.
    """

    sensor_size = (240, 180, 2)

    def __init__(self, root, split: str = "all", *, coordinates: str = "sensor", train_ratio: float = 0.9,
                 frames=None, cache=None, transform=None, target_transform=None, transforms=None,
                 custom_integrate_function=None, custom_integrated_frames_dir_name=None):
        super().__init__(root, frames=frames, cache=cache, transform=transform,
                         target_transform=target_transform, transforms=transforms,
                         custom_integrate_function=custom_integrate_function,
                         custom_integrated_frames_dir_name=custom_integrated_frames_dir_name)
        nm.check_choice("split", split, SPLITS)
        nm.check_choice("coordinates", coordinates, COORDINATES)
        nm.check_train_ratio(train_ratio)
        self.split, self.coordinates, self.train_ratio = split, coordinates, float(train_ratio)
        self.folder = self._find_folder()
        self.classes = tuple(sorted(p.name for p in self.folder.iterdir() if p.is_dir()))
        self.paths: list[Path] = []
        for label, cls in enumerate(self.classes):
            files = _bin_files(self.folder / cls)
            cut = math.ceil(len(files) * self.train_ratio)
            for name in {"all": files, "train": files[:cut], "test": files[cut:]}[split]:
                self.paths.append(self.folder / cls / name)
                self.names.append(f"{cls}/{name[:-4]}")
                self.targets.append(label)
        self._open_cache()

    def _find_folder(self) -> Path:
        for _ in range(2):
            for base in (self.root, self.root / "extract", self.root / "NCALTECH101"):
                if (base / "Caltech101").is_dir():
                    return base / "Caltech101"
            name, _, md5 = NCALTECH101_RESOURCES[0]
            if not _extract_zips(self.root, [(name, md5)], self.root / "extract"):
                break
        name, url, md5 = NCALTECH101_RESOURCES[0]
        raise FileNotFoundError(
            f"no Caltech101/ folder under {self.root} (looked in it, extract/ and NCALTECH101/). "
            f"N-Caltech101 is not downloaded automatically: get {name} from {url} (or from "
            f"{NCALTECH101_MIRROR}) and put it in {self.root} or {self.root / 'download'} (md5 {md5}); "
            "evio checks and extracts it")

    def options(self) -> dict:
        return {"coordinates": self.coordinates, "train_ratio": self.train_ratio}

    def events(self, index: int) -> np.ndarray:
        """Events of sample ``index``, no transform: ``EVENT_DTYPE``, ``t`` in µs as stored; x, y as
        recorded (``coordinates="sensor"``) or shifted to start at 0 (``"tonic"``)."""
        events = read_bin(self.paths[self._index(index)])
        if self.coordinates == "tonic" and len(events):
            events["x"] -= events["x"].min()
            events["y"] -= events["y"].min()
        return events
