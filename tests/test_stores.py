"""HDF5 and zarr stores: layout readable without evio, time index, time windows, foreign layouts."""

import h5py
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

import evio

from conftest import event_arrays, random_events

STORES = [".h5", ".zarr"]


def _brute(ev, t0, t1):
    return ev[(ev["t"] >= t0) & (ev["t"] < t1)]


@pytest.mark.parametrize("suffix", STORES)
def test_plain_library_reads_the_layout(tmp_path, suffix):
    ev = random_events(5000, seed=1)
    path = tmp_path / ("a" + suffix)
    evio.write(path, ev, sensor_size=(1280, 720), meta={"camera": "Gen4.1"})
    root = h5py.File(path, "r") if suffix == ".h5" else zarr.open_group(str(path), mode="r")
    t = root["events/t"][:] + root["t_offset"][()]
    np.testing.assert_array_equal(t, ev["t"])
    np.testing.assert_array_equal(root["events/x"][:], ev["x"])
    np.testing.assert_array_equal(root["events/y"][:], ev["y"])
    np.testing.assert_array_equal(root["events/p"][:], ev["p"].astype(np.uint8))
    assert list(root.attrs["sensor_size"]) == [1280, 720]
    ms = root["ms_to_idx"][:]
    rel = ev["t"] - ev["t"][0]
    for m in range(len(ms) - 1):
        assert ms[m] == np.searchsorted(rel, m * 1000)
    assert ms[-1] == len(ev)
    if suffix == ".h5":
        assert root["events/t"].compression == "lzf" and root["events/t"].chunks is not None
        root.close()


@pytest.mark.parametrize("suffix", STORES)
@settings(max_examples=25)
@given(ev=event_arrays(max_size=80), data=st.data())
def test_time_window_is_exact(tmp_path_factory, suffix, ev, data):
    path = tmp_path_factory.mktemp("tw") / ("a" + suffix)
    evio.write(path, ev, chunk_length=data.draw(st.integers(1, 20)))
    lo = int(ev["t"].min()) - 2 if len(ev) else -5
    hi = int(ev["t"].max()) + 2 if len(ev) else 5
    lo, hi = max(lo, -(2**63)), min(hi, 2**63 - 1)
    t0 = data.draw(st.integers(lo, hi))
    t1 = data.draw(st.integers(lo, hi))
    with evio.open(path) as r:
        got = r.time_window(t0, t1)
    np.testing.assert_array_equal(got, _brute(ev, t0, t1))


@pytest.mark.parametrize("suffix", STORES)
def test_time_window_reads_only_what_it_needs(tmp_path, suffix, monkeypatch):
    ev = random_events(400_000, seed=2, rate_us=0.5)
    path = tmp_path / ("a" + suffix)
    evio.write(path, ev, chunk_length=1 << 14)
    with evio.open(path) as r:
        assert r.has_time_index
        reads = []
        original = r._read_field
        monkeypatch.setattr(r, "_read_field", lambda f, a, b: reads.append(b - a) or original(f, a, b))
        t0 = int(ev["t"][200_000])
        got = r.time_window(t0, t0 + 1000)
    np.testing.assert_array_equal(got, _brute(ev, t0, t0 + 1000))
    assert sum(reads) < 0.02 * 4 * len(ev)


@pytest.mark.parametrize("suffix", STORES)
def test_unsorted_store_has_no_index_but_windows_work(tmp_path, suffix):
    ev = random_events(3000, seed=3, sorted_t=False)
    path = tmp_path / ("a" + suffix)
    evio.write(path, ev, chunk_length=256)
    info = evio.info(path)
    assert info["sorted_by_t"] is False and info["time_index"] is False
    with evio.open(path) as r:
        np.testing.assert_array_equal(r.time_window(1_000_100, 1_000_600), _brute(ev, 1_000_100, 1_000_600))


def test_sparse_stream_gets_a_coarser_index(tmp_path):
    ev = evio.empty_events(3)
    ev["t"] = [0, 5, 2**61]
    path = tmp_path / "a.h5"
    evio.write(path, ev)
    with h5py.File(path) as f:
        assert "ms_to_idx" not in f and f.attrs["time_index_bin_width"] > 1000
        assert len(f["time_index"]) <= (1 << 20) + 1
    with evio.open(path) as r:
        np.testing.assert_array_equal(r.time_window(1, 2**61 + 1), ev[1:])


def test_reads_dsec_style_file_with_blosc_and_t_offset(tmp_path):
    hdf5plugin = pytest.importorskip("hdf5plugin")
    n = 10_000
    ev = random_events(n, seed=4, sensor=(640, 480), t0=0, rate_us=2)
    t_offset = 47_000_000
    path = tmp_path / "events.h5"
    blosc = hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE)
    with h5py.File(path, "w") as f:
        f.create_dataset("events/t", data=ev["t"].astype("<u4"), chunks=True, **blosc)
        f.create_dataset("events/x", data=ev["x"], chunks=True, **blosc)
        f.create_dataset("events/y", data=ev["y"], chunks=True, **blosc)
        f.create_dataset("events/p", data=ev["p"].astype("u1"), chunks=True, **blosc)
        f.create_dataset("t_offset", data=np.int64(t_offset))
        ms = np.searchsorted(ev["t"], np.arange(0, ev["t"][-1] // 1000 + 1) * 1000)
        f.create_dataset("ms_to_idx", data=ms.astype("u8"))
    expected = ev.copy()
    expected["t"] += t_offset
    with evio.open(path) as r:
        assert r.version == "dsec" and r.has_time_index
        np.testing.assert_array_equal(r.read(), expected)
        t0 = t_offset + int(ev["t"][-1]) - 1500
        np.testing.assert_array_equal(r.time_window(t0, t0 + 3000), _brute(expected, t0, t0 + 3000))


def test_reads_top_level_and_mapped_layouts(tmp_path):
    ev = random_events(100, seed=5)
    path = tmp_path / "flat.h5"
    with h5py.File(path, "w") as f:
        for k in "txyp":
            f[k] = ev[k].astype(np.int32) if k != "t" else ev[k]
        f["stamps"] = ev["t"]
    np.testing.assert_array_equal(evio.read(path), ev)
    np.testing.assert_array_equal(evio.read(path, fields={"t": "stamps", "x": "x", "y": "y", "p": "p"}), ev)


def test_blosc_compression_option(tmp_path):
    pytest.importorskip("hdf5plugin")
    ev = random_events(1000, seed=6)
    evio.write(tmp_path / "b.h5", ev, compression="blosc-zstd")
    np.testing.assert_array_equal(evio.read(tmp_path / "b.h5"), ev)
    for comp in ["gzip", None]:
        evio.write(tmp_path / "g.h5", ev, compression=comp)
        np.testing.assert_array_equal(evio.read(tmp_path / "g.h5"), ev)
    for comp in ["blosc-lz4", "zstd", "gzip", None]:
        evio.write(tmp_path / "z.zarr", ev, compression=comp)
        np.testing.assert_array_equal(evio.read(tmp_path / "z.zarr"), ev)
    with pytest.raises(ValueError, match="compression"):
        evio.write(tmp_path / "c.h5", ev, compression="brotli")


def test_streamed_writer_appends_chunks(tmp_path):
    ev = random_events(10_000, seed=7)
    with evio.open(tmp_path / "s.zarr", "w", sensor_size=(1280, 720), chunk_length=999) as w:
        for part in np.array_split(ev, 13):
            w.write(part)
    with evio.open(tmp_path / "s.zarr") as r:
        assert len(r) == 10_000 and r.sensor_size == (1280, 720)
        np.testing.assert_array_equal(r.read(), ev)


def test_writer_rejects_events_outside_sensor(tmp_path):
    ev = random_events(10, seed=8, sensor=(100, 100))
    with pytest.raises(evio.FormatError, match="outside sensor_size"):
        evio.write(tmp_path / "o.h5", ev, sensor_size=(50, 50))
    assert list(tmp_path.iterdir()) == []


def test_hdf5_user_block_is_detected(tmp_path):
    ev = random_events(50, seed=9)
    path = tmp_path / "ub.h5"
    with h5py.File(path, "w", userblock_size=1024) as f:
        for k in "txyp":
            f[f"events/{k}"] = ev[k].astype(np.uint8) if k == "p" else ev[k]
    np.testing.assert_array_equal(evio.read(path), ev)
    path.rename(tmp_path / "ub.bin")
    np.testing.assert_array_equal(evio.read(tmp_path / "ub.bin"), ev)


def test_blosc_file_without_plugin_names_the_fix(tmp_path, monkeypatch):
    pytest.importorskip("hdf5plugin")
    path = tmp_path / "b.h5"
    evio.write(path, random_events(1000, seed=10), compression="blosc-zstd")
    reader = evio.open(path)
    def no_plugin(sel):
        raise OSError("Can't synchronously read data (can't open directory (/usr/local/lib/plugin))")
    class Broken:
        def __getitem__(self, sel):
            no_plugin(sel)
    reader._arrays["x"] = Broken()
    with pytest.raises(evio.FormatError, match="hdf5plugin"):
        reader.read()
    reader.close()
