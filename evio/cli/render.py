"""``evio render``: an animated GIF of a recording's events integrated into T frames, or of the I2E
conversion of a still image (the original beside its 8 time steps)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@click.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--T", "T", type=click.IntRange(min=1), default=8, show_default=True,
              help="Frames (time steps) of an event recording.")
@click.option("--by", type=click.Choice(["count", "time", "duration"]), default="count", show_default=True,
              help="Equal event counts or equal time spans per frame (T of them), or frames of --duration µs.")
@click.option("--duration", type=click.IntRange(min=1), metavar="US",
              help="Frame length in µs for --by duration (the number of frames follows from the recording).")
@click.option("--scale", type=click.IntRange(min=1, max=64), default=1, show_default=True,
              help="Each pixel becomes SCALE x SCALE pixels.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=4.0, show_default=True,
              help="GIF frames per second.")
@click.option("--grid", is_flag=True, help="All T frames side by side in one image.")
@click.option("--from", "src_format", metavar="FORMAT",
              help="Source format (default: from suffix and content); 'image' converts a still image with I2E.")
@click.option("--preset", help="I2E preset for an image SRC (e.g. cifar10: 128x128, ratio 0.07).")
@click.option("--ratio", type=click.FloatRange(min=0, min_open=True, max=1),
              help="I2E threshold ratio for an image SRC (default 0.07, or the preset's).")
@click.option("-f", "--force", is_flag=True, help="Overwrite OUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line.")
def render(src, out, T, by, duration, scale, fps, grid, src_format, preset, ratio, force, quiet):
    """Write an animated GIF of SRC to OUT: ON events in amber, OFF in blue, both in white, on a dark
    background.

    SRC is any event file evio reads (integrated into T frames), or a still image (.png, .jpg, ...;
    needs Pillow), which is converted with I2E and drawn beside its 8 time steps."""
    from .. import api
    from ..render import render_gif

    if out.suffix.lower() != ".gif":
        raise click.BadParameter(f"{out}: OUT must end in .gif (the file is an animated GIF)", param_hint="OUT")
    if out.exists() and not force:
        raise FileExistsError(17, "destination exists (use --force to overwrite)", str(out))
    if src_format == "image" or (src_format is None and src.suffix.lower() in IMAGE_SUFFIXES):
        _render_i2e(src, out, preset, ratio, scale, fps, grid, quiet)
        return
    if preset is not None or ratio is not None:
        raise click.UsageError("--preset and --ratio apply to an image SRC only")
    if (by == "duration") != (duration is not None):
        raise click.UsageError("--duration goes with --by duration, and --by duration needs --duration")
    with api.open(src, format=src_format) as reader:
        if getattr(reader, "kind", "events") == "samples":
            raise ValueError(f"{src} holds dense samples, not an event stream")
        size = reader.meta.get("sensor_size")
        events = reader.read()
    if not len(events):
        raise ValueError(f"{src} holds no events")
    render_gif(events, out, T=T, by=by, sensor_size=size, scale=scale, fps=fps, grid=grid, duration=duration)
    if not quiet:
        w, h = (size or [int(events["x"].max()) + 1, int(events["y"].max()) + 1])[:2]
        what = f"frames of {duration:,} µs" if by == "duration" else f"{T} frames"
        click.echo(f"{src} -> {out}: {len(events):,} events in {what} of {w} x {h} pixels")


def _render_i2e(src, out, preset, ratio, scale, fps, grid, quiet):
    from ..image.i2e import i2e
    from ..image.resize import preprocess
    from ..render import render_gif

    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError("rendering an image needs Pillow: pip install 'evio-toolkit[image]'") from None
    if not src.exists():
        raise FileNotFoundError(2, "no such file", str(src))
    try:
        with Image.open(src) as im:
            image = np.asarray(im.convert("RGB"))
    except UnidentifiedImageError:
        raise ValueError(f"{src}: not an image Pillow can read") from None
    if preset is not None:
        if preset not in i2e.PRESETS:
            raise click.BadParameter(f"unknown preset {preset!r}; one of {', '.join(i2e.PRESETS)}",
                                     param_hint="--preset")
        image = preprocess(image, sensor_size=i2e.PRESETS[preset]["sensor_size"])
    dense = i2e(image, ratio=ratio, preset=preset)
    render_gif(dense, out, channels="on_off", original=image, scale=scale, fps=fps, grid=grid)
    if not quiet:
        h, w = dense.shape[2:]
        rate = float(dense.mean()) * 100
        click.echo(f"{src} -> {out}: I2E {w} x {h}, 8 time steps, event rate {rate:.2f} %")

