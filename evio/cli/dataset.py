"""``evio dataset prepare``: integrate a recorded dataset into a frame store in one pass."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ._app import PathOrURL, Progress, cli_engine, job_options, name_of, refuse_existing, shown

#: command-line name -> class name in evio.datasets
DATASETS = {"asldvs": "ASLDVS", "cifar10dvs": "CIFAR10DVS", "dvs128gesture": "DVS128Gesture",
            "esimagenet": "ESImageNet", "ncaltech101": "NCaltech101", "nmnist": "NMNIST"}


@click.group(name="dataset")
def dataset():
    """Recorded event-camera datasets (CIFAR10-DVS, DVS128 Gesture, N-MNIST, N-Caltech101, ASL-DVS, ES-ImageNet)."""


@dataset.command()
@click.argument("name", type=click.Choice(sorted(DATASETS)))
@click.argument("root", type=click.Path(path_type=Path))
@click.argument("out", type=PathOrURL())
@click.option("--frames", "T", type=click.IntRange(min=1), default=8, show_default=True,
              help="Frames (time steps) per sample.")
@click.option("--by", type=click.Choice(["count", "time", "dense"]), default="count", show_default=True,
              help="Equal event counts or equal time spans per frame; dense: ES-ImageNet's loader tensor.")
@click.option("--convention", type=click.Choice(["spikingjelly", "tonic"]), default=None,
              help="Frame integration convention of evio.frames (default: its own default).")
@click.option("--dtype", type=click.Choice(["float32", "float64", "int16", "int32", "uint8", "uint16", "bool"]),
              default="float32", show_default=True, help="Frame dtype in the store (bool: any event).")
@click.option("--allow-empty", is_flag=True,
              help="Empty frames for samples without events where --by time would refuse them.")
@click.option("--split", type=click.Choice(["all", "train", "test"]), default="all", show_default=True)
@click.option("--orientation", type=click.Choice(["top-left", "spikingjelly", "file", "tonic"]), default="top-left",
              show_default=True, help="Orientation preset: CIFAR10-DVS top-left|spikingjelly; ASL-DVS "
              "file|tonic|spikingjelly (top-left means file).")
@click.option("--label-order", type=click.Choice(["gesture", "spikingjelly"]), default="gesture",
              show_default=True, help="DVS128 Gesture labels and order.")
@job_options
@click.option("-f", "--force", is_flag=True, help="Overwrite OUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def prepare(name, root, out, T, by, convention, dtype, allow_empty, split, orientation, label_order, workers, dask, resume,
            force, quiet):
    """Integrate every sample of dataset NAME under ROOT into frames [T, 2, H, W] and write them,
    with labels and sample names, to the zarr frame store OUT (read it with
    evio.datasets.PreparedFrames). OUT appears only when complete; a killed or failed run leaves its
    finished tasks in .OUT.evio-job, and the same command with --resume finishes the job. OUT may
    be a URL (s3://bucket/train.zarr; endpoint and credentials from the environment)."""
    from .. import datasets

    if not force:
        refuse_existing([out])
    frames = {"T": T, "by": by, "allow_empty": allow_empty}
    if dtype == "bool":
        frames["binary"] = True
    else:
        frames["dtype"] = dtype
    if convention is not None:
        frames["convention"] = convention
    if by == "dense" and name != "esimagenet":
        raise click.BadParameter("dense is ES-ImageNet's own tensor (esimagenet only)", param_hint="--by")
    options = {"split": split, "frames": "dense" if by == "dense" else frames}
    if name == "cifar10dvs":
        options["orientation"] = orientation
    elif name == "asldvs":
        options["orientation"] = "file" if orientation == "top-left" else orientation
    elif name == "dvs128gesture":
        options["label_order"] = label_order
    ds = getattr(datasets, DATASETS[name])(root, **options)
    start = time.monotonic()
    bar = Progress(len(ds), f"{name} -> {name_of(out)}", enabled=not quiet, unit="samples", rate=True)
    try:
        with cli_engine(workers, dask, quiet) as engine:
            datasets.prepare(ds, out, engine=engine, resume=resume, overwrite=force, progress=bar)
    finally:
        bar.close()
    if not quiet:
        seconds = time.monotonic() - start
        click.echo(f"{root} -> {shown(out)}: {len(ds):,} samples ({ds.split}) in {seconds:.2f} s")
