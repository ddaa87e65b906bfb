"""Decoders for address-event (AER) byte streams: jAER AEDAT 1.0/2.0, cAER AEDAT 3.1, N-MNIST ``.bin``.

Every kernel works on a ``uint8`` buffer and writes into preallocated output arrays, so callers
stream files in bounded memory. Nothing here trusts a length field: every read is bounds-checked
against the buffer.
"""

from __future__ import annotations

import numpy as np

from . import njit
from ._llvm import RECORD, aedat2_block8, aedat3_polarity8, store_record

# --- AEDAT 1.0 / 2.0 ---------------------------------------------------------------------------

CHIP_DVS128 = 0
CHIP_DAVIS = 1

ORIENT_CAER = 0  # top-left origin (evio default)
ORIENT_JAER = 1  # jAER display coordinates, bottom-left origin (y up)
ORIENT_SJ_CIFAR10DVS = 2  # SpikingJelly's CIFAR10-DVS transpose

#: Indices into the ``stats`` array of :func:`aedat2_decode`.
STAT_EXTERNAL = 0
STAT_APS = 1
STAT_IMU = 2
STAT_OUT_OF_RANGE = 3


@njit
def aedat2_decode(buf, event_bytes, chip, orient, width, height, unwrap,
                  out_t, out_x, out_y, out_p, stats, tstate, raw, raw_start):
    """Decode whole big-endian events of ``event_bytes`` (6: AEDAT 1.0, 8: 2.0) from ``buf``.

    ``tstate`` holds ``[previous raw timestamp, wrap offset]`` across calls. Returns the number
    of events written; skipped words are counted in ``stats``. ``raw``: the bytes of the contiguous
    ``EVENT_DTYPE`` array whose record ``raw_start`` is ``out_t[0]`` (the fast path writes whole
    records there), or an empty array for other outputs.

    The common layouts call the loop with constant event size / chip / orientation, so the
    compiler specialises each (about twice as fast as one loop testing them per event).
    """
    if event_bytes == 8:
        if chip == CHIP_DVS128:
            if orient == ORIENT_CAER:
                return _aedat2_blocks(buf, CHIP_DVS128, ORIENT_CAER, width, height, unwrap,
                                      out_t, out_x, out_y, out_p, stats, tstate, raw, raw_start)
            if orient == ORIENT_SJ_CIFAR10DVS:
                return _aedat2_blocks(buf, CHIP_DVS128, ORIENT_SJ_CIFAR10DVS, width, height, unwrap,
                                      out_t, out_x, out_y, out_p, stats, tstate, raw, raw_start)
            return _aedat2_blocks(buf, CHIP_DVS128, orient, width, height, unwrap,
                                  out_t, out_x, out_y, out_p, stats, tstate, raw, raw_start)
        if orient == ORIENT_CAER:
            return _aedat2_blocks(buf, CHIP_DAVIS, ORIENT_CAER, width, height, unwrap,
                                  out_t, out_x, out_y, out_p, stats, tstate, raw, raw_start)
        return _aedat2_blocks(buf, chip, orient, width, height, unwrap,
                              out_t, out_x, out_y, out_p, stats, tstate, raw, raw_start)
    return _aedat2_loop(buf, event_bytes, chip, orient, width, height, unwrap,
                        out_t, out_x, out_y, out_p, stats, tstate)


#: Words per block of the AEDAT 2.0 fast path; a block holding any word it cannot take is redone exactly.
FAST_BLOCK = 4096

_block8_dvs128_caer = aedat2_block8("dvs128", "caer")
_block8_dvs128_jaer = aedat2_block8("dvs128", "jaer")
_block8_dvs128_sj = aedat2_block8("dvs128", "sj")
_block8_davis_caer = aedat2_block8("davis", "caer")
_block8_davis_jaer = aedat2_block8("davis", "jaer")
_block8_davis_sj = aedat2_block8("davis", "sj")


@njit(inline="always")
def _aedat2_blocks(buf, chip, orient, width, height, unwrap, out_t, out_x, out_y, out_p, stats, tstate,
                   raw, raw_start):
    """8-byte words in blocks of ``FAST_BLOCK``: the vector ``_aedat2_fast`` where a block holds only
    polarity events inside the sensor and no timestamp wrap, else (and for the last < 8 words, or
    without ``raw``) the exact ``_aedat2_loop``."""
    n = buf.shape[0] // 8
    k = 0
    lo = 0
    while lo < n:
        m = (min(lo + FAST_BLOCK, n) - lo) // 8 * 8 if raw.shape[0] else 0
        if m and _aedat2_fast(buf, lo, lo + m, raw, raw_start + k, chip, orient, width, height, unwrap, tstate):
            k += m
            lo += m
            continue
        hi = lo + m if m else n
        k += _aedat2_loop(buf[lo * 8:hi * 8], 8, chip, orient, width, height, unwrap,
                          out_t[k:], out_x[k:], out_y[k:], out_p[k:], stats, tstate)
        lo = hi
    return k


@njit(inline="always")
def _aedat2_fast(buf, lo, hi, raw, r0, chip, orient, width, height, unwrap, tstate):
    """Words ``lo <= i < hi`` (a multiple of 8 of them) to ``EVENT_DTYPE`` records ``r0 + i - lo`` of
    ``raw`` (bytes), 8 at a time, assuming each is a polarity event inside the sensor and (with
    ``unwrap``) that no timestamp wraps. Returns False, with ``tstate`` untouched, where that does
    not hold (the caller then redoes the words; the records written are stale)."""
    prev = tstate[0]
    offset = tstate[1]
    flags = np.int64(0)
    for g in range((hi - lo) // 8):
        src = (lo + 8 * g) * 8
        dst = (r0 + 8 * g) * RECORD
        if chip == CHIP_DVS128:
            if orient == ORIENT_CAER:
                f, prev = _block8_dvs128_caer(buf, src, raw, dst, width, height, prev, offset)
            elif orient == ORIENT_JAER:
                f, prev = _block8_dvs128_jaer(buf, src, raw, dst, width, height, prev, offset)
            else:
                f, prev = _block8_dvs128_sj(buf, src, raw, dst, width, height, prev, offset)
        else:
            if orient == ORIENT_CAER:
                f, prev = _block8_davis_caer(buf, src, raw, dst, width, height, prev, offset)
            elif orient == ORIENT_JAER:
                f, prev = _block8_davis_jaer(buf, src, raw, dst, width, height, prev, offset)
            else:
                f, prev = _block8_davis_sj(buf, src, raw, dst, width, height, prev, offset)
        flags |= f
    if (flags & 1) or (unwrap and (flags & 2)):
        return False
    if unwrap:
        tstate[0] = prev
    return True


@njit(inline="always")
def _aedat2_loop(buf, event_bytes, chip, orient, width, height, unwrap,
                 out_t, out_x, out_y, out_p, stats, tstate):
    n = buf.shape[0] // event_bytes
    k = 0
    prev = tstate[0]
    offset = tstate[1]
    half = np.int64(1) << 31
    full = np.int64(1) << 32
    abytes = event_bytes - 4
    for i in range(n):
        b = i * event_bytes
        if abytes == 4:
            a = ((np.int64(buf[b]) << 24) | (np.int64(buf[b + 1]) << 16)
                 | (np.int64(buf[b + 2]) << 8) | np.int64(buf[b + 3]))
        else:
            a = (np.int64(buf[b]) << 8) | np.int64(buf[b + 1])
        c = b + abytes
        ts = ((np.int64(buf[c]) << 24) | (np.int64(buf[c + 1]) << 16)
              | (np.int64(buf[c + 2]) << 8) | np.int64(buf[c + 3]))
        if ts >= half:
            ts -= full
        if unwrap:
            if prev - ts > half:
                offset += full
            prev = ts
        if chip == CHIP_DVS128:
            if a & 0x8000:
                stats[STAT_EXTERNAL] += 1
                continue
            xr = (a >> 1) & 0x7F
            yr = (a >> 8) & 0x7F
            on = (a & 1) == 0
        else:
            if a & 0x80000000:
                if ((a >> 10) & 3) == 3:
                    stats[STAT_IMU] += 1
                else:
                    stats[STAT_APS] += 1
                continue
            if a & 0x400:
                stats[STAT_EXTERNAL] += 1
                continue
            xr = (a >> 12) & 0x3FF
            yr = (a >> 22) & 0x1FF
            on = ((a >> 11) & 1) == 1
        if xr >= width or yr >= height:
            stats[STAT_OUT_OF_RANGE] += 1
            continue
        if orient == ORIENT_CAER:
            x = width - 1 - xr
            y = height - 1 - yr
        elif orient == ORIENT_JAER:
            x = width - 1 - xr
            y = yr
        else:
            x = width - 1 - yr
            y = height - 1 - xr
        out_t[k] = ts + offset
        out_x[k] = x
        out_y[k] = y
        out_p[k] = on
        k += 1
    tstate[0] = prev
    tstate[1] = offset
    return k


# --- AEDAT 3.1 ---------------------------------------------------------------------------------

A3_MORE = 0  # output full; call again
A3_END = 1  # clean end of data
A3_TRUNCATED = 2  # a packet header or body runs past the end of the data
A3_BAD_HEADER = 3  # a packet header with impossible fields

#: Indices into the ``stats`` array of :func:`aedat3_decode`.
A3_INVALID = 0
A3_SPECIAL = 1
A3_TS_WRAP = 2
A3_TS_RESET = 3
A3_SKIPPED_PACKETS = 4
A3_SKIPPED_EVENTS = 5
A3_PACKETS = 6
A3_OUT_OF_RANGE = 7

_MAX_EVENT_SIZE = 1 << 24


@njit(inline="always")
def _le_u32(buf, i):
    return (np.uint32(buf[i]) | (np.uint32(buf[i + 1]) << np.uint32(8))
            | (np.uint32(buf[i + 2]) << np.uint32(16)) | (np.uint32(buf[i + 3]) << np.uint32(24)))


@njit(inline="always")
def _le_i32(buf, i):
    return np.int64(np.int32(_le_u32(buf, i)))


@njit(inline="always")
def _a3_polarity(buf, start, i, number, esize, tsoff, base_t, width, height,
                 out_t, out_x, out_y, out_p, k, cap, stats, raw, raw_start):
    """Polarity events ``i..number`` of the packet body at ``start``; returns ``(i, k)``. With the
    standard layout and ``raw`` (the bytes of the ``EVENT_DTYPE`` array whose record ``raw_start``
    is ``out_t[0]``), 8 valid events inside the sensor at a time go straight into whole records."""
    n_records = raw.shape[0] // RECORD
    while i < number and k < cap:
        end = i + 1
        if esize == 8 and tsoff == 4 and i + 8 <= number and k + 8 <= cap and raw_start + k + 8 <= n_records:
            if not aedat3_polarity8(buf, start + i * 8, raw, (raw_start + k) * RECORD, width, height, base_t):
                i += 8
                k += 8
                continue
            end = i + 8
        while i < end and k < cap:
            e = start + i * esize
            d = _le_u32(buf, e)
            i += 1
            if (d & np.uint32(1)) == 0:
                stats[A3_INVALID] += 1
                continue
            x = np.int64((d >> np.uint32(17)) & np.uint32(0x7FFF))
            y = np.int64((d >> np.uint32(2)) & np.uint32(0x7FFF))
            if x >= width or y >= height:
                stats[A3_OUT_OF_RANGE] += 1
                continue
            out_t[k] = base_t | np.int64(_le_u32(buf, e + tsoff))
            out_x[k] = x
            out_y[k] = y
            out_p[k] = ((d >> np.uint32(1)) & np.uint32(1)) == 1
            k += 1
    return i, k


@njit
def aedat3_decode(buf, state, width, height, out_t, out_x, out_y, out_p, stats, raw, raw_start):
    """Decode AEDAT 3.1 packets from ``buf`` (the bytes after the header). ``raw``: the bytes of the
    contiguous ``EVENT_DTYPE`` array whose record ``raw_start`` is ``out_t[0]`` (polarity events
    are then written 8 records at a time), or an empty array.

    ``state`` is ``[byte offset of the current packet, index of the next event in it]``.
    Returns ``(events written, status)``; on ``A3_TRUNCATED``/``A3_BAD_HEADER`` ``state[0]`` is the
    offending packet's offset.
    """
    n = np.int64(buf.shape[0])
    cap = out_t.shape[0]
    k = 0
    while True:
        pos = state[0]
        if pos == n:
            return k, A3_END
        if pos + 28 > n:
            return k, A3_TRUNCATED
        etype = np.int64(np.int16(np.uint16(buf[pos]) | (np.uint16(buf[pos + 1]) << np.uint16(8))))
        esize = _le_i32(buf, pos + 4)
        tsoff = _le_i32(buf, pos + 8)
        tsovf = np.int64(_le_u32(buf, pos + 12))
        capacity = _le_i32(buf, pos + 16)
        number = _le_i32(buf, pos + 20)
        if esize < 1 or esize > _MAX_EVENT_SIZE or capacity < 0 or number < 0 or number > capacity:
            return k, A3_BAD_HEADER
        if tsoff < 0 or tsoff + 4 > esize:
            return k, A3_BAD_HEADER
        body = capacity * esize
        if pos + 28 + body > n:
            return k, A3_TRUNCATED
        start = pos + 28
        if state[1] == 0:
            stats[A3_PACKETS] += 1
        if etype == 1:
            if esize < 8:
                return k, A3_BAD_HEADER
            base_t = tsovf << np.int64(31)
            if esize == 8 and tsoff == 4:  # the standard layout, with constant strides
                i, k = _a3_polarity(buf, start, state[1], number, 8, 4, base_t, width, height,
                                    out_t, out_x, out_y, out_p, k, cap, stats, raw, raw_start)
            else:
                i, k = _a3_polarity(buf, start, state[1], number, esize, tsoff, base_t, width, height,
                                    out_t, out_x, out_y, out_p, k, cap, stats, raw, raw_start)
            if i < number:
                state[1] = i
                return k, A3_MORE
        elif etype == 0:
            for i in range(number):
                d = _le_u32(buf, start + i * esize)
                stats[A3_SPECIAL] += 1
                kind = (d >> np.uint32(1)) & np.uint32(0x7F)
                if kind == 0:
                    stats[A3_TS_WRAP] += 1
                elif kind == 1:
                    stats[A3_TS_RESET] += 1
        else:
            stats[A3_SKIPPED_PACKETS] += 1
            stats[A3_SKIPPED_EVENTS] += number
        state[0] = start + body
        state[1] = 0
        if k >= cap:
            return k, A3_MORE


# --- N-MNIST / N-Caltech101 .bin ---------------------------------------------------------------

NMNIST_OVERFLOW_Y = 240
#: Added to every later timestamp per overflow marker row (as in Orchard's MATLAB reader and Tonic).
NMNIST_OVERFLOW_STEP = 1 << 13


@njit
def nmnist_decode(buf, out_t, out_x, out_y, out_p, tstate, raw):
    """Decode whole 5-byte events; marker rows (y == 240) add 2**13 µs to later times and are dropped.

    ``tstate[0]`` is the running overflow offset, ``tstate[1]`` the marker count. ``raw``: the bytes of
    the output (``record_bytes(out)``), written record by record when it holds 13 bytes per row, else
    empty (the fields are written). Returns the number of events.
    """
    n = buf.shape[0] // 5
    by_bytes = raw.shape[0] >= RECORD * n
    k = 0
    offset = tstate[0]
    for i in range(n):
        b = i * 5
        y = np.int64(buf[b + 1])
        if y == NMNIST_OVERFLOW_Y:
            offset += NMNIST_OVERFLOW_STEP
            tstate[1] += 1
            continue
        b2 = np.int64(buf[b + 2])
        t = (((b2 & 127) << 16) | (np.int64(buf[b + 3]) << 8) | np.int64(buf[b + 4])) + offset
        if by_bytes:
            store_record(raw, np.int64(RECORD * k), t, np.int64(buf[b]) | (y << 16), b2 >> 7)
        else:
            out_t[k] = t
            out_x[k] = buf[b]
            out_y[k] = y
            out_p[k] = (b2 >> 7) == 1
        k += 1
    tstate[0] = offset
    return k


@njit
def nmnist_encode(t, x, y, p, out, mstate):
    """Encode events into ``out`` (5 bytes each, room for markers: ``5 * (n + markers)``).

    ``mstate[0]`` is the number of overflow markers written so far. Returns bytes written, or
    ``-(i + 1)`` when event ``i`` cannot be represented (its time lies before the current offset).
    """
    pos = 0
    m = mstate[0]
    limit = np.int64(1) << np.int64(23)
    for i in range(t.shape[0]):
        rel = t[i] - m * NMNIST_OVERFLOW_STEP
        if rel < 0:
            mstate[0] = m
            return -(i + 1)
        if rel >= limit:
            need = (rel - limit) // NMNIST_OVERFLOW_STEP + 1
            for _ in range(need):
                if pos + 5 > out.shape[0]:
                    mstate[0] = m
                    return -(i + 1)
                out[pos] = 0
                out[pos + 1] = NMNIST_OVERFLOW_Y
                out[pos + 2] = 0
                out[pos + 3] = 0
                out[pos + 4] = 0
                pos += 5
            m += need
            rel = t[i] - m * NMNIST_OVERFLOW_STEP
        if pos + 5 > out.shape[0]:
            mstate[0] = m
            return -(i + 1)
        out[pos] = x[i]
        out[pos + 1] = y[i]
        out[pos + 2] = ((rel >> 16) & 127) | (128 if p[i] else 0)
        out[pos + 3] = (rel >> 8) & 255
        out[pos + 4] = rel & 255
        pos += 5
    mstate[0] = m
    return pos
