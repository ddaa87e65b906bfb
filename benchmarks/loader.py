"""Benchmark of the training-loop input path: a shuffled ``DataLoader`` over I2E shards, against the
I2E dataset card's own loader and the transfer floor.

Run from the repository root::

    .venv/bin/python -m benchmarks.loader                  # 2,048 samples, workers 0 and 2
    .venv/bin/python -m benchmarks.loader --samples 4096 --workers 0 2 4 --uncached

Data: ``--samples`` random bool ``[8, 2, 128, 128]`` samples at 6 % density in two shards of row groups
of 100, written once into ``bench-data/loader-<n>/`` (gitignored) by ``evio.datasets.write_i2e_shards``.

Each line is a ``DataLoader(ds, batch_size=32, shuffle=True, num_workers=w, persistent_workers=True)``;
every loader runs one epoch in turn, ``--epochs`` rounds, and the best epoch counts (so a busy machine
slows all loaders alike); the first batch of an epoch, which includes the workers' start, is not timed:

- ``card``          the I2E dataset card's snippet: ``datasets.load_dataset("parquet", data_files=...)``
                    and per item ``np.load`` + ``np.unpackbits`` + ``astype(float32)``
                    (:func:`evio.packbits.readme_decode`), float32 ``[8, 2, 128, 128]``;
- ``floor f32/u8``  a dataset returning one preallocated array of the output's shape and dtype: what the
                    ``DataLoader`` costs (collate, and with workers the transfer) with no reading at all;
- ``evio f32``      ``I2EShards(dtype=np.float32)`` (memory-mapped cache, ``__getitems__`` decoding a batch in one
                    call, in shared memory inside a worker; the default collate takes it without a copy);
- ``evio u8``       ``I2EShards(dtype=np.uint8)``: cast to float on the device;
- ``evio packed``   ``I2EShards(decode="packed")``: uint8 ``[32, 4096*8]`` batches, 32x fewer bytes than
                    float32, unpacked on the device by ``evio.torch.unpack``; ``+unpack cpu`` also times
                    that unpacking to float32 on this CPU (on a GPU it is negligible);
- ``i2e train``     on-the-fly I2E: CIFAR-sized uint8 ``[32, 32, 3]`` images through
                    ``evio.tonic.transforms.I2E(preset="cifar10", mode="train")`` in the workers, bool
                    ``[8, 2, 128, 128]`` (needs tonic; compared with the uint8 floor, for information);
- ``evio uncached`` (``--uncached``) ``I2EShards(cache=False)``: a row group read per item.

Targets (printed as PASS/MISS, never asserted), at every worker count: evio f32 >= 0.8x the float32 floor
(default collate); evio's recommended path, packed batches
(``decode="packed"``), >= 4x the card. Other ratios are printed for information. The script exits 1
if a loader's batches differ from the shards. Every loader's first batch is checked against the shards.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

SHAPE = (8, 2, 128, 128)
BATCH = 32


def make_shards(n: int, folder: Path, density: float) -> list[Path]:
    from evio.datasets import write_i2e_shards

    existing = sorted((folder / "I2E-BENCH").glob("train-*.parquet"))
    if len(existing) == 2:
        return existing
    print(f"writing {n:,} samples into {folder} ...", file=sys.stderr)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    samples = (rng.random((k, *SHAPE), np.float32) < density for k in [256] * (n // 256) + [n % 256] if k)
    flat = (s for batch in samples for s in batch)
    return write_i2e_shards(flat, labels, folder, "I2E-BENCH", split="train", rows_per_shard=(n + 1) // 2,
                            row_group_size=100)


class CardDataset:
    """The dataset card's snippet: Hugging Face ``datasets`` rows, decoded per item."""

    def __init__(self, files, cache_dir):
        import datasets

        datasets.disable_progress_bars()
        self.ds = datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train",
                                        cache_dir=str(cache_dir))

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        from evio.packbits import readme_decode

        row = self.ds[int(i)]
        return readme_decode(row["data"]), row["label"]


class Floor:
    """One preallocated array of the output's shape and dtype, for every index."""

    def __init__(self, n, dtype):
        self.n, self.sample = n, np.zeros(SHAPE, dtype)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.sample, 0


class OnTheFlyI2E:
    """Random CIFAR-sized uint8 images ``[32, 32, 3]``, converted by I2E in training mode on every access."""

    def __init__(self, n):
        from evio.tonic.transforms import I2E

        self.images = np.random.default_rng(1).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.transform = I2E(preset="cifar10", mode="train")

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), 0


def epoch_rate(loader, consume=None) -> float:
    """Samples/s of one epoch of ``loader``, from its second batch on (the first includes worker start)."""
    it = iter(loader)
    next(it)
    start, seen = time.perf_counter(), 0
    for x, y in it:
        if consume is not None:
            consume(x)
        seen += len(y)
    return seen / (time.perf_counter() - start)


def check(ds, reference, unpack: bool) -> bool:
    """The loader's first batches in order equal ``reference.get_batch`` and ``reference.labels``."""
    import torch
    from torch.utils.data import DataLoader

    import evio.torch

    for k, (x, y) in enumerate(DataLoader(ds, batch_size=BATCH, num_workers=0)):
        dense = evio.torch.unpack(x, SHAPE, torch.float32) if unpack else x.float()
        idx = list(range(k * BATCH, k * BATCH + len(y)))
        if not (np.array_equal(dense.numpy(), reference.get_batch(idx))
                and np.array_equal(y.numpy(), reference.labels[idx])):
            return False
        if k == 3:
            return True
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--density", type=float, default=0.06)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("bench-data"))
    parser.add_argument("--uncached", action="store_true", help="also time I2EShards(cache=False)")
    parser.add_argument("--no-card", action="store_true", help="skip the Hugging Face datasets baseline")
    args = parser.parse_args(argv)

    import torch

    import evio.torch
    from evio.datasets import I2EShards

    folder = args.data / f"loader-{args.samples}"
    files = make_shards(args.samples, folder, args.density)
    ds32 = I2EShards(files, dtype=np.float32)
    ds8 = I2EShards(files, dtype=np.uint8)
    dsp = I2EShards(files, decode="packed")

    def unpack_f32(x):
        evio.torch.unpack(x, SHAPE, torch.float32)

    loaders = {
        "floor f32": lambda: Floor(args.samples, np.float32),
        "floor u8": lambda: Floor(args.samples, np.uint8),
        "evio f32": lambda: ds32,
        "evio u8": lambda: ds8,
        "evio packed": lambda: dsp,
        "evio packed+unpack cpu": lambda: dsp,
    }
    if not args.no_card:
        loaders = {"card": lambda: CardDataset(files, args.data / "hf-cache"), **loaders}
    try:
        import tonic  # noqa: F401
    except ImportError:
        print("tonic is not installed: no on-the-fly I2E line", file=sys.stderr)
    else:
        loaders["i2e train"] = lambda: OnTheFlyI2E(args.samples)
    if args.uncached:
        loaders["evio uncached f32"] = lambda: I2EShards(files, dtype=np.float32, cache=False)

    from torch.utils.data import DataLoader

    bad = 0
    rates: dict = {}
    datasets = {name: make() for name, make in loaders.items()}
    for name, ds in datasets.items():
        if name.startswith("evio") and not check(ds, ds32, "packed" in name):
            print(f"MISMATCH: {name} differs from the shards", flush=True)
            bad += 1
    print(f"{args.samples:,} samples {SHAPE}, batch {BATCH}, shuffle=True, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads; samples/s, best of {args.epochs} epochs, loaders interleaved")
    for w in args.workers:
        running = {name: DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=w, persistent_workers=w > 0)
                   for name, ds in datasets.items()}
        for _ in range(args.epochs):
            for name, loader in running.items():
                rate = epoch_rate(loader, unpack_f32 if name.endswith("unpack cpu") else None)
                rates[name, w] = max(rates.get((name, w), 0.0), rate)
        del running
    print(f"{'loader':<24}" + "".join(f"{f'workers={w}':>14}" for w in args.workers))
    for name in datasets:
        print(f"{name:<24}" + "".join(f"{rates[name, w]:>14,.0f}" for w in args.workers))

    print("\ntargets (at every worker count)")
    for w in args.workers:
        checks = [("evio f32 / floor f32", rates["evio f32", w] / rates["floor f32", w], 0.8)]
        if ("card", w) in rates:
            checks.append(("evio packed / card", rates["evio packed", w] / rates["card", w], 4.0))
            checks.append(("evio packed+unpack cpu / card", rates["evio packed+unpack cpu", w] / rates["card", w], None))
            checks.append(("evio u8 / card", rates["evio u8", w] / rates["card", w], None))
        if ("i2e train", w) in rates:
            checks.append(("i2e train / floor u8", rates["i2e train", w] / rates["floor u8", w], None))
        for label, ratio, target in checks:
            verdict = "(for information)" if target is None else \
                f"(target >= {target}x)  {'PASS' if ratio >= target else 'MISS'}"
            print(f"  workers={w}: {label:<30} {ratio:6.2f}x  {verdict}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
