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

from .._es_imagenet import CANVAS, CROP, PLACEMENTS, T, checked_side, rows_to_events
from .._warn import warn_loss
from ..errors import FormatError
from ._npzio import MAX_MEMBER_BYTES, NpzLayoutReader, NpzLayoutWriter, checked_int, read_array

LAYOUT = "es-imagenet"
KEYS = ("pos", "neg")


class ESImageNetReader(NpzLayoutReader):
    layout = LAYOUT
    layout_options = ("es_imagenet", "a", "b")

    def __init__(self, path, *, es_imagenet: str = "canvas", a: int | None = None, b: int | None = None,
                 **options):
        if es_imagenet not in PLACEMENTS:
            raise ValueError(f"es_imagenet must be one of {PLACEMENTS}, got {es_imagenet!r}")
        if es_imagenet == "loader":
            if a is None or b is None:
                raise ValueError("es_imagenet='loader' needs a=... and b=..., the sample's last two numbers in "
                                 "trainlabel.txt / vallabel.txt")
            a, b = checked_side(a, "a"), checked_side(b, "b")
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


class ESImageNetWriter(NpzLayoutWriter):
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
