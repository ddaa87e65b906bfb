"""Benchmark of evio's ES-ImageNet ODG against a NumPy transcription of the spec's integer formulation.

Run from the repository root::

    .venv/bin/python -m benchmarks.odg              # 200 images per size
    .venv/bin/python -m benchmarks.odg --quick      # 20 images per size

Single-threaded (``NUMBA_NUM_THREADS=1`` and the BLAS/OpenMP variables are set before NumPy and
Numba are imported).

Data. Real photographs (scikit-image's bundled ``astronaut``, ``chelsea``, ``coffee``, ``rocket``
at full size; else the small copies in ``fixtures/images``; else random blocky images), cut and
nearest-resized to ImageNet-like shapes ``H x W`` (500x375, 375x500, 500x333, 500x500, 256x256,
224x224), uint8 RGB, every other one mirrored.
The ODG resizes every image so that its long side is 254 pixels, so the work per sample is about
that of a 254 x 190 .. 254 x 254 image.

What is timed, per image (best of ``--repeats`` passes over all images):

(a) ``numpy``   the spec's formulation in NumPy (nearest indices, V = max over channels, nine
                canvases, masked differences >= 46, crop filter, ``np.nonzero`` order), vectorised;
(b) ``evio``    ``evio.odg(image)`` (sparse ``pos``/``neg`` rows, as stored);
(c) ``evio dense`` ``evio.odg(image, output="dense")`` (ODG + the dense loader's ``[8, 2, 224, 224]``);
(d) ``edge``    ``evio.edge_integral`` of that dense tensor.

The ES-ImageNet paper reports 29.47 ms per sample for its generator; it is printed for reference
(other hardware and code). Every evio result is checked against (a) before timing; the script
exits 1 on a mismatch.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numba
import numpy as np

import evio
from evio.image import ODGDropWarning

SHAPES = [(500, 375), (375, 500), (500, 333), (500, 500), (256, 256), (224, 224)]
PAPER_MS = 29.47
TRACE = [(1, 0), (0, 2), (2, 1), (1, 0), (0, 1), (2, 2), (1, 0), (1, 1), (2, 1)]


def numpy_odg(img: np.ndarray):
    """The spec's integer formulation (§3.2), vectorised NumPy: (pos, neg, a, b)."""
    h, w = img.shape[:2]
    a, b = (254, int(w * 254 / h)) if h > w else (int(h * 254 / w), 254)

    def idx(n_in, n_out):
        i = np.arange(n_out)
        if n_out == n_in:
            return i
        if n_out == 2 * n_in:
            return i >> 1
        return np.minimum(np.floor(i.astype(np.float32) * (np.float32(n_in) / np.float32(n_out))).astype(int),
                          n_in - 1)

    V = img[idx(h, a)][:, idx(w, b)].max(axis=2).astype(np.int16)
    canvases = np.zeros((9, a + 4, b + 4), np.int16)
    for t, (r, c) in enumerate(TRACE):
        canvases[t, r:r + a, c:c + b] = V
    diff = canvases[1:] - canvases[:-1]
    for t in range(1, 9):
        (x, y), (x0, y0) = TRACE[t], TRACE[t - 1]
        d = diff[t - 1]
        d[min(x, x0):max(x, x0)] = 0
        d[min(x, x0) + a:max(x, x0) + a] = 0
        d[:, min(y, y0):max(y, y0)] = 0
        d[:, min(y, y0) + b:max(y, y0) + b] = 0
    crop = np.zeros((a + 4, b + 4), bool)
    crop[17:240, 17:240] = True

    def rows(mask):
        t, r, c = np.nonzero(mask & crop)
        return np.stack([r, c, t + 1], axis=1).astype(np.uint8)

    return rows(diff >= 46), rows(diff <= -46), a, b


def photos() -> list[np.ndarray]:
    """Full-size photographs from scikit-image if installed, else the small ones in fixtures/images."""
    found = []
    try:
        from skimage import data

        found += [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    except (ImportError, OSError, ValueError):
        found = []
    folder = Path(__file__).resolve().parent.parent / "fixtures" / "images"
    if not found and folder.is_dir():
        from PIL import Image

        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in (".png", ".jpg", ".jpeg"):
                with Image.open(p) as im:
                    found.append(np.asarray(im.convert("RGB")))
    if not found:
        rng = np.random.default_rng(0)
        for _ in range(3):
            coarse = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            found.append(np.repeat(np.repeat(coarse, 20, axis=0), 20, axis=1))
    return found


def make_images(n: int, shape, seed: int) -> list[np.ndarray]:
    """``n`` distinct uint8 RGB images of ``shape``: random crops of the photos, nearest-resized."""
    rng = np.random.default_rng(seed)
    srcs = photos()
    H, W = shape
    out = []
    for k in range(n):
        src = srcs[k % len(srcs)]
        sh, sw = src.shape[:2]
        ch, cw = int(rng.integers(sh // 2, sh + 1)), int(rng.integers(sw // 2, sw + 1))
        r0, c0 = int(rng.integers(0, sh - ch + 1)), int(rng.integers(0, sw - cw + 1))
        crop = src[r0:r0 + ch, c0:c0 + cw]
        rows = np.arange(H) * ch // H
        cols = np.arange(W) * cw // W
        img = np.ascontiguousarray(crop[rows][:, cols])
        out.append(img if k % 2 == 0 else np.ascontiguousarray(img[:, ::-1]))
    return out


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def run_shape(shape, n: int, repeats: int, seed: int):
    images = make_images(n, shape, seed)
    ok = True
    dense = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ODGDropWarning, evio.LossWarning))
        evio.odg(images[0])
        evio.odg(images[0], output="dense")
        for img in images:
            s = evio.odg(img)
            pos, neg, a, b = numpy_odg(img)
            if (s.a, s.b) != (a, b) or not (np.array_equal(s.pos, pos) and np.array_equal(s.neg, neg)):
                ok = False
            dense.append(evio.odg(img, output="dense"))
        evio.edge_integral(dense[0])
        counts = [evio.odg(img).n_events for img in images]

        def t_numpy():
            for img in images:
                numpy_odg(img)

        def t_evio():
            for img in images:
                evio.odg(img)

        def t_evio_dense():
            for img in images:
                evio.odg(img, output="dense")

        def t_edge():
            for d in dense:
                evio.edge_integral(d)

        res = {}
        for key, fn in (("numpy", t_numpy), ("evio", t_evio), ("evio_dense", t_evio_dense), ("edge", t_edge)):
            res[key] = best_of(fn, repeats) / n * 1e3
    kept = sum(c >= 1000 for c in counts)
    print(f"  {shape[0]:>4d}x{shape[1]:<4d} {res['numpy']:9.3f} {res['evio']:9.3f} {res['evio_dense']:11.3f} "
          f"{res['edge']:9.3f} {res['numpy'] / res['evio']:11.1f}x {PAPER_MS / res['evio']:10.0f}x "
          f"  {int(np.mean(counts)):>7d} {kept:>4d}/{n:<4d} {'ok' if ok else 'MISMATCH'}")
    return res, ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.odg", description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=200, help="images per shape (default 200)")
    ap.add_argument("--quick", action="store_true", help="20 images per shape")
    ap.add_argument("--repeats", type=int, default=3, help="passes per measurement; best is reported (default 3)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n = 20 if args.quick else args.images

    print("evio ODG benchmark (ES-ImageNet generator, one image -> pos/neg rows)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}, cpus {os.cpu_count()}, {platform.machine()}")
    print(f"{n} images per shape, best of {args.repeats}; load avg {loadavg()}")
    print(f"  {'H x W':>9s} {'numpy ms':>9s} {'evio ms':>9s} {'evio dense':>11s} {'edge ms':>9s} "
          f"{'numpy/evio':>12s} {'paper/evio':>10s}   {'events':>7s} {'kept':>9s}")
    all_ok, rows = True, []
    for i, shape in enumerate(SHAPES):
        res, ok = run_shape(shape, n, args.repeats, args.seed + i)
        all_ok &= ok
        rows.append(res)
    numpy_ms = statistics.mean(r["numpy"] for r in rows)
    evio_ms = statistics.mean(r["evio"] for r in rows)
    dense_ms = statistics.mean(r["evio_dense"] for r in rows)
    print(f"mean over shapes: numpy {numpy_ms:.3f} ms, evio {evio_ms:.3f} ms ({numpy_ms / evio_ms:.1f}x), "
          f"evio with the dense loader {dense_ms:.3f} ms; the paper's generator: {PAPER_MS} ms/sample "
          f"({PAPER_MS / evio_ms:.0f}x evio)")
    print(f"results: {'all equal to the NumPy formulation' if all_ok else 'SOME RESULTS DIFFER'}; load avg {loadavg()}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
