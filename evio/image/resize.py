"""Resizing as the published I2E pipelines do: uint8 RGB in, uint8 RGB out.

``kernel="torchvision"`` (default) reimplements the fixed-point uint8 antialiased resampler that
``torchvision.transforms.v2.Resize`` runs on CPU uint8 tensors (PyTorch's
``_upsample_{bilinear,bicubic}2d_aa`` uint8 path: float64 filter weights rounded to int16 with a
per-axis precision, a horizontal pass then a vertical pass, each rounded and clamped to uint8).
``kernel="pil"`` uses Pillow's ``Image.resize``, which differs from it by ±1 LSB (rarely more) for
bicubic and for bilinear downsampling.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import FormatError
from ..events import check_sensor_size
from ..kernels import i2e as kernels
from ._arrays import axes_of, load, to_nhwc

INTERPOLATIONS = ("bicubic", "bilinear")
KERNELS = ("torchvision", "pil")


def _cubic(x: float) -> float:
    a = -0.5
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return 0.0


def _linear(x: float) -> float:
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


@lru_cache(maxsize=64)
def axis_weights(in_size: int, out_size: int, interpolation: str):
    """``(first, count, int16 weights [out, K] as int32, precision)`` of one axis, torchvision's uint8 rule."""
    filt, interp_size = (_cubic, 4) if interpolation == "bicubic" else (_linear, 2)
    scale = in_size / out_size
    support = interp_size * 0.5 * scale if scale >= 1.0 else interp_size * 0.5
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    max_size = int(np.ceil(support)) * 2 + 1
    first = np.zeros(out_size, np.int64)
    count = np.zeros(out_size, np.int64)
    weights = np.zeros((out_size, max_size), np.float64)
    for i in range(out_size):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        n = min(max(min(int(center + support + 0.5), in_size) - lo, 0), max_size)
        w = [filt((j + lo - center + 0.5) * invscale) for j in range(n)]
        total = 0.0
        for v in w:
            total += v
        if total != 0.0:
            w = [v / total for v in w]
        first[i], count[i] = lo, n
        weights[i, :n] = w
    w_max = float(weights.max()) if weights.size else 0.0
    precision = 0
    while precision < 22:
        if int(0.5 + w_max * (1 << (precision + 1))) >= (1 << 15):
            break
        precision += 1
    scaled = weights * (1 << precision)
    fixed = np.where(scaled < 0, np.trunc(-0.5 + scaled), np.trunc(0.5 + scaled)).astype(np.int32)
    return first, count, fixed, precision


def _parse_size(sensor_size) -> tuple[int, int]:
    """``(H, W)`` of a ``sensor_size`` given as ``(W, H)`` or an int for a square."""
    if isinstance(sensor_size, (int, np.integer)):
        sensor_size = (int(sensor_size), int(sensor_size))
    W, H, _ = check_sensor_size(sensor_size)
    return H, W


def preprocess(image, *, sensor_size=None, interpolation: str = "bicubic", kernel: str = "torchvision",
               axes: str = "auto") -> np.ndarray:
    """Resize to ``sensor_size`` (``(W, H)`` in pixels, an int for a square, None to keep it) as uint8 RGB.

    ``image``: a path, a PIL image, or uint8 ``[H, W, 3]``/``[3, H, W]``/``[H, W]`` or a batch
    (``axes`` as :func:`evio.i2e`); grayscale becomes RGB by repetition (PIL's ``convert("RGB")``).
    Returns uint8 ``[H, W, 3]`` (``[N, H, W, 3]`` for a batch). ``kernel="torchvision"``: the exact
    uint8 antialiased resampler of torchvision's ``v2.Resize`` on CPU; ``"pil"``: Pillow (±1 LSB).
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    arr = load(image)
    if arr.dtype != np.uint8:
        raise FormatError(f"resizing needs uint8 images (0..255), got dtype {arr.dtype}")
    nhwc, batched = to_nhwc(arr, axes_of(arr.shape, axes))
    if nhwc.shape[-1] == 1:
        nhwc = np.repeat(nhwc, 3, axis=-1)
    h, w = nhwc.shape[1:3] if sensor_size is None else _parse_size(sensor_size)
    if kernel == "pil":
        out = np.stack([_pil_resize(img, h, w, interpolation) for img in nhwc]) if len(nhwc) \
            else np.empty((0, h, w, 3), np.uint8)
    else:
        out = _torchvision_resize(np.ascontiguousarray(nhwc), h, w, interpolation)
    return out if batched else out[0]


def _pil_resize(img: np.ndarray, h: int, w: int, interpolation: str) -> np.ndarray:
    from PIL import Image

    if img.shape[:2] == (h, w):
        return img.copy()
    resample = Image.Resampling.BICUBIC if interpolation == "bicubic" else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(np.ascontiguousarray(img), "RGB").resize((w, h), resample))


def _torchvision_resize(nhwc: np.ndarray, h: int, w: int, interpolation: str) -> np.ndarray:
    N, H, W, C = nhwc.shape
    cur = nhwc
    if W != w:
        cols = np.empty((N, W, H, C), np.uint8)
        kernels.swap_hw(np.ascontiguousarray(cur), cols)
        out = np.empty((N, w, H, C), np.uint8)
        _pass(cols.reshape(N, W, H * C), W, w, interpolation, out.reshape(N, w, H * C))
        cur = np.empty((N, H, w, C), np.uint8)
        kernels.swap_hw(out, cur)
    if H != h:
        out = np.empty((N, h, w, C), np.uint8)
        _pass(np.ascontiguousarray(cur).reshape(N, H, w * C), H, h, interpolation, out.reshape(N, h, w * C))
        cur = out
    return cur if cur is not nhwc else nhwc.copy()


def _pass(src: np.ndarray, size_in: int, size_out: int, interpolation: str, out: np.ndarray) -> None:
    first, count, fixed, precision = axis_weights(size_in, size_out, interpolation)
    kernels.resample_cols(src, first, count, fixed, precision, np.empty(src.shape[2], np.int32), out)
