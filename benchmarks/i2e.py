"""Benchmark of ``evio.i2e`` against the NumPy reference of the spec, a memory floor, and the published event rate.

Run from the repository root::

    .venv/bin/python -m benchmarks.i2e                  # 256 images at 128x128 and 224x224, CLI on 10,000 images
    .venv/bin/python -m benchmarks.i2e --quick          # 64 images per size, CLI on 1,000 images
    .venv/bin/python -m benchmarks.i2e --sizes 128 --e2e 0

Single core: ``NUMBA_NUM_THREADS=1`` (and the BLAS/OpenMP thread variables) are set before NumPy,
Numba or evio are imported; evio's kernels are serial ``@njit`` loops anyway. The CLI run at the end
uses its default two worker processes (both cores).

Data: real photographs only, from ``fixtures/images/`` (see ``fixtures/SOURCES.md``; Pillow reads the
PNGs). For each size S, ``--images`` random square crops (side 1/3 to all of the photo's short side,
random position, random horizontal flip) are resized to S x S with ``evio.i2e.preprocess`` (bicubic,
torchvision's uint8 kernel). Decoding and resizing are done before any timing.

Timed per image (best of ``--repeats`` passes; ratio 0.07, canonical anchors, order efghabcd):

(a) ``reference``   the spec's NumPy reference (i2e-odg.md §1.4, transcribed below as the oracle), one
                    image per call, on the first ``--ref-images`` images;
(b) ``evio dense``  ``evio.i2e(batch)``: bool ``[N, 8, 2, S, S]``, a new array per call;
(b') ``evio out=``  ``evio.i2e(batch, out=out)`` into the preallocated (e) array, reused every pass;
(c) ``evio packed`` ``evio.i2e(batch, output="packed")``: the ``.npy`` bytes of the I2E shards;
(d) ``evio 1/call`` ``evio.i2e(image)`` one image per call (per-call overhead included), every result
                    kept in a list as (a) keeps the reference's;
(f) ``streamed``    one image per call with each result dropped before the next call (the pattern of
                    on-the-fly conversion in a training loop), for the reference (a'), evio dense,
                    evio packed and the floor (``np.ones([8, 2, S, S], bool)`` per image): the
                    outputs then stay in the caches on both sides, so this compares compute alone;
(e) ``floor``       ``np.ones((N, 8, 2, S, S), bool)``: merely writing the dense output once (same
                    allocation pattern as (b)), and ``out.fill(1)`` into a preallocated array.

Targets (printed as PASS/MISS, never asserted): reference / evio >= 15x at both sizes (dense and packed);
evio dense / floor (d, new array) <= 3x. Correctness: (b), (c) and (d) are compared with the reference
on the reference's images; the script exits 1 on any difference.

Event rate: ``--rate-crops`` CIFAR-like 32x32 images (the crops above, resized to 32x32) converted
with ``preset="cifar10"`` (bicubic 32 -> 128, ratio 0.07); the mean and std of the fraction of
elements set are printed beside the published 5.86 % (a fidelity check, not a test).

End to end: ``--e2e`` such 32x32 images written as one ``.npz`` (images + labels), then
``python -m evio.cli i2e imgs.npz OUT --preset cifar10`` (resize included, 2 workers, parquet shards),
timed from process start to exit.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

import evio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png", "camera.png"]
RATIO = 0.07
TARGET_REF_RATIO = 15.0
TARGET_FLOOR_RATIO = 3.0
PUBLISHED_CIFAR10_RATE = 0.0586


# -- the reference: the spec's NumPy code (i2e-odg.md §1.4), kept as the oracle and the baseline ----------

def pos(p):
    return ((p - 1) // 3 - 1, (p - 1) % 3 - 1)


CANON = [[5, 6], [5, 2], [5, 3], [5, 1], [9, 4], [4, 3], [3, 8], [8, 1]]
ORDER = [4, 5, 6, 7, 0, 1, 2, 3]


def i2e_np(u8_chw, ratio, order=ORDER, pairs=CANON):  # uint8 (3,H,W) -> bool (8,2,H,W)
    V = u8_chw.max(0).astype(np.float32) * np.float32(1.0 / 255)
    H, W = V.shape
    Vp = np.pad(V, 1, mode="edge")
    thr = np.float32(np.float32(V.max() - V.min()) * np.float32(ratio))
    out = np.empty((8, 2, H, W), bool)
    for t, g in enumerate(order):
        (r0, c0), (r1, c1) = pos(pairs[g][0]), pos(pairs[g][1])
        d = Vp[1 + r1:1 + r1 + H, 1 + c1:1 + c1 + W] - Vp[1 + r0:1 + r0 + H, 1 + c0:1 + c0 + W]
        if thr == 0:
            out[t] = True
        else:
            out[t, 0] = d >= thr
            out[t, 1] = -d >= thr
    return out


# -- data -------------------------------------------------------------------------------------------

def load_photos() -> list[np.ndarray]:
    try:
        from PIL import Image
    except ImportError:
        raise SystemExit("this benchmark reads fixtures/images/*.png and needs Pillow") from None
    photos = []
    for name in PHOTOS:
        with Image.open(FIXTURES / name) as im:
            photos.append(np.array(im.convert("RGB")))
    return photos


def crops(photos, n: int, size: int, seed: int) -> np.ndarray:
    """``n`` random square crops of the photos (side 1/3..1 of the short side, random flip) resized to ``size``."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        photo = photos[i % len(photos)]
        H, W = photo.shape[:2]
        side = int(rng.integers(max(1, min(H, W) // 3), min(H, W) + 1))
        y0, x0 = int(rng.integers(0, H - side + 1)), int(rng.integers(0, W - side + 1))
        crop = photo[y0:y0 + side, x0:x0 + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = evio.i2e.preprocess(np.ascontiguousarray(crop), size)
    return out


def stream(convert, images) -> None:
    for im in images:
        convert(im)


def best_of(fn, repeats: int) -> tuple[float, float]:
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


def verdict(ok: bool, short: str) -> str:
    return "PASS" if ok else f"MISS ({short})"


# -- per size -----------------------------------------------------------------------------------------

def run_size(photos, size: int, n: int, n_ref: int, repeats: int, seed: int) -> tuple[dict, bool]:
    t0 = time.perf_counter()
    batch = crops(photos, n, size, seed)
    prep_s = time.perf_counter() - t0
    ref_imgs = [np.ascontiguousarray(im.transpose(2, 0, 1)) for im in batch[:n_ref]]
    print(f"\n== {size}x{size}: {n} real-photo crops resized to {size}x{size} (prepared in {prep_s:.1f} s, "
          f"not timed); output [8, 2, {size}, {size}] = {8 * 2 * size * size / 1e3:.0f} kB dense, "
          f"{8 * 2 * size * size // 8 / 1e3:.1f} kB packed per image; load avg {loadavg()}")

    evio.i2e(batch[:2], RATIO)
    evio.i2e(batch[:2], RATIO, output="packed")
    evio.i2e(batch[0], RATIO)

    ok = True
    want = [i2e_np(im, RATIO) for im in ref_imgs]
    dense = evio.i2e(batch[:n_ref], RATIO)
    packed = evio.i2e(batch[:n_ref], RATIO, output="packed")
    for i, w in enumerate(want):
        if not (np.array_equal(dense[i], w) and packed[i] == evio.packbits.dumps(w)
                and np.array_equal(evio.i2e(batch[i], RATIO), w)):
            ok = False
            print(f"  WRONG: image {i} differs from the reference")
    rate = float(np.mean([w.mean() for w in want]))
    print(f"  checked {n_ref} images (dense batch, packed batch, one per call) against the reference: "
          f"{'all equal' if ok else 'ERRORS'}; event rate of these crops {100 * rate:.2f} %")

    out = np.empty((n, 8, 2, size, size), bool)
    out.fill(0)
    cases = [
        ("ref", f"(a) NumPy reference (spec §1.4), one image per call [{n_ref} images]",
         lambda: [i2e_np(im, RATIO) for im in ref_imgs], n_ref),
        ("dense", "(b) evio.i2e(batch) -> bool [N, 8, 2, S, S], new array", lambda: evio.i2e(batch, RATIO), n),
        ("into", "(b') evio.i2e(batch, out=out): preallocated, reused", lambda: evio.i2e(batch, RATIO, out=out), n),
        ("packed", "(c) evio.i2e(batch, output='packed') -> .npy bytes", lambda: evio.i2e(batch, RATIO, output="packed"), n),
        ("single", "(d) evio.i2e(image), one image per call, results kept", lambda: [evio.i2e(im, RATIO) for im in batch], n),
        ("ref_stream", f"(f) reference, one per call, results dropped [{n_ref} images]",
         lambda: stream(lambda im: i2e_np(im, RATIO), ref_imgs), n_ref),
        ("stream", "(f) evio.i2e(image), one per call, results dropped", lambda: stream(lambda im: evio.i2e(im, RATIO), batch), n),
        ("stream_packed", "(f) evio.i2e(image, output='packed'), results dropped",
         lambda: stream(lambda im: evio.i2e(im, RATIO, output="packed"), batch), n),
        ("stream_floor", "(f) floor: np.ones([8, 2, S, S], bool) per image, dropped",
         lambda: stream(lambda im: np.ones((8, 2, size, size), bool), batch), n),
        ("floor", "(e) floor: np.ones([N, 8, 2, S, S], bool), new array", lambda: np.ones(out.shape, bool), n),
        ("fill", "(e) floor: out.fill(1), preallocated", lambda: out.fill(1), n),
    ]
    res = {}
    print(f"  {'':58s} {'best µs/image':>14s} {'median':>9s}")
    for key, label, fn, count in cases:
        best, med = best_of(fn, repeats)
        res[key] = best / count * 1e6
        print(f"  {label:58s} {res[key]:14.1f} {med / count * 1e6:9.1f}")
    r_dense, r_packed = res["ref"] / res["dense"], res["ref"] / res["packed"]
    f_dense = res["dense"] / res["floor"]
    print("  ratios:")
    print(f"    reference / evio dense            {r_dense:6.1f}x   target >= {TARGET_REF_RATIO:.0f}x: "
          f"{verdict(r_dense >= TARGET_REF_RATIO, f'short by {TARGET_REF_RATIO / r_dense:.2f}x')}")
    print(f"    reference / evio packed           {r_packed:6.1f}x   target >= {TARGET_REF_RATIO:.0f}x: "
          f"{verdict(r_packed >= TARGET_REF_RATIO, f'short by {TARGET_REF_RATIO / r_packed:.2f}x')}")
    r_into = res["ref"] / res["into"]
    print(f"    reference / evio dense, out=     {r_into:6.1f}x   target >= {TARGET_REF_RATIO:.0f}x: "
          f"{verdict(r_into >= TARGET_REF_RATIO, f'short by {TARGET_REF_RATIO / r_into:.2f}x')}")
    print(f"    reference / evio one per call     {res['ref'] / res['single']:6.1f}x   (both keep every result)")
    for key, label in (("stream", "dense"), ("stream_packed", "packed")):
        r = res["ref_stream"] / res[key]
        print(f"    streamed: reference / evio {label:7s}{r:6.1f}x   target >= {TARGET_REF_RATIO:.0f}x: "
              f"{verdict(r >= TARGET_REF_RATIO, f'short by {TARGET_REF_RATIO / r:.2f}x')}")
    print(f"    streamed: evio dense / floor      {res['stream'] / res['stream_floor']:6.2f}x")
    print(f"    evio dense / floor (new array)    {f_dense:6.2f}x   target <= {TARGET_FLOOR_RATIO:.0f}x: "
          f"{verdict(f_dense <= TARGET_FLOOR_RATIO, f'over by {f_dense / TARGET_FLOOR_RATIO:.2f}x')}")
    print(f"    evio dense / fill (preallocated)  {res['dense'] / res['fill']:6.2f}x")
    return res, ok


def event_rate(photos, n: int, seed: int) -> tuple[float, float]:
    small = crops(photos, n, 32, seed)
    dense = evio.i2e(small, preset="cifar10")
    rates = dense.reshape(n, -1).mean(axis=1)
    return float(rates.mean()), float(rates.std())


def end_to_end(photos, n: int, seed: int) -> None:
    images = crops(photos, n, 32, seed)
    labels = np.arange(n) % 10
    with tempfile.TemporaryDirectory(prefix="evio-i2e-bench-") as tmp:
        src = Path(tmp) / "imgs.npz"
        np.savez(src, images=images, labels=labels)
        cmd = [sys.executable, "-m", "evio.cli", "i2e", str(src), str(Path(tmp) / "out"), "--preset", "cifar10"]
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise SystemExit(f"CLI failed: {proc.stderr.strip() or proc.stdout.strip()}")
        size = sum(p.stat().st_size for p in (Path(tmp) / "out").rglob("*.parquet"))
    print(f"\n== end to end: evio i2e on {n:,} real-photo 32x32 images (.npz), --preset cifar10 "
          f"(bicubic resize to 128x128 included), 2 workers, parquet shards ({size / 1e6:.1f} MB)")
    print(f"  command: {shlex.join(['evio', *cmd[3:]])}")
    print(f"  CLI says: {proc.stdout.strip()}")
    print(f"  wall time incl. interpreter start and kernel cache load: {wall:.2f} s = {n / wall:,.0f} images/s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.i2e", description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=256, help="images per size (default 256)")
    ap.add_argument("--ref-images", type=int, default=32, help="images given to the slow reference (default 32)")
    ap.add_argument("--sizes", default="128,224", help="comma-separated square sizes (default 128,224)")
    ap.add_argument("--repeats", type=int, default=5, help="passes per measurement; best is reported (default 5)")
    ap.add_argument("--rate-crops", type=int, default=300, help="32x32 crops for the event-rate check (default 300)")
    ap.add_argument("--e2e", type=int, default=10_000, help="images for the end-to-end CLI run (0: skip)")
    ap.add_argument("--quick", action="store_true", help="64 images per size, 16 for the reference, e2e on 1,000")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.ref_images, args.repeats = 64, 16, 3
        args.e2e = min(args.e2e, 1000)
    n_ref = min(args.ref_images, args.images)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    print("evio I2E benchmark (images -> [8, 2, H, W] events; excludes decode and resize)")
    print(f"command: {shlex.join([sys.executable, '-m', 'benchmarks.i2e', *sys.argv[1:]])}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}, cpus {os.cpu_count()}, {platform.machine()}; "
          f"ratio {RATIO}, best of {args.repeats}; load avg {loadavg()}")
    photos = load_photos()
    all_ok = True
    summary = []
    for s in sizes:
        res, ok = run_size(photos, s, args.images, n_ref, args.repeats, args.seed + s)
        all_ok &= ok
        summary.append((s, res))

    mean, std = event_rate(photos, args.rate_crops, args.seed + 1)
    print(f"\n== event rate, preset 'cifar10' on {args.rate_crops} real-photo 32x32 crops (bicubic -> 128x128, "
          f"ratio 0.07): mean {100 * mean:.2f} %, std {100 * std:.2f} %; published I2E-CIFAR10: "
          f"{100 * PUBLISHED_CIFAR10_RATE:.2f} % ({mean / PUBLISHED_CIFAR10_RATE:.2f}x)")

    if args.e2e:
        end_to_end(photos, args.e2e, args.seed + 2)

    print("\n== summary (µs per image, single core)")
    print(f"  {'size':>7s} {'reference':>10s} {'dense':>8s} {'out=':>8s} {'packed':>8s} {'1/call':>8s} {'floor':>8s} "
          f"{'ref/dense':>9s} {'ref/out=':>9s} {'ref/packed':>10s} {'dense/floor':>11s}")
    for s, r in summary:
        print(f"  {f'{s}x{s}':>7s} {r['ref']:10.1f} {r['dense']:8.1f} {r['into']:8.1f} {r['packed']:8.1f} "
              f"{r['single']:8.1f} {r['floor']:8.1f} {r['ref'] / r['dense']:8.1f}x {r['ref'] / r['into']:8.1f}x "
              f"{r['ref'] / r['packed']:9.1f}x {r['dense'] / r['floor']:10.2f}x")
    print("  streamed (one per call, results dropped):")
    print(f"  {'size':>7s} {'reference':>10s} {'dense':>8s} {'packed':>8s} {'floor':>8s} {'ref/dense':>9s} {'ref/packed':>10s}")
    for s, r in summary:
        print(f"  {f'{s}x{s}':>7s} {r['ref_stream']:10.1f} {r['stream']:8.1f} {r['stream_packed']:8.1f} "
              f"{r['stream_floor']:8.1f} {r['ref_stream'] / r['stream']:8.1f}x {r['ref_stream'] / r['stream_packed']:9.1f}x")
    print(f"  targets: reference/evio >= {TARGET_REF_RATIO:.0f}x, dense/floor <= {TARGET_FLOOR_RATIO:.0f}x")
    print(f"results: {'every checked output equals the reference' if all_ok else 'SOME OUTPUTS WRONG'}; "
          f"load avg {loadavg()}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
