"""Format specifics of npz (SpikingJelly layout), npy and CSV."""

import warnings

import numpy as np
import pytest

import evio

from conftest import random_events


def test_reads_spikingjelly_events_np_layout(tmp_path):
    ev = random_events(1000, seed=1, sensor=(128, 128))
    path = tmp_path / "cifar10_airplane_0.npz"
    np.savez_compressed(path, t=ev["t"].astype(">u4"), x=ev["x"].astype(np.uint32),
                        y=ev["y"].astype(np.uint32), p=ev["p"].astype(np.int64))
    with evio.open(path) as r:
        assert len(r) == 1000 and r.sensor_size is None
        np.testing.assert_array_equal(r.read(), ev)
        np.testing.assert_array_equal(np.concatenate(list(r.chunks(77))), ev)
    np.savez(tmp_path / "plain.npz", t=ev["t"], x=ev["x"], y=ev["y"], p=ev["p"])
    np.testing.assert_array_equal(evio.read(tmp_path / "plain.npz"), ev)


def test_written_npz_loads_like_spikingjelly_does(tmp_path):
    ev = random_events(500, seed=2)
    evio.write(tmp_path / "a.npz", ev, sensor_size=(1280, 720))
    d = np.load(tmp_path / "a.npz")
    assert sorted(d.files) == ["evio_meta", "p", "t", "x", "y"]
    np.testing.assert_array_equal(d["t"], ev["t"])
    np.testing.assert_array_equal(d["p"], ev["p"].astype(np.uint8))
    evio.write(tmp_path / "b.npz", ev, store_meta=False, compress=False)
    assert sorted(np.load(tmp_path / "b.npz").files) == ["p", "t", "x", "y"]


def test_npz_rejects_wrong_keys_and_shapes(tmp_path):
    np.savez(tmp_path / "k.npz", arr_0=np.zeros((8, 2, 4, 4), bool))   # an I2E dense sample: no events
    with evio.open(tmp_path / "k.npz") as r:
        assert r.version == "i2e-dense" and len(r) == 0 and r.sensor_size == (4, 4) and r.meta["T"] == 8
    np.savez(tmp_path / "k.npz", t=np.zeros(3), x=np.zeros(3), y=np.zeros(3))
    with pytest.raises(evio.FormatError, match="missing event arrays"):
        evio.read(tmp_path / "k.npz")
    np.savez(tmp_path / "s.npz", t=np.zeros(3), x=np.zeros(2), y=np.zeros(3), p=np.zeros(3))
    with pytest.raises(evio.FormatError, match="different lengths"):
        evio.read(tmp_path / "s.npz")
    np.savez(tmp_path / "o.npz", t=np.array([1, None], object), x=[1, 2], y=[1, 2], p=[1, 0])
    with pytest.raises(evio.FormatError, match="object"):
        evio.read(tmp_path / "o.npz")


def test_npy_plain_columns_need_a_name(tmp_path):
    ev = random_events(100, seed=3)
    table = np.stack([ev["x"], ev["y"], ev["t"], ev["p"]], axis=1).astype(np.int64)
    np.save(tmp_path / "m.npy", table)
    with pytest.raises(evio.FormatError, match="columns="):
        evio.read(tmp_path / "m.npy")
    np.testing.assert_array_equal(evio.read(tmp_path / "m.npy", columns="xytp"), ev)


def test_npy_written_file_is_plain_numpy(tmp_path):
    ev = random_events(300, seed=4)
    evio.write(tmp_path / "a.npy", ev)
    back = np.load(tmp_path / "a.npy")
    assert back.dtype == evio.EVENT_DTYPE
    np.testing.assert_array_equal(back, ev)
    evio.write(tmp_path / "e.npy", evio.empty_events())
    assert np.load(tmp_path / "e.npy").shape == (0,)
    assert len(evio.read(tmp_path / "e.npy")) == 0


def test_csv_layout_and_column_order(tmp_path):
    ev = random_events(20, seed=5)
    evio.write(tmp_path / "a.csv", ev, sensor_size=(1280, 720))
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0].startswith("# evio-meta: {") and lines[1] == "t,x,y,p"
    assert lines[2] == f"{ev['t'][0]},{ev['x'][0]},{ev['y'][0]},{int(ev['p'][0])}"
    evio.write(tmp_path / "bare.csv", ev, store_meta=False)
    assert (tmp_path / "bare.csv").read_text().splitlines()[0] == "t,x,y,p"
    rows = "".join(f"{x},{y},{-1 if not p else 1},{t}\r\n" for t, x, y, p in ev.tolist())
    (tmp_path / "swapped.csv").write_text("x,y,p,t\r\n" + rows + "\r\n")
    np.testing.assert_array_equal(evio.read(tmp_path / "swapped.csv"), ev)


def test_csv_errors_name_the_byte(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"t,x,y,p\n1,2,3,1\n1,2,3\n")
    with pytest.raises(evio.FormatError, match="at byte 21"):
        evio.read(path)
    path.write_bytes(b"t,x,y,p\n1,2,3,1\n5,70000,3,1\n")
    with pytest.raises(evio.FormatError, match="x = 70000"):
        evio.read(path)
    path.write_bytes(b"time,x,y,p\n1,2,3,1\n")
    with pytest.raises(evio.FormatError, match="header"):
        evio.read(path)


def test_csv_chunks_across_block_boundaries(tmp_path, monkeypatch):
    from evio.formats import csv_text

    monkeypatch.setattr(csv_text, "_BLOCK", 37)
    ev = random_events(3000, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evio.write(tmp_path / "a.csv", ev)
    with evio.open(tmp_path / "a.csv", chunk_size=11) as r:
        parts = list(r)
    assert max(len(p) for p in parts) <= 11
    np.testing.assert_array_equal(np.concatenate(parts), ev)
