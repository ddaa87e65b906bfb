"""Benchmark of evio's file readers against every installed peer reader, one run, same files.

Run from the repository root::

    .venv/bin/python -m benchmarks.formats                 # ~5 M events per format + the real fixtures
    .venv/bin/python -m benchmarks.formats --quick         # 500 k events per format
    .venv/bin/python -m benchmarks.formats --events 20000000 --only evt2,evt3

Single-threaded: ``NUMBA_NUM_THREADS=1`` (and the OpenMP/BLAS, Rayon and Polars thread variables) are
set to 1 below, before NumPy, Numba, evio or any peer is imported, so evio's numbers are one core's work.
Peers: faery (Rust extension), expelliarmus (C), aedat (Rust), evlib (Rust + Polars; it starts idle
worker threads, ``RAYON_NUM_THREADS`` / ``POLARS_MAX_THREADS`` = 1 bound its pools), dv-processing (C++,
no thread knob) and tonic (NumPy). Each timed line prints the process CPU time / wall time of its runs:
about 1.0 means one core did the work (all peers measured ~1.0 here); above 1.3 a note is printed.

Data. For each format one synthetic recording of ``--events`` events: sorted int64 µs timestamps
from a Poisson process whose rate changes every 65,536 events (uniform 2..10 M events/s, so 5 M
events last about 1 s; the N-MNIST file is squeezed into its 23-bit time field, so it holds no
overflow markers), uniform random x, y inside the format's sensor (EVT2/EVT3/DAT 1280x720; AEDAT 4,
AEDAT 2.0 and AEDAT 3.1 346x260 (DAVIS346); N-MNIST 34x34) and random p. EVT2,
EVT3, DAT and AEDAT 4 (LZ4) files are written by faery (``faery.events_stream_from_array(...).to_file``,
``zero_t0=False``) when it is installed, else by evio; AEDAT 2.0, AEDAT 3.1 and N-MNIST by evio (no
installed peer writes them). Files are freshly written, so reads come from the page cache (this
measures decoding, not the disk).

What is timed (best of ``--repeats``, after an untimed warm-up pass that also compiles the Numba kernels
and provides the arrays that are checked):

- ``evio read``     ``evio.read(path)``, the whole file into one ``EVENT_DTYPE`` array;
- ``evio stream``   ``with evio.open(path) as r: for chunk in r: pass``;
- each installed peer that reads the format, into its own natural output (faery ``to_array()``,
  expelliarmus ``Wizard(encoding=...).read()``, evlib ``load_events(path, sort=False).collect()``
  (a Polars frame), aedat ``Decoder`` packets concatenated, dv-processing ``getNextEventBatch()`` +
  ``.numpy()`` concatenated, tonic ``read_mnist_file`` / ``read_aedat4`` / ``read_davis_346`` (AEDAT 2.0
  DAVIS346 addresses); tonic's AEDAT readers are timed only if they run and agree with evio.
  Not included: tonic ``read_dvs_128`` (raises: it unpacks the 3-tuple of
  ``read_aedat_header_from_file`` into 2 names) and any AEDAT 3.1 peer (tonic's ``read_davis_346`` /
  ``get_aer_events_from_file`` read AEDAT 2.0 address words, not 3.1 packets; no other installed
  peer reads 3.1). faery 0.7.1 reads DAT files of event type 0x00 (``Event2D``, e.g. N-CARS) as
  "unsupported type 2d", so it is missing on those fixtures; it reads the ``EventCD`` DAT it writes.
- ``floor``         ``np.fromfile(path, np.uint8).copy()``: read the file's bytes and copy them once.

Printed: M events/s for each, evio read / fastest peer (rate ratio, > 1 means evio is faster) and
evio read / floor. Targets (printed, never asserted): evio / fastest peer >= 1.0 (aim 1.5) for EVT2,
EVT3, DAT and AEDAT 4; >= 100 M events/s for AEDAT 2.0 and AEDAT 3.1.

Correctness: evio's decode equals the generated events (all fields), the streamed chunks add up to
the same count, and every peer returns the same number of events with x, y, p (and t) equal to
evio's on a sample of ``--sample`` random indexes plus the first and last events. expelliarmus's EVT3
t is known to differ (it treats a smaller TIME_LOW as a wrap; see fixtures/SOURCES.md), so that
comparison is printed as information only, as are t comparisons on the real EVT3 fixtures. A second
table runs the same readers on the small real recordings in ``fixtures/`` (skip with
``--no-fixtures``). Exit code 1 if any check fails, else 0 (a peer that raises is reported, not a failure).
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "RAYON_NUM_THREADS", "POLARS_MAX_THREADS"):
    os.environ[_var] = "1"

import argparse
import gc
import importlib
import importlib.metadata
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numba
import numpy as np

import evio
from evio.events import EVENT_DTYPE

RATE_BLOCK = 1 << 16
RATE_RANGE = (2.0, 10.0)        # M events/s == events per µs
T_START = 1_000_000
NMNIST_T_MAX = (1 << 23) - 1
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: name, label, sensor (W, H), evio write options, evio read/open options, file suffix
FORMATS = {
    "evt2": ("EVT2", (1280, 720), {"encoding": "evt2"}, {}, ".raw"),
    "evt3": ("EVT3", (1280, 720), {"encoding": "evt3"}, {}, ".raw"),
    "dat": ("DAT", (1280, 720), {}, {}, ".dat"),
    "aedat4": ("AEDAT 4 (LZ4)", (346, 260), {"compression": "lz4"}, {}, ".aedat4"),
    "aedat2": ("AEDAT 2.0 (DAVIS346)", (346, 260), {"format": "aedat2", "chip": "davis346"}, {}, ".aedat"),
    "aedat3": ("AEDAT 3.1 (DAVIS346)", (346, 260), {"format": "aedat3"}, {}, ".aedat"),
    "nmnist": ("N-MNIST", (34, 34), {"format": "nmnist"}, {"format": "nmnist"}, ".bin"),
}
PEER_TARGET = {"evt2", "evt3", "dat", "aedat4"}
RATE_TARGET = {"aedat2": 100.0, "aedat3": 100.0}
FAERY_VERSION = {"evt2": "evt2", "evt3": "evt3", "dat": "dat2", "aedat4": None}
EXPELLIARMUS_ENCODING = {"evt2": "evt2", "evt3": "evt3", "dat": "dat"}
FIXTURE_FILES = [
    ("evt2", "faery_evt2.raw"), ("evt2", "evt2_sample.raw"),
    ("evt3", "evt3_sample.raw"), ("evt3", "evt3_test_pedestrians.raw"),
    ("dat", "NCARS_obj_004397_td.dat"), ("dat", "tonic_sample_ncars.dat"),
    ("aedat4", "aestream_davis.aedat4"), ("aedat4", "tonic_sample.aedat4"),
    ("nmnist", "tonic_sample_nmnist.bin"),
]

SUMMARY: list[tuple[str, ...]] = []
FIXTURE_ROWS: list[tuple[str, ...]] = []
FAILURES: list[str] = []
NOTES: list[str] = []


# -- helpers -----------------------------------------------------------------------------------------
def log(msg: str = "") -> None:
    print(msg, flush=True)


def check(ok: bool, what: str, *, info: bool = False) -> bool:
    tag = "ok" if ok else ("info" if info else "MISMATCH")
    log(f"    [{tag}] {what}")
    if not ok and not info:
        FAILURES.append(what)
    return ok


def note(msg: str) -> None:
    if msg not in NOTES:
        NOTES.append(msg)
    log(f"    note: {msg}")


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def have(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:  # noqa: BLE001  (a broken peer install counts as absent)
        return False


def best_of(fn, repeats: int) -> tuple[float, float, float]:
    """(best, median) wall seconds of ``fn()`` and the process CPU time / wall time over all runs
    (about 1.0 for one busy thread; more means the reader used extra threads)."""
    times, cpu = [], 0.0
    for _ in range(repeats):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu += time.process_time() - c0
        del out
    return min(times), statistics.median(times), cpu / max(sum(times), 1e-12)


def tree_state() -> str:
    """The checkout evio runs from: commit, modified files under evio/ and the newest one's mtime."""
    root = Path(evio.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], check=False,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "evio"], check=False,
                               capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    if not head:
        return "not a git checkout"
    files = [line[3:] for line in dirty]
    newest = max((root / f for f in files if (root / f).is_file()), key=lambda f: f.stat().st_mtime, default=None)
    when = time.strftime("%H:%M:%S", time.localtime(newest.stat().st_mtime)) if newest else "-"
    return (f"git {head}" + (f" + {len(files)} modified under evio/ ({', '.join(Path(f).name for f in files)}; "
                             f"newest {when})" if files else ", clean"))


def loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# -- synthetic data ----------------------------------------------------------------------------------
def synthetic_events(n: int, size: tuple[int, int], seed: int, t_max: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rates = rng.uniform(*RATE_RANGE, size=-(-n // RATE_BLOCK))
    scale = np.repeat(1.0 / rates, RATE_BLOCK)[:n]
    tf = np.cumsum(rng.standard_exponential(n) * scale)
    if t_max is not None and tf[-1] > t_max - T_START:
        tf *= (t_max - T_START) / tf[-1]
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["t"] = (tf + T_START).astype(np.int64)
    ev["x"] = rng.integers(0, size[0], n, dtype=np.uint16)
    ev["y"] = rng.integers(0, size[1], n, dtype=np.uint16)
    ev["p"] = rng.integers(0, 2, n, dtype=np.uint8).view(np.bool_)
    return ev


def write_file(fmt: str, path: Path, ev: np.ndarray, use_faery: bool) -> str:
    label, size, wopts, _, _ = FORMATS[fmt]
    if use_faery and fmt in FAERY_VERSION:
        try:
            import faery

            arr = np.empty(len(ev), dtype=faery.EVENTS_DTYPE)
            arr["t"], arr["x"], arr["y"], arr["on"] = ev["t"], ev["x"], ev["y"], ev["p"]
            stream = faery.events_stream_from_array(arr, dimensions=size)
            kwargs = {"zero_t0": False}
            if FAERY_VERSION[fmt] is not None:
                kwargs["version"] = FAERY_VERSION[fmt]
            stream.to_file(path, **kwargs)
            return f"faery {version('faery')} to_file"
        except Exception as exc:  # noqa: BLE001
            note(f"faery could not write {label} ({type(exc).__name__}: {exc}); used evio's writer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evio.write(path, ev, sensor_size=size, **wopts)
    return f"evio {evio.__version__} write"


# -- readers -----------------------------------------------------------------------------------------
def _concat(parts, dtype):
    return np.concatenate(parts) if parts else np.empty(0, dtype)


class Peer:
    """A reader: ``run()`` returns its natural output; ``fields(out)`` returns (t, x, y, p) arrays."""

    def __init__(self, name, run, fields, t_info=False):
        self.name, self.run, self.fields, self.t_info = name, run, fields, t_info


def evio_peers(fmt: str, path: Path) -> tuple[Peer, Peer]:
    ropts = FORMATS[fmt][3]

    def read():
        return evio.read(path, **ropts)

    def stream():
        n = 0
        with evio.open(path, **ropts) as reader:
            for chunk in reader:
                n += len(chunk)
        return n

    def fields(ev):
        return ev["t"], ev["x"], ev["y"], ev["p"]

    return Peer("evio read", read, fields), Peer("evio stream", stream, None)


def peer_readers(fmt: str, path: Path, *, fixture: bool) -> list[Peer]:
    peers: list[Peer] = []
    if fmt in ("evt2", "evt3", "dat", "aedat4") and have("faery"):
        import faery

        def faery_read():
            return faery.events_stream_from_file(path).to_array()

        peers.append(Peer(f"faery {version('faery')}", faery_read,
                          lambda a: (a["t"], a["x"], a["y"], a["on"]), t_info=fixture and fmt == "evt3"))
    if fmt in EXPELLIARMUS_ENCODING and have("expelliarmus"):
        import expelliarmus

        def exp_read():
            return expelliarmus.Wizard(encoding=EXPELLIARMUS_ENCODING[fmt], fpath=str(path)).read()

        peers.append(Peer(f"expelliarmus {version('expelliarmus')}", exp_read,
                          lambda a: (a["t"], a["x"], a["y"], a["p"]), t_info=fmt == "evt3"))
    if fmt in ("evt2", "evt3") and have("evlib"):
        import evlib
        import polars as pl

        def evlib_read():
            return evlib.load_events(str(path), sort=False).collect()

        def evlib_fields(df):
            return (df["t"].cast(pl.Int64).to_numpy(), df["x"].to_numpy(), df["y"].to_numpy(),
                    df["polarity"].to_numpy() > 0)

        peers.append(Peer(f"evlib {version('evlib')}", evlib_read, evlib_fields, t_info=fixture and fmt == "evt3"))
    if fmt == "aedat4" and have("aedat"):
        import aedat

        def aedat_read():
            parts = [pkt["events"] for pkt in aedat.Decoder(str(path)) if "events" in pkt]
            return _concat(parts, np.dtype([("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("on", "?")]))

        peers.append(Peer(f"aedat {version('aedat')}", aedat_read,
                          lambda a: (a["t"], a["x"], a["y"], a[a.dtype.names[3]])))
    if fmt == "aedat4" and have("dv_processing"):
        import dv_processing as dv

        def dv_read():
            rec = dv.io.MonoCameraRecording(str(path))
            parts = []
            while True:
                batch = rec.getNextEventBatch()
                if batch is None:
                    break
                parts.append(batch.numpy())
            return _concat(parts, np.dtype([("timestamp", "<i8"), ("x", "<i2"), ("y", "<i2"), ("polarity", "i1")]))

        peers.append(Peer(f"dv-processing {version('dv-processing') or version('dv_processing')}", dv_read,
                          lambda a: (a["timestamp"], a["x"], a["y"], a["polarity"])))
    if have("tonic"):
        import tonic

        dtype = np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
        if fmt == "nmnist":
            def tonic_read():
                return tonic.io.read_mnist_file(str(path), dtype=dtype)
            peers.append(Peer(f"tonic {version('tonic')}", tonic_read, lambda a: (a["t"], a["x"], a["y"], a["p"])))
        elif fmt == "aedat4":
            peers.append(Peer(f"tonic {version('tonic')} read_aedat4", lambda: tonic.io.read_aedat4(str(path)),
                              lambda a: (a["t"], a["x"], a["y"], a["p"])))
        elif fmt == "aedat2":       # returns (shape, start_timestamp, events)
            peers.append(Peer(f"tonic {version('tonic')} read_davis_346", lambda: tonic.io.read_davis_346(str(path)),
                              lambda a: (a[-1]["t"], a[-1]["x"], a[-1]["y"], a[-1]["p"])))
    return peers


def floor_reader(path: Path) -> Peer:
    return Peer("floor fromfile+copy", lambda: np.fromfile(path, np.uint8).copy(), None)


# -- comparison ----------------------------------------------------------------------------------------
def compare(ref: np.ndarray, fields, idx: np.ndarray, who: str, t_info: bool, t_note: str = "") -> bool:
    t, x, y, p = (np.asarray(f) for f in fields)
    ok = True
    ok &= check(len(t) == len(ref), f"{who}: {len(t):,} events, evio {len(ref):,}")
    if len(t) != len(ref):
        return False
    ok &= check(np.array_equal(x[idx].astype(np.int64), ref["x"][idx].astype(np.int64))
                and np.array_equal(y[idx].astype(np.int64), ref["y"][idx].astype(np.int64))
                and np.array_equal(p[idx].astype(bool), ref["p"][idx]),
                f"{who}: x, y, p equal evio's on {len(idx):,} sampled events")
    t_same = np.asarray(t[idx]).astype(np.int64) == ref["t"][idx]
    differ = int(np.count_nonzero(~t_same))
    ok_t = check(differ == 0, f"{who}: t equals evio's on {len(idx) - differ:,}/{len(idx):,} sampled events"
                 + (f" {t_note}" if t_info and differ else ""), info=t_info)
    return ok and (ok_t or t_info)


def sample_indexes(n: int, k: int, seed: int) -> np.ndarray:
    if n == 0:
        return np.empty(0, np.int64)
    rng = np.random.default_rng(seed)
    return np.unique(np.concatenate([[0, n - 1], rng.integers(0, n, min(k, n))])).astype(np.int64)


def bench_file(fmt: str, path: Path, repeats: int, k: int, seed: int, *, truth: np.ndarray | None,
               fixture: bool) -> dict:
    """Warm up + check every reader on ``path``; time them best-of-``repeats``; return rates."""
    read, stream = evio_peers(fmt, path)
    peers = peer_readers(fmt, path, fixture=fixture)
    floor = floor_reader(path)
    ev = read.run()                                           # warm-up: compiles evio's kernels
    n = len(ev)
    idx = sample_indexes(n, k, seed)
    if truth is not None:
        check(len(ev) == len(truth) and all(np.array_equal(ev[f], truth[f]) for f in ("t", "x", "y", "p")),
              f"evio read: all {len(ev):,} events equal the generated ones")
    m = stream.run()
    check(m == n, f"evio stream: chunks add up to {m:,} events, read() {n:,}")
    working: list[Peer] = []
    for peer in peers:
        try:
            out = peer.run()
            fields = peer.fields(out)
        except Exception as exc:  # noqa: BLE001
            msg = f"{peer.name} on {FORMATS[fmt][0]} ({path.name}) raised {type(exc).__name__}: " \
                  f"{str(exc).splitlines()[0][:160] if str(exc) else ''}"
            note(msg)
            if os.environ.get("EVIO_BENCH_TRACEBACK"):
                traceback.print_exc()
            continue
        t_note = ("(known: expelliarmus treats a smaller EVT3 TIME_LOW as a 12-bit wrap; fixtures/SOURCES.md)"
                  if peer.name.startswith("expelliarmus") else
                  "(known: EVT3 decoders disagree on backwards TIME_LOW; fixtures/SOURCES.md)")
        if peer.name.startswith("tonic") and fmt != "nmnist":
            if not compare(ev, fields, idx, peer.name, True, "(tonic AEDAT reader)"):
                note(f"{peer.name} on {FORMATS[fmt][0]} ran but returned different events; not timed")
                del out, fields
                continue
        else:
            compare(ev, fields, idx, peer.name, peer.t_info, t_note)
        working.append(peer)
        del out, fields
    del ev
    gc.collect()
    floor.run()
    res = {"n": n, "size": path.stat().st_size, "rates": {}}
    for r in [read, stream, *working, floor]:
        best, med, load = best_of(r.run, repeats)
        rate = n / best / 1e6 if best > 0 else float("inf")
        res["rates"][r.name] = rate
        log(f"    {r.name:<28} best {best * 1e3:9.2f} ms  median {med * 1e3:9.2f} ms  {rate:9.1f} M ev/s  "
            f"cpu/wall {load:.2f}")
        if load > 1.3:
            note(f"{r.name} used {load:.1f} cores on {path.name} (cpu/wall)")
    res["peers"] = [p.name for p in working]
    return res


def ratios(res: dict) -> tuple[str, float | None, str, float]:
    rates = res["rates"]
    e = rates["evio read"]
    peer_rates = {k: rates[k] for k in res["peers"]}
    fastest = max(peer_rates, key=peer_rates.get) if peer_rates else None
    vs_peer = e / peer_rates[fastest] if fastest else None
    return fastest or "-", vs_peer, "floor fromfile+copy", e / rates["floor fromfile+copy"]


def target_text(fmt: str, res: dict, vs_peer: float | None) -> str:
    e = res["rates"]["evio read"]
    if fmt in PEER_TARGET:
        if vs_peer is None:
            return "no peer"
        verdict = "PASS" if vs_peer >= 1.5 else ("ok" if vs_peer >= 1.0 else "MISS")
        return f"{verdict} (>=1.0x, aim 1.5x)"
    if fmt in RATE_TARGET:
        return f"{'PASS' if e >= RATE_TARGET[fmt] else 'MISS'} (>= {RATE_TARGET[fmt]:.0f} M ev/s)"
    return "-"


# -- sections ------------------------------------------------------------------------------------------
def bench_synthetic(work: Path, fmts: list[str], n: int, repeats: int, k: int, seed: int, use_faery: bool) -> None:
    for i, fmt in enumerate(fmts):
        label, size, _, _, suffix = FORMATS[fmt]
        log(f"== {label}: {n:,} synthetic events, sensor {size[0]}x{size[1]} ==")
        ev = synthetic_events(n, size, seed + i, NMNIST_T_MAX if fmt == "nmnist" else None)
        path = work / f"{fmt}{suffix}"
        t0 = time.perf_counter()
        writer = write_file(fmt, path, ev, use_faery)
        dt = time.perf_counter() - t0
        nbytes = path.stat().st_size
        log(f"  written by {writer} in {dt:.2f} s: {nbytes / 1e6:,.1f} MB ({nbytes / n:.2f} B/event), "
            f"t {int(ev['t'][0])}..{int(ev['t'][-1])} µs")
        res = bench_file(fmt, path, repeats, k, seed, truth=ev, fixture=False)
        del ev
        fastest, vs_peer, _, vs_floor = ratios(res)
        rates = res["rates"]
        peer_txt = (f"{fastest} {rates[fastest]:.1f} M ev/s -> evio/peer {vs_peer:.2f}x" if vs_peer is not None
                    else "no working peer")
        log(f"  evio read {rates['evio read']:.1f} M ev/s, stream {rates['evio stream']:.1f}; fastest peer: {peer_txt}; "
            f"floor {rates['floor fromfile+copy']:.0f} M ev/s -> evio/floor {vs_floor:.2f}x; "
            f"target: {target_text(fmt, res, vs_peer)}")
        SUMMARY.append((label, writer.split()[0], f"{res['size'] / 1e6:.0f}",
                        f"{rates['evio read']:.1f}", f"{rates['evio stream']:.1f}",
                        " ".join(f"{p.split()[0]}={rates[p]:.1f}" for p in res["peers"]) or "-",
                        f"{vs_peer:.2f}x" if vs_peer is not None else "-",
                        f"{rates['floor fromfile+copy']:.0f}", f"{vs_floor:.2f}x", target_text(fmt, res, vs_peer)))
        if not os.environ.get("EVIO_BENCH_KEEP_FILES"):
            path.unlink()
        log()


def bench_fixtures(repeats: int, k: int, seed: int, fmts: list[str]) -> None:
    log("== Real fixtures (fixtures/, small files; rates are dominated by per-call overhead) ==")
    for fmt, name in FIXTURE_FILES:
        path = FIXTURES / name
        if fmt not in fmts or not path.exists():
            continue
        log(f"  {name} ({FORMATS[fmt][0]}, {path.stat().st_size:,} B)")
        res = bench_file(fmt, path, repeats, k, seed, truth=None, fixture=True)
        _, vs_peer, _, vs_floor = ratios(res)
        rates = res["rates"]
        FIXTURE_ROWS.append((name, f"{res['n']:,}", f"{rates['evio read']:.1f}", f"{rates['evio stream']:.1f}",
                             " ".join(f"{p.split()[0]}={rates[p]:.1f}" for p in res["peers"]) or "-",
                             f"{vs_peer:.2f}x" if vs_peer is not None else "-", f"{vs_floor:.3f}x"))
    log()


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    log("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    log("  ".join("-" * w for w in widths))
    for r in rows:
        log("  ".join(c.ljust(w) for c, w in zip(r, widths)))


# -- main ----------------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.formats", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=5_000_000, help="events per synthetic file (default 5M)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per reader, best is reported (default 3)")
    p.add_argument("--fixture-repeats", type=int, default=5, help="timed runs per reader on fixtures (default 5)")
    p.add_argument("--sample", type=int, default=100_000, help="random events compared with each peer")
    p.add_argument("--only", default=",".join(FORMATS), help=f"comma-separated subset of {','.join(FORMATS)}")
    p.add_argument("--quick", action="store_true", help="smoke run: 500k events per file")
    p.add_argument("--no-faery-writer", action="store_true", help="write every file with evio's writer")
    p.add_argument("--no-fixtures", action="store_true", help="skip the real-fixture table")
    p.add_argument("--seed", type=int, default=12345)
    args = p.parse_args(argv)
    if args.quick:
        args.events = 500_000
    args.only = [f.strip() for f in args.only.split(",") if f.strip()]
    bad = [f for f in args.only if f not in FORMATS]
    if bad:
        p.error(f"unknown format(s) {bad}; choose from {list(FORMATS)}")
    if args.events < 1 or args.repeats < 1:
        p.error("--events and --repeats must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    command = shlex.join([sys.executable, "-m", "benchmarks.formats", *(sys.argv[1:] if argv is None else argv)])
    work = Path(tempfile.mkdtemp(prefix="evio-bench-formats-", dir=os.environ.get("EVIO_BENCH_DIR", "/tmp")))
    peers = ", ".join(f"{d} {version(d) or 'absent'}" for d in
                      ("faery", "expelliarmus", "evlib", "aedat", "dv-processing", "tonic"))
    log(f"evio benchmark: formats  ({command})")
    log(f"evio {evio.__version__}, numpy {np.__version__}, numba {numba.__version__} "
        f"(NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}), Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load {loadavg()}")
    log(f"peers: {peers}")
    log(f"evio source: {tree_state()}")
    log(f"data in {work}; best of {args.repeats} after a warm-up; rates are M events/s (higher is better)")
    if os.getloadavg()[0] > 0.5:
        log(f"WARNING: 1-minute load average {os.getloadavg()[0]:.2f} > 0.5: another job is running; on a small "
            "machine it shares caches and memory bandwidth, and timings can be off by 2-3x")
    log()
    total = time.perf_counter()
    try:
        bench_synthetic(work, args.only, args.events, args.repeats, args.sample, args.seed,
                        not args.no_faery_writer and have("faery"))
        if not args.no_fixtures:
            bench_fixtures(args.fixture_repeats, args.sample, args.seed, args.only)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    log(f"== Summary: {args.events:,} events per file, M events/s, best of {args.repeats}, one thread ==")
    log(f"command: {command}")
    log(f"load average at the end: {loadavg()}; total {time.perf_counter() - total:.0f} s; "
        f"evio source at the end: {tree_state()}")
    table(("format", "writer", "MB", "evio read", "evio stream", "peers", "evio/peer", "floor", "evio/floor",
           "target"), SUMMARY)
    if FIXTURE_ROWS:
        log()
        log(f"real fixtures (best of {args.fixture_repeats}):")
        table(("file", "events", "evio read", "evio stream", "peers", "evio/peer", "evio/floor"), FIXTURE_ROWS)
    log()
    log("evio/peer = evio read rate / fastest peer's rate (> 1: evio faster); evio/floor = evio read rate / "
        "rate of np.fromfile + copy of the same bytes.")
    for n_ in NOTES:
        log(f"NOTE: {n_}")
    log(f"correctness: {'all checks passed' if not FAILURES else f'{len(FAILURES)} FAILED'}")
    for f in FAILURES:
        log(f"FAILED CHECK: {f}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
