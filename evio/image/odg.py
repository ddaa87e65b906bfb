"""ES-ImageNet's Omnidirectional Discrete Gradient (ODG), its dense loader and its Edge-Integral
reconstruction (lyh983012/ES-imagenet-master, reimplemented from the description in ``docs/odg.md``).

The generator resizes an 8-bit image by nearest neighbour so that its long side is 254 pixels,
takes ``V = max`` over the colour channels, moves V along a fixed 9-position trajectory on a zero
canvas and, at each of the 8 steps, fires ON where V rose by at least 46 (of 255) and OFF where it
fell by at least 46, keeping canvas rows and columns 17..239 covered by both frames. Nothing is
random. Samples with fewer than 1000 events are left out of the published dataset: evio reports
that (``ODGSample.kept``, :class:`ODGDropWarning`) and never drops them itself.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .._es_imagenet import AIM_SIZE, CANVAS, CROP, PLACEMENTS, T, checked_side, rows_to_events
from .._torch import as_numpy, is_torch
from ..dense import to_dense
from ..errors import FormatError
from ..events import as_events
from ..kernels import odg as kernels
from ._arrays import load

#: Image offset (row, col) on the zero canvas at steps 0..8; step t moves the image by
#: ``TRAJECTORY[t] - TRAJECTORY[t - 1]``.
TRAJECTORY = np.array([(1, 0), (0, 2), (2, 1), (1, 0), (0, 1), (2, 2), (1, 0), (1, 1), (2, 1)], np.int64)
#: ``diff > 0.18`` on ``k / 255`` values is ``Δk >= 46`` exactly (45/255 < 0.18 < 46/255).
THRESHOLD = 46
#: Canvas rows and columns kept: ``CANVAS_LOW < row, col < CANVAS_HIGH``.
CANVAS_LOW, CANVAS_HIGH = 16, 240
#: The published dataset leaves out samples with fewer events than this.
MIN_EVENTS = 1000
COLOR_ORDERS = ("rgb", "bgr")
OUTPUTS = ("sparse", "events", "dense")
PRECISIONS = ("float32", "float64")
LOADER_SIZE = CROP[1] - CROP[0]


class ODGDropWarning(UserWarning):
    """The sample has fewer than 1000 events: ES-ImageNet's generator would not have written it."""


class ODGSample(NamedTuple):
    """One ODG sample as the generator stores it.

    ``pos``/``neg``: uint8 ``[N, 3]`` rows ``[row, col, t]`` (canvas pixels 17..239, step t = 1..8), ordered
    by t then row-major. ``a``/``b``: the resized image's height and width in pixels (the label file's
    last two numbers, needed by the dense loader).
    """

    pos: np.ndarray
    neg: np.ndarray
    a: int
    b: int

    @property
    def n_events(self) -> int:
        return len(self.pos) + len(self.neg)

    @property
    def kept(self) -> bool:
        """True when the sample has at least 1000 events, so the published dataset holds it."""
        return self.n_events >= MIN_EVENTS

    def events(self, placement: str = "canvas") -> np.ndarray:
        """``EVENT_DTYPE`` events, ``pos`` rows then ``neg`` rows; ``t`` is the timestep index 0..7.

        ``"canvas"``: ``x = col``, ``y = row`` on the 256 x 256 canvas (as ``evio.read`` of the saved
        file). ``"loader"``: the dense loader's centred 224 x 224 crop; events outside it are dropped
        with a :class:`LossWarning`.
        """
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        return rows_to_events(self.pos, self.neg, placement, self.a, self.b)[0]

    def dense(self) -> np.ndarray:
        """bool ``[T=8, 2, 224, 224]``, channel 0 = ON: ES-ImageNet's dense loader (see :func:`es_imagenet_dense`)."""
        return es_imagenet_dense(self)

    def save(self, path, compress: bool = True) -> None:
        """Write the ES-ImageNet ``.npz`` sample (keys ``pos``, ``neg``) at ``path`` (no suffix is added), member by
        member as the generator's ``np.savez_compressed`` (``compress=False``: ``np.savez``)."""
        from ..api import write

        write(path, self.events("canvas"), format="npz", sensor_size=(CANVAS, CANVAS), layout="es-imagenet",
              meta={"T": T, "time_unit": "timestep"}, compress=compress)


def resized_shape(height: int, width: int) -> tuple[int, int]:
    """``(a, b)``: the generator's size in pixels, long side 254, short side ``int(short * 254 / long)``."""
    if height > width:
        return AIM_SIZE, width * AIM_SIZE // height
    return height * AIM_SIZE // width, AIM_SIZE


def nearest_indices(in_size: int, out_size: int, precision: str = "float32") -> np.ndarray:
    """int64 ``[out_size]`` source indices of PyTorch's ``interpolate(mode="nearest")`` along one axis.

    ``"float32"`` (the spec's rule, torch on float32 tensors): ``min(floor(f32(i) * (f32(in) / f32(out))),
    in - 1)``. ``"float64"`` (torch 2.x on float64 tensors): the scale and product in float64, rounded to
    float32 before the floor. They differ only where ``i * in / out`` is an integer, for some sizes.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return _nearest_indices(int(in_size), int(out_size), precision).copy()


@lru_cache(maxsize=256)
def _nearest_indices(in_size: int, out_size: int, precision: str) -> np.ndarray:
    i = np.arange(out_size, dtype=np.int64)
    if out_size == in_size or out_size == 2 * in_size:
        out = i if out_size == in_size else i >> 1
        out.flags.writeable = False
        return out
    if precision == "float32":
        src = i.astype(np.float32) * (np.float32(in_size) / np.float32(out_size))
    else:
        src = (i.astype(np.float64) * (in_size / out_size)).astype(np.float32)
    out = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    out.flags.writeable = False
    return out


def _hwc(image) -> np.ndarray:
    arr = load(image)
    if arr.dtype != np.uint8:
        raise FormatError(f"ODG needs 8-bit images (uint8, 0..255), got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] != 3 and arr.shape[2] != 1:
        raise FormatError(f"ODG images are [H, W, 3] (colour) or [H, W] (grayscale), got shape {arr.shape}")
    H, W = arr.shape[:2]
    if H < 1 or W < 1:
        raise FormatError(f"images must be at least 1x1 pixels, got H={H}, W={W}")
    a, b = resized_shape(H, W)
    if a < 1 or b < 1:
        raise FormatError(f"a {H} x {W} image resizes to {a} x {b} pixels (long side 254): nothing is left")
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)


def odg_value(image, resize_precision: str = "float32") -> np.ndarray:
    """uint8 ``[a, b]``: the generator's V, ``max`` over channels of the nearest-resized image (long side 254)."""
    arr = _hwc(image)
    H, W = arr.shape[:2]
    a, b = resized_shape(H, W)
    if resize_precision not in PRECISIONS:
        raise ValueError(f"resize_precision must be one of {PRECISIONS}, got {resize_precision!r}")
    rows, cols = _nearest_indices(H, a, resize_precision), _nearest_indices(W, b, resize_precision)
    if rows[-1] >= H or cols[-1] >= W or rows[0] < 0 or cols[0] < 0:
        raise RuntimeError(f"nearest-neighbour indices outside the {H} x {W} image")
    value = np.empty((a, b), np.uint8)
    kernels.resized_value(arr, rows, cols, value)
    return value


def odg(image, color_order: str = "rgb", output: str = "sparse", resize_precision: str = "float32"):
    """ES-ImageNet's ODG of one 8-bit image.

    ``image``: uint8 ``[H, W, 3]`` or grayscale ``[H, W]`` (NumPy, CPU torch tensor, PIL image or a path).
    ``color_order``: ``"rgb"`` or ``"bgr"`` (ES-ImageNet read BGR with OpenCV); V is the max over the channels
    either way, so both give the same events.
    ``output``: ``"sparse"`` -> :class:`ODGSample` (``pos``/``neg`` uint8 ``[N, 3]`` rows ``[row, col, t]`` as
    stored, ``a``, ``b``, ``kept``); ``"events"`` -> ``EVENT_DTYPE`` on the 256 x 256 canvas (``t`` = timestep
    index 0..7, ``x`` = column, ``y`` = row); ``"dense"`` -> bool ``[8, 2, 224, 224]`` as the dense loader
    builds it (channel 0 = ON). ``"events"`` and ``"dense"`` warn with :class:`ODGDropWarning` for a sample
    of fewer than 1000 events, which the published dataset leaves out.
    ``resize_precision``: the nearest-neighbour index arithmetic (see :func:`nearest_indices`): ``"float32"``
    as the spec states it, ``"float64"`` as torch 2.x resizes the generator's float64 ``image / 255.0``.
    """
    if color_order not in COLOR_ORDERS:
        raise ValueError(f"color_order must be one of {COLOR_ORDERS}, got {color_order!r}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    value = odg_value(image, resize_precision)
    pos, neg = kernels.odg_rows(value, TRAJECTORY, THRESHOLD, CANVAS_LOW, CANVAS_HIGH)
    sample = ODGSample(pos, neg, *value.shape)
    if output == "sparse":
        return sample
    if not sample.kept:
        warnings.warn(f"the ODG sample has {sample.n_events} events, fewer than {MIN_EVENTS}: ES-ImageNet's "
                      "generator would not have written it", ODGDropWarning, stacklevel=2)
    return sample.events("canvas") if output == "events" else es_imagenet_dense(sample)


def _rows(value, key: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise FormatError(f"{key!r} must hold integers, got dtype {arr.dtype}")
    return arr


def es_imagenet_dense(sample, a: int | None = None, b: int | None = None) -> np.ndarray:
    """ES-ImageNet's dense loader: bool ``[T=8, 2, 224, 224]``, channel 0 = ON (``pos``).

    ``sample``: an :class:`ODGSample`, a mapping with ``pos``/``neg`` (such as ``np.load`` of a sample
    file) or a path to one; the last two need ``a`` and ``b`` from the label file. The loader centres
    the canvas by ``((254 - a) // 2, (254 - b) // 2)`` and crops ``[16:240]`` on both axes; events outside
    the crop are dropped with a :class:`LossWarning`. Its own tensor ``[C=2, T=8, 224, 224]`` float is
    ``out.transpose(1, 0, 2, 3).astype(np.float32)``.
    """
    if isinstance(sample, ODGSample):
        if a is not None or b is not None:
            raise ValueError("a and b come from the ODGSample; pass them only with pos/neg arrays or a path")
        pos, neg, a, b = sample
        path = None
    else:
        if a is None or b is None:
            raise ValueError("es_imagenet_dense needs a=... and b=..., the sample's last two numbers in "
                             "trainlabel.txt / vallabel.txt")
        a, b = checked_side(a, "a"), checked_side(b, "b")
        path = None
        if isinstance(sample, (str, os.PathLike)):
            path = sample
            with np.load(sample) as z:
                pos, neg = z["pos"], z["neg"]
        else:
            pos, neg = sample["pos"], sample["neg"]
    events, _ = rows_to_events(_rows(pos, "pos"), _rows(neg, "neg"), "loader", a, b, path)
    return to_dense(events, (LOADER_SIZE, LOADER_SIZE), T=T, channels="on_off")


#: ``(dy, dx)`` read offsets of the Edge-Integral per step t = 0..7: the frame of step t + 1 is read at
#: ``(y + dy, x + dx)``, i.e. shifted back by the image's canvas offset (minus one pixel of border).
EDGE_SHIFTS = TRAJECTORY[1:] - 1


def edge_integral(events, sensor_size=(LOADER_SIZE, LOADER_SIZE)) -> np.ndarray:
    """ES-ImageNet's Edge-Integral: int8 ``[H, W]`` gray edge image in ``-8..8``.

    ``events``: ``EVENT_DTYPE`` (or anything :func:`evio.as_events` takes) with ``t`` the timestep 0..7,
    a bool/0-1 dense ``[8, 2, H, W]`` (channel 0 = ON), or an :class:`ODGSample`; on the loader's
    224 x 224 grid for the published reconstruction. ``sensor_size`` is ``(W, H)`` in pixels (events only).
    Sums ON - OFF over the 8 steps, each frame shifted back along the trajectory; duplicate events count
    once, as in the dense tensor.
    """
    if isinstance(events, ODGSample):
        dense = es_imagenet_dense(events)
    else:
        arr = as_numpy(events) if is_torch(events) else events
        if isinstance(arr, np.ndarray) and arr.dtype.names is None and arr.ndim == 4:
            if arr.shape[:2] != (T, 2):
                raise FormatError(f"dense input must be [8, 2, H, W], got shape {arr.shape}")
            if arr.dtype == np.bool_:
                dense = arr
            elif np.any((arr != 0) & (arr != 1)):
                raise FormatError("dense input must hold only 0 and 1")
            else:
                dense = arr != 0
        else:
            ev = as_events(events)
            if len(ev) and (ev["t"].min() < 0 or ev["t"].max() >= T):
                raise FormatError(f"t must be a timestep index 0..{T - 1}, got {ev['t'].min()}..{ev['t'].max()}")
            dense = to_dense(ev, sensor_size, T=T, channels="on_off")
    out = np.zeros(dense.shape[2:], np.int8)
    kernels.edge_integral(np.ascontiguousarray(dense).view(np.uint8), EDGE_SHIFTS, 0, out)
    return out
