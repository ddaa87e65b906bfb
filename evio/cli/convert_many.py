"""``evio convert-many SRC... DST``: many recordings -> one output each, or one frame store."""

from __future__ import annotations

import time
import click

from ._app import PathOrURL, Progress, cli_engine, job_options, name_of, shown


@click.command("convert-many")
@click.argument("srcs", nargs=-1, required=True, type=PathOrURL(exists=True))
@click.argument("dst", type=PathOrURL())
@click.option("--to", "--format", "dst_format", metavar="FORMAT",
              help="Format of the outputs: a name or a suffix such as .h5 (one output per recording).")
@click.option("--frames", "T", type=click.IntRange(min=1),
              help="Instead: integrate each recording into T frames [T, 2, H, W] of one zarr frame store DST.")
@click.option("--by", type=click.Choice(["count", "time"]), default="count", show_default=True,
              help="With --frames: equal event counts or equal time spans per frame.")
@click.option("--dtype", type=click.Choice(["float32", "float64", "int16", "int32", "uint8", "uint16", "bool"]),
              default="float32", show_default=True, help="With --frames: frame dtype in the store (bool: any event).")
@click.option("--sensor-size", nargs=2, type=click.IntRange(min=1), metavar="W H",
              help="Sensor size in pixels (default: each recording's; with --frames, the first's).")
@job_options
@click.option("-f", "--force", is_flag=True, help="Overwrite outputs that exist.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def convert_many(srcs, dst, dst_format, T, by, dtype, sensor_size, workers, dask, resume, force, quiet):
    """Convert many recordings SRC... in parallel, one task per recording.

    With --to FORMAT: one output per recording, DST/<name><suffix> (DST a folder, created if
    missing). With --frames T: one zarr frame store DST holding every recording as T frames
    [T, 2, H, W] (read it with evio.datasets.PreparedFrames). Outputs appear only when every
    recording is done; a killed or failed run leaves its finished tasks in .DST.evio-job, and the
    same command with --resume finishes the job.

    SRC and DST may be URLs (s3://bucket/rec.aedat4; endpoint and credentials from the environment,
    e.g. FSSPEC_S3_ENDPOINT_URL and AWS_ACCESS_KEY_ID): each task downloads its recording, and a
    remote DST gets the job's parts in a prefix beside it.
    """
    from ..batch import convert_many as run

    if (dst_format is None) == (T is None):
        raise click.UsageError("pass either --to FORMAT (one output per recording) or --frames T (one frame store)")
    frames = None
    if T is not None:
        frames = {"T": T, "by": by}
        if dtype == "bool":
            frames["binary"] = True
        else:
            frames["dtype"] = dtype
    start = time.monotonic()
    bar = Progress(len(srcs), f"{len(srcs)} recordings -> {name_of(dst)}", enabled=not quiet, unit="recordings",
                   rate=True)
    try:
        with cli_engine(workers, dask, quiet) as engine:
            run(srcs, dst, format=dst_format, frames=frames, sensor_size=tuple(sensor_size) if sensor_size else None,
                engine=engine, resume=resume, overwrite=force, progress=bar)
    finally:
        bar.close()
    if not quiet:
        seconds = time.monotonic() - start
        converted = len(srcs) - bar.earlier
        click.echo(f"{len(srcs):,} recordings -> {shown(dst)} in {seconds:.2f} s "
                   f"({converted / max(seconds, 1e-9):,.1f} recordings/s"
                   f"{f', {bar.earlier:,} converted before' if bar.earlier else ''})")
