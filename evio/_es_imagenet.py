"""ES-ImageNet sample geometry, shared by the ODG generator (:mod:`evio.image.odg`) and the npz layout
(:mod:`evio.formats.npz_es_imagenet`): the canvas, the dense loader's placement and crop, and the
placement of stored ``[row, col, t]`` rows as events."""

from __future__ import annotations

import numpy as np

from ._warn import warn_loss
from .errors import FormatError
from .events import EVENT_DTYPE
from .kernels import odg as kernels

#: Timesteps per sample (``t`` = 1..8 on disk).
T = 8
#: Side of the generator's square canvas in pixels.
CANVAS = 256
#: The loader's crop of its 256 x 256 grid: ``[16:240, 16:240]`` on both axes.
CROP = (16, 240)
#: The generator resizes the long side to 254; ``a``, ``b`` are the resized height and width.
AIM_SIZE = 254
PLACEMENTS = ("canvas", "loader")


def loader_offsets(a: int, b: int) -> tuple[int, int]:
    """``(dx, dy)`` of ES-ImageNet's loader: added to the canvas row and column respectively."""
    return (AIM_SIZE - a) // 2, (AIM_SIZE - b) // 2


def checked_side(value, name: str) -> int:
    """``a`` or ``b`` (``name``) of a label-file line as an int in 1..254, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= int(value) <= AIM_SIZE:
        raise ValueError(f"{name} must be an integer in 1..{AIM_SIZE} (the resized image's "
                         f"{'height' if name == 'a' else 'width'} from the label file), got {value!r}")
    return int(value)


def rows_to_events(pos, neg, placement: str = "canvas", a: int | None = None, b: int | None = None, path=None):
    """``(events, dropped)`` of ``pos``/``neg`` rows ``[row, col, t]`` placed as ``placement``.

    ``"canvas"``: ``x = col``, ``y = row``, ``t - 1`` on the 256 x 256 canvas. ``"loader"``: the dense
    loader's centred 224 x 224 crop (needs ``a`` and ``b``); the events outside it are dropped with a
    :class:`LossWarning` and counted in ``dropped``. Every value is checked first
    (:class:`FormatError` naming the key and row).
    """
    for key, rows in (("pos", pos), ("neg", neg)):
        if rows.ndim != 2 or rows.shape[1] != 3:
            raise FormatError(f"key {key!r}: must be [N, 3] (columns row, col, t), has shape {rows.shape}", path)
    dx, dy, lo, hi = (*loader_offsets(a, b), *CROP) if placement == "loader" else (0, 0, 0, CANVAS)
    total = len(pos) + len(neg)
    out = np.empty(total, dtype=EVENT_DTYPE)
    end = 0
    for key, rows, on in (("pos", pos, True), ("neg", neg, False)):
        # uint64 values above the int64 range turn negative: still invalid
        checked = rows.astype(np.int64) if rows.dtype == np.uint64 else rows
        end, bad = kernels.place_rows(checked, on, dx, dy, lo, hi, CANVAS, T,
                                      out["t"], out["x"], out["y"], out["p"], end)
        if bad >= 0:
            limits = (("row", 0, CANVAS - 1), ("col", 0, CANVAS - 1), ("t", 1, T))
            for value, (name, low, high) in zip(rows[bad].tolist(), limits):
                if not low <= value <= high:
                    raise FormatError(f"key {key!r} row {bad}: {name} = {value} is outside {low}..{high}", path)
            raise FormatError(f"key {key!r} row {bad}: {rows[bad].tolist()} is not a valid [row, col, t]", path)
    if end < total:
        out = out[:end].copy()
    dropped = total - len(out)
    if dropped:
        where = f"{path}: " if path is not None else ""
        warn_loss(f"{where}{dropped} of {total} events fall outside the loader's 224 x 224 crop "
                  f"(a={a}, b={b}) and are dropped")
    return out, dropped
