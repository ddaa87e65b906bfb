"""ES-ImageNet (Lin et al. 2021): ImageNet images turned into 8 event timesteps by the ODG generator,
one ``.npz`` of ``pos``/``neg`` rows ``[row, col, t]`` per sample (evio's ``npz`` format, layout
``es-imagenet``), listed with label and image size in ``trainlabel.txt`` / ``vallabel.txt``.

Layout of the 0.18 release: ``ES-imagenet-0.18/{trainlabel.txt, vallabel.txt, train/, val/}``, in
``root``, ``root/extract`` (SpikingJelly) or ``root`` itself. See ``docs/datasets.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import api
from .._es_imagenet import CANVAS, CROP, T
from ..dense import to_dense
from ..errors import FormatError
from . import _neuromorphic as nm

FOLDER = "ES-imagenet-0.18"
#: SpikingJelly's list: 0.18 release, a multi-part RAR archive (extract it with unrar or 7-Zip).
RESOURCE_URL = "https://cloud.tsinghua.edu.cn/d/94873ab4ec2a4eb497b3/files/?p=%2FES-imagenet-0.18.part{:02d}.rar&dl=1"
RESOURCE_MD5 = (
    "900bdd57b5641f7d81cd4620283fef76", "5982532009e863a8f4e18e793314c54b", "8f408c1f5a1d4604e48d0d062a8289a0",
    "5c5b5cf0a55954eb639964e3da510097", "51feb661b4c9fa87860b63e76b914673", "fcd007a2b17b7c13f338734c53f6db31",
    "d3e74b96d9c5df15714bbc3abcd329fc", "65b9cf7fa63e18d2e7d92ff45a42a5e5", "241c9a37a83ff9efd305fe46d012211e",
    "ceee96971008e30d0cdc34086c49fd75", "4fbfefbe6e48758fbb72427c81f119cf", "c8cc163be4e5f6451201dccbded4ec24",
)
#: (file name, URL, md5) of each part.
RESOURCES = tuple((f"{FOLDER}.part{k:02d}.rar", RESOURCE_URL.format(k), md5) for k, md5 in enumerate(RESOURCE_MD5, 1))
SPLITS = ("all", "train", "test")
PLACEMENTS = ("loader", "canvas")
#: split -> (label file, sample folder)
PARTS = {"train": ("trainlabel.txt", "train"), "test": ("vallabel.txt", "val")}


def find_folder(root) -> Path | None:
    """The folder holding ``trainlabel.txt`` or ``vallabel.txt``."""
    root = Path(root)
    for folder in (root, root / FOLDER, root / "extract" / FOLDER):
        if any((folder / label).is_file() for label, _ in PARTS.values()):
            return folder
    return None


def read_label_file(path) -> list[tuple[str, int, int, int]]:
    """``(file name, label, a, b)`` of each line ``"<file> <label> <a> <b>"`` (blank lines ignored)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != 4:
                    raise ValueError
                name, label, a, b = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
            except ValueError:
                raise FormatError(f"line {number}: expected '<file> <label> <a> <b>', got {line.strip()!r}",
                                  path) from None
            if label < 0 or not (1 <= a <= 254 and 1 <= b <= 254):
                raise FormatError(f"line {number}: label must be >= 0 and a, b in 1..254, got {line.strip()!r}", path)
            rows.append((name, label, a, b))
    return rows


class ESImageNet(nm.NeuromorphicDataset):
    """ES-ImageNet as a map-style dataset: ``ds[i] -> ([8, 2, 224, 224] frames or events, label)``.

    - ``root``: holds ``ES-imagenet-0.18/`` (or is it, or holds ``extract/ES-imagenet-0.18``) with
      ``trainlabel.txt``, ``vallabel.txt``, ``train/`` and ``val/``. There is no automatic download:
      the release is a 12-part RAR archive (:data:`RESOURCES`, SpikingJelly's URLs and md5 list).
    - ``split``: ``"train"`` (default, ``trainlabel.txt``), ``"test"`` (``vallabel.txt``, the
      ``val/`` folder) or ``"all"`` (train then test). Label = the line's label, as the dataset's
      own loader; samples in label-file order. Names are the listed file names without ``.npz``.
    - ``placement``: ``"loader"`` (default): the dataset loader's centred 224 x 224 crop (using the
      line's ``a``, ``b``; events outside it are dropped with a ``LossWarning``). ``"canvas"``: the
      generator's 256 x 256 canvas, SpikingJelly's coordinates (``x = col``, ``y = row``).
    - ``frames``: ``"dense"`` (default): the loader's dense tensor, float32 ``[8, 2, H, W]``, 1 where
      a pixel has an event at that timestep, channel 0 = ON (``pos``); None: the events (``t`` is the
      timestep 0..7); or :func:`evio.frames` options.
    - ``cache``, ``transform``, ``target_transform``, ``transforms``, ``custom_integrate_function``,
      ``custom_integrated_frames_dir_name``: as in CIFAR10DVS.
    """

    sensor_size = (CROP[1] - CROP[0], CROP[1] - CROP[0], 2)

    def __init__(self, root, split: str = "train", *, placement: str = "loader", frames="dense", cache=None,
                 transform=None, target_transform=None, transforms=None, custom_integrate_function=None,
                 custom_integrated_frames_dir_name=None):
        if custom_integrate_function is not None and frames == "dense":
            frames = None
        super().__init__(root, frames=frames, cache=cache, transform=transform,
                         target_transform=target_transform, transforms=transforms,
                         custom_integrate_function=custom_integrate_function,
                         custom_integrated_frames_dir_name=custom_integrated_frames_dir_name)
        nm.check_choice("split", split, SPLITS)
        nm.check_choice("placement", placement, PLACEMENTS)
        self.split, self.placement = split, placement
        if placement == "canvas":
            self.sensor_size = (CANVAS, CANVAS, 2)
        self.folder = find_folder(self.root)
        if self.folder is None:
            raise FileNotFoundError(
                f"no {FOLDER}/trainlabel.txt or vallabel.txt under {self.root}. ES-ImageNet is not downloaded "
                f"automatically: get the {len(RESOURCES)} parts {RESOURCES[0][0]} .. {RESOURCES[-1][0]} from "
                f"{RESOURCE_URL.split('/files/')[0]} (md5 list: evio.datasets.esimagenet.RESOURCES), extract "
                f"them with unrar or 7-Zip into {self.root / 'extract'}")
        self.paths: list[Path] = []
        self.sides: list[tuple[int, int]] = []
        for part in (("train", "test") if split == "all" else (split,)):
            label_file, sample_dir = PARTS[part]
            if not (self.folder / label_file).is_file():
                raise FileNotFoundError(f"no {label_file} in {self.folder}")
            for name, label, a, b in read_label_file(self.folder / label_file):
                relative = Path(name).with_suffix(".npz")
                self.paths.append(self.folder / sample_dir / relative)
                self.names.append(relative.with_suffix("").as_posix())
                self.targets.append(label)
                self.sides.append((a, b))
        self._open_cache()

    def check_frames(self, frames):
        return "dense" if frames == "dense" else nm.check_frame_options(frames)

    def options(self) -> dict:
        return {"placement": self.placement}

    def events(self, index: int) -> np.ndarray:
        """Events of sample ``index``, no transform: ``EVENT_DTYPE``, ``t`` = timestep 0..7, ON rows then OFF rows."""
        i = self._index(index)
        if self.placement == "canvas":
            return api.read(self.paths[i], format="npz", layout="es-imagenet")
        a, b = self.sides[i]
        return api.read(self.paths[i], format="npz", layout="es-imagenet", es_imagenet="loader", a=a, b=b)

    def integrate(self, events: np.ndarray) -> np.ndarray:
        if self.frame_options == "dense":
            return to_dense(events, self.sensor_size[:2], T, channels="on_off").astype(np.float32)
        return super().integrate(events)
