"""Benchmark of evio's chunked event stores (HDF5 ``.h5`` and zarr ``.zarr``).

Run from the repository root::

    .venv/bin/python -m benchmarks.stores            # full run: 200 M events + 50 M window store
    .venv/bin/python -m benchmarks.stores --quick    # smoke run: 5 M events + 2 M window store

What is measured (nothing is asserted about speed; the script exits 0 unless evio returns wrong data):

1. Streaming conversion at scale.
   A synthetic recording of ``--events`` events (1280 x 720 sensor, sorted int64 µs timestamps from a
   Poisson process whose rate changes every 65,536 events between 10 and 20 M events/s, uniform random
   x, y, p) is written chunk by chunk with ``evio.open(path, "w")`` / ``.write(chunk)`` into an HDF5
   store (timed). Then ``evio convert big.h5 big.zarr -q`` runs in a separate process; its wall time,
   events/s and peak RSS (``os.wait4`` rusage of that child, taken by a tiny launcher process so the
   benchmark's own RSS does not leak into it, plus a /proc VmRSS trace to spot growth)
   are reported against the 500 MB target. Correctness: event counts, ON counts, t range and time
   indexes agree, and random slices read with plain h5py / zarr are equal between the two stores.
   The median 1 ms window time on these big stores is also reported (it should not depend on N).

2. Time windows.
   A second store of ``--window-events`` events is generated (HDF5) and converted to zarr in-process.
   For both formats: the time of a full ``reader.read()`` versus the median of ``--windows`` random
   ``reader.time_window(t0, t0 + 1000)`` calls (1 ms), their ratio, events per window, how many events
   the window reads (instrumented ``_read_field`` calls) and the fraction of the compressed chunks it
   has to decompress. Every window is checked against a brute-force mask ``(t >= t0) & (t < t1)`` on a
   neighbourhood read with plain h5py / zarr, plus two windows overlapping the start and the end.

3. A summary table and the command line.

Data lives under ``tempfile.mkdtemp(dir=$EVIO_BENCH_DIR or /tmp)`` and is deleted unless ``--keep``.
Files are freshly written, so reads are mostly served from the page cache (this measures CPU cost
of decompression and evio, not the disk).
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import evio
from evio.events import EVENT_DTYPE
from evio.formats._store import path_size

SENSOR_SIZE = (1280, 720)
RSS_TARGET_MB = 500
GEN_CHUNK = 1 << 22          # events generated and written per .write() call
RATE_BLOCK = 1 << 16         # events sharing one event rate
RATE_RANGE = (10.0, 20.0)    # M events/s == events per µs
WINDOW_US = 1000
NEIGHBOURHOOD = 200_000      # events read on each side of a window for the brute-force check
T_START = 1_000_000          # µs of the first event

SUMMARY: list[tuple[str, str]] = []
FAILURES: list[str] = []


# -- helpers -----------------------------------------------------------------------------------------
def log(msg: str = "") -> None:
    print(msg, flush=True)


def record(name: str, value: str) -> None:
    SUMMARY.append((name, value))


def check(ok: bool, what: str) -> bool:
    log(f"    [{'ok' if ok else 'MISMATCH'}] {what}")
    if not ok:
        FAILURES.append(what)
    return ok


def mb(nbytes: float) -> float:
    return nbytes / 1e6


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def self_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1.024 / 1000  # KiB -> MB


# -- synthetic data ----------------------------------------------------------------------------------
def synthetic_chunks(n: int, seed: int, chunk: int = GEN_CHUNK):
    """Yield ``EVENT_DTYPE`` chunks of a sorted synthetic recording (a fresh array each time)."""
    rng = np.random.default_rng(seed)
    t_float = float(T_START)
    for a in range(0, n, chunk):
        m = min(chunk, n - a)
        rates = rng.uniform(*RATE_RANGE, size=-(-m // RATE_BLOCK))
        scale = np.repeat(1.0 / rates, RATE_BLOCK)[:m]              # mean µs between events
        tf = np.cumsum(rng.standard_exponential(m) * scale)
        tf += t_float
        t_float = float(tf[-1])
        ev = np.empty(m, dtype=EVENT_DTYPE)
        ev["t"] = tf.astype(np.int64)                                 # floor (all positive)
        ev["x"] = rng.integers(0, SENSOR_SIZE[0], m, dtype=np.uint16)
        ev["y"] = rng.integers(0, SENSOR_SIZE[1], m, dtype=np.uint16)
        ev["p"] = rng.integers(0, 2, m, dtype=np.uint8).view(np.bool_)
        yield ev


def generate_store(path: Path, n: int, seed: int) -> dict:
    """Write ``n`` synthetic events to ``path`` with ``evio.open(path, "w")``; return stats."""
    on = 0
    t_first = t_last = None
    start = time.perf_counter()
    with evio.open(path, "w", sensor_size=SENSOR_SIZE,
                   meta={"generator": "benchmarks.stores", "seed": seed}) as writer:
        for ev in synthetic_chunks(n, seed):
            on += int(np.count_nonzero(ev["p"]))
            if t_first is None:
                t_first = int(ev["t"][0])
            t_last = int(ev["t"][-1])
            writer.write(ev)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "on": on, "t_first": t_first, "t_last": t_last,
            "size": path_size(path), "count": n}


# -- plain-library access (independent of evio's reader) -------------------------------------------
class RawStore:
    """Reads ``events/{t,x,y,p}`` + ``t_offset`` with plain h5py or zarr."""

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            import zarr

            self._root = zarr.open_group(store=str(path), mode="r")
            self._close = lambda: None
        else:
            import h5py

            f = h5py.File(path, "r")
            self._root = f
            self._close = f.close
        self.t_offset = int(np.asarray(self._root["t_offset"][()]))
        self.count = int(self._root["events/t"].shape[0])
        self.chunk_length = int(self._root["events/t"].chunks[0])

    def field(self, name: str, a: int, b: int) -> np.ndarray:
        return np.asarray(self._root[f"events/{name}"][a:b])

    def slice(self, a: int, b: int) -> np.ndarray:
        a, b = max(0, a), min(self.count, b)
        out = np.empty(b - a, dtype=EVENT_DTYPE)
        out["t"] = self.field("t", a, b).astype(np.int64) + self.t_offset
        out["x"] = self.field("x", a, b)
        out["y"] = self.field("y", a, b)
        out["p"] = self.field("p", a, b) != 0
        return out

    def array(self, name: str) -> np.ndarray:
        return np.asarray(self._root[name][...])

    def close(self) -> None:
        self._close()


# -- child process with peak RSS -------------------------------------------------------------------
#: Runs argv[1:] and reports that grandchild's own peak RSS. A small launcher is needed because Linux
#: carries the parent's RSS high-water mark over fork/vfork + exec into the child's ru_maxrss: a
#: ``true`` started straight from a 400 MB Python process reports ~400 MB via wait4/RUSAGE_CHILDREN.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "sys.stdout.flush(); sys.stderr.write('\\nEVIO_BENCH_MAXRSS_KIB=%d\\n' % usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def _proc_kib(pid: int, keys=("VmRSS:", "VmHWM:")) -> dict:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(maxsplit=1)[0] if line else ""
        if key in keys:
            out[key[:-1]] = int(line.split()[1])
    return out


def run_measured(cmd: list[str], log_path: Path) -> dict:
    """Run ``cmd`` through the launcher; return wall time, exit code, peak RSS and a VmRSS trace (MB)."""
    trace: list[tuple[float, float]] = []
    done = threading.Event()
    with open(log_path, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, *cmd], stdout=out, stderr=subprocess.STDOUT)

        def sample() -> None:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
            while not done.is_set():
                try:
                    pids = children.read_text().split()
                    if pids:
                        kib = _proc_kib(int(pids[0]))
                        io = dict(line.split(": ") for line in
                                  Path(f"/proc/{pids[0]}/io").read_text().splitlines() if ": " in line)
                        trace.append((time.perf_counter() - start, kib["VmRSS"] * 1.024 / 1000, int(io["rchar"])))
                except (OSError, ValueError, KeyError):
                    pass
                done.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    output = log_path.read_text(errors="replace")
    peak = None
    for line in output.splitlines():
        if line.startswith("EVIO_BENCH_MAXRSS_KIB="):
            peak = int(line.split("=", 1)[1]) * 1.024 / 1000
    return {"seconds": seconds, "rc": proc.returncode, "peak_rss_mb": peak, "trace": trace, "output": output}


def trace_summary(trace: list[tuple[float, float, int]], bytes_per_event: float) -> list[str]:
    """VmRSS at 10 %, 25 %, ... of the run, and the read rate (from /proc rchar) in each quarter."""
    if len(trace) < 4:
        return ["(too short for a trace)"]
    total = trace[-1][0] or 1.0

    def at(q):
        return min(trace, key=lambda s: abs(s[0] - q * total))

    rss = ", ".join(f"{int(q * 100)}%: {at(q)[1]:.0f}" for q in (0.1, 0.25, 0.5, 0.75, 1.0))
    rates = []
    for q0, q1 in ((0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)):
        a, b = at(q0), at(q1)
        rates.append(f"{(b[2] - a[2]) / bytes_per_event / max(b[0] - a[0], 1e-9) / 1e6:.1f}")
    return [f"VmRSS MB at {rss}",
            f"source read rate per quarter of the run (rchar / B-per-event): {' | '.join(rates)} M events/s"]


def evio_command() -> list[str]:
    exe = Path(sys.executable).parent / "evio"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "evio.cli"]


# -- section 1 ---------------------------------------------------------------------------------------
def bench_conversion(work: Path, n: int, seed: int, windows: int) -> None:
    log(f"== 1. Streaming conversion: {n:,} events ==")
    h5 = work / "big.h5"
    zr = work / "big.zarr"

    log(f"  generating {h5.name} with evio.open(..., 'w').write(chunk of {GEN_CHUNK:,}) ...")
    gen = generate_store(h5, n, seed)
    duration_s = (gen["t_last"] - gen["t_first"]) / 1e6
    log(f"    {n:,} events in {gen['seconds']:.1f} s = {n / gen['seconds'] / 1e6:.2f} M events/s, "
        f"{mb(gen['size']):,.0f} MB on disk ({gen['size'] / n:.2f} B/event), "
        f"recording {duration_s:.2f} s ({n / duration_s / 1e6:.1f} M events/s of recording)")
    log(f"    parent peak RSS so far {self_peak_rss_mb():.0f} MB")
    record("generate HDF5 (write)", f"{n:,} ev, {gen['seconds']:.1f} s, {n / gen['seconds'] / 1e6:.2f} M ev/s, "
                                    f"{gen['size'] / n:.2f} B/ev")

    base = run_measured([sys.executable, "-c", "import evio.cli, evio.kernels.summary, h5py, hdf5plugin, zarr"],
                        work / "imports.log")
    log(f"  baseline: a child that only imports evio/h5py/zarr peaks at {base['peak_rss_mb']:.0f} MB")

    cmd = evio_command() + ["convert", str(h5), str(zr), "-q"]
    log(f"  running: {shlex.join(cmd)}")
    res = run_measured(cmd, work / "convert.log")
    if res["rc"] != 0 or res["peak_rss_mb"] is None:
        check(False, f"evio convert exited {res['rc']}: {res['output'][-2000:]}")
        return
    rate = n / res["seconds"] / 1e6
    zsize = path_size(zr)
    verdict = "PASS" if res["peak_rss_mb"] < RSS_TARGET_MB else "FAIL"
    log(f"    {n:,} events in {res['seconds']:.1f} s = {rate:.2f} M events/s; zarr {mb(zsize):,.0f} MB "
        f"({zsize / n:.2f} B/event)")
    log(f"    child peak RSS {res['peak_rss_mb']:.0f} MB -> {verdict} (target < {RSS_TARGET_MB} MB)")
    for line in trace_summary(res["trace"], gen["size"] / n):
        log(f"    {line}")
    record("convert h5 -> zarr (CLI)", f"{res['seconds']:.1f} s, {rate:.2f} M ev/s")
    record("convert peak RSS", f"{res['peak_rss_mb']:.0f} MB  [{verdict}: target < {RSS_TARGET_MB} MB; "
                               f"imports alone {base['peak_rss_mb']:.0f} MB]")

    log("  correctness:")
    info_h5, info_zr = evio.info(h5), evio.info(zr)
    check(info_h5["event_count"] == info_zr["event_count"] == n,
          f"event counts h5={info_h5['event_count']:,} zarr={info_zr['event_count']:,} generated={n:,}")
    check(info_h5["on_count"] == info_zr["on_count"] == gen["on"],
          f"ON counts h5={info_h5['on_count']:,} zarr={info_zr['on_count']:,} generated={gen['on']:,}")
    check((info_h5["t_min"], info_h5["t_max"]) == (info_zr["t_min"], info_zr["t_max"]) == (gen["t_first"], gen["t_last"]),
          f"t range {info_h5['t_min']}..{info_h5['t_max']} (zarr {info_zr['t_min']}..{info_zr['t_max']})")
    check(info_h5["sensor_size"] == info_zr["sensor_size"] == list(SENSOR_SIZE),
          f"sensor size h5={info_h5['sensor_size']} zarr={info_zr['sensor_size']}")
    ra, rb = RawStore(h5), RawStore(zr)
    try:
        check(np.array_equal(ra.array("ms_to_idx"), rb.array("ms_to_idx")),
              f"ms_to_idx equal ({len(ra.array('ms_to_idx')):,} entries)")
        rng = np.random.default_rng(seed + 1)
        starts = [0, max(0, n - 100_000)] + [int(s) for s in rng.integers(0, max(1, n - 100_000), 6)]
        same = all(np.array_equal(ra.slice(s, s + 100_000), rb.slice(s, s + 100_000)) for s in starts)
        check(same, f"{len(starts)} slices of 100,000 events equal (plain h5py vs plain zarr), incl. first/last")
    finally:
        ra.close()
        rb.close()

    for path in (h5, zr):
        with evio.open(path) as reader:
            times, _ = time_windows(reader, pick_windows(path, n, windows, seed + 2))
        med = statistics.median(times)
        log(f"  1 ms window on the {n:,}-event {path.suffix} store: median {fmt_s(med)}")
        record(f"1 ms window, {n / 1e6:g} M store {path.suffix}", fmt_s(med))


# -- section 2 ---------------------------------------------------------------------------------------
def pick_windows(path: Path, n: int, k: int, seed: int) -> list[tuple[int, int]]:
    """``k`` windows ``(t0, t0 + 1 ms)`` starting near random events (not aligned to the ms grid)."""
    rng = np.random.default_rng(seed)
    raw = RawStore(path)
    try:
        out = []
        for idx in rng.integers(0, n, k):
            t = int(raw.field("t", int(idx), int(idx) + 1)[0]) + raw.t_offset
            t0 = t - int(rng.integers(0, WINDOW_US))
            out.append((t0, t0 + WINDOW_US))
        return out
    finally:
        raw.close()


def time_windows(reader, windows) -> tuple[list[float], list[int]]:
    times, sizes = [], []
    for t0, t1 in windows:
        start = time.perf_counter()
        ev = reader.time_window(t0, t1)
        times.append(time.perf_counter() - start)
        sizes.append(len(ev))
    return times, sizes


def window_io(reader, windows) -> tuple[list[int], float]:
    """Timestamps read per window (by instrumenting ``_read_field``) and the mean fraction
    of the store's uncompressed bytes that lie in chunks the window touches."""
    calls: list[tuple[str, int, int]] = []
    original = reader._read_field

    def counting(f, a, b):
        calls.append((f, a, b))
        return original(f, a, b)

    itemsize = {"t": 8, "x": 2, "y": 2, "p": 1}
    chunk = int(reader._arrays["t"].chunks[0])
    total_bytes = reader.count * sum(itemsize.values())
    events_read, fractions = [], []
    reader._read_field = counting
    try:
        for t0, t1 in windows:
            calls.clear()
            reader.time_window(t0, t1)
            events_read.append(sum(b - a for f, a, b in calls if f == "t"))
            touched = {}
            for f, a, b in calls:
                if b > a:
                    touched.setdefault(f, set()).update(range(a // chunk, (b - 1) // chunk + 1))
            nbytes = sum(len(ids) * chunk * itemsize[f] for f, ids in touched.items())
            fractions.append(nbytes / total_bytes)
    finally:
        del reader._read_field
    return events_read, statistics.mean(fractions)


def check_windows(path: Path, reader, windows, t_min: int, t_max: int) -> None:
    """Compare ``time_window`` with a brute-force mask on a neighbourhood read with plain h5py/zarr."""
    raw = RawStore(path)
    n = raw.count
    edges = [(t_min - 500, t_min + 500), (t_max - 500, t_max + 500)]
    n_ok = 0
    try:
        for t0, t1 in list(windows) + edges:
            got = reader.time_window(t0, t1)
            # locate by bisection on the raw t with a coarse stride, then read a neighbourhood
            lo, hi = 0, n
            while hi - lo > NEIGHBOURHOOD:
                mid = (lo + hi) // 2
                if int(raw.field("t", mid, mid + 1)[0]) + raw.t_offset < t0:
                    lo = mid
                else:
                    hi = mid
            a, b = max(0, lo - NEIGHBOURHOOD), min(n, hi + NEIGHBOURHOOD)
            nb = raw.slice(a, b)
            covers = (a == 0 or nb["t"][0] < t0) and (b == n or nb["t"][-1] >= t1)
            expected = nb[(nb["t"] >= t0) & (nb["t"] < t1)]
            ok = covers and got.dtype == EVENT_DTYPE and np.array_equal(got, expected)
            if not ok:
                check(False, f"{path.suffix} time_window({t0}, {t1}): {len(got):,} events, "
                             f"brute force {len(expected):,} (neighbourhood covers: {covers})")
            n_ok += ok
    finally:
        raw.close()
    check(n_ok == len(windows) + 2, f"{path.suffix}: {n_ok}/{len(windows) + 2} windows equal the brute-force "
                                     f"mask (incl. one overlapping the start and one the end)")


def full_read(reader, repeats: int = 3) -> tuple[float, str]:
    """Time reading every event: ``read()`` when it fits comfortably, else iterating the chunks."""
    need = reader.count * EVENT_DTYPE.itemsize * 3
    avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        if need < avail / 2:
            how = "read()"
            ev = reader.read()
            assert len(ev) == reader.count
            del ev
        else:
            how = "iterating chunks"
            total = sum(len(c) for c in reader)
            assert total == reader.count
        times.append(time.perf_counter() - start)
    return statistics.median(times), f"{how}, median of {repeats}"


def bench_windows(work: Path, n: int, seed: int, k: int) -> None:
    log(f"== 2. Time windows: {n:,}-event store, {k} random {WINDOW_US} µs windows ==")
    h5, zr = work / "window.h5", work / "window.zarr"
    gen = generate_store(h5, n, seed + 10)
    log(f"  generated {h5.name}: {gen['seconds']:.1f} s ({n / gen['seconds'] / 1e6:.2f} M events/s)")
    start = time.perf_counter()
    evio.convert(h5, zr)
    sec = time.perf_counter() - start
    log(f"  evio.convert -> {zr.name} (in-process): {sec:.1f} s ({n / sec / 1e6:.2f} M events/s)")
    record(f"convert h5 -> zarr in-process, {n / 1e6:g} M", f"{sec:.1f} s, {n / sec / 1e6:.2f} M ev/s")

    windows = pick_windows(h5, n, k, seed + 3)
    for path in (h5, zr):
        log(f"  {path.name}:")
        start = time.perf_counter()
        reader = evio.open(path)
        open_s = time.perf_counter() - start
        try:
            assert reader.has_time_index, f"{path} has no time index"
            read_s, how = full_read(reader)
            times, sizes = time_windows(reader, windows)
            events_read, chunk_frac = window_io(reader, windows)
            med = statistics.median(times)
            ratio = read_s / med
            log(f"    open {fmt_s(open_s)}; full {how}: {fmt_s(read_s)} ({n / read_s / 1e6:.1f} M events/s)")
            log(f"    1 ms window: median {fmt_s(med)} (min {fmt_s(min(times))}, max {fmt_s(max(times))}); "
                f"full read / window = {ratio:,.0f}x")
            log(f"    events per window: median {statistics.median(sizes):,.0f} "
                f"(min {min(sizes):,}, max {max(sizes):,})")
            er = statistics.median(events_read)
            log(f"    t values read per window (index brackets + result): median {er:,.0f} = {er / n:.2e} of N; "
                f"chunks decompressed ≈ {chunk_frac:.2e} of the data "
                f"(chunk = {int(reader._arrays['t'].chunks[0]):,} events)")
            check_windows(path, reader, windows, reader.summary().t_min, reader.summary().t_max)
            fmt = path.suffix
            record(f"full read {fmt}, {n / 1e6:g} M", f"{fmt_s(read_s)} ({n / read_s / 1e6:.1f} M ev/s)")
            record(f"1 ms window {fmt}, {n / 1e6:g} M", f"median {fmt_s(med)}, {statistics.median(sizes):,.0f} ev; "
                                                      f"ratio {ratio:,.0f}x; touches {chunk_frac:.1e} of data")
        finally:
            reader.close()


# -- main --------------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stores", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200_000_000, help="events in the conversion store (default 200M)")
    p.add_argument("--window-events", type=int, default=50_000_000, help="events in the window store (default 50M)")
    p.add_argument("--windows", type=int, default=20, help="random 1 ms windows to time (default 20)")
    p.add_argument("--quick", action="store_true", help="smoke run: 5M events, 2M window events")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--skip-convert", action="store_true", help="skip section 1")
    p.add_argument("--skip-windows", action="store_true", help="skip section 2")
    args = p.parse_args(argv)
    if args.quick:
        args.events, args.window_events = 5_000_000, 2_000_000
    if args.events < 1 or args.window_events < 1 or args.windows < 1:
        p.error("--events, --window-events and --windows must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    command = shlex.join([sys.executable, "-m", "benchmarks.stores", *(sys.argv[1:] if argv is None else argv)])
    import h5py
    import zarr

    work = Path(tempfile.mkdtemp(prefix="evio-bench-", dir=os.environ.get("EVIO_BENCH_DIR", "/tmp")))
    log(f"evio benchmark: stores  ({command})")
    log(f"numpy {np.__version__}, h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}), zarr {zarr.__version__}, "
        f"{os.cpu_count()} CPUs, data in {work}")
    log()
    total = time.perf_counter()
    try:
        if not args.skip_convert:
            bench_conversion(work, args.events, args.seed, args.windows)
            for name in ("big.h5", "big.zarr"):     # free the disk before section 2
                target = work / name
                if not args.keep and target.exists():
                    shutil.rmtree(target) if target.is_dir() else target.unlink()
            log()
        if not args.skip_windows:
            bench_windows(work, args.window_events, args.seed, args.windows)
            log()
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    record("total benchmark time", f"{time.perf_counter() - total:.0f} s")
    record("correctness", "all checks passed" if not FAILURES else f"{len(FAILURES)} FAILED")
    width = max(len(k) for k, _ in SUMMARY)
    log("== Summary ==")
    log(f"command: {command}")
    log(f"{'measure':<{width}}  value")
    log(f"{'-' * width}  {'-' * 40}")
    for key, value in SUMMARY:
        log(f"{key:<{width}}  {value}")
    for f in FAILURES:
        log(f"FAILED CHECK: {f}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
