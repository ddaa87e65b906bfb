"""Never destroy or silently corrupt data; leave nothing behind on faults (issue 13, items 1-5)."""

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import evio
from evio import _atomic
from conftest import random_events

try:
    import lz4  # noqa: F401  (AEDAT 4 writes LZ4 packets)
except ImportError:
    lz4 = None

WRITE_SUFFIXES = [".h5", ".zarr", ".npy", ".npz", ".raw", ".dat", ".csv"] + ([".aedat4"] if lz4 else [])


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- 1. --force / overwrite never deletes what evio did not write ------------------------------------

def test_convert_refuses_to_replace_a_folder_evio_did_not_write(tmp_path):
    src = tmp_path / "src.h5"
    evio.write(src, random_events(100))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    for fmt in ("npz", "hdf5", "zarr"):
        with pytest.raises(FileExistsError, match="evio did not write"):
            evio.convert(src, victim, format=fmt)
    with pytest.raises(FileExistsError, match="evio did not write"):
        evio.write(victim, random_events(10), format="npy")
    assert (victim / "thesis.tex").read_text() == "years of work"
    assert _listing(tmp_path) == ["src.h5", "victim"]


def test_cli_force_never_deletes_a_foreign_folder(tmp_path):
    from click.testing import CliRunner
    from evio.cli import main

    src = tmp_path / "src.h5"
    evio.write(src, random_events(100))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.bin").write_bytes(b"keep")
    result = CliRunner().invoke(main, ["convert", str(src), str(victim), "--to", "hdf5", "--force"])
    assert result.exit_code != 0
    assert "evio did not write" in result.output
    assert (victim / "data.bin").read_bytes() == b"keep"


def test_destination_inside_the_source_is_refused(tmp_path):
    src = tmp_path / "src.zarr"
    ev = random_events(500)
    evio.write(src, ev)
    for dst, fmt in ((src / "events", "hdf5"), (src / "events" / "t", "npy"), (src / "new.h5", None)):
        with pytest.raises(ValueError, match="inside the source"):
            evio.convert(src, dst, format=fmt)
    np.testing.assert_array_equal(evio.read(src), ev)


def test_cli_destination_inside_the_source_keeps_the_source(tmp_path):
    from click.testing import CliRunner
    from evio.cli import main

    src = tmp_path / "src.zarr"
    ev = random_events(500)
    evio.write(src, ev)
    result = CliRunner().invoke(main, ["convert", str(src), str(src / "events"), "--to", "hdf5", "--force"])
    assert result.exit_code != 0 and "inside the source" in result.output
    np.testing.assert_array_equal(evio.read(src), ev)


def test_source_inside_the_destination_is_refused(tmp_path):
    folder = tmp_path / "rec.zarr"
    evio.write(folder, random_events(50))
    inner = folder / "copy.h5"
    # a store evio wrote may be replaced, but not by the conversion of a file inside it
    evio.write(tmp_path / "a.h5", random_events(50))
    os.replace(tmp_path / "a.h5", inner)
    with pytest.raises(ValueError, match="holds the source"):
        evio.convert(inner, folder, format="zarr")
    assert inner.exists()


def test_a_file_is_still_replaced(tmp_path):
    # (overwriting an evio store: tests/test_errors.py::test_overwriting_a_store_folder_is_atomic)
    new = random_events(20, seed=2)
    file_dst = tmp_path / "b.npy"
    file_dst.write_bytes(b"an old file")
    evio.write(file_dst, new)
    np.testing.assert_array_equal(evio.read(file_dst), new)
    assert _listing(tmp_path) == ["b.npy"]


# -- 2. a damaged time index is detected, never trusted -----------------------------------------------

def _regular_events(n=20_000):
    ev = random_events(n, seed=1, sensor=(64, 64))
    ev["t"] = 1_000_000 + np.arange(n) * 10
    return ev


@pytest.mark.parametrize("missing", ["ms_to_idx/c/0", "t_offset/c"])
def test_zarr_store_missing_an_index_chunk_is_an_error(tmp_path, missing):
    path = tmp_path / "a.zarr"
    evio.write(path, _regular_events())
    os.remove(path / missing)
    with pytest.raises(evio.FormatError, match="damaged zarr store"):
        evio.info(path)
    with pytest.raises(evio.FormatError, match=str(path)):
        evio.open(path).time_window(1_000_100, 1_200_000)


@pytest.mark.parametrize("suffix", [".h5", ".zarr"])
def test_an_index_that_does_not_match_the_timestamps_is_not_trusted(tmp_path, suffix):
    import h5py
    import zarr

    ev = _regular_events()
    path = tmp_path / ("foreign" + suffix)
    wrong = np.zeros(300, dtype="u8")
    if suffix == ".h5":
        with h5py.File(path, "w") as f:
            for k in "txy":
                f[f"events/{k}"] = ev[k]
            f["events/p"] = ev["p"].astype("u1")
            f["ms_to_idx"] = wrong
    else:
        root = zarr.open_group(store=str(path), mode="w", zarr_format=3)
        columns = {f"events/{k}": ev[k].astype("u1") if k == "p" else ev[k] for k in "txyp"}
        for name, data in {**columns, "ms_to_idx": wrong}.items():
            root.create_array(name, shape=data.shape, dtype=data.dtype)[...] = data
    expected = ev[(ev["t"] >= 1_000_100) & (ev["t"] < 1_200_000)]
    assert len(expected) == 19_990
    with evio.open(path) as r:
        with pytest.warns(evio.IndexWarning, match="does not match"):
            got = r.time_window(1_000_100, 1_200_000)
    np.testing.assert_array_equal(got, expected)


def test_a_correct_index_gives_no_warning(tmp_path):
    ev = _regular_events()
    path = tmp_path / "a.zarr"
    evio.write(path, ev)
    with evio.open(path) as r, warnings.catch_warnings():
        warnings.simplefilter("error")
        for t0, t1 in ((0, 10), (999_990, 1_000_001), (1_000_100, 1_200_000), (1_199_990, 1_300_000), (2**40, 2**41)):
            np.testing.assert_array_equal(r.time_window(t0, t1), ev[(ev["t"] >= t0) & (ev["t"] < t1)])


# -- 3. a full disk: one error naming the destination, no crash, no debris ----------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (skips where mounting is not permitted)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture(scope="module")
def big_source(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "src.npy"
    evio.write(path, random_events(600_000, seed=7, sensor=(640, 480)))
    return path


@pytest.mark.parametrize("full_before_start", [False, True], ids=["fills-up", "full-already"])
def test_full_disk_leaves_nothing_and_names_the_destination(small_disk, big_source, full_before_start):
    script = textwrap.dedent(f"""
        import sys, evio
        for suffix in {WRITE_SUFFIXES!r}:
            dst = {str(small_disk)!r} + "/out" + suffix
            try:
                evio.convert({str(big_source)!r}, dst)
            except OSError as exc:
                assert exc.errno == 28 and exc.filename == dst, (suffix, exc)
                print("ok", suffix, flush=True)
            else:
                print("written?", suffix, flush=True)
    """)
    if full_before_start:
        with open(small_disk / "filler", "wb") as f:
            try:
                f.write(b"\0" * (4 << 20))
            except OSError:
                pass
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [w for s in WRITE_SUFFIXES for w in ("ok", s)]
    assert _listing(small_disk) == (["filler"] if full_before_start else [])
    dst = small_disk / "cli.h5"
    cli = subprocess.run([sys.executable, "-m", "evio.cli", "convert", str(big_source), str(dst), "-q"],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 1 and cli.stderr == f"evio: error: No space left on device: {dst}\n"
    assert _listing(small_disk) == (["filler"] if full_before_start else [])


def test_a_write_error_removes_the_temporary_output_and_names_the_destination(tmp_path, monkeypatch):
    from evio.formats.prophesee_raw import RawWriter

    def no_space(self, events):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.tmp_path))

    monkeypatch.setattr(RawWriter, "_write", no_space)
    dst = tmp_path / "out.raw"
    with pytest.raises(OSError) as caught:
        evio.write(dst, random_events(10))
    assert caught.value.filename == str(dst) and caught.value.errno == errno.ENOSPC
    assert _listing(tmp_path) == []


def test_a_constructor_that_fails_half_way_leaves_nothing(tmp_path, monkeypatch):
    from evio.formats.hdf5 import HDF5Writer

    def broken(self, name, dtype):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(HDF5Writer, "_create_array", broken)
    with pytest.raises(OSError) as caught:
        evio.write(tmp_path / "out.h5", random_events(10))
    assert caught.value.filename == str(tmp_path / "out.h5")
    assert _listing(tmp_path) == []


# -- 4. leftovers of a killed process are found and removed by the next run ----------------------------

def test_leftovers_of_a_killed_process_are_removed(tmp_path):
    src = tmp_path / "src.npy"
    evio.write(src, random_events(2_000_000, seed=3))
    script = textwrap.dedent(f"""
        import evio, os, sys
        def stop(n):
            os.kill(os.getpid(), 9)
        evio.convert({str(src)!r}, {str(tmp_path / "out.zarr")!r}, chunk_size=50_000, progress=stop)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    stale = [n for n in _listing(tmp_path) if ".evio-tmp-" in n]
    assert len(stale) == 1
    live = _atomic.temp_sibling(tmp_path / "busy.h5")
    live.write_bytes(b"another live process is writing this")
    _atomic._swept.discard(os.path.abspath(tmp_path))
    with pytest.warns(RuntimeWarning, match="was killed"):
        evio.write(tmp_path / "next.npy", random_events(5))
    assert _listing(tmp_path) == sorted([live.name, "next.npy", "src.npy"])


def test_leftovers_of_other_hosts_are_kept(tmp_path):
    other = tmp_path / ".a.h5.evio-tmp-otherhost-1-0123abcd"
    other.write_bytes(b"")
    assert _atomic.sweep_stale(tmp_path) == []
    assert other.exists()


# -- 5. a FIFO or device is refused up front, never read -----------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("fmt", [None, "aedat4", "npy"])
def test_a_fifo_source_is_refused_without_blocking(tmp_path, fmt):
    fifo = tmp_path / "stream.aedat4"
    os.mkfifo(fifo)
    outcome = {}

    def attempt():
        try:
            evio.read(fifo, format=fmt)
        except Exception as exc:  # noqa: BLE001
            outcome["exc"] = exc

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    exc = outcome["exc"]
    assert isinstance(exc, evio.FormatError) and "FIFO" in str(exc) and str(fifo) in str(exc)


def test_cli_refuses_a_fifo_in_one_line(tmp_path):
    fifo = tmp_path / "stream.raw"
    os.mkfifo(fifo)
    try:
        proc = subprocess.run([sys.executable, "-m", "evio.cli", "info", str(fifo)], capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("evio info blocked on a FIFO")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "FIFO" in proc.stderr and str(fifo) in proc.stderr
