"""I2E: static images -> event tensors by simulated microsaccades (Ruichen0424/I2E, reimplemented).

``V = max(R, G, B)``; eight one-pixel difference kernels, one per timestep in the order
``e, f, g, h, a, b, c, d``; a per-image threshold ``ratio * (max V - min V)``; channel 0 = ON
(``D >= thr``), channel 1 = OFF (``-D >= thr``). ``mode="eval"`` equals the reference module in
eval mode bit for bit (float32 throughout); see ``docs/i2e.md``.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from .. import packbits
from .._npy import npy_header
from .._torch import as_numpy, is_torch
from ..dense import from_dense
from ..errors import FormatError
from ..kernels import i2e as kernels
from ._arrays import AXES, axes_of, to_nhwc  # noqa: F401  (AXES: the values of axes=, named here too)
from .resize import preprocess

#: Direction groups ``a..h``: anchor pairs ``(p0, p1)`` of 3x3 kernel cells (1..9 row-major, 5 = centre,
#: ``D = V[p1] - V[p0]``), canonical pair first. A group's pairs share one displacement; training
#: mode picks one per group per call.
DIRECTIONS = {
    "a": ((5, 6), (1, 2), (2, 3), (4, 5), (7, 8), (8, 9)),
    "b": ((5, 2), (4, 1), (6, 3), (7, 4), (8, 5), (9, 6)),
    "c": ((5, 3), (4, 2), (7, 5), (8, 6)),
    "d": ((5, 1), (6, 2), (8, 4), (9, 5)),
    "e": ((9, 4), (6, 1)),
    "f": ((4, 3), (7, 6)),
    "g": ((3, 8), (2, 7)),
    "h": ((8, 1), (9, 2)),
}
GROUPS = "abcdefgh"
DEFAULT_ORDER = "efghabcd"

#: Published I2E configurations (README dataset table): output ``sensor_size`` ``(W, H)`` in pixels,
#: ratio, Hugging Face config name and the reported event rate (fraction of elements set).
PRESETS = {
    "cifar10": {"sensor_size": (128, 128), "ratio": 0.07, "config": "I2E-CIFAR10", "event_rate": 0.0586},
    "cifar100": {"sensor_size": (128, 128), "ratio": 0.07, "config": "I2E-CIFAR100", "event_rate": 0.0576},
    "imagenet": {"sensor_size": (224, 224), "ratio": 0.12, "config": "I2E-ImageNet", "event_rate": 0.0666},
    "caltech101": {"sensor_size": (224, 224), "ratio": 0.12, "config": "I2E-Caltech101", "event_rate": 0.0625},
    "caltech256": {"sensor_size": (224, 224), "ratio": 0.12, "config": "I2E-Caltech256", "event_rate": 0.0604},
    "mini-imagenet": {"sensor_size": (224, 224), "ratio": 0.12, "config": "I2E-Mini-ImageNet", "event_rate": 0.0665},
    "mnist": {"sensor_size": (32, 32), "ratio": 0.10, "config": "I2E-MNIST", "event_rate": 0.0956},
    "fashionmnist": {"sensor_size": (32, 32), "ratio": 0.15, "config": "I2E-FashionMNIST", "event_rate": 0.1076},
}
DEFAULT_RATIO = 0.07
OUTPUTS = ("dense", "packed", "events")
MODES = ("eval", "train")
#: Packed cells are built in a reused buffer of about this many bytes (cache-resident, no page faults).
PACKED_CHUNK_BYTES = 1 << 19


def _cell(p: int) -> tuple[int, int]:
    return (p - 1) // 3 - 1, (p - 1) % 3 - 1


def anchors(order=DEFAULT_ORDER, mode: str = "eval", rng=None) -> np.ndarray:
    """int64 ``[T, 4]``: ``(r0, c0, r1, c1)`` per timestep, ``D = V[y+r1, x+c1] - V[y+r0, x+c0]``.

    ``order``: letters ``a..h`` (or group indices 0..7), one per timestep. ``mode="train"`` draws one
    anchor pair per group (``a..h``, in that order, once per call) uniformly from its alternatives
    with ``rng`` (a ``numpy.random.Generator`` or a seed).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    groups = _order_groups(order)
    if mode == "eval":
        return _eval_table(groups).copy()
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    chosen = {g: DIRECTIONS[g][int(gen.integers(len(DIRECTIONS[g])))] for g in GROUPS}
    return _table(chosen, groups)


def _table(chosen: dict, groups: str) -> np.ndarray:
    return np.array([[*_cell(chosen[g][0]), *_cell(chosen[g][1])] for g in groups], dtype=np.int64)


@lru_cache(maxsize=64)
def _eval_table(groups: str) -> np.ndarray:
    table = _table({g: DIRECTIONS[g][0] for g in GROUPS}, groups)
    table.flags.writeable = False
    return table


def _order_groups(order) -> str:
    if type(order) is str:
        return _groups_of_letters(order)
    return _checked_groups(order)


@lru_cache(maxsize=64)
def _groups_of_letters(order: str) -> str:
    return _checked_groups(order)


def _checked_groups(order) -> str:
    if isinstance(order, str):
        groups = order.lower()
    else:
        try:
            groups = "".join(GROUPS[int(i)] if 0 <= int(i) < 8 else "?" for i in order)
        except (TypeError, ValueError):
            raise ValueError(f"order must be letters a..h or indices 0..7, got {order!r}") from None
    if not groups or any(g not in GROUPS for g in groups):
        raise ValueError(f"order must be a non-empty sequence of letters a..h or indices 0..7, got {order!r}")
    return groups


def _ratio32(ratio) -> np.float32:
    if type(ratio) is float or type(ratio) is int:
        return _ratio32_of_number(ratio)
    return _ratio32_checked(ratio)


@lru_cache(maxsize=256)
def _ratio32_of_number(ratio) -> np.float32:
    return _ratio32_checked(ratio)


def _ratio32_checked(ratio) -> np.float32:
    try:
        r = np.float32(ratio)
    except (TypeError, ValueError):
        raise ValueError(f"ratio must be a number, got {ratio!r}") from None
    if not np.isfinite(r) or r <= 0:
        raise ValueError(f"ratio must be a positive finite number (its float32 value > 0), got {ratio!r}")
    return r


def _check_numpy(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "f":
        if arr.size:
            lo, hi = float(np.min(arr)), float(np.max(arr))
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise FormatError("float images hold NaN or infinite values")
            if lo < 0 or hi > 1:
                raise FormatError(f"float images must lie in [0, 1], got values in [{lo:g}, {hi:g}] "
                                  "(pass uint8 for 0..255 images)")
        return arr.astype(np.float32) if arr.dtype == np.float16 else arr
    raise FormatError(f"images must be uint8 (0..255) or float in [0, 1], got dtype {arr.dtype}")


def i2e(images, ratio=None, *, preset: str | None = None, order=DEFAULT_ORDER, mode: str = "eval", rng=None,
        output: str = "dense", axes: str = "auto", time_first: bool = False, out=None):
    """Images -> I2E event tensors.

    ``images``: uint8 (0..255) or float in [0, 1]; ``[H, W, 3]``, ``[3, H, W]``, grayscale ``[H, W]``,
    or batches ``[N, H, W, 3]``, ``[N, 3, H, W]``, ``[N, H, W]`` (``axes`` names them when the shape
    is ambiguous); a NumPy array or a torch tensor (computed with torch on its device).
    ``ratio``: threshold as a fraction of the image's V range (default 0.07, or the preset's).
    ``preset``: a key of ``PRESETS``; images of another size are first resized with
    ``preprocess(image, sensor_size=preset's)`` (bicubic, as the published datasets).
    ``order``: timestep order of the directions (default ``"efghabcd"``, the reference's).
    ``mode="train"``: one random anchor per direction per call, drawn with ``rng`` (Generator or seed).
    ``output``: ``"dense"`` -> bool ``[T, 2, H, W]`` (batches ``[N, T, 2, H, W]``, or ``[T, N, 2, H, W]``
    with ``time_first=True``, SpikingJelly's multi-step layout); ``"packed"`` -> the ``.npy`` bytes
    of an I2E shard cell (a list for batches); ``"events"`` -> ``EVENT_DTYPE`` events with ``t`` the
    timestep (a list for batches). Channel 0 = ON.
    ``out``: with ``output="dense"``, a C-contiguous bool or uint8 NumPy array (or CPU torch tensor) of
    exactly the output shape, written in place and returned (no allocation: for training loops).
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if isinstance(out, str):
        raise TypeError(f"out= is the destination array (as in NumPy); the kind of output is output={out!r}")
    if out is not None and output != "dense":
        raise ValueError(f"out= needs output='dense', got output={output!r}")
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
        if ratio is None:
            ratio = PRESETS[preset]["ratio"]
    r32 = _ratio32(DEFAULT_RATIO if ratio is None else ratio)
    if mode == "eval" and isinstance(order, str):
        table = _eval_table(_order_groups(order))
    else:
        table = anchors(order, mode, rng)
    if is_torch(images) and out is None:
        return _i2e_torch(images, r32, table, preset, output, axes, time_first)
    return _numpy_path(as_numpy(images), r32, table, preset, output, axes, time_first, out)


i2e.preprocess = preprocess
i2e.PRESETS = PRESETS
i2e.DIRECTIONS = DIRECTIONS
i2e.anchors = anchors


def _destination(out, shape: tuple):
    """``(returned object, uint8 view)`` of a caller's dense destination, checked against ``shape``."""
    target = out
    if is_torch(out):
        if out.device.type != "cpu":
            raise ValueError(f"out= must be a CPU tensor, got one on {out.device}")
        target = out.numpy()
    if not isinstance(target, np.ndarray):
        raise TypeError(f"out= must be a NumPy array or a CPU torch tensor, got {type(out).__name__}")
    if target.dtype not in (np.bool_, np.uint8):
        raise ValueError(f"out= must be bool or uint8, got dtype {target.dtype}")
    if tuple(target.shape) != shape:
        raise ValueError(f"out= has shape {tuple(target.shape)}, the output is {shape}")
    if not target.flags.c_contiguous or not target.flags.writeable:
        raise ValueError("out= must be C-contiguous and writeable")
    return out, target.view(np.uint8)


_scratch = threading.local()


def _planes(H: int, W: int):
    """This thread's scratch planes ``q``, ``pm`` (uint8) and ``vp`` (float32) ``[H+2, W+2]``, kept per size
    (calls one image at a time then allocate nothing but their output)."""
    cache = getattr(_scratch, "planes", None)
    if cache is None:
        cache = _scratch.planes = {}
    planes = cache.get((H, W))
    if planes is None:
        if len(cache) >= 8:
            cache.clear()
        shape = (H + 2, W + 2)
        planes = cache[(H, W)] = (np.empty(shape, np.uint8), np.empty(shape, np.uint8), np.empty(shape, np.float32))
    return planes


def _pack_scratch(n: int):
    """This thread's zeroed uint8 scratch of ``n`` bytes (a multiple of 8) and its uint64 view."""
    cache = getattr(_scratch, "pack", None)
    if cache is None or cache[0].shape[0] != n:
        buf = np.zeros(n, np.uint8)
        cache = _scratch.pack = (buf, buf.view(np.uint64))
    return cache


@lru_cache(maxsize=64)
def _cell_header(payload_bytes: int) -> np.ndarray:
    header = np.frombuffer(npy_header(np.dtype(np.uint8), payload_bytes), np.uint8)
    header.flags.writeable = False
    return header


def _run(nhwc: np.ndarray, r32, table, output: str, batched: bool, time_first: bool, out=None):
    N, H, W, _ = nhwc.shape
    T = len(table)
    q, pm, vp = _planes(H, W)
    u8 = nhwc.dtype == np.uint8
    if output == "packed":
        n = T * 2 * H * W
        nbody = (n + 7) // 8
        steps = 1 if (H * W) % 4 == 0 and u8 else T
        m = steps * 2 * H * W
        scratch, scratch64 = _pack_scratch(-(-m // 8) * 8)
        header = _cell_header(packbits.HEADER_BYTES + nbody)
        lead = len(header) + packbits.HEADER_BYTES
        rows = max(1, min(N, PACKED_CHUNK_BYTES // (lead + nbody)))
        raw = np.empty((rows, lead + nbody), np.uint8)
        raw[:, :len(header)] = header
        raw[:, len(header):lead] = np.asarray((T, 2, H, W), "<u2").view(np.uint8)
        cells = []
        for a in range(0, N, rows):
            part = nhwc[a:a + rows]
            bodies = raw[:len(part), lead:]
            if u8:
                kernels.i2e_packed_u8(part, r32, table, q, pm, vp, scratch, scratch64, bodies)
            else:
                kernels.i2e_packed_float(part, r32, table, vp, scratch, scratch64, bodies)
            cells += [row.tobytes() for row in raw[:len(part)]]
        return cells if batched else cells[0]
    shape = (T, N, 2, H, W) if time_first and batched else (N, T, 2, H, W)
    if out is not None:
        dense, target = _destination(out, shape if batched else shape[1:])
        target = target.reshape(-1)
    else:
        dense = np.empty(shape, dtype=bool)
        target = dense.view(np.uint8).reshape(-1)
    step = 2 * H * W
    image_stride, t_stride = (step, N * step) if time_first and batched else (T * step, step)
    if u8:
        kernels.i2e_dense_u8(nhwc, r32, table, q, pm, vp, target, image_stride, t_stride)
    else:
        kernels.i2e_dense_float(nhwc, r32, table, vp, target, image_stride, t_stride)
    if out is not None:
        return dense
    if output == "events":
        samples = dense if not (time_first and batched) else dense.transpose(1, 0, 2, 3, 4)
        ev = [from_dense(s, channels="on_off") for s in samples]
        return ev if batched else ev[0]
    return dense if batched else dense[0]


def _i2e_torch(images, r32, table, preset, output, axes, time_first):
    import torch
    import torch.nn.functional as F

    nhwc, batched = to_nhwc(images, axes_of(tuple(images.shape), axes))
    if output != "dense" or images.dtype not in (torch.uint8, torch.float16, torch.float32, torch.float64) \
            or (preset is not None and tuple(nhwc.shape[1:3]) != _preset_hw(preset)):
        result = _numpy_path(as_numpy(images), r32, table, preset, output, axes, time_first)
        return torch.from_numpy(result).to(images.device) if output == "dense" else result
    dev = images.device
    if images.dtype == torch.uint8:
        lut = torch.from_numpy(kernels.U8_TO_F32).to(dev)
        v = lut[nhwc.amax(dim=-1).long()]
    else:
        lo, hi = float(nhwc.min()) if nhwc.numel() else 0.0, float(nhwc.max()) if nhwc.numel() else 0.0
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 1:
            raise FormatError(f"float images must lie in [0, 1] and be finite, got values in [{lo:g}, {hi:g}]")
        v = nhwc.to(torch.float32).amax(dim=-1)
    N, H, W = v.shape
    span = v.amax(dim=(1, 2)) - v.amin(dim=(1, 2))
    thr = (span * torch.tensor(float(r32), dtype=torch.float32, device=dev)).view(N, 1, 1)
    vp = F.pad(v[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    steps = []
    for r0, c0, r1, c1 in table.tolist():
        d = vp[:, 1 + r1:1 + r1 + H, 1 + c1:1 + c1 + W] - vp[:, 1 + r0:1 + r0 + H, 1 + c0:1 + c0 + W]
        steps.append(torch.stack([d >= thr, -d >= thr], dim=1))
    dense = torch.stack(steps, dim=0 if time_first and batched else 1)
    return dense if batched else dense[0]


def _preset_hw(preset: str) -> tuple[int, int]:
    W, H = PRESETS[preset]["sensor_size"]
    return H, W


def _numpy_path(arr, r32, table, preset, output, axes, time_first, out=None):
    nhwc, batched = to_nhwc(_check_numpy(arr), axes_of(arr.shape, axes))
    if preset is not None and tuple(nhwc.shape[1:3]) != _preset_hw(preset):
        if nhwc.dtype != np.uint8:
            W, H = PRESETS[preset]["sensor_size"]
            raise FormatError(f"preset {preset!r} resizes to W x H = {W} x {H}; resizing needs uint8 images, "
                              f"got {nhwc.dtype} of H x W = {nhwc.shape[1]} x {nhwc.shape[2]}")
        nhwc = preprocess(nhwc, sensor_size=PRESETS[preset]["sensor_size"], axes="NHWC")
    return _run(nhwc, r32, table, output, batched, time_first, out)
