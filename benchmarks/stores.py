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

3. Baselines: plain h5py / zarr-python, on the same window store as section 2 (the project rule: time
   evio and a peer in one run on the same data and print ratios evio / plain, > 1 means evio is slower).
   (a) Full read: ``reader.read()`` versus what a plain user writes, ``f["events/t"][:] + t_offset``
       and ``f["events/{x,y,p}"][:]`` (h5py) or ``zarr.open_group(p, mode="r")[name][:]`` (zarr-python),
       with both handles already open. evio also packs the four fields into one ``EVENT_DTYPE``
       structured array and checks their types, so the cost of that packing on top of the plain read
       (``np.empty(n, EVENT_DTYPE)`` + four field assignments) is shown as well. An untimed first pass
       checks the results. Each step allocates its ``n x 13`` B output, and on a VM whose balloon driver
       hands freed memory back to the host, first touching new memory can cost seconds per GB; so the
       pack is also timed into an array allocated once and kept (pure field copying, no page faults).
   (b) Conversion h5 -> zarr: ``evio.convert`` in-process versus a plain script that copies the four
       datasets 1,048,576 events per step from h5py into zarr v3 arrays created with the final shape,
       the codec and chunk length evio's ZarrWriter uses (Blosc zstd clevel 3 bitshuffle, 65,536 events)
       plus the ``t_offset`` scalar, and no time index or attributes.
   (c) The same 1 ms windows as section 2 by a plain user who knows the DSEC layout: ``ms_to_idx`` read
       once, then per window ``events/t[ms_to_idx[m0]:ms_to_idx[m1 + 1]]``, ``searchsorted`` for the exact
       ``t0 <= t < t1`` and the matching slices of x, y, p; versus ``reader.time_window``.
   A floor: reading the store's bytes into memory with ``open(...).read()`` (page cache, no decoding).
   Every plain result is checked to equal evio's. evio and the plain code never have the same HDF5 file
   open at once: HDF5 shares an open dataset, chunk cache included, between two handles in one process.

4. A summary table and the command line.

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
from evio.events import EVENT_DTYPE, FIELDS
from evio.formats._store import DEFAULT_CHUNK_LENGTH, path_size

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


def bench_windows(work: Path, n: int, seed: int, k: int) -> tuple[Path, Path, list[tuple[int, int]]]:
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
    return h5, zr, windows


# -- section 3 ---------------------------------------------------------------------------------------
PLAIN_STEP = 1 << 20         # events per copy step of the plain conversion script


def open_plain(path: Path):
    """The root a plain user opens: ``h5py.File(p, "r")`` or ``zarr.open_group(p, mode="r")``."""
    if path.is_dir():
        import zarr

        return zarr.open_group(str(path), mode="r")
    import h5py

    return h5py.File(path, "r")


def plain_full_read(root) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plain h5py / zarr-python: the four datasets as numpy arrays, ``t_offset`` added to t."""
    t = root["events/t"][:]
    t += np.int64(root["t_offset"][()])
    return t, root["events/x"][:], root["events/y"][:], root["events/p"][:]


def pack(t, x, y, p, out: np.ndarray | None = None) -> np.ndarray:
    """Four plain arrays -> one ``EVENT_DTYPE`` array (the layout ``reader.read()`` returns)."""
    out = np.empty(len(t), dtype=EVENT_DTYPE) if out is None else out
    out["t"], out["x"], out["y"], out["p"] = t, x, y, p != 0
    return out


def same_events(ev: np.ndarray, t, x, y, p) -> bool:
    """``ev`` (EVENT_DTYPE) holds exactly the plain arrays ``t, x, y, p`` (p: nonzero = ON)."""
    return (ev.dtype == EVENT_DTYPE and len(ev) == len(t) == len(x) == len(y) == len(p)
            and np.array_equal(ev["t"], t) and np.array_equal(ev["x"], x)
            and np.array_equal(ev["y"], y) and np.array_equal(ev["p"], p != 0))


def plain_convert(src: Path, dst: Path, step: int = PLAIN_STEP) -> None:
    """A straightforward h5py -> zarr v3 copy with the codec and chunk length evio's ZarrWriter uses."""
    import h5py
    import zarr
    from zarr.codecs import BloscCodec

    codec = BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
    with h5py.File(src, "r") as f:
        root = zarr.open_group(str(dst), mode="w", zarr_format=3)
        src_arrays = {name: f[f"events/{name}"] for name in FIELDS}
        n = src_arrays["t"].shape[0]
        dst_arrays = {name: root.create_array(f"events/{name}", shape=(n,), dtype=d.dtype,
                                              chunks=(DEFAULT_CHUNK_LENGTH,), compressors=codec, fill_value=0)
                      for name, d in src_arrays.items()}
        for a in range(0, n, step):
            b = min(a + step, n)
            for name in FIELDS:
                dst_arrays[name][a:b] = src_arrays[name][a:b]
        t_offset = root.create_array("t_offset", shape=(), dtype="<i8")
        t_offset[...] = np.int64(f["t_offset"][()])


class PlainWindow:
    """A plain user who knows the DSEC layout: ``ms_to_idx`` read once, then per window the t slice
    between ``ms_to_idx[m0]`` and ``ms_to_idx[m1 + 1]``, ``searchsorted`` for the exact ``t0 <= t < t1``,
    and the matching slices of x, y, p (four plain arrays, not packed)."""

    def __init__(self, root):
        self.arrays = {name: root[f"events/{name}"] for name in FIELDS}
        self.t_offset = int(root["t_offset"][()])
        self.ms_to_idx = np.asarray(root["ms_to_idx"][:]).astype(np.int64)

    def __call__(self, t0: int, t1: int):
        last = len(self.ms_to_idx) - 1        # ms_to_idx[last] == event count
        m0 = min(max((t0 - self.t_offset) // 1000, 0), last)
        m1 = min(max((t1 - self.t_offset) // 1000 + 1, 0), last)
        lo, hi = int(self.ms_to_idx[m0]), int(self.ms_to_idx[m1])
        t = self.arrays["t"][lo:hi] + np.int64(self.t_offset)
        i0 = int(np.searchsorted(t, t0, side="left"))
        i1 = int(np.searchsorted(t, t1, side="left"))
        a, b = lo + i0, lo + i1
        return t[i0:i1], self.arrays["x"][a:b], self.arrays["y"][a:b], self.arrays["p"][a:b]


def read_bytes(path: Path) -> int:
    """Read every byte of a file (or of every file under a folder) into memory; return the byte count."""
    files = [path] if path.is_file() else sorted(q for q in path.rglob("*") if q.is_file())
    total = 0
    for q in files:
        with open(q, "rb") as f:
            total += len(f.read())
    return total


def chunks_identical(a: Path, b: Path) -> bool:
    """Whether two zarr stores hold byte-identical chunk files for ``events/{t,x,y,p}``."""
    for name in FIELDS:
        fa = sorted(q.relative_to(a) for q in (a / "events" / name).rglob("*") if q.is_file() and q.name != "zarr.json")
        fb = sorted(q.relative_to(b) for q in (b / "events" / name).rglob("*") if q.is_file() and q.name != "zarr.json")
        if fa != fb or any((a / q).read_bytes() != (b / q).read_bytes() for q in fa):
            return False
    return True


def bench_baselines(work: Path, h5: Path, zr: Path, windows, n: int, repeats: int = 3) -> None:
    log(f"== 3. Baselines: plain h5py / zarr-python on the same {n:,}-event store "
        f"(ratio = evio / plain, > 1: evio slower) ==")

    # Each side opens its own handle and closes it before the other side runs: HDF5 shares one open
    # dataset (and its chunk cache) between two handles on the same file in one process, so timing them
    # interleaved with both open would let whichever runs second read chunks the first one decompressed.
    # (a) full read -------------------------------------------------------------------------------
    need = n * EVENT_DTYPE.itemsize * 4
    avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    log(f"  (a) full read (open not timed): one untimed pass that checks the results are equal, then the median "
        f"of {repeats} alternating rounds:")
    if need >= avail / 2:
        log(f"    skipped: evio's and the plain copy together need ~{mb(need):,.0f} MB, {mb(avail):,.0f} MB free")
    else:
        for path in (h5, zr):
            fmt, lib = path.suffix, ("zarr-python" if path.is_dir() else "h5py")
            t_evio, t_plain, t_pack, t_fill, o_evio, o_plain = [], [], [], [], [], []
            kept = np.empty(n, dtype=EVENT_DTYPE)     # reused by every round's pack into ready memory
            for r in range(repeats + 1):
                timed = r > 0
                start = time.perf_counter()
                with evio.open(path) as reader:
                    opened = time.perf_counter()
                    ev = reader.read()
                    read = time.perf_counter()
                if timed:
                    o_evio.append(opened - start)
                    t_evio.append(read - opened)
                    ev = None
                start = time.perf_counter()
                root = open_plain(path)
                opened = time.perf_counter()
                try:
                    plain = plain_full_read(root)
                    read = time.perf_counter()
                finally:
                    if hasattr(root, "close"):
                        root.close()
                packed = pack(*plain)
                packed_at = time.perf_counter()
                pack(*plain, out=kept)
                filled_at = time.perf_counter()
                if timed:
                    o_plain.append(opened - start)
                    t_plain.append(read - opened)
                    t_pack.append(packed_at - read)
                    t_fill.append(filled_at - packed_at)
                else:
                    check(same_events(ev, *plain) and np.array_equal(ev, packed),
                          f"{fmt}: plain {lib} full read (and its packed copy) equals evio read() ({n:,} events)")
                ev = plain = packed = None
            kept = None
            e, pl, pk, fi = (statistics.median(v) for v in (t_evio, t_plain, t_pack, t_fill))
            log(f"    {fmt}: evio read() {fmt_s(e)} ({n / e / 1e6:.1f} M ev/s) | plain {lib} 4 arrays {fmt_s(pl)} "
                f"({n / pl / 1e6:.1f} M ev/s) -> ratio {e / pl:.2f}x")
            log(f"        plain + pack into a new EVENT_DTYPE array (what read() returns) {fmt_s(pl + pk)} "
                f"(pack {fmt_s(pk)}) -> ratio {e / (pl + pk):.2f}x")
            log(f"        plain + pack into an already-touched array {fmt_s(pl + fi)} (pack {fmt_s(fi)}) -> ratio "
                f"{e / (pl + fi):.2f}x  [the difference is page-faulting {mb(n * EVENT_DTYPE.itemsize):,.0f} MB "
                f"of new memory]")
            log(f"        open (not in the times above): evio {fmt_s(statistics.median(o_evio))} "
                f"(loads + checks ms_to_idx), plain {fmt_s(statistics.median(o_plain))}")
            record(f"baseline full read {fmt}, {n / 1e6:g} M",
                   f"evio {fmt_s(e)} vs plain {lib} {fmt_s(pl)}: {e / pl:.2f}x "
                   f"(vs +pack {fmt_s(pl + pk)}: {e / (pl + pk):.2f}x; "
                   f"+pack into ready memory {fmt_s(pl + fi)}: {e / (pl + fi):.2f}x)")

    # (b) conversion ------------------------------------------------------------------------------
    log(f"  (b) convert {h5.name} -> zarr, one run each (source in the page cache):")
    out_evio, out_plain = work / "baseline_evio.zarr", work / "baseline_plain.zarr"
    start = time.perf_counter()
    evio.convert(h5, out_evio)
    c_evio = time.perf_counter() - start
    start = time.perf_counter()
    plain_convert(h5, out_plain)
    c_plain = time.perf_counter() - start
    s_evio, s_plain = path_size(out_evio), path_size(out_plain)
    log(f"    evio.convert {fmt_s(c_evio)} ({n / c_evio / 1e6:.2f} M ev/s, {mb(s_evio):,.0f} MB; also builds "
        f"ms_to_idx, summary attributes, checks values) | plain h5py->zarr copy {fmt_s(c_plain)} "
        f"({n / c_plain / 1e6:.2f} M ev/s, {mb(s_plain):,.0f} MB) -> ratio {c_evio / c_plain:.2f}x")
    ra, rb = RawStore(out_evio), RawStore(out_plain)
    try:
        same = ra.count == rb.count == n and ra.t_offset == rb.t_offset and all(
            np.array_equal(ra.field(name, a, a + (1 << 22)), rb.field(name, a, a + (1 << 22)))
            for a in range(0, n, 1 << 22) for name in FIELDS)
    finally:
        ra.close()
        rb.close()
    check(same, f"plain copy holds the same events/t,x,y,p and t_offset as evio.convert's zarr ({n:,} events)")
    ident = chunks_identical(out_evio, out_plain)
    log(f"    chunk files of events/t,x,y,p byte-identical between the two zarr stores: {'yes' if ident else 'no'}")
    record(f"baseline convert h5 -> zarr, {n / 1e6:g} M",
           f"evio {fmt_s(c_evio)} vs plain copy {fmt_s(c_plain)}: {c_evio / c_plain:.2f}x")
    for target in (out_evio, out_plain):
        shutil.rmtree(target, ignore_errors=True)

    # (c) 1 ms windows ----------------------------------------------------------------------------
    log(f"  (c) the {len(windows)} random 1 ms windows of section 2 on fresh handles, median:")
    for path in (h5, zr):
        fmt, lib = path.suffix, ("zarr-python" if path.is_dir() else "h5py")
        with evio.open(path) as reader:
            t_evio, got = [], []
            for t0, t1 in windows:
                start = time.perf_counter()
                got.append(reader.time_window(t0, t1))
                t_evio.append(time.perf_counter() - start)
        root = open_plain(path)
        try:
            plain_window = PlainWindow(root)
            t_plain, n_ok = [], 0
            for (t0, t1), ev in zip(windows, got):
                start = time.perf_counter()
                plain = plain_window(t0, t1)
                t_plain.append(time.perf_counter() - start)
                n_ok += same_events(ev, *plain)
        finally:
            if hasattr(root, "close"):
                root.close()
        e, pl = statistics.median(t_evio), statistics.median(t_plain)
        log(f"    {fmt}: evio time_window {fmt_s(e)} | plain {lib} ms_to_idx + searchsorted {fmt_s(pl)} "
            f"(4 arrays, ms_to_idx loaded once beforehand) -> ratio {e / pl:.2f}x")
        check(n_ok == len(windows), f"{fmt}: {n_ok}/{len(windows)} plain {lib} windows equal evio time_window")
        record(f"baseline 1 ms window {fmt}, {n / 1e6:g} M",
               f"evio {fmt_s(e)} vs plain {lib} {fmt_s(pl)}: {e / pl:.2f}x")

    # floor ----------------------------------------------------------------------------------------
    log(f"  floor: read the store's bytes into memory with open(...).read(), median of {repeats}:")
    for path in (h5, zr):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            nbytes = read_bytes(path)
            times.append(time.perf_counter() - start)
        sec = statistics.median(times)
        log(f"    {path.name}: {mb(nbytes):,.0f} MB in {fmt_s(sec)} = {mb(nbytes) / sec:,.0f} MB/s "
            f"(= {n / sec / 1e6:.0f} M ev/s; no decompression)")
        record(f"floor: read bytes {path.suffix}, {n / 1e6:g} M", f"{fmt_s(sec)}, {mb(nbytes) / sec:,.0f} MB/s")


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
    p.add_argument("--skip-windows", action="store_true", help="skip section 2 (and 3, which uses its store)")
    p.add_argument("--skip-baselines", action="store_true", help="skip section 3 (plain h5py / zarr-python)")
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
            h5, zr, windows = bench_windows(work, args.window_events, args.seed, args.windows)
            log()
            if not args.skip_baselines:
                bench_baselines(work, h5, zr, windows, args.window_events)
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
