"""CIFAR10-DVS (Li et al. 2017): 10 classes x 1000 DVS128 recordings of moving CIFAR-10 images.

Reads the original jAER AEDAT 2.0 files (``cifar10_<class>_<i>.aedat``, in class folders or in the
per-class zips of the figshare release) or Tonic's AEDAT 4 re-encodings (``<class>/*.aedat4``).
See ``docs/datasets.md``.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np

from .. import api
from ..errors import FormatError
from ..events import EVENT_DTYPE, empty_events, record_bytes
from ..formats.aedat2 import read_header
from ..kernels import aer
from . import _neuromorphic as nm

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

#: The original release (AEDAT 2.0), one zip per class: (file name, URL, md5).
AEDAT2_RESOURCES = (
    ("airplane.zip", "https://ndownloader.figshare.com/files/7712788", "0afd5c4bf9ae06af762a77b180354fdd"),
    ("automobile.zip", "https://ndownloader.figshare.com/files/7712791", "8438dfeba3bc970c94962d995b1b9bdd"),
    ("bird.zip", "https://ndownloader.figshare.com/files/7712794", "a9c207c91c55b9dc2002dc21c684d785"),
    ("cat.zip", "https://ndownloader.figshare.com/files/7712812", "52c63c677c2b15fa5146a8daf4d56687"),
    ("deer.zip", "https://ndownloader.figshare.com/files/7712815", "b6bf21f6c04d21ba4e23fc3e36c8a4a3"),
    ("dog.zip", "https://ndownloader.figshare.com/files/7712818", "f379ebdf6703d16e0a690782e62639c3"),
    ("frog.zip", "https://ndownloader.figshare.com/files/7712842", "cad6ed91214b1c7388a5f6ee56d08803"),
    ("horse.zip", "https://ndownloader.figshare.com/files/7712851", "e7cbbf77bec584ffbf913f00e682782a"),
    ("ship.zip", "https://ndownloader.figshare.com/files/7712836", "41c7bd7d6b251be82557c6cce9a7d5c9"),
    ("truck.zip", "https://ndownloader.figshare.com/files/7712839", "89f3922fd147d9aeff89e76a2b0b70a7"),
)
#: Tonic's AEDAT 4 copy: one zip holding the ten class zips.
AEDAT4_RESOURCE = ("CIFAR10DVS.zip", "https://figshare.com/ndownloader/files/38023437",
                   "ce3a4a0682dc0943703bd8f749a7701c")

#: orientation preset -> AEDAT 2.0 reader preset
ORIENTATIONS = {"top-left": "caer", "spikingjelly": "spikingjelly-cifar10dvs"}
SOURCES = ("auto", "aedat", "aedat4")
SPLITS = ("all", "train", "test")


def _decode_aedat2(data: bytes, orientation: str, where) -> np.ndarray:
    """Events of an AEDAT 2.0 DVS128 file held in memory (a zip member)."""
    f = io.BytesIO(data)
    lines, start = read_header(f, where)
    if not lines or not lines[0].startswith(b"#!AER-DAT2."):
        raise FormatError("not a jAER AEDAT 2.0 file (no #!AER-DAT2.0 line)", where)
    body = np.frombuffer(data, dtype=np.uint8, offset=start)
    if len(body) % 8:
        raise FormatError(f"{len(body) % 8} trailing bytes do not form a whole event", where)
    out = empty_events(len(body) // 8)
    orient = aer.ORIENT_CAER if orientation == "top-left" else aer.ORIENT_SJ_CIFAR10DVS
    k = aer.aedat2_decode(body, 8, aer.CHIP_DVS128, orient, 128, 128, True, out["t"], out["x"], out["y"],
                          out["p"], np.zeros(4, np.int64), np.zeros(2, np.int64), record_bytes(out), 0)
    return out[:k]


def find_files(root, source: str = "auto") -> tuple[str, list[tuple[int, str, object]]]:
    """``(source, [(label, name, location)])`` in SpikingJelly's order: class, then file name.

    ``location`` is a ``Path`` or a ``(zip path, member)`` pair. Looks in ``root``,
    ``root/extract`` (SpikingJelly) and ``root/CIFAR10DVS`` (Tonic), for ``<class>/*.aedat``,
    ``<class>.zip`` (also under ``download/``) and ``<class>/*.aedat4``.
    """
    root = Path(root)
    bases = [root, root / "extract", root / "CIFAR10DVS", root / "download"]
    found: dict[str, list] = {"aedat": [], "aedat4": []}
    for label, cls in enumerate(CLASSES):
        for kind, suffix in (("aedat", ".aedat"), ("aedat4", ".aedat4")):
            entries = {}
            for base in bases:
                folder = base / cls
                if folder.is_dir():
                    for path in folder.glob("*" + suffix):
                        entries.setdefault(path.stem, path)
                archive = base / f"{cls}.zip"
                if not entries and archive.is_file():
                    with zipfile.ZipFile(archive) as zf:
                        for member in zf.namelist():
                            if member.lower().endswith(suffix) and not member.endswith("/"):
                                entries.setdefault(Path(member).stem, (archive, member))
                if entries:
                    break
            found[kind] += [(label, f"{cls}/{stem}", entries[stem]) for stem in sorted(entries)]
    if source == "auto":
        source = "aedat" if found["aedat"] or not found["aedat4"] else "aedat4"
    return source, found[source]


class CIFAR10DVS(nm.NeuromorphicDataset):
    """CIFAR10-DVS as a map-style dataset: ``ds[i] -> (events or [T, 2, H, W] frames, label)``.

    - ``root``: a folder holding the class folders or zips (see :func:`find_files`).
    - ``split``: ``"all"`` (default), ``"train"`` or ``"test"``: per class, the first
      ``ceil(n * train_ratio)`` files in name order are ``train`` (SpikingJelly's
      ``split_to_train_test_set(0.9, ds, 10)``, used by I2E), the rest ``test``.
    - ``orientation``: ``"top-left"`` (default; x right, y down, as libcaer/DV display the DVS128)
      or ``"spikingjelly"`` (SpikingJelly's transpose of it, to match published SJ pipelines).
    - ``source``: ``"aedat"`` (original AEDAT 2.0), ``"aedat4"`` (Tonic's copies) or ``"auto"``.
    - ``frames``: None for events, or :func:`evio.frames` options, e.g. ``dict(T=8, by="count")``;
      ``cache``: a frame-store path (zarr) filled on first access and reused afterwards;
      ``custom_integrate_function``, ``custom_integrated_frames_dir_name``: SpikingJelly's hook
      (see :class:`~evio.datasets._neuromorphic.NeuromorphicDataset`).
    - ``download``: fetch and extract the release for ``source`` into ``root`` (md5-checked).

    Events are ``EVENT_DTYPE``, ``t`` in µs as stored in the file (not shifted to 0), 128 x 128 pixels.
    """

    sensor_size = (128, 128, 2)
    classes = CLASSES

    def __init__(self, root, split: str = "all", *, orientation: str = "top-left", source: str = "auto",
                 train_ratio: float = 0.9, frames=None, cache=None, transform=None, target_transform=None,
                 transforms=None, download: bool = False, custom_integrate_function=None,
                 custom_integrated_frames_dir_name=None):
        super().__init__(root, frames=frames, cache=cache, transform=transform,
                         target_transform=target_transform, transforms=transforms,
                         custom_integrate_function=custom_integrate_function,
                         custom_integrated_frames_dir_name=custom_integrated_frames_dir_name)
        nm.check_choice("split", split, SPLITS)
        nm.check_choice("orientation", orientation, ORIENTATIONS)
        nm.check_choice("source", source, SOURCES)
        nm.check_train_ratio(train_ratio)
        self.split, self.orientation, self.train_ratio = split, orientation, float(train_ratio)
        if download:
            self.download(self.root, "aedat4" if source == "aedat4" else "aedat")
        self.source, files = find_files(self.root, source)
        if not files:
            raise FileNotFoundError(
                f"no CIFAR10-DVS files under {self.root} (looked for <class>/cifar10_<class>_<i>.aedat, "
                "<class>.zip and <class>/*.aedat4 in it and in extract/, download/, CIFAR10DVS/); "
                "pass download=True to fetch them")
        picked = []
        for label in range(len(CLASSES)):
            of_class = [f for f in files if f[0] == label]
            cut = math.ceil(len(of_class) * self.train_ratio)
            picked += {"all": of_class, "train": of_class[:cut], "test": of_class[cut:]}[split]
        self.targets = [f[0] for f in picked]
        self.names = [f[1] for f in picked]
        self.locations = [f[2] for f in picked]
        self._open_cache()

    def options(self) -> dict:
        return {"orientation": self.orientation, "source": self.source, "train_ratio": self.train_ratio}

    def events(self, index: int) -> np.ndarray:
        """Events of sample ``index``, no transform: ``EVENT_DTYPE``, ``t`` in µs as stored, 128 x 128 pixels."""
        where = self.locations[self._index(index)]
        if self.source == "aedat":
            if isinstance(where, tuple):
                archive, member = where
                with zipfile.ZipFile(archive) as zf:
                    data = zf.read(member)
                return _decode_aedat2(data, self.orientation, f"{archive}:{member}")
            return api.read(where, format="aedat2", chip="dvs128", orientation=ORIENTATIONS[self.orientation])
        if isinstance(where, tuple):
            raise FormatError("AEDAT 4 files are read from extracted folders, not from zips", where[0])
        events = api.read(where, format="aedat4")
        if self.orientation == "spikingjelly":
            swapped = np.empty(len(events), EVENT_DTYPE)
            swapped["t"], swapped["p"] = events["t"], events["p"]
            swapped["x"], swapped["y"] = events["y"], events["x"]
            events = swapped
        return events

    @staticmethod
    def download(root, source: str = "aedat") -> None:
        """Fetch the release (``"aedat"``: the ten original zips, ``"aedat4"``: Tonic's copy) into
        ``root/download`` and extract it (``root/extract`` or ``root/CIFAR10DVS``); md5-checked."""
        root = Path(root)
        if source == "aedat":
            for name, url, md5 in AEDAT2_RESOURCES:
                if not (root / "extract" / name[:-4]).is_dir():
                    nm.extract(nm.download(url, root / "download" / name, md5), root / "extract")
            return
        name, url, md5 = AEDAT4_RESOURCE
        target = root / "CIFAR10DVS"
        archive = nm.download(url, root / "download" / name, md5)
        nm.extract(archive, target)
        for cls in CLASSES:
            inner = next(iter(target.rglob(f"{cls}.zip")), None)
            if inner is not None and not (target / cls).is_dir():
                nm.extract(inner, target)
