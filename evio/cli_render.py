"""``evio render``: an animated GIF of a recording's events, integrated into T frames."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--T", "T", type=click.IntRange(min=1), default=8, show_default=True, help="Frames (time steps).")
@click.option("--by", type=click.Choice(["count", "time"]), default="count", show_default=True,
              help="Equal event counts or equal time spans per frame.")
@click.option("--scale", type=click.IntRange(min=1, max=64), default=1, show_default=True,
              help="Each pixel becomes SCALE x SCALE pixels.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=4.0, show_default=True,
              help="GIF frames per second.")
@click.option("--grid", is_flag=True, help="All T frames side by side in one image.")
@click.option("--from", "src_format", metavar="FORMAT", help="Source format (default: from suffix and content).")
@click.option("-f", "--force", is_flag=True, help="Overwrite OUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line.")
def render(src, out, T, by, scale, fps, grid, src_format, force, quiet):
    """Integrate the events of SRC (any file evio reads) into T frames and write them to OUT as an
    animated GIF: ON events in amber, OFF in blue, both in white, on a dark background."""
    from . import api
    from .render import render_gif

    if out.exists() and not force:
        raise FileExistsError(17, "destination exists (use --force to overwrite)", str(out))
    with api.open(src, format=src_format) as reader:
        if getattr(reader, "kind", "events") == "samples":
            raise ValueError(f"{src} holds dense samples, not an event stream")
        size = reader.meta.get("sensor_size")
        events = reader.read()
    if not len(events):
        raise ValueError(f"{src} holds no events")
    render_gif(events, out, T=T, by=by, sensor_size=size, scale=scale, fps=fps, grid=grid)
    if not quiet:
        w, h = (size or [int(events["x"].max()) + 1, int(events["y"].max()) + 1])[:2]
        click.echo(f"{src} -> {out}: {len(events):,} events in {T} frames of {w} x {h} pixels")
