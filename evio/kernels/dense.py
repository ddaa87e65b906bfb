"""Dense ``[T, 2, H, W]`` boolean tensors <-> events, and MSB-first bit unpacking."""

from __future__ import annotations

import numpy as np

from . import njit


@njit
def events_to_dense(t, x, y, p, on_channel, out):
    """Set ``out[t, c, y, x]`` (uint8 view of a bool ``[T, 2, H, W]``) for every event.

    ``c`` is ``on_channel`` for ON events, ``1 - on_channel`` for OFF. Returns
    ``(duplicates, first_bad)``: events that hit an already set element, and the index of the
    first event outside the tensor (``-1`` if none; nothing is written from it on).
    """
    T, C, H, W = out.shape
    dup = 0
    for i in range(t.shape[0]):
        ti = t[i]
        if ti < 0 or ti >= T or x[i] >= W or y[i] >= H:
            return dup, i
        c = on_channel if p[i] else 1 - on_channel
        if out[ti, c, y[i], x[i]]:
            dup += 1
        else:
            out[ti, c, y[i], x[i]] = 1
    return dup, -1


@njit
def dense_to_events(dense, on_channel, t, x, y, p):
    """Fill event columns from the nonzero elements of ``dense [T, 2, H, W]`` in C order.

    The columns must hold exactly ``count_nonzero(dense)`` items. Returns how many elements
    were not 0 or 1 (each still gives one event).
    """
    T, C, H, W = dense.shape
    k = 0
    odd = 0
    for ti in range(T):
        for c in range(C):
            on = c == on_channel
            for yi in range(H):
                for xi in range(W):
                    v = dense[ti, c, yi, xi]
                    if v != 0:
                        if v != 1:
                            odd += 1
                        t[k] = ti
                        x[k] = xi
                        y[k] = yi
                        p[k] = on
                        k += 1
    return odd


@njit
def unpack_bits(body, n, out):
    """Unpack the first ``n`` bits of ``body`` (MSB first, as ``np.packbits``) into ``out[:n]`` as 0/1."""
    one = out.dtype.type(1)
    zero = out.dtype.type(0)
    full = n // 8
    for i in range(full):
        b = body[i]
        base = 8 * i
        for k in range(8):
            out[base + k] = one if (b >> (7 - k)) & 1 else zero
    rest = n - 8 * full
    if rest:
        b = body[full]
        for k in range(rest):
            out[8 * full + k] = one if (b >> (7 - k)) & 1 else zero


@njit
def unpack_bits_batch(bodies, offsets, n, out):
    """``unpack_bits`` for many samples: sample ``i`` starts at ``bodies[offsets[i]]``, goes to ``out[i]``."""
    for i in range(offsets.shape[0]):
        unpack_bits(bodies[offsets[i]:], n, out[i])


#: ``F32_WORDS[b]``: the 8 float32 values 0.0/1.0 of byte ``b`` (MSB first) as four 64-bit words.
F32_WORDS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32).view(np.uint64).copy()


@njit
def unpack_bits_f32(body, n, out, words, lut):
    """``unpack_bits`` into float32 ``out``, storing whole bytes as four 64-bit words of ``lut``.

    ``words`` is ``out[: 8 * (n // 8)]`` viewed as uint64; about 20 % faster than per-element
    stores once the output no longer fits in the L2 cache.
    """
    full = n // 8
    for i in range(full):
        b = body[i]
        base = 4 * i
        words[base] = lut[b, 0]
        words[base + 1] = lut[b, 1]
        words[base + 2] = lut[b, 2]
        words[base + 3] = lut[b, 3]
    rest = n - 8 * full
    if rest:
        b = body[full]
        for k in range(rest):
            out[8 * full + k] = np.float32((b >> (7 - k)) & 1)


@njit
def unpack_bits_f32_batch(bodies, offsets, n, out, words, lut):
    """``unpack_bits_f32`` for many samples (``out`` and ``words`` are ``[N, ...]``)."""
    for i in range(offsets.shape[0]):
        unpack_bits_f32(bodies[offsets[i]:], n, out[i], words[i], lut)
