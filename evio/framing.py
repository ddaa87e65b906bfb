"""Event frames ``[T, 2, H, W]`` (per-pixel event counts), bit-exact with SpikingJelly and Tonic.

``frames`` slices an event stream by event count, by equal time windows or by a fixed duration and
counts the events of each slice per channel and pixel, following one of two conventions exactly:
``"spikingjelly"`` (``integrate_events_by_fixed_frames_number`` / ``..._by_fixed_duration``,
float64) or ``"tonic"`` (``ToFrame``, int16). ``docs/frames.md`` maps every call to the peers'.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._torch import is_torch
from ._warn import warn_loss
from .errors import FormatError
from .events import EVENT_DTYPE, as_events, check_sensor_size, record_bytes
from .kernels import frames as kernels

BY = ("count", "time", "duration")
CONVENTIONS = ("spikingjelly", "tonic")
CHANNEL_ORDERS = ("off_on", "on_off")
DURATION_VARIANTS = ("grid", "greedy")
POOL_MODES = ("sum", "mean")
_MANTISSA_BITS = {2: 11, 4: 24, 8: 53}
#: Default ``max_cells``: most elements ``T x P x H x W`` one call may count (2**32; 1280 x 720 x 2 pixels
#: fit 2330 frames). Counting takes 5 bytes per element, plus the output (8 for float64, 2 for int16).
MAX_CELLS = 1 << 32


def frames(events, T: int | None = 8, by: str = "count", duration=None, sensor_size=None,
           convention: str = "spikingjelly", dtype=None, channels: str = "off_on", *,
           event_count: int | None = None, overlap=0, include_incomplete: bool = False,
           start_time=None, end_time=None, duration_variant: str = "grid", allow_empty: bool = False,
           binary: bool = False, pool: int | None = None, pool_mode: str = "sum",
           max_cells: int = MAX_CELLS) -> np.ndarray:
    """Events -> frames ``[T, 2, H, W]`` of event counts per (frame, channel, y, x).

    ``by="count"``: ``T`` frames of equal event count (SpikingJelly ``split_by='number'``, the last
    frame takes the ``N mod T`` leftover; Tonic ``n_event_bins``, which drops it), or with
    ``event_count=`` (Tonic only) frames of that many events. ``by="time"``: ``T`` equal windows of
    ``(t[-1] - t[0]) // T`` µs (SpikingJelly ``split_by='time'``; Tonic ``n_time_bins``).
    ``by="duration"``: frames of ``duration`` µs, their number depends on the data (SpikingJelly
    ``integrate_events_by_fixed_duration``, ``duration_variant="grid"`` as in 2.0 or ``"greedy"``
    as in 0.0.0.0.14; Tonic ``time_window``). ``T`` is ignored where the data sets the frame count.

    ``overlap``, ``include_incomplete``, ``start_time`` and ``end_time`` are Tonic's (µs for
    ``duration``, events for ``event_count``, a fraction of a bin for ``T`` bins).
    ``sensor_size`` is ``(W, H)`` or ``(W, H, P)`` in pixels with ``P`` 1 or 2 (default: ``max + 1``
    of x and y, 2 channels). ``channels="off_on"``: channel = p (both peers); ``"on_off"``: channel 0 =
    ON (I2E). ``dtype`` defaults to float64 (SpikingJelly) or int16 (Tonic; counts above 32767 wrap
    as in Tonic, with a :class:`LossWarning`; pass ``np.int32`` to keep them). Where SpikingJelly
    raises (no events, an empty time window, all timestamps equal) a :class:`FormatError` says so;
    ``allow_empty=True`` gives empty frames instead. ``binary=True``: 1 where a pixel has any event
    (bool by default). ``pool=k`` sums (``pool_mode="sum"``) or averages (``"mean"``) ``k x k``
    pixel blocks to ``[T, 2, H // k, W // k]``; the last ``H % k`` rows and ``W % k`` columns are
    dropped, with a :class:`LossWarning` if they hold events. Frames of more than ``max_cells``
    elements ``T x P x H x W`` (default :data:`MAX_CELLS`, 2**32) raise ``ValueError`` naming the
    sensor size before anything is allocated; pass a larger ``max_cells`` to lift the cap.
    """
    _check_choice("by", by, BY)
    _check_choice("convention", convention, CONVENTIONS)
    _check_choice("channels", channels, CHANNEL_ORDERS)
    _check_choice("duration_variant", duration_variant, DURATION_VARIANTS)
    _check_choice("pool_mode", pool_mode, POOL_MODES)
    ev = _records(events)
    W, H, P = _sensor(sensor_size, ev)
    on_channel, off_channel = (0, 0) if P == 1 else ((1, 0) if channels == "off_on" else (0, 1))
    out_dtype = _output_dtype(convention, dtype, binary, pool, pool_mode)
    grid = _Grid(ev, W, H, on_channel, off_channel, P, _input_t_dtype(events, ev),
                 _positive_int("max_cells", max_cells),
                 out_dtype if pool is None and not binary and out_dtype in _MERGED_DTYPES else None)
    _checked_frames(grid, 1)
    if convention == "spikingjelly":
        for name, value, default in (("event_count", event_count, None), ("overlap", overlap, 0),
                                     ("include_incomplete", include_incomplete, False),
                                     ("start_time", start_time, None), ("end_time", end_time, None)):
            if value != default:
                raise ValueError(f"{name} is a Tonic option; use convention='tonic'")
        counts = _spikingjelly(grid, T, by, duration, duration_variant, allow_empty)
    else:
        if duration_variant != "grid":
            raise ValueError("duration_variant is a SpikingJelly option; use convention='spikingjelly'")
        counts = _tonic(grid, T, by, duration, event_count, overlap, include_incomplete, start_time, end_time)
    return _finish(counts, convention, dtype, binary, pool, pool_mode, len(ev))


class FramesBatch(NamedTuple):
    """Result of :func:`frames_batch`: ``frames [B, T_max, 2, H, W]`` (zero-padded at the end) and
    ``lengths`` int64 ``[B]``, the number of valid frames of each sample."""

    frames: np.ndarray
    lengths: np.ndarray


def frames_batch(samples, T: int | None = 8, by: str = "count", duration=None, sensor_size=None,
                 **options) -> FramesBatch:
    """A list of event streams -> :class:`FramesBatch` ``(frames [B, T_max, 2, H, W], lengths int64 [B])``,
    whatever ``by``: with a fixed frame count every length is ``T``; with a data-dependent one
    (``by="duration"`` or ``event_count=``) shorter samples are zero-padded at the end, as
    SpikingJelly's ``pad_sequence_collate``.

    ``sensor_size``: ``(W, H)`` in pixels, default the largest ``max + 1`` over the batch; ``duration``
    in µs. Other options as :func:`frames`.
    """
    samples = list(samples)
    if not samples:
        raise ValueError("frames_batch needs at least one sample")
    if sensor_size is None:
        sensor_size = _batch_sensor(samples)
    out = [frames(s, T, by, duration, sensor_size, **options) for s in samples]
    if all(len(f) == len(out[0]) for f in out):
        return FramesBatch(np.stack(out), np.full(len(out), len(out[0]), dtype=np.int64))
    padded, _, lengths = pad_collate([(f, 0) for f in out], as_torch=False)
    return FramesBatch(padded, lengths)


def pad_collate(batch, as_torch: bool | None = None):
    """``[(frames [T_i, ...], label), ...]`` -> ``(padded [B, T_max, ...], labels [B], lengths int64 [B])``.

    Zero-pads at the end like SpikingJelly's ``pad_sequence_collate``. Returns torch tensors
    (exactly what SpikingJelly returns) when ``as_torch`` is true, or when it is ``None`` and a
    sample is a torch tensor; NumPy arrays otherwise.
    """
    batch = list(batch)
    if not batch:
        raise ValueError("pad_collate needs at least one sample")
    xs, ys = zip(*batch, strict=True)
    if as_torch is None:
        as_torch = any(is_torch(x) for x in xs)
    if as_torch:
        import torch

        xs = [torch.as_tensor(x) for x in xs]
        return (torch.nn.utils.rnn.pad_sequence(xs, batch_first=True), torch.as_tensor(ys),
                torch.as_tensor([x.shape[0] for x in xs]))
    xs = [np.asarray(x.detach().cpu() if is_torch(x) else x) for x in xs]
    if len({x.shape[1:] for x in xs}) != 1:
        raise ValueError(f"samples differ beyond their first axis: {sorted({x.shape for x in xs})}")
    lengths = np.array([x.shape[0] for x in xs], dtype=np.int64)
    out = np.zeros((len(xs), int(lengths.max()), *xs[0].shape[1:]), dtype=np.result_type(*xs))
    for i, x in enumerate(xs):
        out[i, :len(x)] = x
    return out, np.asarray(ys), lengths


def padded_sequence_mask(lengths, T: int | None = None):
    """Valid-step mask bool ``[T, B]`` (True where step ``< lengths[b]``), as SpikingJelly's.

    Torch in, torch out (on the same device); ``T`` defaults to ``max(lengths)``.
    """
    if is_torch(lengths):
        import torch

        if T is None:
            T = lengths.max().item()
        return torch.arange(T, device=lengths.device)[:, None] < lengths[None, :]
    lengths = np.asarray(lengths)
    if T is None:
        T = int(lengths.max()) if lengths.size else 0
    return np.arange(T)[:, None] < lengths[None, :]


# -- SpikingJelly ---------------------------------------------------------------------------------

def _spikingjelly(grid, T, by, duration, variant, allow_empty):
    n = len(grid.events)
    if by == "count":
        T = _checked_frames(grid, _positive_int("T", T))
        di = n // T
        starts = np.arange(T, dtype=np.int64) * di
        ends = starts + di
        ends[-1] = n
        return _count(grid, starts, ends)
    if by == "time":
        return _sj_time(grid, _checked_frames(grid, _positive_int("T", T)), allow_empty)
    duration = _positive_int("duration", duration)
    what = f"by='duration' (SpikingJelly, duration_variant={variant!r})"
    if n == 0:
        if allow_empty:
            return _zeros(grid, 0)
        raise FormatError(f"no events: SpikingJelly raises for {what} (allow_empty=True gives 0 frames)")
    t = grid.events["t"]
    if variant == "greedy":
        starts = np.empty(n, dtype=np.int64)
        ends = np.empty(n, dtype=np.int64)
        k = kernels.greedy_ranges(grid.events, np.int64(duration), starts, ends)
        return _count(grid, starts[:k], ends[:k])
    t0 = int(t[0])
    span = int(t[-1]) - t0
    if span < 0:
        raise FormatError(_unsorted_message(grid, what))
    n_frames = math.ceil(float(span) / float(duration))
    if n_frames == 0:
        if not allow_empty:
            raise FormatError(f"all timestamps are equal: SpikingJelly raises for {what} "
                              "(allow_empty=True gives one frame holding every event)")
        n_frames = 1
    _checked_frames(grid, n_frames)
    starts = _search(grid, t0 + np.arange(n_frames, dtype=np.int64) * duration)
    ends = np.append(starts[1:], n)
    return _count(grid, starts, ends, what)


def _sj_time(grid, T, allow_empty):
    what = "by='time' (SpikingJelly split_by='time')"
    ev = grid.events
    n = len(ev)
    if n == 0:
        if allow_empty:
            return _zeros(grid, T)
        raise FormatError(f"no events: SpikingJelly raises for {what} (allow_empty=True gives empty frames)")
    t0 = int(ev["t"][0])
    span = int(ev["t"][-1]) - t0
    dt = span // T
    if dt < 0:
        raise FormatError(f"t[-1] < t[0]: {what} has no valid time window")
    if dt == 0 and not allow_empty:
        raise FormatError(f"t[-1] - t[0] = {span} µs < T = {T}: every window of {what} is empty and SpikingJelly "
                          "raises (allow_empty=True puts every event in the last frame)")
    bounds = t0 + np.arange(T + 1, dtype=np.int64) * dt
    edges = _search(grid, bounds)
    ends = np.append(edges[1:-1], n)
    counts, unsorted = _count(grid, edges[:-1], ends, check_order=True)
    if unsorted < 0:
        empty = np.flatnonzero(edges[1:] == edges[:-1])
        if len(empty) and not allow_empty:
            i = int(empty[0])
            raise FormatError(f"time window {i} [{int(bounds[i])}, {int(bounds[i + 1])}) µs holds no events: "
                              f"SpikingJelly raises for {what} (allow_empty=True gives an empty frame)")
        return counts
    if dt == 0:
        raise FormatError(_unsorted_message(grid, f"{what} with allow_empty=True", unsorted))
    first = np.full(T, -1, dtype=np.int64)
    last = np.full(T, -1, dtype=np.int64)
    kernels.window_first_last(ev, np.int64(t0), np.int64(dt), first, last)
    if (first < 0).any():
        i = int(np.flatnonzero(first < 0)[0])
        raise FormatError(f"time window {i} [{int(bounds[i])}, {int(bounds[i + 1])}) µs holds no events: "
                          f"SpikingJelly raises for {what} (allow_empty applies to sorted t only)")
    ends = last + 1
    ends[-1] = n
    return _count(grid, first, ends)


# -- Tonic ----------------------------------------------------------------------------------------

def _tonic(grid, T, by, duration, event_count, overlap, include_incomplete, start_time, end_time):
    n = len(grid.events)
    if by == "count" and event_count is not None:
        event_count = _positive_int("event_count", event_count)
        ec = min(event_count, n)
        stride = event_count - overlap
        if stride <= 0:
            raise ValueError(f"overlap {overlap} must be smaller than event_count {event_count}")
        rounding = np.ceil if include_incomplete else np.floor
        n_slices = _checked_frames(grid, int(rounding((n - ec) / stride) + 1))
        starts = (np.arange(n_slices) * stride).astype(np.int64)
        return _count(grid, starts, starts + ec)
    if event_count is not None:
        raise ValueError("event_count goes with by='count'")
    if by == "count":
        T = _checked_frames(grid, _positive_int("T", T))
        _check_fraction(overlap)
        k = int(n // T * (1 + overlap))
        stride = int(k * (1 - overlap))
        starts = np.arange(T, dtype=np.int64) * stride
        return _count(grid, starts, starts + k)
    times = grid.events["t"]
    if n:
        times = np.array([times[0], times[-1]]).astype(grid.t_dtype)   # Tonic's arithmetic is in t's dtype
    if by == "time":
        T = _checked_frames(grid, _positive_int("T", T))
        _check_fraction(overlap)
        if n == 0:
            return _zeros(grid, T)
        time_window = (times[-1] - times[0]) // T * (1 + overlap)
        stride = time_window * (1 - overlap)
        starts = np.arange(T) * stride + times[0]
        return _count_windows(grid, starts, starts + time_window, "by='time' (Tonic n_time_bins)")
    if duration is None or not duration > 0:
        raise ValueError(f"duration must be a positive number of µs, got {duration!r}")
    if n == 0:
        return _zeros(grid, 1)
    stride = duration - overlap
    if not stride > 0:
        raise ValueError(f"overlap {overlap} must be smaller than duration {duration}")
    start = times[0] if start_time is None else start_time
    end = times[-1] if end_time is None else end_time
    rounding = np.ceil if include_incomplete else np.floor
    span = (int(end) if isinstance(end, np.integer) else end) - (int(start) if isinstance(start, np.integer) else start)
    n_slices = max(int(rounding((span - duration) / stride) + 1), 1)     # signed: Tonic's uint64 t wraps here
    _checked_frames(grid, n_slices)
    starts = np.arange(n_slices) * stride + start
    return _count_windows(grid, starts, starts + duration, "by='duration' (Tonic time_window)")


def _count_windows(grid, starts, ends, what):
    """Count events with ``starts[f] <= t < ends[f]`` exactly as ``np.searchsorted(t, ...)`` finds them."""
    lo = _search(grid, _thresholds(np.asarray(starts), grid.t_dtype))
    hi = _search(grid, _thresholds(np.asarray(ends), grid.t_dtype))
    return _count(grid, lo, hi, what)


def _thresholds(values: np.ndarray, t_dtype) -> np.ndarray:
    """Integer ``m`` per value with ``t >= m`` exactly where NumPy finds ``t >= value`` (int64 array)."""
    common = np.result_type(t_dtype, values.dtype)
    if common.kind != "f":
        return values.astype(np.int64)
    return np.array([_first_int_at_least(float(v)) for v in values], dtype=np.int64)


def _first_int_at_least(b: float) -> int:
    """Smallest integer ``m`` with ``float64(m) >= b`` (integers above 2**53 round when compared)."""
    if math.isnan(b) or b > 2.0 ** 63:
        return np.iinfo(np.int64).max
    if b < -(2.0 ** 63):
        return np.iinfo(np.int64).min
    if abs(b) < 2.0 ** 53:
        return math.ceil(b)
    lo, hi = int(np.nextafter(b, -math.inf)), int(b)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if float(mid) >= b:
            hi = mid
        else:
            lo = mid
    return max(min(hi, np.iinfo(np.int64).max), np.iinfo(np.int64).min)


# -- shared ---------------------------------------------------------------------------------------

class _Grid(NamedTuple):
    events: np.ndarray
    W: int
    H: int
    on_channel: int
    off_channel: int
    P: int
    t_dtype: np.dtype
    max_cells: int
    out_dtype: np.dtype | None = None


def _checked_frames(grid, n_frames: int) -> int:
    """``n_frames``, once ``[n_frames, P, H, W]`` is known to hold at most ``grid.max_cells`` elements."""
    cells = n_frames * grid.P * grid.H * grid.W
    if cells > grid.max_cells:
        raise ValueError(f"{n_frames} frame(s) [{grid.P}, {grid.H}, {grid.W}] for sensor_size "
                         f"(W={grid.W}, H={grid.H}) hold {cells:,} elements, more than max_cells="
                         f"{grid.max_cells:,} (about 13 bytes each for float64 frames); check the sensor "
                         "size, or pass a larger max_cells")
    return n_frames


def _count_dtype(grid):
    return np.dtype(np.uint32 if len(grid.events) < 2 ** 32 else np.uint64)


def _zeros(grid, n_frames):
    _checked_frames(grid, n_frames)
    return np.zeros((n_frames, grid.P, grid.H, grid.W), dtype=grid.out_dtype or _count_dtype(grid))


def _search(grid, values):
    out = np.empty(len(values), dtype=np.int64)
    kernels.search_left(grid.events, np.ascontiguousarray(values, dtype=np.int64), out)
    return out


def _count(grid, starts, ends, what=None, check_order=False):
    """Counts ``[F, P, H, W]`` of the events ``starts[f] <= i < ends[f]`` per frame ``f``.

    With ``what`` the events must be sorted by ``t`` (else :class:`FormatError`); with
    ``check_order`` returns ``(counts, index of the first unsorted event or -1)``.
    """
    ev = grid.events
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    shape = (_checked_frames(grid, len(starts)), grid.P, grid.H, grid.W)
    low = np.zeros(shape, dtype=np.uint8)
    spill = np.zeros(shape, dtype=_count_dtype(grid))
    check = what is not None or check_order
    bad, maybe_unsorted = kernels.count_ranges(ev, record_bytes(ev), starts, ends, grid.W, grid.H, grid.on_channel,
                                               grid.off_channel, grid.P, low.reshape(-1), spill.reshape(-1),
                                               True if check else None)
    if bad >= 0:
        e = ev[bad]
        raise FormatError(f"event {bad} (t={int(e['t'])}, x={int(e['x'])}, y={int(e['y'])}) lies outside the "
                          f"sensor W={grid.W} x H={grid.H} pixels")
    counts = _merged(grid, low, spill)
    if not check:
        return counts
    unsorted = _first_unsorted(ev, starts, ends, maybe_unsorted)
    if check_order:
        return counts, unsorted
    if unsorted >= 0:
        raise FormatError(_unsorted_message(grid, what, unsorted))
    return counts


def _merged(grid, low, spill):
    """The counts ``low + 256 * spill``, in ``grid.out_dtype`` when set (fewer passes than a merge and a cast)."""
    out = grid.out_dtype
    if out is None or len(grid.events) >= 2 ** 31:
        counts = spill
        counts <<= 8
        counts |= low
        return counts
    if out.kind in "iu" and _holds_exactly(out, len(grid.events)):
        counts = np.empty(low.shape, dtype=out)
        kernels.merge_counts(low.reshape(-1), spill.reshape(-1), counts.reshape(-1))
        return counts
    merged = np.empty(low.shape, dtype=np.int32)
    kernels.merge_counts(low.reshape(-1), spill.reshape(-1), merged.reshape(-1))
    if not _holds_exactly(out, len(grid.events)) and merged.size:
        _warn_if_above(merged.max(), merged.dtype, out)
    return merged.astype(out)


def _first_unsorted(ev, starts, ends, maybe_unsorted) -> int:
    """Exact sortedness check, scanning only the events that ``count_ranges`` did not order-check."""
    n = len(ev)
    if n < 2:
        return -1
    contiguous = len(starts) > 0 and bool((ends[:-1] == starts[1:]).all()) and bool((ends >= starts).all())
    if maybe_unsorted or not contiguous:
        return int(kernels.first_unsorted(ev, 0, n))
    lo = int(np.clip(starts[0], 0, n))
    hi = int(np.clip(ends[-1], 0, n))
    if lo >= hi:
        return int(kernels.first_unsorted(ev, 0, n))
    i = kernels.first_unsorted(ev, 0, lo + 1)
    return int(i if i >= 0 else kernels.first_unsorted(ev, hi - 1, n))


def _unsorted_message(grid, what, i=None):
    ev = grid.events
    if i is None or i < 1:
        i = max(int(kernels.first_unsorted(ev, 0, len(ev))), 1)
    return (f"{what} needs events sorted by t: t[{i}] = {int(ev['t'][i])} µs < t[{i - 1}] = {int(ev['t'][i - 1])} µs "
            "(the peers' results are undefined there); sort with events[np.argsort(events['t'], kind='stable')]")


def _finish(counts, convention, dtype, binary, pool, pool_mode, n_events=None):
    arr = counts > 0 if binary else counts
    if pool is not None:
        k = _positive_int("pool", pool)
        F, P, H, W = arr.shape
        Hp, Wp = H // k, W // k
        if Hp == 0 or Wp == 0:
            raise ValueError(f"pool={k} is larger than the frame ({H} x {W} pixels)")
        if arr[:, :, Hp * k:, :].any() or arr[:, :, :, Wp * k:].any():
            warn_loss(f"pool={k}: events in the last {H % k} rows / {W % k} columns are dropped")
        blocks = arr[:, :, :Hp * k, :Wp * k].reshape(F, P, Hp, k, Wp, k)
        arr = blocks.sum(axis=(3, 5), dtype=np.uint64)
        if pool_mode == "mean":
            arr = arr / float(k * k)
    out_dtype = _output_dtype(convention, dtype, binary, pool, pool_mode)
    _warn_if_lossy(arr, out_dtype, n_events)
    return arr.astype(out_dtype, copy=False)


def _output_dtype(convention, dtype, binary, pool, pool_mode) -> np.dtype:
    if dtype is not None:
        return np.dtype(dtype)
    if binary and pool is None:
        return np.dtype(bool)
    if pool is not None and pool_mode == "mean":
        return np.dtype(np.float64 if convention == "spikingjelly" else np.float32)
    return np.dtype(np.float64 if convention == "spikingjelly" else np.int16)


#: Output dtypes that :func:`_count` writes directly (one pass instead of a merge and a cast).
_MERGED_DTYPES = frozenset(np.dtype(d) for d in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                                  np.uint32, np.uint64, np.float32, np.float64))


def _warn_if_lossy(arr, out_dtype, most=None):
    """Warn where ``arr.astype(out_dtype)`` changes a value; ``most``: a bound on ``arr`` known beforehand
    (the number of events), which spares the scan for the maximum when the output holds it."""
    if arr.size == 0 or arr.dtype == out_dtype:
        return
    if most is not None and out_dtype != np.bool_ and _holds_exactly(out_dtype, most):
        return
    _warn_if_above(arr.max(), arr.dtype, out_dtype)


def _warn_if_above(top, from_dtype, out_dtype):
    if out_dtype == np.bool_:
        if top > 1:
            warn_loss("counts above 1 collapse to True in a bool output (binary=True says so explicitly)")
    elif out_dtype.kind in "iu":
        limit = np.iinfo(out_dtype).max
        if top > limit:
            warn_loss(f"a pixel counts {int(top)} events, more than {out_dtype} holds ({limit}); the counts "
                          "wrap (as in Tonic for int16); pass dtype=np.int32 to keep them")
    elif out_dtype.kind == "f" and from_dtype.kind in "iu":
        bits = _MANTISSA_BITS.get(out_dtype.itemsize, 53)
        if top > 2 ** bits:
            warn_loss(f"a pixel counts {int(top)} events, more than {out_dtype} represents exactly (2**{bits})")


def _holds_exactly(dtype, value: int) -> bool:
    if dtype.kind in "iu":
        return value <= np.iinfo(dtype).max
    return dtype.kind == "f" and value <= 2 ** _MANTISSA_BITS.get(dtype.itemsize, 53)


def _records(events) -> np.ndarray:
    """``events`` itself when it is a 1-D structured array with fields ``t, x, y, p`` of integer
    (``p``: also bool) native types, else ``as_events(events)`` (SpikingJelly dicts, aliases)."""
    if isinstance(events, np.ndarray) and events.ndim == 1 and events.dtype.names is not None:
        direct = _DIRECT_DTYPES.get(events.dtype)
        if direct is None:
            direct = _DIRECT_DTYPES[events.dtype] = _countable_as_is(events.dtype)
        if direct:
            return events
    return as_events(events)


_DIRECT_DTYPES: dict = {}


def _countable_as_is(dtype) -> bool:
    fields = dtype.fields
    if not all(f in fields for f in "txyp"):
        return False
    t, x, y, p = (fields[f][0] for f in "txyp")
    return (all(d.isnative for d in (t, x, y, p)) and t.kind in "iu" and not (t.kind == "u" and t.itemsize == 8)
            and x.kind in "iu" and y.kind in "iu" and p.kind in "biu")


def _input_t_dtype(events, ev) -> np.dtype:
    """The dtype of ``t`` as given (uint64 and big-endian ``t`` are converted in ``ev``)."""
    if events is ev:
        return ev.dtype["t"]
    try:
        names = events.dtype.names if isinstance(events, np.ndarray) else list(events.keys())
        key = next(k for k in ("t", "timestamp", "ts") if k in names)
        return np.asarray(events[key][:0]).dtype.newbyteorder("=")
    except (AttributeError, StopIteration, TypeError, KeyError):
        return ev.dtype["t"]


def _sensor(sensor_size, ev):
    if sensor_size is None:
        if len(ev) == 0:
            raise FormatError("no events to infer the sensor size from: pass sensor_size=(W, H)")
        W, H, P = int(ev["x"].max()) + 1, int(ev["y"].max()) + 1, 2
    else:
        W, H, P = check_sensor_size(sensor_size, polarities=(1, 2))
    if P == 1 and len(ev) and ev["p"].min() != ev["p"].max():
        raise FormatError("sensor_size has P = 1 (one polarity) but the events hold both polarities")
    return W, H, P


def _batch_sensor(samples):
    W = H = 0
    for s in samples:
        ev = _records(s)
        if len(ev):
            W, H = max(W, int(ev["x"].max()) + 1), max(H, int(ev["y"].max()) + 1)
    if W == 0:
        raise FormatError("no events to infer the sensor size from: pass sensor_size=(W, H)")
    return W, H


def _positive_int(name, value) -> int:
    if value is None or isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_fraction(overlap):
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap is a fraction of a bin for T bins, 0 <= overlap < 1; got {overlap}")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
