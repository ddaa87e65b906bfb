"""Benchmark of ``evio.frames`` against SpikingJelly 2.0 and Tonic, and a read-once memory floor.

Run from the repository root::

    .venv/bin/python -m benchmarks.frames             # 10,000,000 events
    .venv/bin/python -m benchmarks.frames --quick     # 1,000,000 events

Single-threaded: ``NUMBA_NUM_THREADS=1`` (and the BLAS/OpenMP thread variables) are set below,
before NumPy, Numba or evio are imported. evio's kernels are serial ``@njit`` loops anyway.

Data: one stream of ``--events`` events on a 128 x 128 sensor, sorted ``t`` over about 4 s
(Poisson arrivals, 2.5 events/µs), uniform random ``x``, ``y`` and polarity, as an
``evio.EVENT_DTYPE`` array (13 bytes per event). Tonic gets that same array (it reads fields by
name); SpikingJelly gets its ``{'t', 'x', 'y', 'p'}`` dict of the same values (built once, untimed).

Modes, for T = 8 and T = 16 (``duration`` = the stream's span // T, so about T frames):

- count:    SpikingJelly ``integrate_events_by_fixed_frames_number(split_by='number')`` and Tonic
            ``to_frame_numpy(n_event_bins=T)`` vs ``evio.frames(ev, T, by="count", convention=...)``;
- time:     ``split_by='time'`` and ``n_time_bins=T`` vs ``by="time"``;
- duration: ``integrate_events_by_fixed_duration`` (2.0 grid) and ``time_window`` vs ``by="duration"``.

Each evio result is checked against the peer's (dtype, shape, values) before timing. Every time is
the best of ``--repeats`` calls. The floor is reading the input once: the faster of
``events.view(np.uint8).sum()`` (NumPy) and a Numba loop summing the same bytes as uint64 words,
printed once at the start; each row's ``evio/floor`` divides by the Numba floor timed alternately
with that row's evio calls (call for call, best of each), so a change of load on this shared
machine during the run moves both.
Targets (printed, never asserted): evio at least 5x faster than SpikingJelly and 10x faster than
Tonic in every mode, and at most 3x the floor. The script exits 1 if a result differs.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import platform
import shlex
import sys
import time
import warnings

import numba
import numpy as np

import evio

SENSOR = (128, 128)
RATE_PER_US = 2.5
TARGET_SJ, TARGET_TONIC, TARGET_FLOOR = 5.0, 10.0, 3.0


@numba.njit(cache=True, nogil=True)
def sum_words(words):
    total = np.uint64(0)
    for i in range(words.shape[0]):
        total += words[i]
    return total


def best_of_pair(fn, floor_fn, repeats):
    """(best of ``fn``, best of ``floor_fn``), timed alternately call for call."""
    fn()
    floor_fn()
    times, floors = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        floor_fn()
        floors.append(time.perf_counter() - t0)
    return min(times), min(floors)


def best_of(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def loadavg():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def make_events(n, seed):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=evio.EVENT_DTYPE)
    ev["t"] = np.cumsum(rng.poisson(1 / RATE_PER_US, n))
    ev["x"] = rng.integers(0, SENSOR[0], n)
    ev["y"] = rng.integers(0, SENSOR[1], n)
    ev["p"] = rng.random(n) < 0.5
    return ev


def load_peers():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from _sj import load_spikingjelly_datasets

    sj = load_spikingjelly_datasets()
    try:
        import tonic.functional
    except ImportError:
        tonic = None
    else:
        tonic = tonic.functional
    return sj, tonic


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.frames", description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000_000, help="events in the stream (default 10,000,000)")
    ap.add_argument("--quick", action="store_true", help="1,000,000 events")
    ap.add_argument("--repeats", type=int, default=5, help="calls per measurement; best is reported (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n = 1_000_000 if args.quick else args.events

    print("evio frames benchmark (events -> [T, 2, H, W] frames)")
    print(f"command: {shlex.join([sys.executable, '-m', 'benchmarks.frames', *sys.argv[1:]])}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}, cpus {os.cpu_count()}, {platform.machine()}")
    ev = make_events(n, args.seed)
    span = int(ev["t"][-1] - ev["t"][0])
    W, H = SENSOR
    d = {"t": ev["t"].copy(), "x": ev["x"].astype(np.int64), "y": ev["y"].astype(np.int64),
         "p": ev["p"].astype(np.int64)}
    sj, tonic = load_peers()
    print(f"{n:,} events ({ev.nbytes / 1e6:.0f} MB), sensor {W}x{H}, span {span / 1e6:.2f} s; best of "
          f"{args.repeats}; SpikingJelly {'yes' if sj else 'MISSING'}, Tonic {'yes' if tonic else 'MISSING'}; "
          f"load avg {loadavg()}")

    raw = ev.view(np.uint8)
    words = raw[: len(raw) // 8 * 8].view(np.uint64)
    floor_np = best_of(lambda: raw.sum(), args.repeats)
    floor_nb = best_of(lambda: sum_words(words), args.repeats)
    floor = min(floor_np, floor_nb)
    print(f"read-once floor: numpy events.view(uint8).sum() {floor_np * 1e3:.1f} ms, numba uint64-word sum "
          f"{floor_nb * 1e3:.1f} ms -> floor {floor * 1e3:.1f} ms "
          f"({'numba' if floor_nb <= floor_np else 'numpy'}, {ev.nbytes / floor / 1e9:.1f} GB/s)")

    ok = True
    rows = []
    for T in (8, 16):
        duration = span // T
        modes = [
            ("count", {"by": "count"},
             lambda T=T: sj.integrate_events_by_fixed_frames_number(d, "number", T, H, W),
             lambda T=T: tonic.to_frame_numpy(ev, (W, H, 2), n_event_bins=T)),
            ("time", {"by": "time"},
             lambda T=T: sj.integrate_events_by_fixed_frames_number(d, "time", T, H, W),
             lambda T=T: tonic.to_frame_numpy(ev, (W, H, 2), n_time_bins=T)),
            ("duration", {"by": "duration", "duration": duration},
             lambda duration=duration: sj.integrate_events_by_fixed_duration(d, duration, H, W),
             lambda duration=duration: tonic.to_frame_numpy(ev, (W, H, 2), time_window=duration)),
        ]
        for name, kw, sj_call, tonic_call in modes:
            for convention, peer_name, peer_call, target in (("spikingjelly", "SpikingJelly", sj_call, TARGET_SJ),
                                                             ("tonic", "Tonic", tonic_call, TARGET_TONIC)):
                def evio_call(kw=kw, convention=convention, T=T):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", evio.LossWarning)
                        return evio.frames(ev, T, sensor_size=(W, H), convention=convention, **kw)

                got = evio_call()
                peer_s = float("nan")
                if (sj if convention == "spikingjelly" else tonic) is not None:
                    want = peer_call()
                    if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
                        ok = False
                        print(f"  WRONG: evio {convention} {name} T={T} differs from {peer_name} "
                              f"({got.dtype} {got.shape} vs {want.dtype} {want.shape})")
                    peer_s = best_of(peer_call, args.repeats)
                evio_s, row_floor = best_of_pair(evio_call, lambda: sum_words(words), args.repeats)
                rows.append((T, name, peer_name, got.shape[0], evio_s, peer_s, target, row_floor))

    print(f"\n  {'T':>3s} {'mode':9s} {'peer':13s} {'frames':>6s} {'evio s':>8s} {'peer s':>8s} "
          f"{'peer/evio':>10s} {'target':>7s} {'floor s':>8s} {'evio/floor':>11s} {'target':>7s}")
    for T, name, peer, frames_out, evio_s, peer_s, target, row_floor in rows:
        speedup = peer_s / evio_s
        to_floor = evio_s / row_floor
        verdict = "PASS" if speedup >= target else "MISS"
        floor_verdict = "PASS" if to_floor <= TARGET_FLOOR else "MISS"
        print(f"  {T:3d} {name:9s} {peer:13s} {frames_out:6d} {evio_s:8.4f} {peer_s:8.4f} "
              f"{speedup:9.1f}x {f'>={target:.0f}x':>4s} {verdict} {row_floor:8.4f} {to_floor:10.2f}x "
              f"{f'<={TARGET_FLOOR:.0f}x':>4s} "
              f"{floor_verdict}")
    print(f"results: {'every evio frame equals the peer (dtype, shape, values)' if ok else 'SOME RESULTS DIFFER'}; "
          f"load avg {loadavg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
