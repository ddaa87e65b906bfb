"""Image inputs: loading paths, PIL images and torch tensors, and the axes of image arrays."""

from __future__ import annotations

import os

import numpy as np

from .._torch import as_numpy
from ..errors import FormatError

AXES = ("auto", "HWC", "CHW", "HW", "NHWC", "NCHW", "NHW")


def load(image) -> np.ndarray:
    """A path (read with Pillow as RGB), a PIL image (as RGB), a torch tensor or an array, as a NumPy array."""
    if isinstance(image, (str, os.PathLike)):
        from PIL import Image

        with Image.open(image) as im:
            return np.asarray(im.convert("RGB"))
    if type(image).__module__.startswith("PIL"):
        return np.asarray(image.convert("RGB"))
    return as_numpy(image)


def axes_of(shape: tuple, axes: str) -> str:
    """The axes of images of ``shape``: ``axes`` checked against it, or told from it for ``"auto"``."""
    if axes not in AXES:
        raise ValueError(f"axes must be one of {AXES}, got {axes!r}")
    if axes != "auto":
        if len(axes) != len(shape):
            raise FormatError(f"axes {axes!r} needs {len(axes)} dimensions, the images have shape {shape}")
        return axes
    nd = len(shape)
    if nd == 2:
        return "HW"
    if nd not in (3, 4):
        raise FormatError(f"images must be [H, W], [H, W, C], [C, H, W], [N, H, W], [N, H, W, C] or "
                          f"[N, C, H, W], got shape {shape}")
    first, last = shape[-3], shape[-1]
    last_c, first_c = last in (1, 3), first in (1, 3)
    if last_c and not first_c:
        return "HWC" if nd == 3 else "NHWC"
    if first_c and not last_c:
        return "CHW" if nd == 3 else "NCHW"
    if nd == 3 and not first_c and not last_c:
        return "NHW"
    raise FormatError(f"cannot tell the axes of images of shape {shape} (channels first or last?); "
                      f"pass axes= one of {AXES[1:]}")


_TO_NHWC = {"HWC": None, "CHW": (1, 2, 0), "HW": None, "NHWC": None, "NCHW": (0, 2, 3, 1), "NHW": None}


def to_nhwc(arr, axes: str):
    """(``[N, H, W, C]`` view, batched) for a NumPy array or torch tensor with ``axes``."""
    perm = _TO_NHWC[axes]
    if perm is not None:
        arr = arr.permute(*perm) if hasattr(arr, "permute") else arr.transpose(perm)
    if axes in ("HW", "NHW"):
        arr = arr[..., None]
    batched = axes.startswith("N")
    if not batched:
        arr = arr[None]
    C = arr.shape[-1]
    if C not in (1, 3):
        raise FormatError(f"images need 1 (grayscale) or 3 (RGB) channels, got {C} (axes {axes})")
    if arr.shape[1] < 1 or arr.shape[2] < 1:
        raise FormatError(f"images must be at least 1x1 pixels, got H={arr.shape[1]}, W={arr.shape[2]}")
    return arr, batched
