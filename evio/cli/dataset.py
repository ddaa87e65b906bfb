"""``evio dataset prepare``: integrate a recorded dataset into a frame store in one pass."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ._app import refuse_existing

#: command-line name -> class name in evio.datasets
DATASETS = {"cifar10dvs": "CIFAR10DVS", "dvs128gesture": "DVS128Gesture"}


@click.group(name="dataset")
def dataset():
    """Recorded event-camera datasets (CIFAR10-DVS, DVS128 Gesture)."""


@dataset.command()
@click.argument("name", type=click.Choice(sorted(DATASETS)))
@click.argument("root", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--frames", "T", type=click.IntRange(min=1), default=8, show_default=True,
              help="Frames (time steps) per sample.")
@click.option("--by", type=click.Choice(["count", "time"]), default="count", show_default=True,
              help="Equal event counts or equal time spans per frame.")
@click.option("--convention", type=click.Choice(["spikingjelly", "tonic"]), default=None,
              help="Frame integration convention of evio.frames (default: its own default).")
@click.option("--dtype", type=click.Choice(["float32", "float64", "int16", "int32", "uint8", "uint16", "bool"]),
              default="float32", show_default=True, help="Frame dtype in the store (bool: any event).")
@click.option("--allow-empty", is_flag=True,
              help="Empty frames for samples without events where --by time would refuse them.")
@click.option("--split", type=click.Choice(["all", "train", "test"]), default="all", show_default=True)
@click.option("--orientation", type=click.Choice(["top-left", "spikingjelly"]), default="top-left",
              show_default=True, help="CIFAR10-DVS orientation preset.")
@click.option("--label-order", type=click.Choice(["gesture", "spikingjelly"]), default="gesture",
              show_default=True, help="DVS128 Gesture labels and order.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Processes integrating samples.")
@click.option("-f", "--force", is_flag=True, help="Overwrite OUT if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def prepare(name, root, out, T, by, convention, dtype, allow_empty, split, orientation, label_order, workers, force, quiet):
    """Integrate every sample of dataset NAME under ROOT into frames [T, 2, H, W] and write them,
    with labels and sample names, to the zarr frame store OUT (read it with
    evio.datasets.PreparedFrames). OUT appears only when complete."""
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
    cls = getattr(datasets, DATASETS[name])
    if name == "cifar10dvs":
        ds = cls(root, split=split, orientation=orientation, frames=frames)
    else:
        ds = cls(root, split=split, label_order=label_order, frames=frames)
    start = time.monotonic()
    bar = None
    if not quiet:
        bar = click.progressbar(length=len(ds), label=f"{name} -> {out.name}", file=sys.stderr, show_pos=True)
        bar.__enter__()
    try:
        datasets.prepare(ds, out, workers=workers, progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if not quiet:
        seconds = time.monotonic() - start
        click.echo(f"{root} -> {out}: {len(ds):,} samples ({ds.split}) in {seconds:.2f} s")
