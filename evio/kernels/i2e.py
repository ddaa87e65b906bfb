"""I2E kernels: intensity plane, eight shifted differences, adaptive threshold, dense or packed bits.

One image at a time: ``V = max(R, G, B)`` as float32 (uint8 ``k`` -> ``f32(k) * f32(1/255)``) in an
edge-padded plane ``vp [H+2, W+2]``; ``thr = f32(f32(max V - min V) * f32(ratio))``; for step ``t``
with anchors ``(r0, c0)`` and ``(r1, c1)`` (offsets in -1..1) ``D = f32(V[y+r1, x+c1] - V[y+r0, x+c0])``,
ON = ``D >= thr``, OFF = ``-D >= thr``. For uint8 images the same test is run on the uint8 levels
whenever ``int_delta`` proves it identical (4x the throughput). Callers check shapes; nothing here
bounds-checks.
"""

from __future__ import annotations

import numpy as np

from . import njit

#: ``U8_TO_F32[k] = f32(k) * f32(1/255)``, the rounding of torchvision's ``ToDtype(float32, scale=True)``.
U8_TO_F32 = (np.arange(256, dtype=np.float32) * np.float32(1.0 / 255)).astype(np.float32)

@njit
def _pad_edges(vp):
    Hp, Wp = vp.shape
    for y in range(1, Hp - 1):
        vp[y, 0] = vp[y, 1]
        vp[y, Wp - 1] = vp[y, Wp - 2]
    for x in range(Wp):
        vp[0, x] = vp[1, x]
        vp[Hp - 1, x] = vp[Hp - 2, x]


@njit
def fill_q_u8(img, q):
    """uint8 ``img [H, W, C]`` -> edge-padded uint8 ``q [H+2, W+2]`` of ``max`` over channels; returns ``(lo, hi)``."""
    H, W, C = img.shape
    lo = np.uint8(255)
    hi = np.uint8(0)
    for y in range(H):
        src = img[y]
        row = q[y + 1, 1:W + 1]
        if C == 3:
            for x in range(W):
                row[x] = max(max(src[x, 0], src[x, 1]), src[x, 2])
        else:
            for x in range(W):
                row[x] = src[x, 0]
        for x in range(W):
            v = row[x]
            lo = min(lo, v)
            hi = max(hi, v)
    _pad_edges(q)
    return np.int64(lo), np.int64(hi)


@njit
def fill_v_from_q(q, vp):
    """``vp = f32(q) * f32(1/255)`` elementwise (both padded planes)."""
    scale = np.float32(1.0 / 255)
    for y in range(q.shape[0]):
        for x in range(q.shape[1]):
            vp[y, x] = np.float32(q[y, x]) * scale


@njit
def _step(k0, k1):
    scale = np.float32(1.0 / 255)
    return np.float32(np.float32(k1) * scale - np.float32(k0) * scale)


@njit
def int_delta(lo, hi, thr):
    """The integer form of the float32 test on V levels ``lo..hi``: ``delta`` such that for all
    ``lo <= k0, k1 <= hi``, ``f32(V(k1) - V(k0)) >= thr`` iff ``k1 - k0 >= delta``; ``-1`` if there is none.

    ``f32(V(k1) - V(k0))`` grows with ``k1`` and falls with ``k0``, so checking the two pairs around
    the boundary for every ``k0`` proves it; 256 means no event is possible.
    """
    if thr <= 0:
        return -1
    if _step(lo, hi) < thr:
        return 256
    delta = 1
    while _step(lo, lo + delta) < thr:
        delta += 1
    for k0 in range(lo, hi + 1):
        if k0 + delta <= hi and _step(k0, k0 + delta) < thr:
            return -1
        if delta > 1 and k0 + delta - 1 <= hi and _step(k0, k0 + delta - 1) >= thr:
            return -1
    return delta


@njit
def fill_limit(q, delta, pm):
    """``pm = min(q + delta - 1, 255)``: then ``a - b >= delta`` iff ``a > pm(b)`` for levels 0..255."""
    qf = q.reshape(-1)
    pf = pm.reshape(-1)
    add = np.uint8(delta - 1)
    top = np.uint8(256 - delta)
    for i in range(qf.shape[0]):
        v = qf[i]
        pf[i] = v + add if v <= top else np.uint8(255)


@njit
def events_dense_int(q, pm, anchors, out, base, t_stride):
    """``events_dense`` on uint8 levels: ON = ``q(a) > pm(b)``, OFF = ``q(b) > pm(a)`` (see ``fill_limit``)."""
    Wp = q.shape[1]
    H, W = q.shape[0] - 2, Wp - 2
    qf = q.reshape(-1)
    pf = pm.reshape(-1)
    plane = np.uint64(H * W)
    width = np.uint64(W)
    for t in range(anchors.shape[0]):
        r0, c0, r1, c1 = anchors[t, 0], anchors[t, 1], anchors[t, 2], anchors[t, 3]
        on0 = np.uint64(base + t * t_stride)
        for y in range(H):
            a = np.uint64((y + 1 + r1) * Wp + 1 + c1)
            b = np.uint64((y + 1 + r0) * Wp + 1 + c0)
            on = on0 + np.uint64(y) * width
            off = on + plane
            for x in range(width):
                out[on + x] = qf[a + x] > pf[b + x]
                out[off + x] = qf[b + x] > pf[a + x]


@njit
def prepare_u8(img, ratio, q, pm, vp):
    """Levels of one uint8 image into ``q``; returns ``(thr, delta)``. ``delta > 0``: the integer test
    is provably identical to the float32 one and ``pm`` is filled; else ``vp`` (float32) is."""
    lo, hi = fill_q_u8(img, q)
    scale = np.float32(1.0 / 255)
    thr = threshold(np.float32(lo) * scale, np.float32(hi) * scale, ratio)
    delta = int_delta(lo, hi, thr)
    if delta > 0:
        fill_limit(q, delta, pm)
    else:
        fill_v_from_q(q, vp)
    return thr, delta


@njit
def events_prepared(q, pm, vp, thr, delta, anchors, out, base, t_stride):
    """The planes of ``prepare_u8`` -> steps of flat ``out`` (see ``events_dense``)."""
    if delta > 0:
        events_dense_int(q, pm, anchors, out, base, t_stride)
    else:
        events_dense(vp, thr, anchors, out, base, t_stride)


@njit
def fill_v_float(img, vp):
    """float ``img [H, W, C]`` (values cast to float32) -> padded ``vp``; returns ``(min V, max V)``."""
    H, W, C = img.shape
    lo = np.float32(np.inf)
    hi = np.float32(-np.inf)
    for y in range(H):
        row = vp[y + 1]
        for x in range(W):
            v = np.float32(img[y, x, 0])
            for c in range(1, C):
                w = np.float32(img[y, x, c])
                v = max(v, w)
            lo = min(lo, v)
            hi = max(hi, v)
            row[x + 1] = v
    _pad_edges(vp)
    return lo, hi


@njit
def threshold(lo, hi, ratio):
    """``f32(f32(hi - lo) * ratio)`` with float32 ``ratio``."""
    span = np.float32(hi - lo)
    return np.float32(span * ratio)


@njit
def events_dense(vp, thr, anchors, out, base, t_stride):
    """Write the steps of padded ``vp [H+2, W+2]`` into flat uint8 ``out`` (0/1): step ``t`` is the
    ``[2, H, W]`` block at ``base + t * t_stride``; ``anchors [T, 4]`` = ``r0, c0, r1, c1``."""
    Wp = vp.shape[1]
    H, W = vp.shape[0] - 2, Wp - 2
    vf = vp.reshape(-1)
    plane = np.uint64(H * W)
    width = np.uint64(W)
    for t in range(anchors.shape[0]):
        r0, c0, r1, c1 = anchors[t, 0], anchors[t, 1], anchors[t, 2], anchors[t, 3]
        on0 = np.uint64(base + t * t_stride)
        for y in range(H):
            a = np.uint64((y + 1 + r1) * Wp + 1 + c1)
            b = np.uint64((y + 1 + r0) * Wp + 1 + c0)
            on = on0 + np.uint64(y) * width
            off = on + plane
            for x in range(width):
                d = vf[a + x] - vf[b + x]
                out[on + x] = d >= thr
                out[off + x] = -d >= thr


@njit
def pack_flat(flat, flat64, body):
    """MSB-first bits of ``flat`` (uint8 0/1, ``flat64`` its uint64 view) into ``body``; last byte zero-padded."""
    magic = np.uint64(0x8040201008040201)
    shift = np.uint64(56)
    full = flat.shape[0] // 8
    for j in range(full):
        body[j] = np.uint8((flat64[j] * magic) >> shift)
    rest = flat.shape[0] - 8 * full
    if rest:
        b = 0
        for k in range(rest):
            b |= flat[8 * full + k] << (7 - k)
        body[full] = b


@njit
def i2e_dense_u8(images, ratio, anchors, q, pm, vp, out, image_stride, t_stride):
    """uint8 ``images [N, H, W, C]`` -> flat uint8 ``out`` (0/1): image ``i``, step ``t`` is the
    contiguous ``[2, H, W]`` block at ``i * image_stride + t * t_stride``.

    ``q``, ``pm`` (uint8) and ``vp`` (float32) are ``[H+2, W+2]`` scratch planes.
    """
    for i in range(images.shape[0]):
        thr, delta = prepare_u8(images[i], ratio, q, pm, vp)
        events_prepared(q, pm, vp, thr, delta, anchors, out, i * image_stride, t_stride)


@njit
def i2e_dense_float(images, ratio, anchors, vp, out, image_stride, t_stride):
    """float ``images [N, H, W, C]`` in [0, 1] -> flat ``out`` as ``i2e_dense_u8``."""
    for i in range(images.shape[0]):
        lo, hi = fill_v_float(images[i], vp)
        events_dense(vp, threshold(lo, hi, ratio), anchors, out, i * image_stride, t_stride)


@njit
def i2e_packed_u8(images, ratio, anchors, q, pm, vp, scratch, scratch64, bodies):
    """uint8 ``images [N, H, W, C]`` -> packed bits of ``[T, 2, H, W]`` in ``bodies[i]``.

    The dense bits go to flat ``scratch`` (uint8, padded to whole 8-byte words, viewed as
    ``scratch64``), then are packed: one timestep ``[2, H, W]`` at a time when a timestep fills whole
    bytes (``H * W % 4 == 0``; the scratch then stays in cache), else all of ``[T, 2, H, W]``.
    """
    T = anchors.shape[0]
    H, W = images.shape[1], images.shape[2]
    step = 2 * H * W
    by_step = scratch.shape[0] < T * step and T > 1
    for i in range(images.shape[0]):
        thr, delta = prepare_u8(images[i], ratio, q, pm, vp)
        if by_step:
            for t in range(T):
                events_prepared(q, pm, vp, thr, delta, anchors[t:t + 1], scratch, 0, step)
                pack_flat(scratch[:step], scratch64, bodies[i, t * step // 8:(t + 1) * step // 8])
        else:
            events_prepared(q, pm, vp, thr, delta, anchors, scratch, 0, step)
            pack_flat(scratch[:T * step], scratch64, bodies[i])


@njit
def i2e_packed_float(images, ratio, anchors, vp, scratch, scratch64, bodies):
    """``i2e_packed_u8`` for float images in [0, 1] (always the whole ``[T, 2, H, W]``)."""
    T = anchors.shape[0]
    step = 2 * images.shape[1] * images.shape[2]
    for i in range(images.shape[0]):
        lo, hi = fill_v_float(images[i], vp)
        events_dense(vp, threshold(lo, hi, ratio), anchors, scratch, 0, step)
        pack_flat(scratch[:T * step], scratch64, bodies[i])


# -- torchvision uint8 antialiased resize: out = clamp((2**(p-1) + sum(w_k * src_k)) >> p, 0, 255) --

@njit
def resample_cols(src, first, count, weights, precision, acc, out):
    """One pass along axis 1: ``src [N, H, M]`` -> ``out [N, h, M]``; ``acc`` is int32 scratch of ``M``.

    The horizontal pass runs on the transposed image (rows of ``H * C``), so both passes vectorise.
    """
    N = src.shape[0]
    h, n = out.shape[1], out.shape[2]
    half = np.int32(1 << (precision - 1)) if precision > 0 else np.int32(0)
    for b in range(N):
        for j in range(h):
            lo = first[j]
            acc[:] = half
            for k in range(count[j]):
                wk = weights[j, k]
                row = src[b, lo + k]
                for x in range(n):
                    acc[x] += np.int32(row[x]) * wk
            dst = out[b, j]
            for x in range(n):
                v = acc[x] >> precision
                dst[x] = 0 if v < 0 else (min(v, 255))


@njit
def swap_hw(src, out):
    """``out[n, x, y, c] = src[n, y, x, c]`` (both C-contiguous)."""
    N, H, W, C = src.shape
    for n in range(N):
        for y in range(H):
            for x in range(W):
                for c in range(C):
                    out[n, x, y, c] = src[n, y, x, c]
