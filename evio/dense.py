"""Sparse events <-> dense boolean tensors ``[T, 2, H, W]`` (``t`` is the timestep index)."""

from __future__ import annotations


import numpy as np

from ._torch import as_numpy
from ._warn import warn_loss
from .errors import FormatError
from .events import EVENT_DTYPE, as_events, check_sensor_size
from .kernels import dense as kernels

#: ``"on_off"``: channel 0 = ON, 1 = OFF (I2E). ``"off_on"``: channel = p, 0 = OFF (SpikingJelly, Tonic frames).
CHANNEL_ORDERS = ("on_off", "off_on")


def _on_channel(channels: str | None, function: str) -> int:
    if channels is None:
        raise TypeError(f"{function} needs channels='on_off' (channel 0 = ON, as I2E) or 'off_on' (channel = p, "
                        "as Tonic and SpikingJelly): the two conventions meet here, so evio does not guess")
    if channels not in CHANNEL_ORDERS:
        raise ValueError(f"channels must be one of {CHANNEL_ORDERS}, got {channels!r}")
    return 0 if channels == "on_off" else 1


def to_dense(events, sensor_size, T: int | None = None, *, channels: str | None = None) -> np.ndarray:
    """Events -> bool ``[T, 2, H, W]``; a list of event arrays -> ``[N, T, 2, H, W]``.

    ``sensor_size`` is ``(W, H)`` (or ``(W, H, 2)``) in pixels; ``channels`` (required) says which
    channel holds ON events (see :data:`CHANNEL_ORDERS`); ``t`` must be a timestep index in ``0..T-1``
    (``T`` defaults to ``max(t) + 1``, the largest over a list). Events that repeat an element
    already set collapse into it with a :class:`LossWarning`; an event outside the tensor raises
    :class:`FormatError`.
    """
    on = _on_channel(channels, "to_dense")
    W, H, _ = check_sensor_size(sensor_size)
    if isinstance(events, (list, tuple)):
        samples = [as_events(e) for e in events]
        if T is None:
            T = max((int(e["t"].max()) + 1 for e in samples if len(e)), default=1)
        out = np.zeros((len(samples), int(T), 2, H, W), dtype=bool)
        for i, ev in enumerate(samples):
            _fill(ev, on, out[i], f"sample {i}: ")
        return out
    ev = as_events(events)
    if T is None:
        T = int(ev["t"].max()) + 1 if len(ev) else 1
    out = np.zeros((int(T), 2, H, W), dtype=bool)
    _fill(ev, on, out, "")
    return out


def _fill(ev: np.ndarray, on: int, out: np.ndarray, where: str) -> None:
    dup, bad = kernels.events_to_dense(ev["t"], ev["x"], ev["y"], ev["p"].view(np.uint8), on, out.view(np.uint8))
    if bad >= 0:
        e = ev[bad]
        T, _, H, W = out.shape
        raise FormatError(
            f"{where}event {bad} (t={e['t']}, x={e['x']}, y={e['y']}) lies outside T={T}, W={W}, H={H}"
        )
    if dup:
        warn_loss(f"{where}{dup} duplicate events collapsed into one element each")


def from_dense(dense, *, channels: str | None = None):
    """bool/0-1 ``[T, 2, H, W]`` -> events in C order (t, channel, y, x); ``[N, T, 2, H, W]`` -> list.

    Accepts NumPy arrays and CPU torch tensors. Nonzero elements become events; values other
    than 0 and 1 (e.g. counts) give one event each, with a :class:`LossWarning`.
    """
    on = _on_channel(channels, "from_dense")
    arr = as_numpy(dense)
    if arr.ndim == 5:
        return [from_dense(a, channels=channels) for a in arr]
    if arr.ndim != 4 or arr.shape[1] != 2:
        raise ValueError(f"dense tensors are [T, 2, H, W] or [N, T, 2, H, W], got shape {arr.shape}")
    if max(arr.shape[2:]) > 65536:
        raise ValueError(f"H and W must be at most 65536, got {arr.shape[2:]}")
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    arr = np.ascontiguousarray(arr)
    n = int(np.count_nonzero(arr))
    out = np.empty(n, dtype=EVENT_DTYPE)
    odd = kernels.dense_to_events(arr, on, out["t"], out["x"], out["y"], out["p"])
    if odd:
        warn_loss(f"{odd} elements are neither 0 nor 1; each became one event")
    return out
