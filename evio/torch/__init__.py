"""PyTorch adapters (``pip install 'evio-toolkit[torch]'``): unpack I2E packed cells with torch operations.

``I2EShards(..., decode="packed")`` yields uint8 ``[nbytes]`` samples (a ``DataLoader`` batch is
``[B, nbytes]``, 32x less to move than float32); :func:`unpack` turns them into dense tensors on
whatever device they live on, equal to :func:`evio.packbits.loads`.
"""

from __future__ import annotations

import math

_LUTS: dict = {}


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("evio.torch needs PyTorch: pip install 'evio-toolkit[torch]'") from None
    return torch


def _lut(dtype, device):
    """``[256, 8]`` of ``dtype``: the bits of each byte, most significant first (``np.packbits`` order)."""
    key = (dtype, str(device))
    lut = _LUTS.get(key)
    if lut is None:
        torch = _torch()
        values = torch.arange(256, dtype=torch.int32)
        bits = (values[:, None] >> torch.arange(7, -1, -1, dtype=torch.int32)) & 1
        lut = _LUTS[key] = bits.to(device=device, dtype=dtype)
    return lut


def unpack(packed, shape, dtype=None):
    """Packed bodies uint8 ``[..., nbytes]`` -> dense ``[..., T, C, H, W]`` of ``dtype`` (default
    ``torch.float32``) on ``packed``'s device.

    ``shape``: ``(T, C, H, W)`` of one sample (``ds.shape``); ``nbytes`` must be ``ceil(T*C*H*W / 8)``.
    Bits are read most significant first in C order, as ``np.packbits`` writes them. A NumPy array
    is taken as a CPU tensor.
    """
    torch = _torch()
    if dtype is None:
        dtype = torch.float32
    if not isinstance(packed, torch.Tensor):
        packed = torch.as_tensor(packed)
    if packed.dtype != torch.uint8:
        raise TypeError(f"packed must be uint8, got {packed.dtype}")
    shape = tuple(int(v) for v in shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"shape must be (T, C, H, W) of positive sizes, got {shape}")
    n = math.prod(shape)
    nbytes = (n + 7) // 8
    if packed.ndim < 1 or packed.shape[-1] != nbytes:
        raise ValueError(f"packed must be [..., {nbytes}] for shape {shape}, got {tuple(packed.shape)}")
    lead = tuple(packed.shape[:-1])
    index = packed.reshape(-1).to(torch.int32)
    if dtype.itemsize == 1:
        words = _lut(torch.uint8, packed.device).view(torch.int64).reshape(256).index_select(0, index)
        bits = words.view(torch.uint8).view(dtype).reshape(*lead, nbytes * 8)
    else:
        bits = _lut(dtype, packed.device).index_select(0, index).reshape(*lead, nbytes * 8)
    if nbytes * 8 != n:
        bits = bits[..., :n]
    return bits.reshape(*lead, *shape)


__all__ = ["unpack"]
