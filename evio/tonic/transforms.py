"""Tonic-style transforms (frozen dataclasses, ``transform(sample) -> new sample``) backed by evio kernels.

Compose them with Tonic's own in ``tonic.transforms.Compose``. Events in and out are Tonic structured
arrays (fields by name; evio reads any integer ``x``/``y``/``t`` and bool or integer ``p``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from tonic.io import events_struct

from .. import packbits
from .._torch import as_numpy, is_torch
from ..dense import to_dense
from ..framing import frames
from ..image.i2e import DEFAULT_ORDER, MODES, i2e

#: Tonic's event dtype (``tonic.io.events_struct``): x, y int16 pixels, t int64, p bool (True = ON).
EVENTS_STRUCT = np.dtype(events_struct)
I2E_OUTPUTS = ("dense", "events", "packed")


def to_tonic(events, dtype=EVENTS_STRUCT) -> np.ndarray:
    """Events with fields ``t, x, y, p`` -> a new structured array of ``dtype`` (Tonic's layout).

    Raises ``ValueError`` naming the field when a value does not fit ``dtype`` (e.g. x > 32767 in int16).
    """
    dtype = np.dtype(dtype)
    out = np.empty(len(events), dtype)
    for name in dtype.names:
        values = events[name]
        kind = dtype[name]
        if len(values) and kind.kind in "iu" and np.asarray(values).dtype.kind in "iu":
            lo, hi, limits = int(values.min()), int(values.max()), np.iinfo(kind)
            if lo < limits.min or hi > limits.max:
                raise ValueError(f"field {name!r} holds values in [{lo}, {hi}], outside {kind} "
                                 f"[{limits.min}, {limits.max}] of the Tonic dtype {dtype}")
        out[name] = values
    return out


@dataclass(frozen=True)
class ToFrames:
    """Events -> int16 frames ``[T, P, H, W]`` (channel = p), equal to ``tonic.transforms.ToFrame``
    with the same arguments, computed by :func:`evio.frames` (``convention="tonic"``).

    Exactly one of ``time_window`` (µs), ``event_count``, ``n_time_bins``, ``n_event_bins``.
    ``overlap``: µs for ``time_window``, events for ``event_count``, a fraction of a bin otherwise.
    ``sensor_size``: ``(W, H, P)`` with ``P`` 1 (polarities merged) or 2. Differences from Tonic:
    no events give int16 zeros ``[1 or n_bins, P, H, W]`` (Tonic: float64 with H and W swapped), the
    input is never modified, and ``dtype=np.int32`` keeps counts above 32767 (int16 wraps, with an
    ``evio.LossWarning``).
    """

    sensor_size: tuple
    time_window: float | None = None
    event_count: int | None = None
    n_time_bins: int | None = None
    n_event_bins: int | None = None
    overlap: float = 0
    include_incomplete: bool = False
    start_time: float | None = None
    end_time: float | None = None
    dtype: object = np.int16

    def __post_init__(self):
        chosen = [n for n in ("time_window", "event_count", "n_time_bins", "n_event_bins")
                  if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of time_window, event_count, n_time_bins, n_event_bins; "
                             f"got {chosen or 'none'}")

    def __call__(self, events):
        common = dict(sensor_size=self.sensor_size, convention="tonic", dtype=self.dtype, overlap=self.overlap,
                      include_incomplete=self.include_incomplete)
        if self.time_window is not None:
            return frames(events, None, "duration", self.time_window, start_time=self.start_time,
                          end_time=self.end_time, **common)
        if self.event_count is not None:
            return frames(events, None, "count", event_count=self.event_count, **common)
        if self.n_time_bins is not None:
            return frames(events, self.n_time_bins, "time", **common)
        return frames(events, self.n_event_bins, "count", **common)


@dataclass(frozen=True)
class ToDense:
    """Events with ``t`` a timestep index -> bool ``[T, 2, H, W]`` (:func:`evio.to_dense`).

    ``sensor_size``: ``(W, H)`` or ``(W, H, 2)`` pixels; ``T`` defaults to ``max(t) + 1``;
    ``channels`` (required): ``"on_off"`` (channel 0 = ON, I2E's layout) or ``"off_on"`` (channel = p,
    Tonic's and SpikingJelly's).
    """

    sensor_size: tuple
    T: int | None = None
    channels: str = field(kw_only=True)

    def __call__(self, events):
        return to_dense(events, self.sensor_size, self.T, channels=self.channels)


def train_seed() -> int:
    """A seed for one random draw: from PyTorch's generator of this process when torch is imported (in a
    ``DataLoader`` worker PyTorch seeds it with the worker's own seed, ``base_seed + worker_id``;
    ``torch.manual_seed`` reseeds it in the main process), else from NumPy's global generator."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.randint(0, 2**62, ()).item())
    return int(np.random.randint(0, 2**62, dtype=np.int64))


@dataclass(frozen=True)
class I2E:
    """Image -> I2E events (:func:`evio.i2e`): ``[H, W, 3]``, ``[3, H, W]`` or ``[H, W]``, uint8 or float in [0, 1].

    ``ratio``, ``preset``, ``order``: as :func:`evio.i2e` (``preset`` resizes to its sensor size).
    ``mode="train"``: the I2E paper's augmentation, one random anchor per direction per image, drawn
    from :func:`train_seed` (reproducible under ``torch.manual_seed``, a different stream in each
    ``DataLoader`` worker); put image augmentations before it. ``output``: ``"dense"`` bool
    ``[T, 2, H, W]`` (channel 0 = ON), ``"events"`` Tonic events (``t`` = timestep, ``p`` True = ON)
    or ``"packed"`` (an I2E shard cell as uint8, see :class:`Unpack`).
    """

    ratio: float | None = None
    preset: str | None = None
    mode: str = "eval"
    output: str = "dense"
    order: str = DEFAULT_ORDER

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.output not in I2E_OUTPUTS:
            raise ValueError(f"output must be one of {I2E_OUTPUTS}, got {self.output!r}")

    def __call__(self, image):
        rng = train_seed() if self.mode == "train" else None
        result = i2e(image, self.ratio, preset=self.preset, order=self.order, mode=self.mode, rng=rng,
                     output=self.output)
        if self.output == "events":
            return to_tonic(result)
        if self.output == "packed":
            return np.frombuffer(result, np.uint8)
        return result


@dataclass(frozen=True)
class Pack:
    """Dense ``[T, C, H, W]`` (bool or 0/1) -> uint8 ``[n]``: the bytes of an I2E shard cell
    (:func:`evio.packbits.dumps`), 8x smaller than bool; Tonic's ``DiskCachedDataset`` stores it as is."""

    def __call__(self, dense):
        return np.frombuffer(packbits.dumps(dense), np.uint8)


@dataclass(frozen=True)
class Unpack:
    """A packed cell (bytes, uint8 ``[n]`` array or CPU tensor) -> ``[T, C, H, W]`` of ``dtype``; a uint8
    ``[N, n]`` batch of cells -> ``[N, T, C, H, W]`` (:func:`evio.packbits.loads`)."""

    dtype: object = bool

    def __call__(self, packed):
        if is_torch(packed):
            packed = as_numpy(packed)
        if getattr(packed, "ndim", 1) == 2:
            packed = list(packed)
        return packbits.loads(packed, dtype=self.dtype)
