"""ES-ImageNet ODG kernels: nearest-resized V = max over channels, eight trajectory steps, integer threshold,
and the Edge-Integral reconstruction."""

from __future__ import annotations

import numpy as np

from . import njit


@njit
def resized_value(image, row_src, col_src, out):
    """``out[i, j] = max_c image[row_src[i], col_src[j], c]`` (uint8 ``[H, W, C]`` -> ``[a, b]``).

    The caller guarantees ``0 <= row_src < H`` and ``0 <= col_src < W``.
    """
    C = image.shape[2]
    b = col_src.shape[0]
    for i in range(row_src.shape[0]):
        src = image[row_src[i]]
        dst = out[i]
        if C == 3:
            for j in range(b):
                c = col_src[j]
                dst[j] = max(src[c, 0], src[c, 1], src[c, 2])
        else:
            for j in range(b):
                c = col_src[j]
                v = src[c, 0]
                for k in range(1, C):
                    v = max(v, src[c, k])
                dst[j] = v


@njit
def _overlap(trace, t, a, b, lo, hi):
    """Canvas rows ``[r0, r1)`` and columns ``[c0, c1)`` covered by the frames of steps t - 1 and t, cropped."""
    r0 = max(trace[t, 0], trace[t - 1, 0], lo + 1)
    r1 = min(min(trace[t, 0], trace[t - 1, 0]) + a, hi)
    c0 = max(trace[t, 1], trace[t - 1, 1], lo + 1)
    c1 = min(min(trace[t, 1], trace[t - 1, 1]) + b, hi)
    return r0, r1, c0, c1


@njit
def odg_rows(value, trace, threshold, lo, hi):
    """The generator's events of ``value`` (uint8 ``[a, b]``) as uint8 ``[N, 3]`` rows ``[row, col, t]``.

    ``trace`` (int64 ``[T + 1, 2]``): the image's (row, col) offset on the zero canvas at steps 0..T.
    Step ``t`` (1..T) fires ON where ``new - old >= threshold`` and OFF where ``old - new >= threshold``
    (``threshold >= 1``), only on canvas pixels covered by both frames and with ``lo < row, col < hi``.
    Rows are ordered by ``t``, then row-major. Returns ``(pos, neg)``.
    """
    a, b = value.shape
    steps = trace.shape[0] - 1
    bound = 0
    for t in range(1, steps + 1):
        r0, r1, c0, c1 = _overlap(trace, t, a, b, lo, hi)
        if r1 > r0 and c1 > c0:
            bound += (r1 - r0) * (c1 - c0)
    pos = np.empty((bound, 3), np.uint8)
    neg = np.empty((bound, 3), np.uint8)
    diff = np.empty(b, np.int16)
    n_pos = 0
    n_neg = 0
    for t in range(1, steps + 1):
        r0, r1, c0, c1 = _overlap(trace, t, a, b, lo, hi)
        n = c1 - c0
        if n <= 0:
            continue
        new_r, new_c = trace[t, 0], trace[t, 1]
        old_r, old_c = trace[t - 1, 0], trace[t - 1, 1]
        for r in range(r0, r1):
            new = value[r - new_r, c0 - new_c:c1 - new_c]
            old = value[r - old_r, c0 - old_c:c1 - old_c]
            hit = False
            for j in range(n):
                d = np.int16(new[j]) - np.int16(old[j])
                diff[j] = d
                hit |= (d >= threshold) | (d <= -threshold)
            if not hit:
                continue
            for j in range(n):
                d = diff[j]
                if d >= threshold:
                    pos[n_pos, 0] = r
                    pos[n_pos, 1] = c0 + j
                    pos[n_pos, 2] = t
                    n_pos += 1
                elif d <= -threshold:
                    neg[n_neg, 0] = r
                    neg[n_neg, 1] = c0 + j
                    neg[n_neg, 2] = t
                    n_neg += 1
    return pos[:n_pos].copy(), neg[:n_neg].copy()


@njit
def edge_integral(dense, shifts, on_channel, out):
    """``out[y, x] += ON - OFF`` of ``dense[t]`` (uint8 ``[T, 2, H, W]``) read at ``(y + dy_t, x + dx_t)``.

    ``shifts`` (int64 ``[T, 2]``): ``(dy_t, dx_t)`` per step; reads outside the frame add nothing.
    ``out`` is int8 ``[H, W]``, zeroed by the caller.
    """
    T, _, H, W = dense.shape
    off = 1 - on_channel
    for t in range(T):
        dy, dx = shifts[t, 0], shifts[t, 1]
        y0 = max(0, -dy)
        y1 = min(H, H - dy)
        x0 = max(0, -dx)
        x1 = min(W, W - dx)
        if x1 <= x0:
            continue
        for y in range(y0, y1):
            on = dense[t, on_channel, y + dy, x0 + dx:x1 + dx]
            of = dense[t, off, y + dy, x0 + dx:x1 + dx]
            row = out[y, x0:x1]
            for j in range(x1 - x0):
                row[j] += np.int8(on[j]) - np.int8(of[j])


@njit
def place_rows(rows, on, shift_row, shift_col, lo, hi, size, steps, t, x, y, p, start):
    """Check and place ES-ImageNet rows ``[row, col, t]`` as events from index ``start`` on.

    A row is valid when ``0 <= row, col < size`` and ``1 <= t <= steps``; it is kept when
    ``lo <= row + shift_row < hi`` and ``lo <= col + shift_col < hi``, giving ``y = row + shift_row - lo``,
    ``x = col + shift_col - lo``, ``t - 1`` and polarity ``on``. Returns ``(end, first_bad)``: the index
    after the last event written and the first invalid row (``-1`` if none; nothing is written from it on).
    """
    n = start
    for i in range(rows.shape[0]):
        r = np.int64(rows[i, 0])
        c = np.int64(rows[i, 1])
        k = np.int64(rows[i, 2])
        if r < 0 or r >= size or c < 0 or c >= size or k < 1 or k > steps:
            return n, i
        gi = r + shift_row
        gj = c + shift_col
        if gi < lo or gi >= hi or gj < lo or gj >= hi:
            continue
        t[n] = k - 1
        y[n] = gi - lo
        x[n] = gj - lo
        p[n] = on
        n += 1
    return n, -1
