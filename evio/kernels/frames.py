"""Event counting into frames ``[F, C, H, W]``, one pass over the events.

The kernels read a structured event array with fields named ``t``, ``x``, ``y``, ``p`` (any integer
types, packed or not: ``EVENT_DTYPE``, Tonic's layouts); each record is read once. ``EVENT_DTYPE``
arrays are read through their bytes: ``x``, ``y``, ``p`` with one unaligned 64-bit load per event,
the timestamps (when order is checked) 8 records at a time with a vector shuffle. ON is ``p > 0``.
"""

from __future__ import annotations

import numpy as np

from . import njit
from ._llvm import RECORD, load_u64, prefetch, t_decreases8

#: How far ahead of the block being counted the event bytes are prefetched.
PREFETCH_BYTES = 2048
#: Events per unrolled block of the ``EVENT_DTYPE`` path (the vector helpers take 8).
BLOCK = 8


@njit
def count_ranges(events, raw, starts, ends, W, H, on_channel, off_channel, C, counts, spill, check_order):
    """Frame ``f`` counts events ``starts[f] <= i < ends[f]`` at ``[f, on_channel or off_channel, y, x]``.

    ``counts`` (uint8) and ``spill`` (uint32 or uint64) are zeroed flat ``F * C * H * W`` buffers; the
    count of an element is ``counts + 256 * spill`` (a uint8 table stays in the L1 cache). ``raw`` is
    the bytes of a contiguous little-endian ``EVENT_DTYPE`` array (``events.view(np.uint8)``), or an
    empty array for other layouts. Returns ``(first_outside, maybe_unsorted)``: the first event
    outside the ``W x H`` sensor (``-1`` if none; counting stops there) and, with
    ``check_order=True``, whether ``t`` may decrease along the visited events (a hint without false
    negatives; confirm with ``first_unsorted``). Pass ``None``, not False, for no check: the check
    is then compiled out.
    """
    HW = H * W
    W_u = np.uint64(W)
    H_u = np.uint64(H)
    n = events.shape[0]
    # the 64-bit load of x, y, p reads 3 bytes past its record: the last event takes the record path
    n_raw = n - 1 if raw.shape[0] == n * RECORD else 0
    low16 = np.uint64(0xFFFF)
    p_bits = np.uint64(0xFF << 32)
    sixteen = np.uint64(16)
    order = np.int64(0)
    prev = np.int64(events[min(max(starts[0], 0), n - 1)].t) if starts.shape[0] and n else np.int64(0)
    for f in range(starts.shape[0]):
        lo = max(starts[f], 0)
        hi = min(ends[f], n)
        off_base = np.uint64((f * C + off_channel) * HW)
        on_base = np.uint64((f * C + on_channel) * HW)
        i = lo
        fast_hi = min(hi, n_raw)
        while i + BLOCK <= fast_hi:
            at = i * RECORD
            for line in range(0, BLOCK * RECORD, 64):
                prefetch(raw, at + PREFETCH_BYTES + line)
            if check_order is not None:
                decreases, prev = t_decreases8(raw, at, prev)
                order |= decreases
            for j in range(BLOCK):
                xyp = load_u64(raw, at + RECORD * j + 8)
                xu = xyp & low16
                yu = (xyp >> sixteen) & low16
                if (xu >= W_u) | (yu >= H_u):
                    return i + j, order != 0
                k = (on_base if xyp & p_bits else off_base) + yu * W_u + xu
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
            i += BLOCK
        while i < hi:
            e = events[i]
            ti = np.int64(e.t)
            if check_order is not None:
                order |= np.int64(ti < prev)
            prev = ti
            xi = np.int64(e.x)
            yi = np.int64(e.y)
            if (np.uint64(xi) >= W_u) | (np.uint64(yi) >= H_u):
                return i, order != 0
            k = (on_base if e.p > 0 else off_base) + np.uint64(yi * W + xi)
            v = np.uint8(counts[k] + np.uint8(1))
            counts[k] = v
            if v == 0:
                spill[k] += 1
            i += 1
    return -1, order != 0


@njit
def first_unsorted(events, lo, hi):
    """Index of the first ``t[i] < t[i - 1]`` with ``lo < i < hi``, or ``-1``."""
    for i in range(max(lo, 0) + 1, min(hi, events.shape[0])):
        if events[i].t < events[i - 1].t:
            return i
    return -1


@njit
def search_left(events, values, out):
    """``out[k]`` = first ``i`` with ``t[i] >= values[k]``: ``np.searchsorted(t, values, 'left')`` for sorted ``t``."""
    n = events.shape[0]
    for k in range(values.shape[0]):
        v = values[k]
        lo = 0
        hi = n
        while lo < hi:
            mid = (lo + hi) >> 1
            if np.int64(events[mid].t) < v:
                lo = mid + 1
            else:
                hi = mid
        out[k] = lo


@njit
def window_first_last(events, t0, width, first, last):
    """For any order of ``t``: ``first[k]``/``last[k]`` = the first/last index with
    ``t0 + k * width <= t < t0 + (k + 1) * width`` (``width > 0``; both arrays start at ``-1``).
    """
    K = first.shape[0]
    t_end = t0 + K * width
    for i in range(events.shape[0]):
        ti = np.int64(events[i].t)
        if ti < t0 or ti >= t_end:
            continue
        k = (ti - t0) // width
        if first[k] < 0:
            first[k] = i
        last[k] = i


@njit
def greedy_ranges(events, duration, starts, ends):
    """SpikingJelly 0.0.0.0.14 fixed-duration split: a frame opens at its first event ``t_l`` and
    takes the following events while ``t - t_l <= duration`` (µs). ``starts``/``ends`` need room
    for ``len(events)`` frames; returns the number of frames.
    """
    n = events.shape[0]
    left = 0
    frames = 0
    while left < n:
        t_l = np.int64(events[left].t)
        right = left
        while right < n and not (np.int64(events[right].t) - t_l > duration):
            right += 1
        starts[frames] = left
        ends[frames] = right
        frames += 1
        left = right
    return frames


@njit
def merge_counts(counts, spill, out):
    """``out[i] = counts[i] + 256 * spill[i]`` over flat buffers (as :func:`count_ranges` leaves them), in
    ``out``'s dtype: integers wrap and floats round as NumPy's ``astype`` does. Every count must be below
    2**31 (fewer events than that were counted)."""
    for i in range(out.shape[0]):
        out[i] = (np.int32(spill[i]) << np.int32(8)) | np.int32(counts[i])
