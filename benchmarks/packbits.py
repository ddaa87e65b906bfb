"""Benchmark of evio's I2E packbits decoder against the I2E dataset card's snippet and a memcpy floor.

Run from the repository root::

    .venv/bin/python -m benchmarks.packbits                 # 10,000 samples at 128x128 and 224x224
    .venv/bin/python -m benchmarks.packbits --quick         # 500 samples, every decode checked
    .venv/bin/python -m benchmarks.packbits --samples 2000 --sizes 128

Single-threaded: ``NUMBA_NUM_THREADS=1`` (and the BLAS/OpenMP thread variables) are set to 1 below,
before NumPy, Numba or evio are imported, so every number is one core's work. The evio kernels are
serial ``@njit`` loops anyway; this only keeps a thread pool from skewing the comparison.

Data. For each size ``H x W`` in ``--sizes``, ``--samples`` distinct random boolean tensors
``[T=8, C=2, H, W]`` at a density of 15/256 = 5.9 % (about what I2E samples hold: ~6 % of the
elements set), drawn independently and uniformly (the worst case for a branchy bit loop; real
samples are spatially clustered). Each is turned into the ``.npy`` bytes of an I2E shard with
``evio.packbits.dumps``; for a few samples these bytes are checked to equal the reference
construction ``np.save(BytesIO, np.concatenate([np.asarray(shape, '<u2').view(np.uint8),
np.packbits(x.reshape(-1))]))``. Only the packed bytes of all samples are kept in memory (plus the
source tensors of the checked subset).

What is timed, per sample, decoding the ``.npy`` bytes to ``float32 [T, 2, H, W]``
(each number is the best of ``--repeats`` full passes over all samples; the median is printed too):

(a) ``readme``        the dataset card's snippet, ``evio.packbits.readme_decode`` (``np.load(BytesIO)``,
                      ``np.unpackbits``, reshape, ``.astype(np.float32).copy()``);
(b) ``evio``          ``packbits.loads(data, dtype=np.float32)``, one sample per call, new array each call;
(c) ``evio out=``     the same into one preallocated ``out`` array;
(d) ``evio batch``    ``packbits.loads(list_of_256, dtype=np.float32, out=[256, T, 2, H, W])`` over all
                      samples in batches of 256 (the last batch is shorter, into a view of ``out``);
(e) ``memcpy``        the floor: ``np.copyto`` of a float32 array of one sample's size (same source and
                      destination every time, so cache-resident for small sizes), and of a 256-sample
                      batch into the batch ``out`` array (memory-bound, like (d));
(f) ``evio bool`` / ``evio uint8``: ``packbits.loads(data, dtype=bool / np.uint8)``, one sample per call,
                      plus ``np.unpackbits`` of the body (uint8, no reshape) as a NumPy peer and the
                      1-byte memcpy floor.

Breakdown of evio's single-sample time (to split per-call Python overhead from kernel time):
``packbits.unpack(raw, dtype=np.float32, out=out)`` on the raw payload (no ``.npy`` wrapper), the raw
Numba kernel ``evio.kernels.dense.unpack_bits(body, n, out_flat)`` on a prepared uint8 body, and for
the batch ``evio.kernels.dense.unpack_bits_batch`` on the already concatenated bodies. The same calls
on a tiny ``[1, 2, 1, 8]`` sample give the fixed per-call cost alone. A memset floor (``out.fill(1.0)``,
write-only, single and batch) is printed next to memcpy, since memcpy also reads a float32 source
that the decoder does not (the decoder reads 1/32 of what it writes).

Targets (printed as PASS/MISS, never asserted): readme / evio single >= 4x; evio batch / memcpy batch
<= 3x; evio single / memcpy single is printed for information. The Numba kernels are compiled (or
loaded from the cache) and warmed up before anything is timed. Correctness: every decode path is
checked against the source tensor (dtype, shape and values) on a subset of samples (all of them with
``--quick``); the script exits 1 if any check fails and 0 otherwise.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import io
import platform
import shlex
import statistics
import sys
import time

import numba
import numpy as np

from evio import packbits
from evio.kernels import dense as kernels

T, C = 8, 2
DENSITY_BYTE = 15            # an element is set when a random byte < 15: p = 15/256 = 5.86 %
BATCH = 256
GEN_BLOCK = 64               # samples generated per RNG call
N_CHECK_DEFAULT = 200        # samples whose decodes are checked (all with --quick)
N_REFERENCE_BYTES = 5        # samples whose dumps() bytes are compared with the reference construction
TARGET_README_RATIO = 4.0
TARGET_BATCH_MEMCPY_RATIO = 3.0


def reference_npy(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.concatenate([np.asarray(x.shape, "<u2").view(np.uint8), np.packbits(x.reshape(-1))]))
    return buf.getvalue()


def make_samples(n: int, h: int, w: int, check_idx: set[int], seed: int):
    """``n`` distinct random samples as ``.npy`` bytes; the source tensors of ``check_idx``."""
    rng = np.random.default_rng(seed)
    shape = (T, C, h, w)
    size = T * C * h * w
    data: list[bytes] = []
    sources: dict[int, np.ndarray] = {}
    ref_checked = 0
    for start in range(0, n, GEN_BLOCK):
        m = min(GEN_BLOCK, n - start)
        block = (np.frombuffer(rng.bytes(m * size), np.uint8) < DENSITY_BYTE).reshape(m, *shape)
        blobs = packbits.dumps(block)
        for j, blob in enumerate(blobs):
            i = start + j
            if i in check_idx:
                sources[i] = block[j].copy()
            if ref_checked < N_REFERENCE_BYTES:
                if blob != reference_npy(block[j]):
                    raise SystemExit(f"dumps() bytes of sample {i} differ from the reference np.save construction")
                ref_checked += 1
        data.extend(blobs)
    return data, sources


def best_of(fn, repeats: int) -> tuple[float, float]:
    """(best, median) wall time of ``fn()`` over ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def run_size(h: int, w: int, n: int, repeats: int, quick: bool, seed: int) -> tuple[dict, bool]:
    shape = (T, C, h, w)
    size = T * C * h * w
    rng = np.random.default_rng(seed + 1)
    if quick or n <= N_CHECK_DEFAULT:
        check = list(range(n))
    else:
        check = sorted({0, n - 1, *rng.choice(n, N_CHECK_DEFAULT - 2, replace=False).tolist()})
    t0 = time.perf_counter()
    data, sources = make_samples(n, h, w, set(check), seed)
    gen_s = time.perf_counter() - t0
    raw_len = packbits.HEADER_BYTES + (size + 7) // 8
    raws = [memoryview(d)[len(d) - raw_len:] for d in data]                 # raw payloads (zero-copy)
    bodies = [np.frombuffer(r, np.uint8, offset=packbits.HEADER_BYTES) for r in raws]
    batches = [data[s:s + BATCH] for s in range(0, n, BATCH)]
    density = float(np.mean([s.mean() for s in sources.values()]))
    if len(set(data)) != n:
        raise SystemExit(f"{n - len(set(data))} duplicate samples generated")
    print(f"\n== {h}x{w}: {n} samples of [T={T}, C={C}, {h}, {w}] bool ({size:,} elements, "
          f"density {100 * density:.2f} %), .npy {len(data[0]):,} B each, float32 output "
          f"{4 * size / 1e6:.2f} MB each; generated in {gen_s:.1f} s; load avg {loadavg()}")

    out1 = np.empty(shape, np.float32)
    out1_flat = out1.reshape(-1)
    outb = np.empty((BATCH, *shape), np.float32)
    src1 = np.ones(shape, np.float32)
    srcb = np.ones((BATCH, *shape), np.float32)
    src1_u8 = np.ones(shape, np.uint8)
    dst1_u8 = np.empty(shape, np.uint8)
    outb.fill(0)                                                            # fault the pages in

    # -- warm-up: compile / load every kernel specialisation used below, touch every code path
    for dt in (np.float32, np.bool_, np.uint8):
        packbits.loads(data[0], dtype=dt)
    packbits.loads(data[0], dtype=np.float32, out=out1)
    packbits.unpack(raws[0], dtype=np.float32, out=out1)
    kernels.unpack_bits(bodies[0], size, out1_flat)
    packbits.loads(batches[0], dtype=np.float32, out=outb[:len(batches[0])])
    packbits.readme_decode(data[0])

    # -- correctness (untimed, same calls as the timed loops) ---------------------------------
    ok = True

    def check_eq(name, i, got, want_dtype):
        nonlocal ok
        src = sources[i]
        if got.dtype != np.dtype(want_dtype) or got.shape != shape or not np.array_equal(got, src):
            ok = False
            print(f"  WRONG: {name} of sample {i} (dtype {got.dtype}, shape {got.shape}) != source")

    for i in check:
        check_eq("readme_decode", i, packbits.readme_decode(data[i]), np.float32)
        check_eq("loads float32", i, packbits.loads(data[i], dtype=np.float32), np.float32)
        out1.fill(7)
        r = packbits.loads(data[i], dtype=np.float32, out=out1)
        check_eq("loads float32 out=", i, out1, np.float32)
        if r is not out1:
            ok = False
            print("  WRONG: loads(out=) did not return out")
        check_eq("loads bool", i, packbits.loads(data[i], dtype=bool), np.bool_)
        check_eq("loads uint8", i, packbits.loads(data[i], dtype=np.uint8), np.uint8)
        out1.fill(7)
        packbits.unpack(raws[i], dtype=np.float32, out=out1)
        check_eq("unpack float32 out=", i, out1, np.float32)
        out1.fill(7)
        kernels.unpack_bits(bodies[i], size, out1_flat)
        check_eq("kernel unpack_bits", i, out1, np.float32)
    check_set = set(check)
    for b, batch in enumerate(batches):
        idx = [b * BATCH + j for j in range(len(batch)) if b * BATCH + j in check_set]
        if not idx:
            continue
        ob = outb[:len(batch)]
        ob.fill(7)
        r = packbits.loads(batch, dtype=np.float32, out=ob)
        for i in idx:
            check_eq("loads batch float32 out=", i, ob[i - b * BATCH], np.float32)
    print(f"  checked {len(check)} samples x 8 decode paths: {'all equal to the source' if ok else 'ERRORS'}")

    # -- timed ------------------------------------------------------------------------------
    def t_readme():
        for d in data:
            packbits.readme_decode(d)

    def t_evio_new():
        for d in data:
            packbits.loads(d, dtype=np.float32)

    def t_evio_out():
        for d in data:
            packbits.loads(d, dtype=np.float32, out=out1)

    def t_evio_batch():
        for batch in batches:
            packbits.loads(batch, dtype=np.float32, out=outb[:len(batch)])

    def t_memcpy_single():
        for _ in range(n):
            np.copyto(out1, src1)

    def t_memcpy_batch():
        for batch in batches:
            m = len(batch)
            np.copyto(outb[:m], srcb[:m])

    def t_evio_bool():
        for d in data:
            packbits.loads(d, dtype=bool)

    def t_evio_u8():
        for d in data:
            packbits.loads(d, dtype=np.uint8)

    def t_np_unpackbits():
        for b in bodies:
            np.unpackbits(b)

    def t_memcpy_u8():
        for _ in range(n):
            np.copyto(dst1_u8, src1_u8)

    def t_unpack_raw():
        for r in raws:
            packbits.unpack(r, dtype=np.float32, out=out1)

    def t_kernel():
        for b in bodies:
            kernels.unpack_bits(b, size, out1_flat)

    def t_memset_single():
        for _ in range(n):
            out1.fill(1.0)

    def t_memset_batch():
        for batch in batches:
            outb[:len(batch)].fill(1.0)

    # per-call overhead alone: a tiny [1, 2, 1, 8] sample (2 body bytes), same call forms
    tiny_src = np.zeros((1, C, 1, 8), bool)
    tiny_src[0, 0, 0, ::3] = True
    tiny = packbits.dumps(tiny_src)
    tiny_raw = memoryview(tiny)[len(tiny) - packbits.HEADER_BYTES - 2:]
    tiny_body = np.frombuffer(tiny_raw, np.uint8, offset=packbits.HEADER_BYTES)
    tiny_out = np.empty(tiny_src.shape, np.float32)
    tiny_flat = tiny_out.reshape(-1)
    if not (np.array_equal(packbits.loads(tiny, dtype=np.float32, out=tiny_out), tiny_src)
            and np.array_equal(packbits.unpack(tiny_raw, dtype=np.float32), tiny_src)
            and np.array_equal(packbits.readme_decode(tiny), tiny_src)):
        ok = False
        print("  WRONG: tiny sample decode")

    def t_tiny_loads():
        for _ in range(n):
            packbits.loads(tiny, dtype=np.float32, out=tiny_out)

    def t_tiny_loads_new():
        for _ in range(n):
            packbits.loads(tiny, dtype=np.float32)

    def t_tiny_unpack():
        for _ in range(n):
            packbits.unpack(tiny_raw, dtype=np.float32, out=tiny_out)

    def t_tiny_kernel():
        for _ in range(n):
            kernels.unpack_bits(tiny_body, 16, tiny_flat)

    def t_tiny_readme():
        for _ in range(n):
            packbits.readme_decode(tiny)

    cat = [(np.concatenate([np.frombuffer(memoryview(d)[len(d) - raw_len:], np.uint8) for d in batch]),
            np.arange(len(batch), dtype=np.int64) * raw_len + packbits.HEADER_BYTES) for batch in batches]
    kernels.unpack_bits_batch(cat[0][0], cat[0][1], size, outb[:len(batches[0])].reshape(len(batches[0]), -1))

    def t_kernel_batch():
        for (bod, offs), batch in zip(cat, batches):
            kernels.unpack_bits_batch(bod, offs, size, outb[:len(batch)].reshape(len(batch), -1))

    cases = [
        ("readme", "(a) readme_decode (np.load + unpackbits + astype + copy)", t_readme),
        ("evio", "(b) evio loads(float32), new array per call", t_evio_new),
        ("evio_out", "(c) evio loads(float32, out=) one sample", t_evio_out),
        ("evio_batch", f"(d) evio loads(list of {BATCH}, float32, out=)", t_evio_batch),
        ("memcpy", "(e) memcpy floor: np.copyto float32, one sample", t_memcpy_single),
        ("memcpy_batch", f"(e) memcpy floor: np.copyto float32, {BATCH}-sample batch", t_memcpy_batch),
        ("evio_bool", "(f) evio loads(bool), new array per call", t_evio_bool),
        ("evio_u8", "(f) evio loads(uint8), new array per call", t_evio_u8),
        ("np_unpackbits", "    numpy np.unpackbits(body) -> uint8 (peer, no .npy parse)", t_np_unpackbits),
        ("memcpy_u8", "    memcpy floor: np.copyto uint8, one sample", t_memcpy_u8),
        ("unpack_raw", "    evio unpack(raw payload, float32, out=) one sample", t_unpack_raw),
        ("kernel", "    kernel unpack_bits(body, n, out_flat) float32 one sample", t_kernel),
        ("kernel_batch", f"    kernel unpack_bits_batch (bodies pre-concatenated), {BATCH}/call", t_kernel_batch),
        ("memset", "    memset floor: out.fill(1.0) float32, one sample (write only)", t_memset_single),
        ("memset_batch", f"    memset floor: out.fill(1.0) float32, {BATCH}-sample batch", t_memset_batch),
        ("tiny_loads_new", "    per-call overhead: loads(16-element sample, float32)", t_tiny_loads_new),
        ("tiny_loads", "    per-call overhead: loads(16-element sample, float32, out=)", t_tiny_loads),
        ("tiny_unpack", "    per-call overhead: unpack(16-element raw, float32, out=)", t_tiny_unpack),
        ("tiny_kernel", "    per-call overhead: kernel unpack_bits(16 elements) dispatch", t_tiny_kernel),
        ("tiny_readme", "    per-call overhead: readme_decode(16-element sample)", t_tiny_readme),
    ]
    res = {}
    print(f"  {'':66s} {'best µs/sample':>15s} {'median':>9s}")
    for key, label, fn in cases:
        best, med = best_of(fn, repeats)
        res[key] = best / n * 1e6
        print(f"  {label:66s} {res[key]:15.1f} {med / n * 1e6:9.1f}")

    r_readme = res["readme"] / res["evio"]
    r_batch = res["evio_batch"] / res["memcpy_batch"]
    r_single = res["evio"] / res["memcpy"]
    print("  ratios:")
    print(f"    readme / evio single (new array)      {r_readme:6.2f}x   target >= {TARGET_README_RATIO:.0f}x: "
          f"{'PASS' if r_readme >= TARGET_README_RATIO else f'MISS (short by {TARGET_README_RATIO / r_readme:.2f}x)'}")
    print(f"    readme / evio single (out=)           {res['readme'] / res['evio_out']:6.2f}x")
    print(f"    readme / evio batched                 {res['readme'] / res['evio_batch']:6.2f}x")
    print(f"    evio batched / memcpy batched         {r_batch:6.2f}x   target <= {TARGET_BATCH_MEMCPY_RATIO:.0f}x: "
          f"{'PASS' if r_batch <= TARGET_BATCH_MEMCPY_RATIO else f'MISS (over by {r_batch / TARGET_BATCH_MEMCPY_RATIO:.2f}x)'}")
    print(f"    evio single / memcpy single           {r_single:6.2f}x   (information)")
    print(f"    evio single (out=) / memcpy single    {res['evio_out'] / res['memcpy']:6.2f}x")
    print(f"    evio uint8 / np.unpackbits            {res['evio_u8'] / res['np_unpackbits']:6.2f}x")
    print(f"    evio single / memset single           {res['evio'] / res['memset']:6.2f}x   (write-only floor)")
    print(f"    evio batched / memset batched         {res['evio_batch'] / res['memset_batch']:6.2f}x")
    print("  where evio's single-sample float32 time goes (µs/sample):")
    print(f"    per-call overhead (tiny sample)       {res['tiny_loads_new']:8.1f}  loads(); "
          f"{res['tiny_loads']:.1f} loads(out=), {res['tiny_unpack']:.1f} unpack(out=), "
          f"{res['tiny_kernel']:.1f} kernel dispatch, {res['tiny_readme']:.1f} readme_decode")
    print(f"    kernel unpack_bits                    {res['kernel']:8.1f}  "
          f"({res['kernel'] * 1e3 / size:.2f} ns/element, {4 * size / res['kernel'] / 1e3:.2f} GB/s written)")
    print(f"    unpack() Python overhead              {res['unpack_raw'] - res['kernel']:8.1f}  (unpack(raw) - kernel)")
    print(f"    .npy wrapper parse in loads()         {res['evio_out'] - res['unpack_raw']:8.1f}  (loads(out=) - unpack(raw))")
    print(f"    new output array                      {res['evio'] - res['evio_out']:8.1f}  (loads() - loads(out=))")
    print(f"    batch: kernel / per-call extras       {res['kernel_batch']:8.1f} / "
          f"{res['evio_batch'] - res['kernel_batch']:.1f}  (loads(list) - unpack_bits_batch)")
    return res, ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.packbits", description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=10_000, help="samples per size (default 10000)")
    ap.add_argument("--quick", action="store_true", help="500 samples, every decode checked")
    ap.add_argument("--sizes", default="128,224", help="comma-separated square sizes H=W (default 128,224)")
    ap.add_argument("--repeats", type=int, default=3, help="passes per measurement; best is reported (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n = 500 if args.quick else args.samples
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    print("evio packbits benchmark (I2E .npy samples -> dense tensors)")
    print(f"command: {shlex.join([sys.executable, '-m', 'benchmarks.packbits', *sys.argv[1:]])}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']} (numba.config.NUMBA_NUM_THREADS="
          f"{numba.config.NUMBA_NUM_THREADS}), cpus {os.cpu_count()}, {platform.machine()}")
    print(f"samples {n} per size, sizes {sizes}, T={T} C={C}, best of {args.repeats}, batch {BATCH}; "
          f"load avg {loadavg()}")
    all_ok = True
    summary = []
    for s in sizes:
        res, ok = run_size(s, s, n, args.repeats, args.quick, args.seed + s)
        all_ok &= ok
        summary.append((s, res))

    print("\n== summary (µs/sample, float32 output; ratios)")
    print(f"  {'size':>7s} {'readme':>8s} {'evio':>8s} {'evio out=':>9s} {'batch':>8s} {'memcpy':>8s} "
          f"{'memcpy b':>8s} {'readme/evio':>11s} {'batch/memcpy':>12s} {'evio/memcpy':>11s}")
    for s, r in summary:
        print(f"  {f'{s}x{s}':>7s} {r['readme']:8.1f} {r['evio']:8.1f} {r['evio_out']:9.1f} {r['evio_batch']:8.1f} "
              f"{r['memcpy']:8.1f} {r['memcpy_batch']:8.1f} {r['readme'] / r['evio']:10.2f}x "
              f"{r['evio_batch'] / r['memcpy_batch']:11.2f}x {r['evio'] / r['memcpy']:10.2f}x")
    print(f"  targets: readme/evio >= {TARGET_README_RATIO:.0f}x, batch/memcpy <= {TARGET_BATCH_MEMCPY_RATIO:.0f}x")
    print(f"decodes: {'all checked decodes equal the source' if all_ok else 'SOME DECODES WRONG'}; "
          f"load avg {loadavg()}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
