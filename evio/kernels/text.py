"""Integer CSV formatting and parsing (``t,x,y,p`` rows) on byte buffers."""

from __future__ import annotations

import numpy as np

from . import njit

MAX_ROW_BYTES = 20 + 1 + 5 + 1 + 5 + 1 + 1 + 1

PARSE_OK = 0
PARSE_BAD_CHAR = 1
PARSE_FIELD_COUNT = 2
PARSE_OVERFLOW = 3
PARSE_EMPTY_FIELD = 4


@njit(inline="always")
def _put_int(buf, pos, value):
    if value < 0:
        buf[pos] = 45
        pos += 1
        mag = np.uint64(-(value + 1)) + np.uint64(1)
    else:
        mag = np.uint64(value)
    start = pos
    while True:
        buf[pos] = 48 + mag % np.uint64(10)
        pos += 1
        mag //= np.uint64(10)
        if mag == 0:
            break
    end = pos - 1
    while start < end:
        tmp = buf[start]
        buf[start] = buf[end]
        buf[end] = tmp
        start += 1
        end -= 1
    return pos


@njit
def format_rows(t, x, y, p, buf):
    """Write rows ``t,x,y,p\\n`` into ``buf`` (needs ``MAX_ROW_BYTES`` per row); return bytes used."""
    pos = 0
    for i in range(t.shape[0]):
        pos = _put_int(buf, pos, t[i])
        buf[pos] = 44
        pos = _put_int(buf, pos + 1, np.int64(x[i]))
        buf[pos] = 44
        pos = _put_int(buf, pos + 1, np.int64(y[i]))
        buf[pos] = 44
        buf[pos + 1] = 49 if p[i] else 48
        buf[pos + 2] = 10
        pos += 3
    return pos


@njit
def parse_rows(buf, out):
    """Parse complete lines of 4 comma-separated integers from ``buf`` into ``out[:, 4]`` (int64).

    Accepts ``\\n`` and ``\\r\\n`` line ends and blank lines. Returns
    ``(rows, consumed_bytes, error_code, error_byte)``; parsing stops at the last complete line,
    at ``len(out)`` rows, or at the first error.
    """
    n = buf.shape[0]
    rows = 0
    pos = 0
    cap = out.shape[0]
    while pos < n and rows < cap:
        eol = pos
        while eol < n and buf[eol] != 10:
            eol += 1
        if eol == n:
            break
        end = eol
        if end > pos and buf[end - 1] == 13:
            end -= 1
        if end == pos:
            pos = eol + 1
            continue
        field = 0
        i = pos
        while True:
            if field >= 4:
                return rows, pos, PARSE_FIELD_COUNT, i
            neg = False
            if i < end and buf[i] == 45:
                neg = True
                i += 1
            ndig = 0
            mag = np.uint64(0)
            while i < end and buf[i] >= 48 and buf[i] <= 57:
                if ndig == 19:
                    return rows, pos, PARSE_OVERFLOW, i
                mag = mag * np.uint64(10) + np.uint64(buf[i] - 48)
                ndig += 1
                i += 1
            if ndig == 0:
                return rows, pos, PARSE_EMPTY_FIELD, i
            if neg:
                if mag > np.uint64(1) << np.uint64(63):
                    return rows, pos, PARSE_OVERFLOW, i
                value = -np.int64(mag - np.uint64(1)) - np.int64(1) if mag > np.uint64(0) else np.int64(0)
            else:
                if mag > np.uint64(np.iinfo(np.int64).max):
                    return rows, pos, PARSE_OVERFLOW, i
                value = np.int64(mag)
            out[rows, field] = value
            field += 1
            if i == end:
                break
            if buf[i] != 44:
                return rows, pos, PARSE_BAD_CHAR, i
            i += 1
        if field != 4:
            return rows, pos, PARSE_FIELD_COUNT, i
        rows += 1
        pos = eol + 1
    return rows, pos, PARSE_OK, pos
