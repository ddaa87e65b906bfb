"""Prophesee EVT 2.0 / 2.1 / 3.0 and DAT codecs on plain integer arrays.

Every decoder takes the words of one block, output arrays (``t`` int64, ``x``/``y`` uint16, ``p``
bool, and trigger arrays ``tt`` int64, ``tid`` uint8, ``tval`` bool) and a ``state`` int64 array
that it reads and updates in place, so decoding a file block by block, across arbitrary block
boundaries, gives exactly the whole-file result. Each returns ``(words_used, events, triggers)``
and stops early, between words, when the outputs could overflow on the next word; the caller then
calls again with the remaining words.

Encoders take events and a ``state`` array the same way and return the number of words written.
"""

from __future__ import annotations

import numpy as np

from . import njit
from ._llvm import RECORD, evt2_block8

# --- EVT 2.0 -----------------------------------------------------------------------------------
#: state: [time_high (28-bit value as last seen), time_high wrap offset (µs), seen_time_high]
EVT2_STATE = 3
EVT2_HIGH_BITS = 28
EVT2_WRAP = np.int64(1) << 34


@njit
def decode_evt2(words, t, x, y, p, tt, tid, tval, state):
    return decode_evt2_into(words, t, x, y, p, tt, tid, tval, state, np.empty(0, np.uint8), 0)


@njit
def decode_evt2_into(words, t, x, y, p, tt, tid, tval, state, raw, raw_start):
    """``decode_evt2`` where ``t``, ``x``, ``y``, ``p`` are the fields of records ``raw_start...`` of
    the contiguous ``EVENT_DTYPE`` array whose bytes are ``raw`` (empty: fields only). Runs of 8
    CD words are then decoded together into whole records (``evt2_block8``); any other word, and a
    run holding one, goes word by word."""
    n = words.shape[0]
    cap = t.shape[0]
    tcap = tt.shape[0]
    n_records = raw.shape[0] // RECORD
    high = state[0]
    offset = state[1]
    seen = state[2]
    ne = 0
    nt = 0
    i = 0
    slow_until = 0
    half = np.int64(1) << (EVT2_HIGH_BITS - 1)
    while i < n:
        if i >= slow_until and i + 8 <= n and ne + 8 <= cap and raw_start + ne + 8 <= n_records:
            if not evt2_block8(words, i, raw, (raw_start + ne) * RECORD, offset + (high << 6)):
                i += 8
                ne += 8
                continue
            slow_until = i + 8
        w = np.int64(words[i])
        kind = w >> 28
        if kind == 0 or kind == 1:
            if ne >= cap:
                break
            t[ne] = offset + (high << 6) + ((w >> 22) & 63)
            x[ne] = (w >> 11) & 2047
            y[ne] = w & 2047
            p[ne] = kind == 1
            ne += 1
        elif kind == 8:
            new = w & 0xFFFFFFF
            if seen and high - new > half:
                offset += EVT2_WRAP
            high = new
            seen = 1
        elif kind == 10:
            if nt >= tcap:
                break
            tt[nt] = offset + (high << 6) + ((w >> 22) & 63)
            tid[nt] = (w >> 8) & 31
            tval[nt] = (w & 1) == 1
            nt += 1
        i += 1
    state[0] = high
    state[1] = offset
    state[2] = seen
    return i, ne, nt


@njit
def encode_evt2(t, x, y, p, out, state):
    """EVT 2.0 words for events (t non-decreasing, checked by the caller); ``out`` needs
    ``2 * len(t) + gaps`` words. ``state``: [full time_high last written, written_any].
    The stream starts with TIME_HIGH 0 and large forward gaps are bridged by intermediate
    TIME_HIGH words stepping < half the range, so any t >= 0 is exact (cost: t / 2**33 words)."""
    pos = 0
    cur = state[0]
    have = state[1]
    step = (np.int64(1) << (EVT2_HIGH_BITS - 1)) - 1
    for i in range(t.shape[0]):
        hi = t[i] >> 6
        if have == 0:
            out[pos] = np.uint32(np.int64(8) << 28)  # TIME_HIGH 0: later steps count up from 0
            pos += 1
            cur = 0
            have = 1
        if hi != cur:
            while hi - cur > step:
                cur += step
                out[pos] = np.uint32((np.int64(8) << 28) | (cur & 0xFFFFFFF))
                pos += 1
            cur = hi
            out[pos] = np.uint32((np.int64(8) << 28) | (cur & 0xFFFFFFF))
            pos += 1
        kind = np.int64(1) if p[i] else np.int64(0)
        out[pos] = np.uint32((kind << 28) | ((t[i] & 63) << 22) | (np.int64(x[i]) << 11) | np.int64(y[i]))
        pos += 1
    state[0] = cur
    state[1] = have
    return pos


@njit
def evt2_words_needed(t, state):
    """Upper bound on the words :func:`encode_evt2` writes for ``t``."""
    cur = state[0]
    have = state[1]
    step = (np.int64(1) << (EVT2_HIGH_BITS - 1)) - 1
    total = 0
    for i in range(t.shape[0]):
        hi = t[i] >> 6
        if have == 0:
            total += 1
            cur = 0
            have = 1
        if hi != cur:
            total += (hi - cur) // step + 1
            cur = hi
        total += 1
    return total


# --- EVT 2.1 (64-bit words, vectorized over 32 x) -------------------------------------------
@njit
def decode_evt21(words, t, x, y, p, tt, tid, tval, state):
    """``words`` are uint64 (the 64-bit word, type in bits 63-60); shares the EVT 2.0 state."""
    n = words.shape[0]
    cap = t.shape[0]
    tcap = tt.shape[0]
    high = state[0]
    offset = state[1]
    seen = state[2]
    ne = 0
    nt = 0
    i = 0
    half = np.int64(1) << (EVT2_HIGH_BITS - 1)
    while i < n:
        w = words[i]
        kind = np.int64(w >> np.uint64(60))
        if kind == 0 or kind == 1:
            if ne + 32 > cap:
                break
            ts = offset + (high << 6) + np.int64((w >> np.uint64(54)) & np.uint64(63))
            bx = np.int64((w >> np.uint64(43)) & np.uint64(2047))
            yy = np.int64((w >> np.uint64(32)) & np.uint64(2047))
            mask = np.int64(w & np.uint64(0xFFFFFFFF))
            for b in range(32):
                if (mask >> b) & 1:
                    t[ne] = ts
                    x[ne] = bx + b
                    y[ne] = yy
                    p[ne] = kind == 1
                    ne += 1
        elif kind == 8:
            new = np.int64((w >> np.uint64(32)) & np.uint64(0xFFFFFFF))
            if seen and high - new > half:
                offset += EVT2_WRAP
            high = new
            seen = 1
        elif kind == 10:
            if nt >= tcap:
                break
            tt[nt] = offset + (high << 6) + np.int64((w >> np.uint64(54)) & np.uint64(63))
            tid[nt] = np.int64((w >> np.uint64(40)) & np.uint64(31))
            tval[nt] = ((w >> np.uint64(32)) & np.uint64(1)) == 1
            nt += 1
        i += 1
    state[0] = high
    state[1] = offset
    state[2] = seen
    return i, ne, nt


# --- EVT 3.0 -----------------------------------------------------------------------------------
#: state: [time_high, time_low, y, base_x, polarity, wrap offset (µs), seen_time_high]
EVT3_STATE = 7
EVT3_WRAP = np.int64(1) << 24


@njit
def decode_evt3(words, t, x, y, p, tt, tid, tval, state):
    """OpenEB semantics: t = wrap + (time_high << 12 | time_low), the last TIME_LOW wins (t may
    step back); a wrap of the 24-bit time base is counted only when TIME_HIGH decreases by more
    than half its range (2048)."""
    n = words.shape[0]
    cap = t.shape[0]
    tcap = tt.shape[0]
    high = state[0]
    low = state[1]
    yy = state[2]
    bx = state[3]
    pol = state[4]
    offset = state[5]
    seen = state[6]
    ne = 0
    nt = 0
    i = 0
    while i < n:
        w = np.int64(words[i])
        kind = w >> 12
        if kind == 0:
            yy = w & 2047
        elif kind == 2:
            if ne >= cap:
                break
            t[ne] = offset + (high << 12) + low
            x[ne] = w & 2047
            y[ne] = yy
            p[ne] = ((w >> 11) & 1) == 1
            ne += 1
        elif kind == 3:
            bx = w & 2047
            pol = (w >> 11) & 1
        elif kind == 4 or kind == 5:
            width = 12 if kind == 4 else 8
            if ne + width > cap:
                break
            ts = offset + (high << 12) + low
            for b in range(width):
                if (w >> b) & 1:
                    t[ne] = ts
                    x[ne] = (bx + b) & 0xFFFF
                    y[ne] = yy
                    p[ne] = pol == 1
                    ne += 1
            bx += width
        elif kind == 6:
            low = w & 4095
        elif kind == 8:
            new = w & 4095
            if seen and high - new > 2048:
                offset += EVT3_WRAP
            high = new
            seen = 1
        elif kind == 10:
            if nt >= tcap:
                break
            tt[nt] = offset + (high << 12) + low
            tid[nt] = (w >> 8) & 15
            tval[nt] = (w & 1) == 1
            nt += 1
        i += 1
    state[0] = high
    state[1] = low
    state[2] = yy
    state[3] = bx
    state[4] = pol
    state[5] = offset
    state[6] = seen
    return i, ne, nt


@njit
def encode_evt3(t, x, y, p, out, state):
    """EVT 3.0 words (no vectorization: ADDR_Y when y changes, one ADDR_X per event).

    ``out`` needs :func:`evt3_words_needed` words. ``state``: [full time_high (t >> 12),
    time_low, y, written_any]. The stream starts with TIME_HIGH 0 and gaps of the 24-bit time
    base are bridged by TIME_HIGH steps of at most 2047 (8.4 s) so that the reader's wrap rule
    reconstructs t exactly.
    """
    pos = 0
    cur = state[0]
    low = state[1]
    yy = state[2]
    have = state[3]
    for i in range(t.shape[0]):
        hi = t[i] >> 12
        lo = t[i] & 4095
        if have == 0:
            out[pos] = np.uint16(8 << 12)  # TIME_HIGH 0: later steps count up from 0
            pos += 1
            cur = 0
            low = -1
        if have == 0 or hi != cur:
            while hi - cur > 2047:
                cur += 2047
                out[pos] = np.uint16((8 << 12) | (cur & 4095))
                pos += 1
            cur = hi
            out[pos] = np.uint16((8 << 12) | (cur & 4095))
            pos += 1
            low = -1
        if lo != low:
            out[pos] = np.uint16((6 << 12) | lo)
            pos += 1
            low = lo
        if have == 0 or y[i] != yy:
            yy = np.int64(y[i])
            out[pos] = np.uint16(yy)
            pos += 1
        have = 1
        out[pos] = np.uint16((2 << 12) | ((1 if p[i] else 0) << 11) | np.int64(x[i]))
        pos += 1
    state[0] = cur
    state[1] = low
    state[2] = yy
    state[3] = have
    return pos


@njit
def evt3_words_needed(t, state):
    cur = state[0]
    have = state[3]
    total = 0
    for i in range(t.shape[0]):
        hi = t[i] >> 12
        if have == 0:
            total += 1
            cur = 0
        if have == 0 or hi != cur:
            total += (hi - cur) // 2047 + 1
            cur = hi
            have = 1
        total += 3
    return total


# --- DAT ---------------------------------------------------------------------------------------
#: state: [previous raw t (u32), wrap offset, seen]
DAT_STATE = 3


@njit
def decode_dat(words, version, t, x, y, p, state):
    """``words`` are uint32 pairs (``[n, 2]``: t, data). A 32-bit t wrap is counted when t
    decreases by more than 2**31. Returns the number of events (always ``len(words)``)."""
    n = words.shape[0]
    prev = state[0]
    offset = state[1]
    seen = state[2]
    half = np.int64(1) << 31
    for i in range(n):
        raw_t = np.int64(words[i, 0])
        d = np.int64(words[i, 1])
        if seen and prev - raw_t > half:
            offset += np.int64(1) << 32
        prev = raw_t
        seen = 1
        t[i] = offset + raw_t
        if version == 1:
            x[i] = d & 0x1FF
            y[i] = (d >> 9) & 0xFF
            p[i] = ((d >> 17) & 0xF) > 0
        else:
            x[i] = d & 0x3FFF
            y[i] = (d >> 14) & 0x3FFF
            p[i] = ((d >> 28) & 0xF) > 0
    state[0] = prev
    state[1] = offset
    state[2] = seen
    return n


@njit
def encode_dat(t, x, y, p, out):
    for i in range(t.shape[0]):
        out[i, 0] = np.uint32(t[i] & 0xFFFFFFFF)
        out[i, 1] = np.uint32(np.int64(x[i]) | (np.int64(y[i]) << 14) | ((1 if p[i] else 0) << 28))
