"""Event counting into frames ``[F, C, H, W]``, one pass over the events.

The kernels read a structured event array with fields named ``t``, ``x``, ``y``, ``p`` (any integer
types, packed or not: ``EVENT_DTYPE``, Tonic's layouts); each record is read once, all four
fields together (``EVENT_DTYPE`` arrays as 64-bit words, 8 events at a time). ON is ``p > 0``.
"""

from __future__ import annotations

import numba
import numpy as np

from ._prefetch import prefetch

#: How far ahead of the block being counted the event words are prefetched (2 KiB).
PREFETCH_WORDS = 256


@numba.njit(cache=True, nogil=True)
def count_ranges(events, words, starts, ends, W, H, on_channel, off_channel, C, counts, spill, check_order):
    """Frame ``f`` counts events ``starts[f] <= i < ends[f]`` at ``[f, on_channel or off_channel, y, x]``.

    ``counts`` (uint8) and ``spill`` (uint32 or uint64) are zeroed flat ``F * C * H * W`` buffers; the
    count of an element is ``counts + 256 * spill`` (a uint8 table stays in the L1 cache). ``words``
    is the ``EVENT_DTYPE`` array's bytes as uint64, ``13 * (N // 8)`` of them, read 8 events (104
    bytes) at a time; pass an empty array for other layouts. Returns ``(first_outside,
    maybe_unsorted)``: the first event outside the ``W x H`` sensor (``-1`` if none; counting stops
    there) and, with ``check_order=True``, whether ``t`` may decrease along the visited events (a hint
    without false negatives; confirm with ``first_unsorted``). Pass ``None``, not False, for no check:
    the check is then compiled out.
    """
    HW = H * W
    W_u = np.uint64(W)
    H_u = np.uint64(H)
    on_step = (on_channel - off_channel) * HW
    n = events.shape[0]
    n_blocked = words.shape[0] // 13 * 8
    low16 = np.uint64(0xFFFF)
    low8 = np.uint64(0xFF)
    sixteen = np.uint64(16)
    thirty_two = np.uint64(32)
    order = np.int64(0)
    prev = np.int64(events[min(max(starts[0], 0), n - 1)].t) if starts.shape[0] and n else np.int64(0)
    for f in range(starts.shape[0]):
        lo = max(starts[f], 0)
        hi = min(ends[f], n)
        base = (f * C + off_channel) * HW
        i = lo
        while i < hi:
            if (i & 7) == 0 and i + 8 <= hi and i + 8 <= n_blocked:
                block = (i >> 3) * 13
                prefetch(words, block + PREFETCH_WORDS)
                prefetch(words, block + PREFETCH_WORDS + 8)
                # written out for each of the 8 events: constant byte offsets fold into the loads
                # event 0: t at byte 0, x, y, p at byte 8
                ti = np.int64(words[block + 0])
                xyp = words[block + 1]
                if check_order is not None:
                    order |= (ti - prev) | (ti & ~prev)
                prev = ti
                xu = xyp & low16
                yu = (xyp >> sixteen) & low16
                if xu >= W_u or yu >= H_u:
                    return i + 0, order < 0
                k = base + on_step * np.int64((xyp >> thirty_two) & low8 != 0) + np.int64(yu) * W + np.int64(xu)
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
                # event 1: t at byte 13, x, y, p at byte 21
                ti = np.int64((words[block + 1] >> np.uint64(40)) | (words[block + 2] << np.uint64(24)))
                xyp = (words[block + 2] >> np.uint64(40)) | (words[block + 3] << np.uint64(24))
                if check_order is not None:
                    order |= (ti - prev) | (ti & ~prev)
                prev = ti
                xu = xyp & low16
                yu = (xyp >> sixteen) & low16
                if xu >= W_u or yu >= H_u:
                    return i + 1, order < 0
                k = base + on_step * np.int64((xyp >> thirty_two) & low8 != 0) + np.int64(yu) * W + np.int64(xu)
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
                # event 2: t at byte 26, x, y, p at byte 34
                ti = np.int64((words[block + 3] >> np.uint64(16)) | (words[block + 4] << np.uint64(48)))
                xyp = words[block + 4] >> np.uint64(16)
                if check_order is not None:
                    order |= (ti - prev) | (ti & ~prev)
                prev = ti
                xu = xyp & low16
                yu = (xyp >> sixteen) & low16
                if xu >= W_u or yu >= H_u:
                    return i + 2, order < 0
                k = base + on_step * np.int64((xyp >> thirty_two) & low8 != 0) + np.int64(yu) * W + np.int64(xu)
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
                # event 3: t at byte 39, x, y, p at byte 47
                ti = np.int64((words[block + 4] >> np.uint64(56)) | (words[block + 5] << np.uint64(8)))
                xyp = (words[block + 5] >> np.uint64(56)) | (words[block + 6] << np.uint64(8))
                if check_order is not None:
                    order |= (ti - prev) | (ti & ~prev)
                prev = ti
                xu = xyp & low16
                yu = (xyp >> sixteen) & low16
                if xu >= W_u or yu >= H_u:
                    return i + 3, order < 0
                k = base + on_step * np.int64((xyp >> thirty_two) & low8 != 0) + np.int64(yu) * W + np.int64(xu)
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
                # event 4: t at byte 52, x, y, p at byte 60
                ti = np.int64((words[block + 6] >> np.uint64(32)) | (words[block + 7] << np.uint64(32)))
                xyp = (words[block + 7] >> np.uint64(32)) | (words[block + 8] << np.uint64(32))
                if check_order is not None:
                    order |= (ti - prev) | (ti & ~prev)
                prev = ti
                xu = xyp & low16
                yu = (xyp >> sixteen) & low16
                if xu >= W_u or yu >= H_u:
                    return i + 4, order < 0
                k = base + on_step * np.int64((xyp >> thirty_two) & low8 != 0) + np.int64(yu) * W + np.int64(xu)
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
                # event 5: t at byte 65, x, y, p at byte 73
                ti = np.int64((words[block + 8] >> np.uint64(8)) | (words[block + 9] << np.uint64(56)))
                xyp = words[block + 9] >> np.uint64(8)
                if check_order is not None:
                    order |= (ti - prev) | (ti & ~prev)
                prev = ti
                xu = xyp & low16
                yu = (xyp >> sixteen) & low16
                if xu >= W_u or yu >= H_u:
                    return i + 5, order < 0
                k = base + on_step * np.int64((xyp >> thirty_two) & low8 != 0) + np.int64(yu) * W + np.int64(xu)
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
                # event 6: t at byte 78, x, y, p at byte 86
                ti = np.int64((words[block + 9] >> np.uint64(48)) | (words[block + 10] << np.uint64(16)))
                xyp = (words[block + 10] >> np.uint64(48)) | (words[block + 11] << np.uint64(16))
                if check_order is not None:
                    order |= (ti - prev) | (ti & ~prev)
                prev = ti
                xu = xyp & low16
                yu = (xyp >> sixteen) & low16
                if xu >= W_u or yu >= H_u:
                    return i + 6, order < 0
                k = base + on_step * np.int64((xyp >> thirty_two) & low8 != 0) + np.int64(yu) * W + np.int64(xu)
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
                # event 7: t at byte 91, x, y, p at byte 99
                ti = np.int64((words[block + 11] >> np.uint64(24)) | (words[block + 12] << np.uint64(40)))
                xyp = words[block + 12] >> np.uint64(24)
                if check_order is not None:
                    order |= (ti - prev) | (ti & ~prev)
                prev = ti
                xu = xyp & low16
                yu = (xyp >> sixteen) & low16
                if xu >= W_u or yu >= H_u:
                    return i + 7, order < 0
                k = base + on_step * np.int64((xyp >> thirty_two) & low8 != 0) + np.int64(yu) * W + np.int64(xu)
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
                i += 8
            else:
                e = events[i]
                ti = np.int64(e.t)
                if check_order is not None:
                    order |= (ti - prev) | (ti & ~prev)
                prev = ti
                xi = np.int64(e.x)
                yi = np.int64(e.y)
                if np.uint64(xi) >= W_u or np.uint64(yi) >= H_u:
                    return i, order < 0
                k = base + on_step * np.int64(e.p > 0) + yi * W + xi
                v = np.uint8(counts[k] + np.uint8(1))
                counts[k] = v
                if v == 0:
                    spill[k] += 1
                i += 1
    return -1, order < 0


@numba.njit(cache=True, nogil=True)
def first_unsorted(events, lo, hi):
    """Index of the first ``t[i] < t[i - 1]`` with ``lo < i < hi``, or ``-1``."""
    for i in range(max(lo, 0) + 1, min(hi, events.shape[0])):
        if events[i].t < events[i - 1].t:
            return i
    return -1


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
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
