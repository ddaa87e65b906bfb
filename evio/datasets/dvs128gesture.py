"""DVS128 Gesture (Amir et al. 2017): 11 gestures by 29 subjects under 5 lightings, AEDAT 3.1.

Each ``userXX_<lighting>.aedat`` recording is cut into samples by its ``userXX_<lighting>_labels.csv``
(``class, startTime_usec, endTime_usec``) as SpikingJelly does: sample = the events with
``start <= t < end``, overlapping rows included. ``trials_to_train.txt``/``trials_to_test.txt`` give
the split. See ``docs/datasets.md``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import api
from ..errors import FormatError
from . import _neuromorphic as nm

CLASSES = ("hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
           "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise",
           "arm_roll", "air_drums", "air_guitar", "other_gestures")
ARCHIVE = ("DvsGesture.tar.gz", "https://ibm.ent.box.com/s/3hiq58ww1pbbjrinh367ykfdf60xsfm8/folder/50167556794",
           "8a5c71fb11e24e5ca5b11866ca6c00a1")
SPLITS = ("all", "train", "test")
LABEL_ORDERS = ("gesture", "spikingjelly")
#: SpikingJelly's targets: torchvision's DatasetFolder numbers the class folders "0".."10" in string order.
SPIKINGJELLY_TARGET = {label: rank for rank, label in enumerate(sorted(range(11), key=str))}
_MANUAL = ("DVS128 Gesture cannot be downloaded automatically (IBM's Box link needs a browser). Download "
           f"{ARCHIVE[0]} from {ARCHIVE[1]} and put it in {{root}} (or root/download/); evio extracts it "
           "(md5 {md5}). An extracted DvsGesture/ folder in root works too.")


def find_folder(root) -> Path | None:
    """The folder holding ``trials_to_train.txt``: ``root``, ``root/DvsGesture`` or ``root/extract/DvsGesture``."""
    root = Path(root)
    for folder in (root, root / "DvsGesture", root / "extract" / "DvsGesture"):
        if (folder / "trials_to_train.txt").is_file() or (folder / "trials_to_test.txt").is_file():
            return folder
    return None


def read_trials(path) -> list[str]:
    """Recording file names listed one per line (blank lines ignored)."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def read_labels(path) -> np.ndarray:
    """``int64 [rows, 3]``: gesture class (1..11), start and end (µs) of each row of a ``_labels.csv``."""
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.replace("\t", ",").split(",")
        try:
            values = [int(v) for v in fields if v.strip()]
        except ValueError:
            raise FormatError(f"line {number}: expected 3 integers, got {line!r}", path) from None
        if len(values) != 3:
            raise FormatError(f"line {number}: expected 3 integers, got {line!r}", path)
        if not 1 <= values[0] <= len(CLASSES):
            raise FormatError(f"line {number}: class {values[0]} is not within 1..{len(CLASSES)}", path)
        if values[1] < 0 or values[2] < 0:
            raise FormatError(f"line {number}: negative time in {line!r}", path)
        rows.append(values)
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


class DVS128Gesture(nm.NeuromorphicDataset):
    """DVS128 Gesture as a map-style dataset: ``ds[i] -> (events or [T, 2, H, W] frames, label)``.

    - ``root``: holds ``DvsGesture/`` (or is it), or ``DvsGesture.tar.gz``, which is extracted to
      ``root/extract``. There is no automatic download (see :data:`ARCHIVE`).
    - ``split``: ``"train"`` (default), ``"test"`` or ``"all"`` (train then test).
    - ``label_order``: ``"gesture"`` (default): label = csv class - 1 (0..10, as in Tonic and in
      SpikingJelly's folder names), samples in trial-file then csv-row order. ``"spikingjelly"``:
      the targets and sample order of SpikingJelly's ``DVS128Gesture`` dataset (torchvision's
      ``DatasetFolder`` sorts the folders "0".."10" as strings, so class folder 10 is target 2).
    - ``frames``, ``cache``, ``transform``, ``target_transform``, ``transforms``,
      ``custom_integrate_function``, ``custom_integrated_frames_dir_name``: as in CIFAR10DVS.

    Sample names are SpikingJelly's file names without ``.npz``: ``"<label>/<recording>_<k>"``,
    ``k`` counting the rows of that label in the recording. Events are ``EVENT_DTYPE`` with ``t`` in
    µs on the recording's clock (the csv's clock), 128 x 128 pixels, top-left origin.
    """

    sensor_size = (128, 128, 2)
    classes = CLASSES

    def __init__(self, root, split: str = "train", *, label_order: str = "gesture", frames=None, cache=None,
                 transform=None, target_transform=None, transforms=None, custom_integrate_function=None,
                 custom_integrated_frames_dir_name=None):
        super().__init__(root, frames=frames, cache=cache, transform=transform,
                         target_transform=target_transform, transforms=transforms,
                         custom_integrate_function=custom_integrate_function,
                         custom_integrated_frames_dir_name=custom_integrated_frames_dir_name)
        nm.check_choice("split", split, SPLITS)
        nm.check_choice("label_order", label_order, LABEL_ORDERS)
        self.split, self.label_order = split, label_order
        self.folder = find_folder(self.root) or self._extract_archive()
        self.recordings: list[Path] = []
        self.windows: list[tuple[int, int, int]] = []  # (recording index, start µs, end µs)
        self.labels: list[int] = []
        for part in (("train", "test") if split == "all" else (split,)):
            self._add_split(part)
        self.targets = list(self.labels) if label_order == "gesture" \
            else [SPIKINGJELLY_TARGET[label] for label in self.labels]
        self._recording_cache: tuple[int, np.ndarray] | None = None
        self._open_cache()

    def _extract_archive(self) -> Path:
        name, _, md5 = ARCHIVE
        for archive in (self.root / name, self.root / "download" / name):
            if archive.is_file():
                if (got := nm.md5sum(archive)) != md5:
                    raise FormatError(f"md5 is {got}, expected {md5} (a damaged or different download)", archive)
                nm.extract(archive, self.root / "extract")
                folder = find_folder(self.root)
                if folder is None:
                    raise FormatError("archive holds no DvsGesture/trials_to_train.txt", archive)
                return folder
        raise FileNotFoundError(_MANUAL.format(root=self.root, md5=md5))

    def _add_split(self, part: str) -> None:
        trials = self.folder / f"trials_to_{part}.txt"
        if not trials.is_file():
            raise FileNotFoundError(f"no {trials.name} in {self.folder}")
        entries = []
        for file_name in read_trials(trials):
            path = self.folder / file_name
            stem = Path(file_name).stem
            rows = read_labels(self.folder / f"{stem}_labels.csv")
            self.recordings.append(path)
            rec = len(self.recordings) - 1
            counters = [0] * len(CLASSES)
            for cls, t_start, t_end in rows:
                label = int(cls) - 1
                entries.append((label, f"{label}/{stem}_{counters[label]}", (rec, int(t_start), int(t_end))))
                counters[label] += 1
        if self.label_order == "spikingjelly":
            entries.sort(key=lambda e: (str(e[0]), e[1].split("/", 1)[1] + ".npz"))
        for label, name, window in entries:
            self.labels.append(label)
            self.names.append(name)
            self.windows.append(window)

    def options(self) -> dict:
        return {"label_order": self.label_order}

    def recording(self, rec: int) -> np.ndarray:
        """All events of recording ``rec`` (the last one read is kept in memory)."""
        if self._recording_cache is None or self._recording_cache[0] != rec:
            self._recording_cache = (rec, api.read(self.recordings[rec], format="aedat3"))
        return self._recording_cache[1]

    def events(self, index: int) -> np.ndarray:
        """Events of sample ``index``, no transform: ``EVENT_DTYPE``, ``t`` in µs on the recording's clock,
        128 x 128 pixels."""
        rec, t_start, t_end = self.windows[self._index(index)]
        events = self.recording(rec)
        t = events["t"]
        return events[(t >= t_start) & (t < t_end)]

    def __getstate__(self):
        state = super().__getstate__()
        state["_recording_cache"] = None
        return state
