"""Files written by other tools, as found in the field (issue 14, items 1-5).

1. N-Caltech101 ``.bin``: the sensor size comes from the file, and conversion is lossless.
2. The same 40-bit format as ``.bs2`` (SLAYER), and by content under unregistered names.
3. HDF5 layouts of DSEC, TUM-VIE, eTraM, MVSEC, event-vision-library / evlib and Prophesee, built with
   h5py as those tools write them; float seconds become integer µs rounded to the nearest.
4. evio's DAT files carry the EventCD type byte (0x0C) that faery, expelliarmus and Metavision read.
5. ``evio info`` describes an AEDAT 4 file without an event stream.
"""

import ctypes
import json
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import evio
from evio import cli, registry
from evio.events import from_fields

from conftest import FIXTURES, random_events

NMNIST_BIN = FIXTURES / "tonic_sample_nmnist.bin"


def _nmnist_bytes(ev) -> bytes:
    """Orchard's 5-byte rows, built here without evio's writer (t < 2**23, no overflow markers)."""
    t = ev["t"].astype(np.int64)
    rows = np.empty((len(ev), 5), np.uint8)
    rows[:, 0] = ev["x"]
    rows[:, 1] = ev["y"]
    rows[:, 2] = ((t >> 16) & 0x7F) | np.where(ev["p"], 0x80, 0)
    rows[:, 3] = (t >> 8) & 0xFF
    rows[:, 4] = t & 0xFF
    return rows.tobytes()


def _caltech_events(n=20_000, seed=3):
    """An N-Caltech101-like recording: three 100 ms saccades over a 233 x 173 crop."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 300_000, n))
    x = rng.integers(0, 233, n)
    y = rng.integers(0, 173, n)
    x[0], y[1] = 232, 172            # the extent is reached
    return from_fields(t, x, y, rng.random(n) < 0.5)


# -- 1. N-Caltech101 .bin ---------------------------------------------------------------------------

def test_ncaltech101_bin_sensor_size_is_the_extent_of_its_events(tmp_path):
    ev = _caltech_events()
    src = tmp_path / "faces_0001.bin"
    src.write_bytes(_nmnist_bytes(ev))
    with evio.open(src) as r:
        assert r.format_name == "nmnist"
        assert r.sensor_size == (233, 173)
        assert r.meta["sensor_size_source"] == "events"
        np.testing.assert_array_equal(r.read(), ev)


def test_ncaltech101_bin_converts_losslessly_on_the_command_line(tmp_path):
    tonic_io = pytest.importorskip("tonic.io")
    ev = _caltech_events()
    src, dst = tmp_path / "faces_0001.bin", tmp_path / "out.h5"
    src.write_bytes(_nmnist_bytes(ev))
    result = CliRunner().invoke(cli.main, ["convert", str(src), str(dst), "-q"])
    assert result.exit_code == 0, result.output
    back = evio.read(dst)
    np.testing.assert_array_equal(back, ev)
    ref = tonic_io.read_mnist_file(str(src), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    np.testing.assert_array_equal(back["t"], ref["t"])
    np.testing.assert_array_equal(back["x"], ref["x"])
    np.testing.assert_array_equal(back["y"], ref["y"])
    np.testing.assert_array_equal(back["p"], ref["p"] > 0)
    with evio.open(dst) as r:
        assert r.sensor_size == (233, 173)


def test_nmnist_digit_keeps_34x34_and_a_named_sensor_wins(tmp_path):
    with evio.open(NMNIST_BIN) as r:
        assert r.sensor_size == (34, 34)
        assert r.meta["sensor_size_source"] == "nmnist" and r.meta["dataset"] == "nmnist"
    src = tmp_path / "faces_0001.bin"
    src.write_bytes(_nmnist_bytes(_caltech_events()))
    with evio.open(src, dataset="ncaltech101") as r:
        assert r.sensor_size == (240, 180) and r.meta["sensor_size_source"] == "dataset"
    with evio.open(src, sensor_size=(304, 240)) as r:
        assert r.sensor_size == (304, 240) and r.meta["sensor_size_source"] == "option"
    with pytest.raises(ValueError, match="dataset must be one of"):
        evio.open(src, dataset="cifar10")


# -- 2. the same format under other names ------------------------------------------------------------

def test_bs2_suffix_reads_as_nmnist(tmp_path):
    path = tmp_path / "1.bs2"
    shutil.copy(NMNIST_BIN, path)
    np.testing.assert_array_equal(evio.read(path), evio.read(NMNIST_BIN))
    assert evio.info(path)["format"] == "nmnist"


@pytest.mark.parametrize("name", ["sample", "sample.events"])
def test_nmnist_content_is_found_under_an_unregistered_name(tmp_path, name):
    path = tmp_path / name
    shutil.copy(NMNIST_BIN, path)
    np.testing.assert_array_equal(evio.read(path), evio.read(NMNIST_BIN))


@pytest.mark.parametrize("content", [
    b"t,x,y,p\n" + b"1000,12,7,1\n" * 50 + b"12",   # text, a multiple of 5 bytes
    bytes(500),                                    # zeros
    bytes(range(200)) * 5,                         # y > 240 and decreasing t
    b"\x01\x02\x00\x00\x05" * 10,                  # fewer than 16 rows
])
def test_content_detection_is_conservative(tmp_path, content):
    assert len(content) % 5 == 0
    path = tmp_path / "data.xyz"
    path.write_bytes(content)
    assert not registry.get_format("nmnist").matches_content(path, content[:64])
    try:
        assert registry.resolve_read(path).name != "nmnist"
    except evio.FormatError as exc:
        assert "unknown format" in str(exc)


# -- 3. HDF5 layouts of other tools ------------------------------------------------------------------

def _ev(n=2000, seed=5, sensor=(346, 260)):
    return random_events(n, seed=seed, sensor=sensor, t0=0, rate_us=40)


def _write_dsec(path, ev, compress):
    t_offset = 52_000_000
    kw = compress()
    with h5py.File(path, "w") as f:
        f.create_dataset("events/x", data=ev["x"].astype("<u2"), chunks=True, **kw)
        f.create_dataset("events/y", data=ev["y"].astype("<u2"), chunks=True, **kw)
        f.create_dataset("events/p", data=ev["p"].astype("u1"), chunks=True, **kw)
        f.create_dataset("events/t", data=ev["t"].astype("<u4"), chunks=True, **kw)
        f.create_dataset("t_offset", data=np.int64(t_offset))
        ms = np.searchsorted(ev["t"], np.arange(0, ev["t"][-1] // 1000 + 1) * 1000)
        f.create_dataset("ms_to_idx", data=ms.astype("<u8"))
    out = ev.copy()
    out["t"] += t_offset
    return out


def _blosc():
    try:
        import hdf5plugin
    except ImportError:
        return {"compression": "gzip"}
    return dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE))


def _write_tum_vie(path, ev):
    with h5py.File(path, "w") as f:
        for name in "xytp":
            f.create_dataset(f"events/{name}", data=ev[name].astype("<i8" if name == "t" else "<u2"),
                             chunks=True, compression="gzip")
        ms = np.searchsorted(ev["t"], np.arange(0, ev["t"][-1] // 1000 + 1) * 1000)
        f.create_dataset("ms_to_idx", data=ms.astype("<u8"))
    return ev


def _write_raw_events(path, ev):
    """event-vision-library / evlib export of a ``t x y p`` text file: every column float64, t in s."""
    with h5py.File(path, "w") as f:
        f.create_dataset("raw_events/x", data=ev["x"].astype(np.float64))
        f.create_dataset("raw_events/y", data=ev["y"].astype(np.float64))
        f.create_dataset("raw_events/t", data=ev["t"] / 1e6)
        f.create_dataset("raw_events/p", data=ev["p"].astype(np.float64))
    return ev


def _write_mvsec(path, ev):
    """MVSEC ``*_data.hdf5``: N x 4 float64 ``[x, y, t, p]``, t in ROS seconds, p in {-1, 1}."""
    t0_s = 1_504_645_177
    rows = np.stack([ev["x"], ev["y"], t0_s + ev["t"] / 1e6, np.where(ev["p"], 1.0, -1.0)], axis=1)
    with h5py.File(path, "w") as f:
        f.create_dataset("davis/left/events", data=rows.astype(np.float64), chunks=(512, 4), compression="gzip")
        f.create_dataset("davis/right/events", data=rows[:10].astype(np.float64))
        f.create_dataset("davis/left/image_raw", data=np.zeros((2, 260, 346), np.uint8))
    out = ev.copy()
    out["t"] += t0_s * 1_000_000
    return out


def _prophesee_rows(ev):
    rows = np.empty(len(ev), np.dtype([("x", "<u2"), ("y", "<u2"), ("p", "<i2"), ("t", "<i8")]))
    for name in "xypt":
        rows[name] = ev[name]
    return rows


def _write_prophesee(path, ev, **filters):
    """Metavision HDF5: compound ``CD/events`` {x u2, y u2, p i2, t i8} and a ``CD/indexes`` table."""
    with h5py.File(path, "w") as f:
        f.create_dataset("CD/events", data=_prophesee_rows(ev), chunks=(256,), maxshape=(None,), **filters)
        f.create_dataset("CD/indexes", data=np.zeros(4, np.dtype([("id", "<u8"), ("ts", "<i8")])))
        f.create_dataset("EXT_TRIGGER/events", data=np.zeros(0, np.dtype([("p", "<i2"), ("t", "<i8"),
                                                                           ("id", "<i2")])))
    return ev


LAYOUT_CASES = {
    "dsec": ("dsec", lambda p, ev: _write_dsec(p, ev, _blosc)),
    "etram-dsec-style": ("dsec", lambda p, ev: _write_dsec(p, ev, lambda: {"compression": "lzf"})),
    "tum-vie": ("tum-vie", _write_tum_vie),
    "raw_events": ("raw_events", _write_raw_events),
    "mvsec": ("mvsec", _write_mvsec),
    "prophesee": ("prophesee", _write_prophesee),
}


@pytest.mark.parametrize("case", sorted(LAYOUT_CASES))
def test_hdf5_layout_of_other_tools_is_recognised(tmp_path, case):
    layout, write = LAYOUT_CASES[case]
    path = tmp_path / "recording.h5"
    expected = write(path, _ev())
    np.testing.assert_array_equal(evio.read(path), expected)
    data = evio.info(path)
    assert data["version"] == layout and data["layout"].startswith(layout + ":")
    assert data["event_count"] == len(expected)
    table = CliRunner().invoke(cli.main, ["info", str(path)])
    assert table.exit_code == 0 and f"hdf5 ({layout})" in table.output


def test_float_seconds_round_to_the_nearest_microsecond(tmp_path):
    t_s = np.array([0.0, 0.0000004, 0.0000006, 1.2345674, 1.2345676, 1504645177.1234567])
    path = tmp_path / "float.h5"
    with h5py.File(path, "w") as f:
        f["raw_events/t"] = t_s
        f["raw_events/x"] = np.arange(6, dtype=np.uint16)
        f["raw_events/y"] = np.zeros(6, np.uint16)
        f["raw_events/p"] = np.ones(6, np.int8)
    got = evio.read(path)["t"]
    np.testing.assert_array_equal(got, [0, 0, 1, 1234567, 1234568, 1504645177123457])
    assert evio.info(path)["stored_time_unit"] == "s (float)"


def test_file_saved_by_evlib_reads_as_evlib_reads_it(tmp_path):
    """evlib.save_events_to_hdf5 writes events/{xs,ys,ts,ps} with ts float64 µs (evlib 0.13)."""
    evlib = pytest.importorskip("evlib")
    ev = _ev(5000)
    path = tmp_path / "evlib.h5"
    evlib.save_events_to_hdf5(ev["x"].astype(np.int64), ev["y"].astype(np.int64), ev["t"].astype(np.float64),
                              ev["p"].astype(np.int64), str(path))
    got = evio.read(path)
    np.testing.assert_array_equal(got, ev)
    theirs = evlib.load_events(str(path)).collect()
    np.testing.assert_array_equal(got["t"], theirs["t"].dt.total_microseconds().to_numpy())
    np.testing.assert_array_equal(got["x"], theirs["x"].to_numpy())
    np.testing.assert_array_equal(got["p"], theirs["polarity"].to_numpy() > 0)
    data = evio.info(path)
    assert data["version"] == "evlib" and data["stored_time_unit"] == "us (float)"


def test_time_unit_and_fields_for_other_layouts(tmp_path):
    path = tmp_path / "adhoc.h5"
    t_ns = np.array([0, 1499, 1500, 2500, 10_000_000], np.int64)
    with h5py.File(path, "w") as f:
        f["events"] = np.stack([t_ns, np.arange(5), np.arange(5) * 2, np.array([1, 0, 1, 0, 1])], axis=1)
    with pytest.raises(evio.FormatError, match="fields="):
        evio.read(path)
    fields = {"t": ("events", 0), "x": ("events", 1), "y": ("events", 2), "p": ("events", 3)}
    ev = evio.read(path, fields=fields, time_unit="ns")
    np.testing.assert_array_equal(ev["t"], [0, 1, 2, 3, 10_000])        # nearest µs, halves up
    np.testing.assert_array_equal(ev["y"], [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(evio.read(path, fields=fields, time_unit="ms")["t"], t_ns * 1000)
    with pytest.raises(ValueError, match="time_unit"):
        evio.read(path, fields=fields, time_unit="minutes")


def test_fractional_float_coordinates_are_refused(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f["raw_events/t"] = np.array([0.0, 1e-6])
        f["raw_events/x"] = np.array([1.0, 2.5])
        f["raw_events/y"] = np.array([1.0, 2.0])
        f["raw_events/p"] = np.array([1.0, 0.0])
    with pytest.raises(evio.FormatError, match="x of event 1 .* not a whole number"):
        evio.read(path)


ECF_ID = 0x8ECF
_FILTER_FUNC = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_uint, ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint),
                                ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_void_p))


class _H5ZClass2(ctypes.Structure):
    _fields_ = [("version", ctypes.c_int), ("id", ctypes.c_int), ("encoder_present", ctypes.c_uint),
                ("decoder_present", ctypes.c_uint), ("name", ctypes.c_char_p), ("can_apply", ctypes.c_void_p),
                ("set_local", ctypes.c_void_p), ("filter", _FILTER_FUNC)]


def test_prophesee_ecf_file_names_the_missing_codec(tmp_path):
    """A stand-in for Prophesee's ECF filter (same id 0x8ECF, identity coding) is registered to write
    the file as Metavision does; with it the file reads, and once it is gone evio names the codec."""
    if h5py.h5z.filter_avail(ECF_ID):
        pytest.skip("a real ECF plugin is installed")
    identity = _FILTER_FUNC(lambda flags, n, values, nbytes, buf_size, buf: nbytes)
    stand_in = _H5ZClass2(1, ECF_ID, 1, 1, b"ECF stand-in", None, None, identity)
    ev = _ev()
    path = tmp_path / "recording_cd.hdf5"
    h5py.h5z.register_filter(ctypes.addressof(stand_in))
    try:
        _write_prophesee(path, ev, compression=ECF_ID)
        np.testing.assert_array_equal(evio.read(path), ev)
    finally:
        h5py.h5z.unregister_filter(ECF_ID)
    with pytest.raises(evio.FormatError) as info:
        evio.read(path)
    message = str(info.value)
    assert str(path) in message and "CD/events" in message and "ECF" in message
    assert "install Prophesee's hdf5 ECF plugin" in message
    result = CliRunner().invoke(cli.main, ["info", str(path)])
    assert result.exit_code != 0 and "ECF" in result.output


# -- 4. DAT type byte ---------------------------------------------------------------------------------

def test_evio_dat_has_the_eventcd_type_and_peers_read_it(tmp_path):
    ev = evio.read(FIXTURES / "NCARS_obj_004397_td.dat")
    path = tmp_path / "out.dat"
    evio.write(path, ev, sensor_size=(304, 240))
    data = path.read_bytes()
    header = b"% Data file containing CD events.\n% Version 2\n% Height 240\n% Width 304\n"
    assert data.startswith(header) and data[len(header):len(header) + 2] == b"\x0c\x08"
    np.testing.assert_array_equal(evio.read(path), ev)

    faery = pytest.importorskip("faery")
    stream = faery.events_stream_from_file(path)
    assert tuple(stream.dimensions()) == (304, 240)
    got = stream.to_array()
    for ours, theirs in (("t", "t"), ("x", "x"), ("y", "y"), ("p", "on")):
        np.testing.assert_array_equal(got[theirs], ev[ours])

    expelliarmus = pytest.importorskip("expelliarmus")
    got = expelliarmus.Wizard(encoding="dat").read(str(path))
    for name in "txyp":
        np.testing.assert_array_equal(got[name], ev[name])


def test_old_event2d_dat_files_are_still_read(tmp_path):
    fixture = FIXTURES / "NCARS_obj_004397_td.dat"
    with evio.open(fixture) as r:
        assert r.meta["event_type"] == "Event2D"      # type byte 0x00
        ev = r.read()
    assert len(ev) == 4407
    evio.write(tmp_path / "new.dat", ev, sensor_size=(304, 240))
    new = (tmp_path / "new.dat").read_bytes()
    old = new.replace(b"% Data file containing CD events.", b"% Data file containing Event2D events.")
    cut = old.index(b"\x0c\x08", old.index(b"% Width"))
    (tmp_path / "old.dat").write_bytes(old[:cut] + b"\x00\x08" + old[cut + 2:])
    with evio.open(tmp_path / "old.dat") as r:
        assert r.meta["event_type"] == "Event2D"
        np.testing.assert_array_equal(r.read(), ev)


# -- 5. AEDAT 4 without events ---------------------------------------------------------------------------

def test_info_describes_a_frames_only_aedat4(tmp_path):
    dv = pytest.importorskip("dv_processing")
    pytest.importorskip("lz4")
    recording = dv.io.MonoCameraRecording(str(FIXTURES / "aestream_davis.aedat4"))
    config = dv.io.MonoCameraWriter.Config("DAVIS346_frames")
    config.addFrameStream(recording.getFrameResolution())
    path = tmp_path / "frames.aedat4"
    writer = dv.io.MonoCameraWriter(str(path), config)
    frames = 0
    while (frame := recording.getNextFrame()) is not None:
        writer.writeFrame(frame)
        frames += 1
    del writer
    assert frames == 3

    data = evio.info(path)
    assert data["event_count"] == 0 and data["stream"] is None
    assert data["sensor_size"] == [346, 260]
    (stream,) = data["streams"].values()
    assert stream["type"] == "FRME" and stream["packets"] == frames and stream["sensor_size"] == [346, 260]
    assert 0 < stream["bytes"] < path.stat().st_size
    result = CliRunner().invoke(cli.main, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "FRME 'frames', 346 x 260, 3 packets" in result.output and "no event stream" in result.output
    as_json = json.loads(CliRunner().invoke(cli.main, ["info", str(path), "--json"]).output)
    assert as_json["streams"] == data["streams"]
    with pytest.raises(evio.FormatError, match="no event stream"):
        evio.read(path)
