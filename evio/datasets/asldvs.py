"""ASL-DVS (Bi et al. 2019): 24 American Sign Language letters (a-y without j) recorded with a
DAVIS240c, one MATLAB ``.mat`` file per sample with column vectors ``ts``, ``x``, ``y``, ``pol``.

Read with ``scipy.io.loadmat`` (the ``asldvs`` extra). Layout ``<letter>/*.mat`` in ``root``,
``root/extract`` (SpikingJelly) or ``root/ASLDVS`` (Tonic). See ``docs/datasets.md``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import FormatError
from ..events import empty_events
from . import _neuromorphic as nm

CLASSES = tuple("abcdefghiklmnopqrstuvwxy")
#: SpikingJelly's entry (Dropbox link, expired; no md5 as the archive changes). OpenI mirror below.
RESOURCE = ("ICCV2019_DVS_dataset.zip", "https://www.dropbox.com/sh/ibq0jsicatn7l6r/AACNrNELV56rs1YInMWUs9CAa?dl=0",
            None)
MIRROR = "pip install openi && openi dataset download OpenI/ASLDVS --local_dir ./ASLDVS"
W, H = 240, 180
#: orientation -> (flip x, flip y) of the stored coordinates
ORIENTATIONS = {"file": (False, False), "tonic": (False, True), "spikingjelly": (True, True)}
#: label_order -> label of each class in CLASSES
LABEL_ORDERS = {"spikingjelly": tuple(range(len(CLASSES))), "tonic": tuple(ord(c) - ord("a") for c in CLASSES)}
SPLITS = ("all", "train", "test")


def _loadmat():
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError("ASL-DVS .mat files are read with scipy: pip install 'evio-toolkit[asldvs]'") from None
    return loadmat


def read_mat(path, orientation: str = "file") -> np.ndarray:
    """Events of one ASL-DVS ``.mat`` file: ``t`` = ``ts`` (µs), ``x``, ``y`` per ``orientation``,
    ``p`` = ``pol != 0``."""
    flip_x, flip_y = ORIENTATIONS[orientation]
    try:
        mat = _loadmat()(str(path))
    except Exception as exc:  # noqa: BLE001  (scipy raises many types for a file that is not MATLAB)
        raise FormatError(f"not a readable MATLAB file ({type(exc).__name__}: {exc})", path) from None
    missing = [k for k in ("ts", "x", "y", "pol") if k not in mat]
    if missing:
        raise FormatError(f"no variable(s) {missing} (ASL-DVS files hold ts, x, y, pol)", path)
    columns = {k: np.asarray(mat[k]).ravel() for k in ("ts", "x", "y", "pol")}
    n = len(columns["ts"])
    for key, values in columns.items():
        if len(values) != n:
            raise FormatError(f"{key} has {len(values)} values, ts has {n}", path)
        if values.dtype.kind not in "iuf" or (values.dtype.kind == "f" and not np.all(np.isfinite(values))):
            raise FormatError(f"{key} is not numeric ({values.dtype})", path)
    for key, limit in (("x", W), ("y", H)):
        values = columns[key]
        if n and (values.min() < 0 or values.max() >= limit or np.any(values != np.floor(values))):
            raise FormatError(f"{key} values must be integers in 0..{limit - 1} (the DAVIS240 sensor)", path)
    if n and (columns["ts"].min() < 0 or np.any(columns["ts"] != np.floor(columns["ts"]))):
        raise FormatError("ts values must be non-negative integers (µs)", path)
    out = empty_events(n)
    out["t"] = columns["ts"]
    out["x"] = W - 1 - columns["x"] if flip_x else columns["x"]
    out["y"] = H - 1 - columns["y"] if flip_y else columns["y"]
    out["p"] = columns["pol"] != 0
    return out


class ASLDVS(nm.NeuromorphicDataset):
    """ASL-DVS as a map-style dataset: ``ds[i] -> (events or [T, 2, 180, 240] frames, label)``.

    - ``root``: holds the letter folders ``a/`` .. ``y/`` of ``.mat`` files, in itself, ``extract/``
      (SpikingJelly) or ``ASLDVS/`` (Tonic). No automatic download (the Dropbox link has expired).
    - ``orientation``: ``"file"`` (default): x, y as stored. ``"tonic"``: ``y = 179 - y`` (Tonic's
      ``ASLDVS``). ``"spikingjelly"``: ``x = 239 - x``, ``y = 179 - y`` (SpikingJelly's, a 180° turn).
    - ``label_order``: ``"spikingjelly"`` (default): labels 0..23 in letter order (the sorted folders
      of SpikingJelly's ``DatasetFolder``). ``"tonic"``: the letter's place in the alphabet (a=0 ...
      y=24; j=9 never occurs), as Tonic.
    - ``split``, ``train_ratio``: as in NCaltech101 (no official split).
    - ``frames``, ``cache``, ``transform``, ``target_transform``, ``transforms``,
      ``custom_integrate_function``, ``custom_integrated_frames_dir_name``: as in CIFAR10DVS.

    Order: letter, then file name. Names are ``"<letter>/<file stem>"``. Events: ``t`` in µs as stored,
    240 x 180 pixels. Needs scipy (``pip install 'evio-toolkit[asldvs]'``).
    """

    sensor_size = (W, H, 2)
    classes = CLASSES

    def __init__(self, root, split: str = "all", *, orientation: str = "file", label_order: str = "spikingjelly",
                 train_ratio: float = 0.9, frames=None, cache=None, transform=None, target_transform=None,
                 transforms=None, custom_integrate_function=None, custom_integrated_frames_dir_name=None):
        super().__init__(root, frames=frames, cache=cache, transform=transform,
                         target_transform=target_transform, transforms=transforms,
                         custom_integrate_function=custom_integrate_function,
                         custom_integrated_frames_dir_name=custom_integrated_frames_dir_name)
        nm.check_choice("split", split, SPLITS)
        nm.check_choice("orientation", orientation, ORIENTATIONS)
        nm.check_choice("label_order", label_order, LABEL_ORDERS)
        nm.check_train_ratio(train_ratio)
        _loadmat()
        self.split, self.orientation, self.label_order = split, orientation, label_order
        self.train_ratio = float(train_ratio)
        folder = self._find_folder()
        self.paths: list[Path] = []
        for k, letter in enumerate(CLASSES):
            cls_dir = folder / letter
            files = sorted(p.name for p in cls_dir.glob("*.mat") if p.is_file()) if cls_dir.is_dir() else []
            cut = math.ceil(len(files) * self.train_ratio)
            for name in {"all": files, "train": files[:cut], "test": files[cut:]}[split]:
                self.paths.append(cls_dir / name)
                self.names.append(f"{letter}/{name[:-4]}")
                self.targets.append(LABEL_ORDERS[label_order][k])
        self._open_cache()

    def _find_folder(self) -> Path:
        for base in (self.root, self.root / "extract", self.root / "ASLDVS"):
            if any((base / letter).is_dir() for letter in CLASSES):
                return base
        raise FileNotFoundError(
            f"no ASL-DVS letter folders (a/ .. y/ of .mat files) under {self.root} (looked in it, extract/ "
            f"and ASLDVS/). ASL-DVS is not downloaded automatically: SpikingJelly's {RESOURCE[0]} link "
            f"({RESOURCE[1]}) has expired; get it from the OpenI mirror ({MIRROR}), unzip ASLDVS.zip, "
            f"then {RESOURCE[0]} and the letter zips inside it into {self.root / 'extract'}")

    def options(self) -> dict:
        return {"orientation": self.orientation, "label_order": self.label_order, "train_ratio": self.train_ratio}

    def events(self, index: int) -> np.ndarray:
        """Events of sample ``index``, no transform: ``EVENT_DTYPE``, ``t`` in µs as stored, 240 x 180 pixels."""
        return read_mat(self.paths[self._index(index)], self.orientation)
