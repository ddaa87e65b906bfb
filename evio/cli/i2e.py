"""``evio i2e SRC DST``: a folder or array of images -> I2E samples (Hugging Face shards or a zarr store)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import click

from ..image.folder import i2e_folder
from ..image.i2e import PRESETS
from ..image.resize import INTERPOLATIONS, KERNELS
from ._app import PathOrURL, Progress, cli_engine, job_options, name_of, shown


@click.command("i2e")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("dst", type=PathOrURL())
@click.option("--preset", type=click.Choice(sorted(PRESETS)), help="Published I2E config: size and ratio.")
@click.option("--ratio", type=float,
              help="Threshold as a fraction of each image's V range (default: preset's, else 0.07).")
@click.option("--sensor-size", nargs=2, type=click.IntRange(min=1), metavar="W H",
              help="Resize to W x H pixels (default: the preset's, else as is).")
@click.option("--interpolation", type=click.Choice(INTERPOLATIONS), default="bicubic", show_default=True)
@click.option("--resize-kernel", type=click.Choice(KERNELS), default="torchvision", show_default=True,
              help="torchvision: exact port of its uint8 resize; pil: Pillow (±1 LSB).")
@click.option("--axes", default="auto", show_default=True, help="Axis order of an array SRC (NHWC, NCHW, NHW).")
@click.option("--config", "config_name", help="Config folder name (default: preset's, e.g. I2E-CIFAR10).")
@click.option("--split", default="train", show_default=True)
@job_options
@click.option("--rows-per-shard", type=click.IntRange(min=1), help="Samples per parquet shard (default ~500 MB).")
@click.option("-f", "--force", is_flag=True, help="Replace an existing DST (zarr) or split (shards).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def i2e_command(src, dst, preset, ratio, sensor_size, interpolation, resize_kernel, axes, config_name, split,
                workers, dask, resume, rows_per_shard, force, quiet):
    """Convert images to I2E event samples.

    SRC: an ImageFolder tree (SRC/<class>/<image>; labels = sorted class index), a folder of
    images (labels 0), or a .npy/.npz array of uint8 images (.npz keys images/x and labels/y). DST ending in .zarr: a zarr sample store;
    anything else: Hugging Face shards DST/<config>/<split>-0000k-of-0000n.parquet. Prints the
    event rate (mean, std over samples) and the throughput at the end.

    Each task writes one shard (or one shard file of at most 256 samples of a zarr store), on
    --workers local processes or on Dask (--dask); a killed or failed run leaves its finished
    shards in .DST.evio-job beside DST, and the same command with --resume finishes the job.
    DST may be a URL (s3://bucket/out): the job's parts go to a prefix beside it (endpoint and
    credentials from the environment, e.g. FSSPEC_S3_ENDPOINT_URL and AWS_ACCESS_KEY_ID).
    """
    start = time.monotonic()
    bar = Progress(None, f"{src.name} -> {name_of(dst)}", enabled=not quiet, unit="images", rate=True)

    def progress(n: int, total: int) -> None:
        bar.total = total
        bar(n)

    def resumed(n: int, total: int) -> None:
        bar.total = total
        bar.resumed(n)

    progress.resumed = resumed

    try:
        with cli_engine(workers, dask, quiet) as engine:
            result = i2e_folder(src, dst, ratio, preset=preset, sensor_size=tuple(sensor_size) if sensor_size else None,
                                interpolation=interpolation, kernel=resize_kernel, axes=axes, config_name=config_name,
                                split=split, engine=engine, resume=resume, rows_per_shard=rows_per_shard,
                                overwrite=force, progress=progress)
    finally:
        bar.close()
    if not quiet:
        seconds = time.monotonic() - start
        rates, done = result.event_rates, len(result.event_rates)
        mean = float(rates.mean()) if done else math.nan
        std = float(rates.std()) if done else math.nan
        converted = done - bar.earlier
        click.echo(f"{src} -> {shown(dst)}: {done:,} samples in {seconds:.2f} s "
                   f"({converted / max(seconds, 1e-9):,.0f} images/s"
                   f"{f', {bar.earlier:,} converted before' if bar.earlier else ''}); "
                   f"event rate mean {100 * mean:.2f} %, std {100 * std:.2f} % "
                   f"(ratio {result.ratio:g}, config {result.config_name})")
