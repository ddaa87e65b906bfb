"""``evio convert SRC DST``: stream any readable format into any writable one."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .. import api
from ._app import Progress, parse_options, refuse_existing

#: Keys that ``-o`` cannot set, and the flag that sets each instead (None: nothing does).
RESERVED_OPTIONS = {"src_format": "--from", "dst_format": "--to", "format": "--to",
                    "sensor_size": "--sensor-size", "chunk_size": "--chunk-size", "progress": None,
                    "read_options": None, "meta": None, "mode": None, "path": None, "src": None, "dst": None}


@click.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path())
@click.option("--from", "src_format", metavar="FORMAT", help="Source format (default: from suffix and content).")
@click.option("--to", "--format", "dst_format", metavar="FORMAT", help="Destination format (default: from suffix).")
@click.option("--sensor-size", nargs=2, type=int, metavar="W H", help="Override the sensor size in pixels.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=1 << 20, show_default=True,
              help="Events per chunk streamed through memory.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Writer option, e.g. -o compression=gzip (repeatable).")
@click.option("-f", "--force", is_flag=True, help="Overwrite DST if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def convert(src, dst, src_format, dst_format, sensor_size, chunk_size, options, force, quiet):
    """Convert SRC into DST, streaming in bounded memory; DST appears only if all went well.

    Sample collections (I2E parquet shards, a folder of them as `evio i2e` writes it, zarr sample
    stores) convert to each other: DST ending in .zarr is a sample store, .parquet one shard file,
    and an existing folder or a path ending in / (or any path with --to i2e-parquet) gets Hub-layout
    shards DST/<config>/<split>-0000k-of-0000n.parquet (-o config_name=... -o split=...
    -o rows_per_shard=...; -o split=NAME also picks the split of a shard folder that holds several).
    """
    write_options = parse_options(options, RESERVED_OPTIONS)
    start = time.monotonic()
    read_options = {}
    with api.open(src, format=src_format) as reader:
        if len(reader.meta.get("splits") or ()) > 1 and write_options.get("split"):
            read_options["split"] = write_options["split"]  # the one split of a shard folder to convert
    with api.open(src, format=src_format, **read_options) as reader:
        total = reader.count
        kind = getattr(reader, "kind", "events")
        meta = dict(reader.meta)
    if kind == "samples":
        _, targets = api.sample_targets(dst, dst_format, split=write_options.get("split") or meta.get("split"),
                                        config_name=write_options.get("config_name") or meta.get("config"))
    else:
        targets = [Path(dst)]
    if not force:
        refuse_existing(targets)
    unit = "samples" if kind == "samples" else "events"
    progress = Progress(total, f"{src.name} -> {Path(dst).name}", enabled=not quiet, unit=unit)
    try:
        api.convert(src, dst, format=dst_format, src_format=src_format, chunk_size=chunk_size,
                    sensor_size=tuple(sensor_size) if sensor_size else None, progress=progress,
                    read_options=read_options, **write_options)
    finally:
        progress.close()
    if not quiet:
        seconds = time.monotonic() - start
        if kind == "samples":
            rate = progress.done / seconds if seconds > 0 else float("inf")
            click.echo(f"{src} -> {dst}: {progress.done:,} samples in {seconds:.2f} s ({rate:,.0f} samples/s)")
        else:
            rate = progress.done / seconds / 1e6 if seconds > 0 else float("inf")
            click.echo(f"{src} -> {dst}: {progress.done:,} events in {seconds:.2f} s ({rate:.1f} M events/s)")
