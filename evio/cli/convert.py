"""``evio convert SRC DST``: stream any readable format into any writable one."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .. import _fs, api
from ..formats.zarr_store import is_event_store_url
from ._app import Progress, parse_options, refuse_existing

#: Keys that ``-o`` cannot set, and the flag that sets each instead (None: nothing does).
RESERVED_OPTIONS = {"src_format": "--from", "dst_format": "--to", "format": "--to",
                    "sensor_size": "--sensor-size", "chunk_size": "--chunk-size", "progress": None,
                    "read_options": None, "meta": None, "mode": None, "path": None, "src": None, "dst": None}


@click.command()
@click.argument("src", type=click.Path())
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

    SRC and DST may be URLs (s3://bucket/key, memory://, file://; needs evio-toolkit[cloud]): the
    endpoint and credentials come from the environment (AWS_* variables, FSSPEC_S3_ENDPOINT_URL, profiles).
    """
    write_options = parse_options(options, RESERVED_OPTIONS)
    src, dst = _fs.local_path(src), _fs.local_path(dst)
    if not _fs.is_remote(src):
        _convert(Path(src), dst, str(src), src_format, dst_format, sensor_size, chunk_size, write_options, force,
                 quiet)
    elif is_event_store_url(src):
        _convert(src, dst, _fs.redact(src), src_format, dst_format, sensor_size, chunk_size, write_options, force,
                 quiet)
    else:
        download = _fs.Download(src)  # once, for the look at its metadata and for the conversion
        try:
            _convert(download.path, dst, _fs.redact(src), src_format, dst_format, sensor_size, chunk_size,
                     write_options, force, quiet)
        except Exception as exc:
            raise _fs.naming_url(exc, download.path, src) from None
        finally:
            download.remove()


def _convert(src, dst, shown_src: str, src_format, dst_format, sensor_size, chunk_size, write_options, force,
             quiet):
    """The conversion of a local file or a remote zarr store ``src`` (shown as ``shown_src``)."""
    start = time.monotonic()
    read_options = {}
    with api.open(src, format=src_format) as reader:
        if len(reader.meta.get("splits") or ()) > 1 and write_options.get("split"):
            read_options["split"] = write_options["split"]  # the one split of a shard folder to convert
    with api.open(src, format=src_format, **read_options) as reader:
        total = reader.count
        kind = getattr(reader, "kind", "events")
        meta = dict(reader.meta)
    shown_dst = _fs.redact(dst) if _fs.is_url(dst) else str(dst)
    if _fs.is_remote(dst):
        if not force and _fs.exists(dst):
            raise FileExistsError(17, "destination exists (use --force to overwrite)", shown_dst)
    elif kind == "samples":
        _, targets = api.sample_targets(dst, dst_format, split=write_options.get("split") or meta.get("split"),
                                        config_name=write_options.get("config_name") or meta.get("config"))
        if not force:
            refuse_existing(targets)
    elif not force:
        refuse_existing([Path(dst)])
    unit = "samples" if kind == "samples" else "events"
    name = _fs.name_of(shown_src) if _fs.is_url(shown_src) else Path(shown_src).name
    progress = Progress(total, f"{name} -> {_fs.name_of(shown_dst) if _fs.is_url(dst) else Path(dst).name}",
                        enabled=not quiet, unit=unit)
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
            click.echo(f"{shown_src} -> {shown_dst}: {progress.done:,} samples in {seconds:.2f} s "
                       f"({rate:,.0f} samples/s)")
        else:
            rate = progress.done / seconds / 1e6 if seconds > 0 else float("inf")
            click.echo(f"{shown_src} -> {shown_dst}: {progress.done:,} events in {seconds:.2f} s "
                       f"({rate:.1f} M events/s)")
