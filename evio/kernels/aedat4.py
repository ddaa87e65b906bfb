"""AEDAT 4 event structs (16 bytes: int64 t, int16 x, int16 y, uint8 on, 3 padding bytes) <-> events."""

from __future__ import annotations

import numpy as np

from . import njit

#: Size of one packed ``Event`` struct in an AEDAT 4 ``EventPacket`` vector.
EVENT_STRUCT_SIZE = 16


@njit
def decode_events(words, out_t, out_x, out_y, out_p):
    """Decode packed structs, given as int64 little-endian words (two per event), into the outputs.

    Word 0 is ``t``; word 1 holds x (bits 0-15), y (bits 16-31) and ``on`` (bits 32-39).
    Returns -1, or the index of the first event whose x or y is negative (not a pixel).
    """
    n = words.shape[0] // 2
    for i in range(n):
        w = words[2 * i + 1]
        x = w & 0xFFFF
        y = (w >> 16) & 0xFFFF
        if x >= 32768 or y >= 32768:
            return i
        out_t[i] = words[2 * i]
        out_x[i] = x
        out_y[i] = y
        out_p[i] = ((w >> 32) & 0xFF) != 0
    return -1


@njit
def encode_events(t, x, y, p, buf, start):
    """Pack events into 16-byte structs at ``buf[start:]`` (uint8, padding bytes zeroed).

    The caller checks that x and y fit int16 and that ``buf`` is large enough.
    """
    for i in range(t.shape[0]):
        b = start + 16 * i
        ti = np.int64(t[i])
        for k in range(8):
            buf[b + k] = np.uint8((ti >> np.int64(8 * k)) & np.int64(0xFF))
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        buf[b + 8] = np.uint8(xi & 0xFF)
        buf[b + 9] = np.uint8((xi >> 8) & 0xFF)
        buf[b + 10] = np.uint8(yi & 0xFF)
        buf[b + 11] = np.uint8((yi >> 8) & 0xFF)
        buf[b + 12] = np.uint8(1) if p[i] else np.uint8(0)
        buf[b + 13] = 0
        buf[b + 14] = 0
        buf[b + 15] = 0
