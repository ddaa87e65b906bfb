"""Benchmark of evio's recorded datasets (CIFAR10-DVS, DVS128 Gesture, N-MNIST, N-Caltech101)
against SpikingJelly 2.0's readers (and Tonic's for N-MNIST and N-Caltech101).

Run from the repository root::

    .venv/bin/python -m benchmarks.datasets            # 100 CIFAR files of 150k events, 1 recording of 2 M,
                                                       # 2,000 N-MNIST files, 100 N-Caltech101 files
    .venv/bin/python -m benchmarks.datasets --quick    # 20 files of 50k events, 1 recording of 200k, 400 / 20

Data (written to a temporary folder by evio's writers, random events on 128 x 128, sorted t):
``--files`` CIFAR10-DVS AEDAT 2.0 files of ``--events`` events each (10 classes), and one DVS128
Gesture AEDAT 3.1 recording of ``--recording`` events with a ``_labels.csv`` of 11 overlapping rows.

What is timed (best of ``--repeats`` passes, one process unless said otherwise):

(a) CIFAR10-DVS, events of every file: ``CIFAR10DVS(root, orientation="spikingjelly")[i]`` against
    SpikingJelly's ``cifar10_dvs._load_origin_data(path)`` (NumPy, the reader of its preprocessing);
(b) CIFAR10-DVS, frames T=8 by count of every file: evio ``frames=dict(T=8)`` against
    ``_load_origin_data`` + ``integrate_events_by_fixed_frames_number(..., "number", 8, 128, 128)``;
    and evio reading them back from a prepared frame store (a second epoch);
(c) ``evio.datasets.prepare`` of (b) with 1 and 2 worker processes (the second core helps only when
    the machine is idle);
(d) DVS128 Gesture, one recording cut into its 11 samples: ``DVS128Gesture(root)[i]`` for every i
    against SpikingJelly's ``utils.load_aedat_v3`` (a Python loop per event) + its mask per csv row;
(e) N-MNIST and (f) N-Caltech101, synthetic recordings of the real datasets' sizes (no real files
    here): ``--nmnist`` files of 3,000-5,500 events on 34 x 34 (N-MNIST averages about 4,200) and
    ``--ncaltech`` files of 60k-160k events on 240 x 180 (N-Caltech101 averages about 110k), 300 ms
    each, written as 5-byte ``.bin`` files. Events of every file: ``NMNIST(root)[i]`` /
    ``NCaltech101(root)[i]`` against SpikingJelly's ``utils.load_ATIS_bin`` and Tonic's
    ``io.read_mnist_file``; frames T=8 by count: evio ``frames=dict(T=8)`` against SpikingJelly's
    loader + ``integrate_events_by_fixed_frames_number`` and Tonic's reader + ``ToFrame(n_event_bins=8)``
    (evio checked against Tonic with ``convention="tonic"``).

Every evio result is checked against SpikingJelly's on the same files (events field by field, frames
exactly); the script exits 1 on any mismatch. Speed is printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import evio
from evio.datasets import CIFAR10DVS, NMNIST, DVS128Gesture, NCaltech101, PreparedFrames, prepare
from evio.datasets.cifar10dvs import CLASSES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _sj import load_spikingjelly_datasets



def _each(results) -> None:
    """Run a generator of results, dropping each one as the next is made (as a training loop does)."""
    for _ in results:
        pass

def _random_events(n, seed):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, evio.EVENT_DTYPE)
    ev["t"] = 1000 + np.cumsum(rng.integers(0, 8, n))
    ev["x"] = rng.integers(0, 128, n)
    ev["y"] = rng.integers(0, 128, n)
    ev["p"] = rng.random(n) < 0.5
    return ev


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _write_atis_files(folder, count, size, events_range):
    """``count`` synthetic ATIS ``.bin`` files in ten class folders: three 100 ms saccades of
    ``events_range`` events in all, on a ``size`` (W, H) sensor."""
    W, H = size
    for k in range(count):
        rng = np.random.default_rng(1000 + k)
        n = int(rng.integers(*events_range))
        ev = np.empty(n, evio.EVENT_DTYPE)
        ev["t"] = np.sort(rng.integers(0, 300_000, n))
        ev["x"] = np.clip(rng.normal(W / 2, W / 5, n), 0, W - 1)
        ev["y"] = np.clip(rng.normal(H / 2, H / 5, n), 0, H - 1)
        ev["p"] = rng.random(n) < 0.5
        path = folder / str(k % 10) / f"{k // 10:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        evio.write(path, ev, format="nmnist")


def _atis_section(title, cls, folder, count, size, events_range, repeats) -> bool:
    """Time (e)/(f): events and T=8 frames of ``cls`` against SpikingJelly and Tonic; True when all match."""
    import tonic
    from spikingjelly.datasets import utils as sju

    _write_atis_files(folder, count, size, events_range)
    W, H = size
    split = "all" if cls is NCaltech101 else "train"
    ds = cls(folder.parent, split=split)
    framed = cls(folder.parent, split=split, frames={"T": 8, "dtype": "float32"})
    tonic_framed = cls(folder.parent, split=split, frames={"T": 8, "convention": "tonic"})
    files = [str(p) for p in ds.paths]
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    to_frame = tonic.transforms.ToFrame(sensor_size=(W, H, 2), n_event_bins=8)
    ok = True
    for i in range(min(5, len(files))):
        ev, ref, ton = ds[i][0], sju.load_ATIS_bin(files[i]), tonic.io.read_mnist_file(files[i], dtype=dtype)
        ok &= all(np.array_equal(ev[k].astype(np.int64), ref[k].astype(np.int64)) for k in "txyp")
        ok &= all(np.array_equal(ev[k].astype(np.int64), ton[k].astype(np.int64)) for k in "txyp")
        want = sju.integrate_events_by_fixed_frames_number(ref, "number", 8, H, W).astype(np.float32)
        ok &= bool(np.array_equal(framed[i][0], want))
        ok &= bool(np.array_equal(tonic_framed[i][0], to_frame(ton)))
    n_ev = sum(len(ds.events(i)) for i in range(len(ds)))
    t_evio = _best(lambda: _each(ds[i] for i in range(len(ds))), repeats)
    t_sj = _best(lambda: _each(sju.load_ATIS_bin(f) for f in files), repeats)
    t_tonic = _best(lambda: _each(tonic.io.read_mnist_file(f, dtype=dtype) for f in files), repeats)
    print(f"{title}: {len(files):,} files, {n_ev / len(files):,.0f} events each on {W} x {H}")
    print(f"    events    evio {n_ev / t_evio / 1e6:7.1f} M ev/s   SpikingJelly {n_ev / t_sj / 1e6:7.1f} M ev/s "
          f"({t_sj / t_evio:4.1f}x)   Tonic {n_ev / t_tonic / 1e6:7.1f} M ev/s ({t_tonic / t_evio:4.1f}x)")

    def sj_frames():
        for f in files:
            sju.integrate_events_by_fixed_frames_number(sju.load_ATIS_bin(f), "number", 8, H, W)

    def tonic_frames():
        for f in files:
            to_frame(tonic.io.read_mnist_file(f, dtype=dtype))

    t_evio = _best(lambda: _each(framed[i] for i in range(len(framed))), repeats)
    t_sj = _best(sj_frames, repeats)
    t_tonic = _best(tonic_frames, repeats)
    per = 1e3 / len(files)
    print(f"    frames    evio {t_evio * per:7.3f} ms/sample   SpikingJelly {t_sj * per:7.3f} ms/sample "
          f"({t_sj / t_evio:4.1f}x)   Tonic {t_tonic * per:7.3f} ms/sample ({t_tonic / t_evio:4.1f}x)")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--recording", type=int, default=2_000_000)
    parser.add_argument("--nmnist", type=int, default=2000)
    parser.add_argument("--ncaltech", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.events, args.recording, args.repeats = 20, 50_000, 200_000, 1
        args.nmnist, args.ncaltech = 400, 20
    sj = load_spikingjelly_datasets()
    if sj is None:
        print("spikingjelly (and torch) are needed as the peer", file=sys.stderr)
        return 1
    from spikingjelly.datasets import cifar10_dvs as sjc
    from spikingjelly.datasets import utils as sju

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        for k in range(args.files):
            cls = CLASSES[k % 10]
            path = tmp / "c10" / cls / f"cifar10_{cls}_{k // 10}.aedat"
            path.parent.mkdir(parents=True, exist_ok=True)
            evio.write(path, _random_events(args.events, k), format="aedat2", chip="dvs128")
            paths.append(path)
        ds = CIFAR10DVS(tmp / "c10", orientation="spikingjelly")
        framed = CIFAR10DVS(tmp / "c10", orientation="spikingjelly", frames={"T": 8, "dtype": "float32"})
        files = [tmp / "c10" / f"{name}.aedat" for name in ds.names]
        n_ev = args.files * args.events
        print(f"CIFAR10-DVS: {args.files} files x {args.events:,} events; "
              f"DVS128 Gesture: 1 recording of {args.recording:,} events (cpus: {os.cpu_count()})")

        for i in range(min(5, len(ds))):
            ref, ev = sjc._load_origin_data(files[i]), ds[i][0]
            ok &= all(np.array_equal(ev[k].astype(np.int64), ref[k].astype(np.int64)) for k in "txyp")
            want = sju.integrate_events_by_fixed_frames_number(ref, "number", 8, 128, 128).astype(np.float32)
            ok &= bool(np.array_equal(framed[i][0], want))

        t_evio = _best(lambda: _each(ds[i] for i in range(len(ds))), args.repeats)
        t_sj = _best(lambda: _each(sjc._load_origin_data(f) for f in files), args.repeats)
        print(f"(a) events    evio {n_ev / t_evio / 1e6:7.1f} M ev/s   SpikingJelly {n_ev / t_sj / 1e6:7.1f} M ev/s"
              f"   ratio {t_sj / t_evio:5.1f}x")

        def sj_frames():
            for f in files:
                sju.integrate_events_by_fixed_frames_number(sjc._load_origin_data(f), "number", 8, 128, 128)

        t_evio = _best(lambda: _each(framed[i] for i in range(len(framed))), args.repeats)
        t_sj = _best(sj_frames, args.repeats)
        store = prepare(framed, tmp / "frames.zarr", workers=1)
        pf = PreparedFrames(store)
        ok &= all(np.array_equal(pf[i][0], framed[i][0]) for i in range(0, len(pf), max(1, len(pf) // 7)))
        t_read = _best(lambda: _each(pf[i] for i in range(len(pf))), args.repeats)
        per = 1e3 / args.files
        print(f"(b) frames    evio {t_evio * per:7.2f} ms/sample   SpikingJelly {t_sj * per:7.2f} ms/sample"
              f"   ratio {t_sj / t_evio:5.1f}x;  from the frame store {t_read * per:6.2f} ms/sample")
        timings = {}
        for workers in (1, 2):
            out = tmp / f"prep{workers}.zarr"
            start = time.perf_counter()
            prepare(framed, out, workers=workers)
            timings[workers] = time.perf_counter() - start
        print(f"(c) prepare   1 worker {args.files / timings[1]:7.1f} samples/s   2 workers "
              f"{args.files / timings[2]:7.1f} samples/s   speed-up {timings[1] / timings[2]:4.2f}x")

        folder = tmp / "g" / "DvsGesture"
        folder.mkdir(parents=True)
        rec = _random_events(args.recording, 99)
        evio.write(folder / "user01_led.aedat", rec, sensor_size=(128, 128), format="aedat3")
        t0, span = int(rec["t"][0]), int(rec["t"][-1] - rec["t"][0])
        rows = [(c, t0 + k * span // 12, t0 + (k + 1) * span // 12 + span // 40) for k, c in enumerate(range(1, 12))]
        (folder / "user01_led_labels.csv").write_text(
            "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{a},{b}\n" for c, a, b in rows))
        (folder / "trials_to_train.txt").write_text("user01_led.aedat\n")
        (folder / "trials_to_test.txt").write_text("")

        def evio_gesture():
            gd = DVS128Gesture(tmp / "g")
            return [gd[i][0] for i in range(len(gd))]

        def sj_gesture():
            events = sju.load_aedat_v3(folder / "user01_led.aedat")
            return [{k: v[(events["t"] >= a) & (events["t"] < b)] for k, v in events.items()} for _, a, b in rows]

        ours, theirs = evio_gesture(), sj_gesture()
        ok &= len(ours) == len(theirs) and all(
            np.array_equal(o[k].astype(np.int64), r[k].astype(np.int64)) for o, r in zip(ours, theirs) for k in "txyp")
        t_evio = _best(evio_gesture, args.repeats)
        t_sj = _best(sj_gesture, 1)
        print(f"(d) gesture   evio {t_evio * 1e3:8.1f} ms   SpikingJelly {t_sj * 1e3:8.1f} ms"
              f"   ratio {t_sj / t_evio:6.1f}x  (11 samples, {args.recording:,} events)")

        ok &= _atis_section("(e) N-MNIST", NMNIST, tmp / "nmnist" / "Train", args.nmnist, (34, 34), (3000, 5500),
                            args.repeats)
        ok &= _atis_section("(f) N-Caltech101", NCaltech101, tmp / "ncaltech" / "Caltech101", args.ncaltech,
                            (240, 180), (60_000, 160_000), args.repeats)
    print("checks:", "all match SpikingJelly" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
