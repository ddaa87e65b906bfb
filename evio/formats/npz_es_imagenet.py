"""ES-ImageNet ODG sample (npz layout ``"es-imagenet"``), as its generator writes it.

Keys ``pos`` (ON) and ``neg`` (OFF): uint8 ``[N, 3]`` with columns ``[row, col, t]``; ``row`` and
``col`` are coordinates on the generator's canvas (17..239 in the published data), ``t`` is 1..8.

Reader option ``es_imagenet``:

- ``"canvas"`` (default): ``x = col``, ``y = row``, ``t = t - 1`` on the 256 x 256 canvas.
- ``"loader"``: the placement of ES-ImageNet's dense loader, which needs the sample's ``a`` and ``b``
  from its label-file line (``"{file} {label} {a} {b}"``). The loader writes ``input[c, t, row + dx, col + dy]``
  on a 256 x 256 grid with ``dx = (254 - a) // 2``, ``dy = (254 - b) // 2`` and crops ``[16:240, 16:240]``;
  its first spatial axis is the canvas row, so in evio terms ``y = row + dx - 16``, ``x = col + dy - 16``
  on a 224 x 224 sensor, and ``to_dense`` of the events equals the loader's tensor with C and T swapped.
  Events outside the crop are dropped with a :class:`LossWarning` giving their number.

Events come out ``pos`` rows first, then ``neg`` rows, each in stored order (file order; so ``t`` is
not sorted over the whole sample).
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..kernels import odg as kernels
from ._npzio import (
    MAX_MEMBER_BYTES,
    SampleReader,
    SampleWriter,
    checked_int,
    read_array,
    warn_loss,
)

LAYOUT = "es-imagenet"
KEYS = ("pos", "neg")
MODES = ("canvas", "loader")
T = 8
CANVAS = 256
#: The loader's crop of its 256 x 256 grid: ``[16:240, 16:240]`` on both axes.
CROP = (16, 240)
#: The generator resizes the long side to 254; ``a``, ``b`` are the resized height and width.
AIM_SIZE = 254


def loader_offsets(a: int, b: int) -> tuple[int, int]:
    """``(dx, dy)`` of ES-ImageNet's loader: added to the canvas row and column respectively."""
    return (AIM_SIZE - a) // 2, (AIM_SIZE - b) // 2


def _side(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= int(value) <= AIM_SIZE:
        raise ValueError(f"{name} must be an integer in 1..{AIM_SIZE} (the resized image's "
                         f"{'height' if name == 'a' else 'width'} from the label file), got {value!r}")
    return int(value)


class ESImageNetReader(SampleReader):
    layout = LAYOUT
    layout_options = ("es_imagenet", "a", "b")

    def __init__(self, path, *, es_imagenet: str = "canvas", a: int | None = None, b: int | None = None,
                 **options):
        if es_imagenet not in MODES:
            raise ValueError(f"es_imagenet must be one of {MODES}, got {es_imagenet!r}")
        if es_imagenet == "loader":
            if a is None or b is None:
                raise ValueError("es_imagenet='loader' needs a=... and b=..., the sample's last two numbers in "
                                 "trainlabel.txt / vallabel.txt")
            a, b = _side(a, "a"), _side(b, "b")
        elif a is not None or b is not None:
            raise ValueError("a and b apply only with es_imagenet='loader'")
        self.mode, self.a, self.b = es_imagenet, a, b
        super().__init__(path, **options)

    def _load(self, zf):
        pos, neg = (read_array(zf, key, self.path, kinds="iu", ndim=2) for key in KEYS)
        out, dropped = rows_to_events(pos, neg, self.mode, self.a, self.b, self.path)
        size = CROP[1] - CROP[0] if self.mode == "loader" else CANVAS
        self._set_geometry(size, size, T)
        self._details = {"es_imagenet": self.mode, "pos": len(pos), "neg": len(neg)}
        if self.mode == "loader":
            self._details.update(a=self.a, b=self.b, dropped=dropped)
        return out


def rows_to_events(pos, neg, mode: str = "canvas", a: int | None = None, b: int | None = None, path=None):
    """``(events, dropped)`` of ``pos``/``neg`` rows ``[row, col, t]`` placed as ``mode`` (see the module doc).

    Every value is checked first (:class:`FormatError` naming the key and row); in ``"loader"`` mode the
    events outside the 224 x 224 crop are dropped with a :class:`LossWarning` and counted in ``dropped``.
    """
    for key, rows in (("pos", pos), ("neg", neg)):
        if rows.ndim != 2 or rows.shape[1] != 3:
            raise FormatError(f"key {key!r}: must be [N, 3] (columns row, col, t), has shape {rows.shape}", path)
    dx, dy, lo, hi = (*loader_offsets(a, b), *CROP) if mode == "loader" else (0, 0, 0, CANVAS)
    total = len(pos) + len(neg)
    out = np.empty(total, dtype=EVENT_DTYPE)
    end = 0
    for key, rows, on in (("pos", pos, True), ("neg", neg, False)):
        # uint64 values above the int64 range turn negative: still invalid
        checked = rows.astype(np.int64) if rows.dtype == np.uint64 else rows
        end, bad = kernels.place_rows(checked, on, dx, dy, lo, hi, CANVAS, T,
                                      out["t"], out["x"], out["y"], out["p"], end)
        if bad >= 0:
            for i, (name, low, high) in enumerate((("row", 0, CANVAS - 1), ("col", 0, CANVAS - 1), ("t", 1, T))):
                checked_int(rows[:, i], name, low, high, path, key=key)
            raise FormatError(f"key {key!r} row {bad}: {rows[bad].tolist()} is not a valid [row, col, t]", path)
    if end < total:
        out = out[:end].copy()
    dropped = total - len(out)
    if dropped:
        where = f"{path}: " if path is not None else ""
        warn_loss(f"{where}{dropped} of {total} events fall outside the loader's 224 x 224 crop "
                  f"(a={a}, b={b}) and are dropped")
    return out, dropped


class ESImageNetWriter(SampleWriter):
    """Writes canvas coordinates: ``pos``/``neg`` rows ``[y, x, t + 1]`` as uint8 (t = 0..7).

    Options: ``compress`` (default True, as the generator's ``np.savez_compressed``).
    """

    layout = LAYOUT
    max_T = T

    def __init__(self, path, **options):
        super().__init__(path, **options)
        size = self.meta.get("sensor_size")
        if size is not None and list(size) != [CANVAS, CANVAS]:
            warn_loss(f"{path}: the {LAYOUT} layout records no sensor size; sensor_size {tuple(size)} "
                          f"reads back as the {CANVAS} x {CANVAS} canvas")

    def _check_T(self, T_):
        if T_ != T:
            raise FormatError(f"the {LAYOUT} layout has T = {T} timesteps (t = 1..8 on disk), got T = {T_}",
                              self.path)

    def _check_size(self, W, H):
        if W > CANVAS or H > CANVAS:
            raise FormatError(f"the {LAYOUT} layout stores uint8 canvas coordinates: sensor_size (W={W}, H={H}) "
                              f"does not fit {CANVAS} x {CANVAS}", self.path)

    def _check_xy(self, events, offset):
        for name in ("x", "y"):
            checked_int(events[name], name, 0, CANVAS - 1, self.path, what="event", offset=offset)

    def _arrays(self, events, W, H, T_):
        if 3 * len(events) > MAX_MEMBER_BYTES:
            raise FormatError(f"{len(events)} events exceed the {MAX_MEMBER_BYTES}-byte member limit", self.path)
        p = events["p"]
        if len(p) > 1 and np.any(np.diff(p.view(np.int8)) > 0):
            warn_loss(f"{self.path}: event order is not kept: the {LAYOUT} layout stores all ON events (pos), "
                          "then all OFF events (neg)")
        out = {}
        for key, sel in (("pos", events[p]), ("neg", events[~p])):
            rows = np.empty((len(sel), 3), dtype=np.uint8)
            rows[:, 0], rows[:, 1], rows[:, 2] = sel["y"], sel["x"], sel["t"] + 1
            out[key] = rows
        return out
