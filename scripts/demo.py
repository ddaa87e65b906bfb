"""`make demo`: run evio's main job on the bundled real recordings and say what happened.

Converts a real Prophesee EVT3 recording (decoded to .npy by expelliarmus, see fixtures/SOURCES.md)
through every store with the `evio` command, checks each step is lossless, cuts a time window and
prints `evio info`. Then it integrates a real DAVIS recording (AEDAT 4) into 8 frames with
`evio.frames`, renders it as an animated GIF with `evio render`, and shows the I2E conversion of a
real photograph the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import evio

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-output"
EVIO = shutil.which("evio", path=os.path.dirname(sys.executable)) or "evio"


def run(*args) -> None:
    args = [str(a.relative_to(ROOT)) if isinstance(a, Path) else a for a in args]
    print(f"\n$ evio {' '.join(args)}", flush=True)
    subprocess.run([EVIO, *args], check=True, cwd=ROOT)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    src = ROOT / "fixtures" / "evt3_sample.npy"
    original = evio.read(src)
    print(f"evio {evio.__version__}: demo on {src.relative_to(ROOT)} ({len(original):,} real events)")
    run("formats")
    run("info", src)

    chain = ["evt3.h5", "evt3.zarr", "evt3.npz", "evt3.csv", "evt3_again.h5"]
    previous = src
    for name in chain:
        dst = OUT / name
        extra = ["--sensor-size", "1280", "720"] if previous == src else []
        run("convert", previous, dst, "--force", *extra)
        back = evio.read(dst)
        same = back.dtype == original.dtype and np.array_equal(back, original)
        print(f"  check: {name} holds the same {len(back):,} events field for field: {'yes' if same else 'NO'}")
        if not same:
            sys.exit(f"demo failed: {dst} differs from {src}")
        previous = dst

    run("info", OUT / "evt3.zarr")

    with evio.open(OUT / "evt3.zarr") as store:
        t0 = int(original["t"][0]) + 4000
        start = time.perf_counter()
        window = store.time_window(t0, t0 + 1000)
        ms = (time.perf_counter() - start) * 1e3
    expected = original[(original["t"] >= t0) & (original["t"] < t0 + 1000)]
    print(f"\ntime_window({t0}, {t0 + 1000}) on evt3.zarr: {len(window):,} events in {ms:.1f} ms, "
          f"exact: {'yes' if np.array_equal(window, expected) else 'NO'}")
    sizes = {p.name: evio.info(p)["size_bytes"] for p in (OUT / n for n in chain)}
    print("sizes on disk: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()))
    frames_and_gifs()
    print(f"\ndemo done: outputs in {OUT.relative_to(ROOT)}/")


def frames_and_gifs() -> None:
    rec = ROOT / "fixtures" / "tonic_sample.aedat4"
    h5 = OUT / "davis.h5"
    run("convert", rec, h5, "--force", "-q")
    events = evio.read(h5)
    W, H = evio.info(h5)["sensor_size"][:2]
    for convention in ("spikingjelly", "tonic"):
        start = time.perf_counter()
        fr = evio.frames(events, T=8, by="count", sensor_size=(W, H), convention=convention)
        ms = (time.perf_counter() - start) * 1e3
        per_frame = fr.reshape(8, -1).sum(axis=1).astype(int).tolist()
        print(f"\nevio.frames(events, T=8, convention={convention!r}) -> {fr.dtype} {list(fr.shape)} in {ms:.1f} ms;"
              f" events per frame {per_frame}")
    run("render", h5, OUT / "davis.gif", "--T", "8", "--force")
    run("render", ROOT / "fixtures" / "images" / "chelsea.png", OUT / "i2e_chelsea.gif", "--preset", "cifar10",
        "--scale", "2", "--force")



if __name__ == "__main__":
    main()
