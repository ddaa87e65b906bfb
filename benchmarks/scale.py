"""Scaling of an ``evio i2e`` job (issue 15): samples/s on 1 and 2 local worker processes and on a Dask
``LocalCluster`` of 2 single-threaded workers, on the same input; and the per-sample cost of
I2E-ImageNet-sized work, from which ``docs/scaling.md`` estimates the wall time of I2E-ImageNet.

Run from the repository root::

    .venv/bin/python -m benchmarks.scale                     # 20,000 CIFAR-sized images, 96 ImageNet-sized
    .venv/bin/python -m benchmarks.scale --images 1000 --imagenet 32 --repeats 1

Data: real photographs only, from ``fixtures/images/`` (see ``fixtures/SOURCES.md``). ``--images``
random crops (side 1/3 to all of the photo's short side), resized to 32 x 32 (bicubic), written as one
``.npz`` with labels; converted with ``preset="cifar10"`` (32 -> 128 x 128, ratio 0.07) into Hugging
Face parquet shards of ``--images-per-task`` rows (default 2,500), one shard per task. The ImageNet
run: ``--imagenet`` crops upscaled to 500 x 375 and saved as JPEG (quality 90) in an ImageFolder tree,
converted with ``preset="imagenet"`` (decode, resize to 224 x 224, ratio 0.12) on one process.

Every run is a whole job (tasks, parts, assembly of the shards, manifest), timed end to end, best of
``--repeats``. The Dask cluster is the one ``--dask local --workers 2`` starts; it is started (and its
workers warmed up: Numba compiles evio's kernels once per worker process) before the timing, as a
long-lived cluster would be; its start-up time is printed apart. CPU seconds (this process, its
local workers, the Dask workers) are printed beside the wall clock: on a machine that other work
shares, the wall-clock efficiency says more about the other work than about evio. Parallel efficiency = speedup over 1 worker / workers; target >= 0.8 on 2 cores.
Every output is compared byte for byte with the 1-worker output; the script exits 1 on a difference.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "fixtures" / "images"
IMAGENET_IMAGES = 1_281_167
TARGET = 0.8


def crops(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``n`` random crops of the fixture photos resized to ``size`` (W, H): uint8 ``[n, H, W, 3]``."""
    from PIL import Image

    photos = [Image.open(p).convert("RGB") for p in sorted(PHOTOS.glob("*.png"))]
    rng = np.random.default_rng(seed)
    out = np.empty((n, size[1], size[0], 3), np.uint8)
    for k in range(n):
        photo = photos[k % len(photos)]
        side = int(rng.integers(min(photo.size) // 3, min(photo.size) + 1))
        x, y = rng.integers(0, photo.size[0] - side + 1), rng.integers(0, photo.size[1] - side + 1)
        out[k] = np.asarray(photo.crop((x, y, x + side, y + side)).resize(size, Image.BICUBIC))
    return out


def tree_bytes(path: Path) -> dict:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def cpu_seconds(client=None) -> float:
    """CPU seconds (user + system) used so far by this process, its finished children (the local
    worker processes) and, with a Dask ``client``, its workers."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    if client is not None:
        total += sum(client.run(_own_cpu_seconds).values())
    return total


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def timed(src, dst: Path, engine, repeats: int, client=None, **options) -> tuple[float, float]:
    """``(wall seconds, CPU seconds)`` of the fastest of ``repeats`` runs."""
    from evio.image.folder import i2e_folder

    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        shutil.rmtree(dst, ignore_errors=True)
        cpu = cpu_seconds(client)
        start = time.perf_counter()
        i2e_folder(src, dst, engine=engine, **options)
        wall = time.perf_counter() - start
        best = min(best, (wall, cpu_seconds(client) - cpu))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20000, help="CIFAR-sized images of the scaling runs")
    parser.add_argument("--imagenet", type=int, default=96, help="ImageNet-sized images of the per-sample cost")
    parser.add_argument("--images-per-task", type=int, default=2500, help="rows per shard = images per task")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()

    from evio.image.folder import i2e_folder

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python "
          f"{platform.python_version()}; noisy if other work runs (best of {args.repeats})")
    tmp = Path(tempfile.mkdtemp(prefix="evio-scale-"))
    try:
        src = tmp / "cifar.npz"
        np.savez(src, images=crops(args.images, (32, 32)), labels=np.arange(args.images) % 10)
        options = {"preset": "cifar10", "images_per_task": args.images_per_task,
                   "rows_per_shard": args.images_per_task}
        i2e_folder(src, tmp / "warm", engine=1, **{**options, "rows_per_shard": 64})   # compile the kernels
        rows = []
        base = timed(src, tmp / "w1", 1, args.repeats, **options)
        reference = tree_bytes(tmp / "w1")
        rows.append(("local, 1 worker", 1, base))
        rows.append(("local, 2 workers", 2, timed(src, tmp / "w2", 2, args.repeats, **options)))
        same = tree_bytes(tmp / "w2") == reference
        if not args.no_dask:
            from evio.jobs import use_engine

            start = time.perf_counter()
            with use_engine("local", workers=2) as engine:       # what `--dask local --workers 2` runs
                started = time.perf_counter() - start
                i2e_folder(src, tmp / "dwarm", engine=engine, **{**options, "rows_per_shard": 64})
                rows.append(("dask LocalCluster, 2 workers", 2,
                             timed(src, tmp / "d2", engine, args.repeats, client=engine.client, **options)))
                same = same and tree_bytes(tmp / "d2") == reference
            print(f"dask LocalCluster start-up (2 workers): {started:.1f} s, then one warm-up job")
        print(f"\ni2e job, {args.images:,} images 32x32 -> preset cifar10 (128x128), parquet shards of "
              f"{args.images_per_task} rows, one per task")
        print(f"{'engine':30s} {'seconds':>7s} {'samples/s':>9s} {'speedup':>7s} {'efficiency':>10s} "
              f"{'CPU s':>6s} {'CPU efficiency':>14s}")
        worst = 1.0
        for name, workers, (sec, cpu) in rows:
            speedup = base[0] / sec
            efficiency = speedup / workers
            if workers > 1:
                worst = min(worst, efficiency)
            verdict = "" if workers == 1 else f"  {'PASS' if efficiency >= TARGET else 'MISS'} (>= {TARGET})"
            print(f"{name:30s} {sec:7.2f} {args.images / sec:9,.0f} {speedup:7.2f} {efficiency:10.2f} "
                  f"{cpu:6.2f} {base[1] / cpu:14.2f}{verdict}")
        print("efficiency = speedup / workers (wall clock); CPU efficiency = CPU seconds of 1 worker / "
              "CPU seconds of the run (the work that running in parallel adds)")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"load average over the last minute: {load:.1f} on {os.cpu_count()} cores")
        print(f"outputs byte-identical to 1 worker: {'yes' if same else 'NO'}")

        if args.imagenet:
            folder = tmp / "imagenet" / "n01440764"
            folder.mkdir(parents=True)
            from PIL import Image

            for k, image in enumerate(crops(args.imagenet, (500, 375), seed=1)):
                Image.fromarray(image).save(folder / f"img_{k:05d}.JPEG", quality=90)
            i2e_folder(tmp / "imagenet", tmp / "in_warm", preset="imagenet", engine=1)
            sec = timed(tmp / "imagenet", tmp / "in1", 1, args.repeats, preset="imagenet")[0]
            per = sec / args.imagenet
            print(f"\nI2E-ImageNet-sized: {args.imagenet} JPEG 500x375 -> preset imagenet (224x224), 1 worker: "
                  f"{1000 * per:.1f} ms per image (decode, resize, I2E, shard writing)")
            eff = min(worst, 1.0)
            print(f"estimate for I2E-ImageNet ({IMAGENET_IMAGES:,} images), at the measured efficiency {eff:.2f} "
                  "per added worker:")
            for workers in (1, 8, 64):
                wall = IMAGENET_IMAGES * per / (workers * (1.0 if workers == 1 else eff))
                print(f"  {workers:3d} workers: {wall / 3600:7.2f} h")
        return 0 if same else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
