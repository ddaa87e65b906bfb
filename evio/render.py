"""Animated GIFs of event frames: ON and OFF in two colours on a dark background.

:func:`render_gif` integrates events into ``T`` frames (or takes ``[T, 2, H, W]`` frames) and writes
one GIF frame per time step, or all steps side by side with ``grid=True``. An optional ``original``
RGB image (``uint8 [H, W, 3]``, e.g. the image an I2E conversion started from) is drawn to the left.
The GIF89a encoder (LZW) is evio's own, so Pillow is not needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._atomic import AtomicDestination

#: Palette entries 0..4: background, OFF, ON, both in one pixel, separator; 16..231 a 6x6x6 colour cube.
BACKGROUND = (18, 18, 24)
OFF_COLOUR = (60, 140, 255)
ON_COLOUR = (255, 190, 40)
BOTH_COLOUR = (235, 235, 235)
SEPARATOR = (70, 70, 80)
_CUBE = 16
_GAP = 2


def palette() -> np.ndarray:
    """``uint8 [256, 3]``: the GIF colour table."""
    pal = np.zeros((256, 3), np.uint8)
    pal[:5] = [BACKGROUND, OFF_COLOUR, ON_COLOUR, BOTH_COLOUR, SEPARATOR]
    levels = np.arange(6) * 51
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    pal[_CUBE:_CUBE + 216] = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    return pal


def event_image(frame: np.ndarray, channels: str = "off_on") -> np.ndarray:
    """``uint8 [H, W]`` palette indices of one ``[2, H, W]`` frame: 0 none, 1 OFF, 2 ON, 3 both."""
    on_ch, off_ch = (1, 0) if channels == "off_on" else (0, 1)
    on = np.asarray(frame[on_ch]) != 0
    off = np.asarray(frame[off_ch]) != 0
    return (off.astype(np.uint8) + 2 * on.astype(np.uint8)).astype(np.uint8)


def quantise(image: np.ndarray) -> np.ndarray:
    """``uint8 [H, W]`` palette indices of an RGB ``uint8 [H, W, 3]`` image (6 levels per channel)."""
    q = (image.astype(np.int32) * 5 + 127) // 255
    return (_CUBE + 36 * q[..., 0] + 6 * q[..., 1] + q[..., 2]).astype(np.uint8)


def _fit_height(image: np.ndarray, height: int) -> np.ndarray:
    """Nearest-neighbour resize of ``[h, w, ...]`` to ``height`` rows, keeping the aspect ratio."""
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    rows = np.minimum(np.arange(height) * h // height, h - 1)
    cols = np.minimum(np.arange(width) * w // width, w - 1)
    return image[rows][:, cols]


#: Most GIF frames ``by="duration"`` may make (a typo in ``duration`` would otherwise write a huge file).
MAX_DURATION_FRAMES = 2000


def _as_frames(data, T, by, sensor_size, channels, duration=None):
    arr = np.asarray(data) if not isinstance(data, np.ndarray) else data
    if arr.dtype.names is None and not isinstance(data, dict):
        if arr.ndim == 3 and arr.shape[0] == 2:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[1] != 2:
            raise ValueError(f"frames must be [T, 2, H, W], got shape {arr.shape}")
        return arr, channels
    from .events import as_events
    from .framing import frames as to_frames

    events = as_events(data)
    if sensor_size is None:
        if not len(events):
            raise ValueError("no events and no sensor_size: nothing to size the image by")
        sensor_size = (int(events["x"].max()) + 1, int(events["y"].max()) + 1)
    if by == "duration":
        if duration is None:
            raise ValueError("by='duration' needs duration= (µs per frame)")
        if len(events) and int(duration) > 0:
            span = int(events["t"].max()) - int(events["t"].min())
            if span // int(duration) + 1 > MAX_DURATION_FRAMES:
                raise ValueError(f"duration={duration} µs cuts {span} µs of events into more than "
                                 f"{MAX_DURATION_FRAMES} frames; use a longer duration or by='count'/'time'")
        return to_frames(events, by="duration", duration=duration, sensor_size=tuple(sensor_size[:2])), "off_on"
    return to_frames(events, T=T, by=by, sensor_size=tuple(sensor_size[:2])), "off_on"


def render_images(frames_or_events, *, T: int = 8, by: str = "count", sensor_size=None, scale: int = 1,
                  grid: bool = False, original=None, channels: str = "off_on", duration=None) -> list[np.ndarray]:
    """The GIF frames as ``uint8 [h, w]`` palette indices (see :func:`palette`): one per time step,
    or one with every step side by side when ``grid``; ``original`` to the left of each."""
    if channels not in ("off_on", "on_off"):
        raise ValueError(f"channels must be 'off_on' or 'on_off', got {channels!r}")
    scale = int(scale)
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    frames, channels = _as_frames(frames_or_events, T, by, sensor_size, channels, duration)
    if len(frames) == 0:
        raise ValueError("no frames to render")
    H, W = frames.shape[2:]
    left = None
    if original is not None:
        img = np.asarray(original)
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"original must be uint8 [H, W, 3], got {img.dtype} {img.shape}")
        left = quantise(_fit_height(img, H))
    per_image = len(frames) if grid else 1
    width = per_image * (W + _GAP) - _GAP + (0 if left is None else left.shape[1] + _GAP)
    if width * scale > 65535 or H * scale > 65535:
        raise ValueError(f"frames of sensor_size (W={W}, H={H}) make a {width * scale} x {H * scale} pixel image "
                         f"(scale={scale}{', grid' if grid else ''}); a GIF holds at most 65535 x 65535")
    panels = [event_image(f, channels) for f in frames]
    steps = [panels] if grid else [[p] for p in panels]
    images = []
    for row in steps:
        parts = ([left] if left is not None else []) + row
        gap = np.full((H, _GAP), 4, np.uint8)
        pieces = []
        for k, part in enumerate(parts):
            if k:
                pieces.append(gap)
            pieces.append(part)
        image = np.concatenate(pieces, axis=1)
        if scale > 1:
            image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
        images.append(np.ascontiguousarray(image))
    return images


def render_gif(frames_or_events, path, *, T: int = 8, by: str = "count", sensor_size=None, scale: int = 1,
               fps: float = 4.0, grid: bool = False, original=None, channels: str = "off_on",
               loop: int = 0, duration=None) -> Path:
    """Write an animated GIF of events (integrated into ``T`` frames ``by`` "count"/"time", or into
    frames of ``duration`` µs ``by="duration"`` (at most ``MAX_DURATION_FRAMES``), through
    :func:`evio.frames`; ``sensor_size`` (W, H) pixels, default from the events) or of
    ``[T, 2, H, W]`` frames (``channels`` "off_on": channel 1 = ON; "on_off": channel 0 = ON).

    ``scale`` enlarges each pixel to ``scale x scale``; ``fps`` sets the frame rate; ``grid`` puts
    all steps side by side in one image; ``original`` (``uint8 [H, W, 3]``) is drawn to the left,
    resized to the frame height; ``loop`` 0 repeats forever. Written atomically; returns the path.
    """
    fps = float(fps)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    images = render_images(frames_or_events, T=T, by=by, sensor_size=sensor_size, scale=scale, grid=grid,
                           original=original, channels=channels, duration=duration)
    data = encode_gif(images, palette(), delay_cs=max(2, round(100 / fps)), loop=loop)
    dest = AtomicDestination(path)
    try:
        with open(dest.tmp, "wb") as f:
            f.write(data)
        dest.commit()
    except BaseException:
        dest.discard()
        raise
    return Path(os.fspath(path))


# -- GIF89a ----------------------------------------------------------------------------------------

def encode_gif(images: list[np.ndarray], colours: np.ndarray, *, delay_cs: int = 25, loop: int = 0) -> bytes:
    """GIF89a bytes of ``uint8 [h, w]`` palette-index images of one size; ``colours`` ``uint8 [256, 3]``;
    ``delay_cs`` hundredths of a second per frame; ``loop`` repeats (0 = forever)."""
    if not images:
        raise ValueError("no images")
    h, w = images[0].shape
    if not (0 < w < 65536 and 0 < h < 65536):
        raise ValueError(f"image size {w}x{h} does not fit a GIF (1..65535)")
    out = bytearray(b"GIF89a")
    out += _u16(w) + _u16(h) + bytes([0xF7, 0, 0])
    out += np.asarray(colours, np.uint8).reshape(256, 3).tobytes()
    if len(images) > 1:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + _u16(int(loop)) + b"\x00"
    for image in images:
        if image.shape != (h, w):
            raise ValueError(f"every image must be {w}x{h}, got {image.shape[1]}x{image.shape[0]}")
        out += b"\x21\xf9\x04\x04" + _u16(int(delay_cs)) + b"\x00\x00"
        out += b"\x2c" + _u16(0) + _u16(0) + _u16(w) + _u16(h) + b"\x00"
        out += b"\x08"
        packed = lzw_encode(image.tobytes())
        for start in range(0, len(packed), 255):
            block = packed[start:start + 255]
            out += bytes([len(block)]) + block
        out += b"\x00"
    out += b"\x3b"
    return bytes(out)


def _u16(v: int) -> bytes:
    return int(v).to_bytes(2, "little")


def lzw_encode(data: bytes) -> bytes:
    """GIF LZW (8-bit symbols, variable 9..12-bit codes, LSB first) of ``data``."""
    clear, end = 256, 257
    out = bytearray()
    acc = nbits = 0
    size = 9
    next_code = 258
    table: dict[int, int] = {}

    def put(code, width):
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    put(clear, size)
    if not data:
        put(end, size)
        if nbits:
            out.append(acc & 0xFF)
        return bytes(out)
    prefix = data[0]
    for byte in data[1:]:
        key = (prefix << 8) | byte
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        put(prefix, size)
        if next_code < 4096:
            table[key] = next_code
            if next_code == 1 << size:
                size += 1
            next_code += 1
        else:
            put(clear, size)
            table.clear()
            size, next_code = 9, 258
        prefix = byte
    put(prefix, size)
    put(end, size)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)
