"""Bad input gives FormatError or a clear OS error, and no partial output is ever left behind."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import evio
from evio.cli import main

from conftest import random_events

SUFFIXES = [".h5", ".hdf5", ".zarr", ".npz", ".npy", ".csv"]


def _no_leftovers(folder: Path, keep=()):
    left = sorted(p.name for p in folder.iterdir() if p.name not in keep)
    assert left == [], left


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        evio.read("does/not/exist.h5")


@pytest.mark.parametrize("suffix", [s for s in SUFFIXES if s != ".zarr"])
def test_empty_file(tmp_path, suffix):
    path = tmp_path / ("empty" + suffix)
    path.write_bytes(b"")
    with pytest.raises(evio.FormatError, match="empty") as exc:
        evio.read(path)
    assert exc.value.path == str(path) and exc.value.offset == 0


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("seed", range(3))
def test_random_bytes(tmp_path, suffix, seed):
    path = tmp_path / ("noise" + suffix)
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    with pytest.raises(evio.FormatError) as exc:
        evio.read(path)
    assert str(path) in str(exc.value)


def test_random_bytes_inside_zarr_folder(tmp_path):
    path = tmp_path / "noise.zarr"
    path.mkdir()
    with pytest.raises(evio.FormatError, match="zarr.json"):
        evio.read(path)
    (path / "zarr.json").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(evio.FormatError):
        evio.read(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated_hdf5(tmp_path, keep):
    path = tmp_path / "a.h5"
    evio.write(path, random_events(300_000, seed=1), chunk_length=1 << 14)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(evio.FormatError):
        evio.read(path)


def test_truncated_zarr_missing_chunk(tmp_path):
    path = tmp_path / "a.zarr"
    evio.write(path, random_events(50_000, seed=2), chunk_length=1 << 12)
    chunk = sorted((path / "events" / "x" / "c").iterdir())[3]
    chunk.unlink()
    with pytest.raises(evio.FormatError, match="truncated or damaged zarr store"):
        evio.read(path)


def test_corrupt_zarr_chunk(tmp_path):
    path = tmp_path / "a.zarr"
    evio.write(path, random_events(50_000, seed=3), chunk_length=1 << 12)
    chunk = sorted((path / "events" / "t" / "c").iterdir())[2]
    chunk.write_bytes(np.random.default_rng(0).bytes(chunk.stat().st_size))
    with pytest.raises(evio.FormatError, match=r"cannot read t\["):
        evio.read(path)


def test_zarr_with_lying_event_count(tmp_path):
    import zarr

    path = tmp_path / "a.zarr"
    evio.write(path, random_events(100, seed=4))
    zarr.open_group(str(path), mode="r+").attrs["event_count"] = 2**31
    with pytest.raises(evio.FormatError, match="event_count"):
        evio.read(path)


def test_damaged_time_index(tmp_path):
    import h5py

    path = tmp_path / "a.h5"
    evio.write(path, random_events(5000, seed=5, rate_us=5))
    with h5py.File(path, "r+") as f:
        f["ms_to_idx"][3] = 2**40
    with pytest.raises(evio.FormatError, match="time index"):
        evio.open(path)


def test_truncated_npy_and_npz(tmp_path):
    ev = random_events(10_000, seed=6)
    for name in ["a.npy", "a.npz"]:
        path = tmp_path / name
        evio.write(path, ev)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(evio.FormatError):
            evio.read(path)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "events.xyz"
    path.write_bytes(b"hello")
    with pytest.raises(evio.FormatError, match="unknown format"):
        evio.read(path)
    with pytest.raises(evio.FormatError, match="suffix"):
        evio.write(tmp_path / "out.xyz", evio.empty_events(1))


def test_magic_is_sniffed_without_suffix(tmp_path):
    ev = random_events(50, seed=7)
    evio.write(tmp_path / "a.h5", ev)
    os.rename(tmp_path / "a.h5", tmp_path / "recording")
    np.testing.assert_array_equal(evio.read(tmp_path / "recording"), ev)


def test_wrong_suffix_names_the_real_format(tmp_path):
    evio.write(tmp_path / "a.npz", random_events(5))
    os.rename(tmp_path / "a.npz", tmp_path / "a.h5")
    with pytest.raises(evio.FormatError, match="looks like npz"):
        evio.read(tmp_path / "a.h5")
    assert len(evio.read(tmp_path / "a.h5", format="npz")) == 5


def test_destination_in_missing_folder(tmp_path):
    src = tmp_path / "a.npy"
    evio.write(src, random_events(5))
    with pytest.raises(FileNotFoundError, match="destination folder"):
        evio.convert(src, tmp_path / "missing" / "b.h5")
    with pytest.raises(FileNotFoundError):
        evio.write(tmp_path / "missing" / "b.zarr", random_events(5))


@pytest.mark.parametrize("suffix", [".h5", ".zarr", ".npz", ".npy", ".csv"])
def test_failure_halfway_leaves_no_output(tmp_path, suffix, monkeypatch):
    src = tmp_path / "src.npy"
    evio.write(src, random_events(10_000, seed=8))
    dst = tmp_path / ("dst" + suffix)
    calls = []

    def failing(chunk):
        calls.append(chunk)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        evio.convert(src, dst, chunk_size=1000, progress=failing)
    assert len(calls) == 3
    _no_leftovers(tmp_path, keep={"src.npy"})


@pytest.mark.parametrize("suffix", [".h5", ".zarr"])
def test_failed_overwrite_keeps_the_old_file(tmp_path, suffix):
    dst = tmp_path / ("dst" + suffix)
    old = random_events(100, seed=9)
    evio.write(dst, old)
    bad = tmp_path / "bad.csv"
    bad.write_text("t,x,y,p\n" + "1,2,3,1\n" * 5000 + "1,2,oops,1\n")
    with pytest.raises(evio.FormatError, match="byte"):
        evio.convert(bad, dst, chunk_size=100)
    np.testing.assert_array_equal(evio.read(dst), old)
    _no_leftovers(tmp_path, keep={dst.name, "bad.csv"})


def test_cli_errors_are_one_line_exit_1(tmp_path):
    runner = CliRunner()
    noise = tmp_path / "noise.h5"
    noise.write_bytes(np.random.default_rng(0).bytes(1000))
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    good = tmp_path / "good.npy"
    evio.write(good, random_events(10))
    bad = tmp_path / "bad.csv"
    bad.write_text("t,x,y,p\n" + "1,2,3,1\n" * 3000 + "1,2,3\n")
    cases = [
        ["info", str(tmp_path / "missing.h5")],
        ["info", str(noise)],
        ["info", str(empty)],
        ["convert", str(good), str(tmp_path / "nodir" / "x.h5")],
        ["convert", str(good), str(tmp_path / "x.unknown")],
        ["convert", str(bad), str(tmp_path / "out.zarr"), "--chunk-size", "100"],
        ["convert", str(good), str(good)],
    ]
    for args in cases:
        result = runner.invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("evio: error: "), (args, result.stderr)
        assert "Traceback" not in result.output
    _no_leftovers(tmp_path, keep={"noise.h5", "empty.npz", "good.npy", "bad.csv"})


def test_cli_subprocess_prints_no_traceback(tmp_path):
    exe = shutil.which("evio", path=os.path.dirname(sys.executable))
    assert exe, "the evio command is installed next to the interpreter"
    noise = tmp_path / "noise.zarr"
    noise.write_bytes(b"\x00" * 10)
    proc = subprocess.run([exe, "info", str(noise)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(noise) in proc.stderr


def test_overwriting_a_store_folder_is_atomic(tmp_path):
    dst = tmp_path / "a.zarr"
    evio.write(dst, random_events(10, seed=1))
    new = random_events(20, seed=2)
    evio.write(dst, new)
    np.testing.assert_array_equal(evio.read(dst), new)
    evio.write(tmp_path / "b.h5", new)
    evio.convert(tmp_path / "b.h5", tmp_path / "b.zarr")
    _no_leftovers(tmp_path, keep={"a.zarr", "b.h5", "b.zarr"})


def test_unclosed_writer_discards_output_with_a_warning(tmp_path):
    import gc

    w = evio.open(tmp_path / "a.h5", "w")
    w.write(random_events(10))
    with pytest.warns(ResourceWarning, match="never closed"):
        del w
        gc.collect()
    _no_leftovers(tmp_path)
