"""Memory bounded by the bytes present, not by what a header claims (AEDAT 4 lengths, frame sizes from
a sensor size, npz archives that inflate far beyond their size)."""

import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

import evio
from evio.cli import main
from evio.formats import _npzio
from evio.formats import aedat4 as aedat4_format
from evio._npy import npy_header
from evio.framing import MAX_CELLS
from evio.render import render_gif, render_images


def _events(n, W=346, H=260, seed=0):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, evio.EVENT_DTYPE)
    ev["t"] = np.cumsum(rng.integers(0, 5, n))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, W, n), rng.integers(0, H, n), rng.integers(0, 2, n)
    return ev


def _peak(fn):
    """``(result or the exception raised, peak bytes traced while calling fn)``."""
    tracemalloc.start()
    try:
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001
            out = exc
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- item 6: AEDAT 4 ------------------------------------------------------------------------------

def _aedat4(path, n, **options):
    pytest.importorskip("lz4")
    with aedat4_format.Aedat4Writer(path, sensor_size=(346, 260), **options) as w:
        w.write(_events(n))
    data = path.read_bytes()
    first = 18 + struct.unpack_from("<I", data, 14)[0]
    table = struct.unpack_from("<q", data, 54)[0]
    return bytearray(data), first, table


def test_aedat4_packet_claiming_2gb_allocates_nothing(tmp_path):
    path = tmp_path / "claim.aedat4"
    data, first, _ = _aedat4(path, 1000)
    struct.pack_into("<i", data, first + 4, 2**31 - 1)
    path.write_bytes(bytes(data))
    err, peak = _peak(lambda: evio.info(path))
    assert isinstance(err, evio.FormatError) and err.offset == first and "2147483647" in str(err)
    assert peak < 1 << 20


def test_aedat4_data_table_lie_allocates_at_most_what_lz4_can_produce(tmp_path):
    """A data table claiming 16 Mi events for one LZ4 packet: the first output buffer is sized from the
    table only as far as LZ4 can expand the packet's bytes (about 255:1), not 1024:1."""
    lz4 = pytest.importorskip("lz4")
    import lz4.frame  # noqa: F811

    path = tmp_path / "lie.aedat4"
    data, first, table = _aedat4(path, 8192, packet_events=8192)
    size = struct.unpack_from("<i", data, first + 4)[0]
    lie = aedat4_format._data_table([(first + 8, 0, size, (1 << 24) - 1, 0, 1)])
    path.write_bytes(bytes(data[:table]) + lz4.frame.compress(lie))
    err, peak = _peak(lambda: evio.read(path))
    assert isinstance(err, evio.FormatError) and "data table says 16777215" in str(err)
    assert peak < 256 * size + (4 << 20), f"{peak} bytes allocated for a {size}-byte packet"


# --- item 6: frames and render from an impossible sensor size -------------------------------------

def test_frames_refuse_an_impossible_sensor_size():
    ev = _events(100, W=40, H=30)
    for call in (lambda: evio.frames(ev, 8, sensor_size=(65535, 65535)),
                 lambda: evio.frames(ev, 8, sensor_size=(65535, 65535), convention="tonic"),
                 lambda: evio.frames(ev, 10**12, sensor_size=(1, 1))):
        err, peak = _peak(call)
        assert type(err) is ValueError and "max_cells" in str(err), err
        assert peak < 1 << 20
    with pytest.raises(ValueError, match=r"sensor_size \(W=65535, H=65535\)"):
        evio.frames(ev, 8, sensor_size=(65535, 65535))
    span = ev.copy()
    span["t"] = np.linspace(0, 10**13, len(ev)).astype(np.int64)
    for convention in ("spikingjelly", "tonic"):
        with pytest.raises(ValueError, match="max_cells"):
            evio.frames(span, by="duration", duration=1, sensor_size=(40, 30), convention=convention)


def test_frames_cap_is_exact_and_lifts():
    ev = _events(100, W=4, H=4)
    cells = 3 * 2 * 4 * 4
    assert evio.frames(ev, 3, sensor_size=(4, 4), max_cells=cells).shape == (3, 2, 4, 4)
    with pytest.raises(ValueError, match=r"3 frame\(s\) \[2, 4, 4\]"):
        evio.frames(ev, 3, sensor_size=(4, 4), max_cells=cells - 1)
    with pytest.raises(ValueError, match="max_cells must be a positive integer"):
        evio.frames(ev, 3, max_cells=0)
    assert 1000 * 2 * 720 * 1280 <= MAX_CELLS      # an HD sensor, T = 1000, passes the default


def test_render_of_an_evt3_header_claiming_65535x65535(tmp_path):
    src, out = tmp_path / "big.raw", tmp_path / "out.gif"
    evio.write(src, _events(100, W=40, H=30), sensor_size=(40, 30), encoding="evt3")
    raw = src.read_bytes().replace(b"height=30;width=40", b"height=65535;width=65535")
    src.write_bytes(raw.replace(b"% geometry 40x30", b"% geometry 65535x65535"))
    with evio.open(src) as r:
        assert r.sensor_size == (65535, 65535)
        events = r.read()
    with pytest.raises(ValueError, match=r"sensor_size \(W=65535, H=65535\)"):
        render_gif(events, out, sensor_size=(65535, 65535))
    res = CliRunner().invoke(main, ["render", str(src), str(out)])
    assert res.exit_code != 0 and (res.exception is None or isinstance(res.exception, SystemExit))
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "65535" in lines[0] and "Traceback" not in res.output, res.output
    assert not out.exists()


def test_render_refuses_a_gif_too_large_before_scaling():
    ev = _events(100, W=1280, H=720)
    err, peak = _peak(lambda: render_images(ev, T=2, sensor_size=(1280, 720), scale=64))
    assert type(err) is ValueError and "65535" in str(err) and "scale=64" in str(err)
    assert peak < 64 << 20


# --- item 7: npz inflation -------------------------------------------------------------------------

def _npz_bomb(path, n):
    """A SpikingJelly-layout npz of ``n`` zero events, deflated (about 230:1 at level 1)."""
    zero = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for key, dtype in (("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")):
            with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                member.write(npy_header(np.dtype(dtype), n))
                left = n * np.dtype(dtype).itemsize
                while left:
                    member.write(zero[:min(left, len(zero))])
                    left -= min(left, len(zero))


def test_npz_bomb_is_refused_before_decompressing(tmp_path):
    path = tmp_path / "bomb.npz"
    n = 8 << 20                                   # 109 MB of members from a ~0.5 MB file
    _npz_bomb(path, n)
    assert 13 * n > _npzio.INFLATION_FLOOR and 13 * n > _npzio.MAX_INFLATION * path.stat().st_size
    err, peak = _peak(lambda: evio.info(path))
    assert isinstance(err, evio.FormatError) and err.path == str(path)
    assert "'t.npy'" in str(err) and f"max_inflation={_npzio.MAX_INFLATION}" in str(err)
    assert peak < 1 << 20
    with evio.open(path, max_inflation=None) as r:   # the documented override
        assert len(r) == n
    with evio.open(path, max_inflation=1000) as r:
        assert len(r) == n
    with pytest.raises(ValueError, match="max_inflation must be"):
        evio.open(path, max_inflation=0)


def test_npz_inflation_cap_passes_real_event_data(tmp_path, monkeypatch):
    """evio's own archives of recorded events inflate a few times; the cap only refuses what a
    recording cannot be (measured with the floor lowered so small files are checked too)."""
    monkeypatch.setattr(_npzio, "INFLATION_FLOOR", 0)
    path = tmp_path / "real.npz"
    rng = np.random.default_rng(3)
    for mean_dt in (0.2, 1.0, 100.0):              # 5 M, 1 M, 10 k events/s
        ev = _events(200_000)
        ev["t"] = np.cumsum(rng.exponential(mean_dt, len(ev)).astype(np.int64))
        evio.write(path, ev, sensor_size=(346, 260))
        assert np.array_equal(evio.read(path), ev)
    evio.write(path, _sparse_sample(), layout="i2e-sparse",
               sensor_size=(64, 64), meta={"time_unit": "timestep", "T": 8})
    assert len(evio.read(path)) == 50
    evio.write(path, np.zeros(200_000, evio.EVENT_DTYPE), sensor_size=(1, 1))
    with pytest.raises(evio.FormatError, match="max_inflation"):
        evio.read(path)
    assert len(evio.read(path, max_inflation=None)) == 200_000
    evio.write(path, np.zeros(0, evio.EVENT_DTYPE), layout="i2e-dense", sensor_size=(64, 64),
               meta={"time_unit": "timestep", "T": 8})
    with pytest.raises(evio.FormatError, match="'arr_0.npy'"):
        evio.read(path)
    monkeypatch.setattr(_npzio, "INFLATION_FLOOR", 64 << 20)
    assert len(evio.read(path)) == 0               # an empty dense sample deflates ~1000:1, under the floor


def _sparse_sample():
    ev = _events(50, 64, 64)
    ev["t"] %= 8
    return ev


def test_npz_header_must_agree_with_the_zip_directory(tmp_path):
    """A SpikingJelly member whose npy header claims 2**31 items is refused at open (len() never lies)."""
    path = tmp_path / "claim.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, dtype in (("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")):
            zf.writestr(f"{key}.npy", npy_header(np.dtype(dtype), 2**31) + bytes(np.dtype(dtype).itemsize))
    err, peak = _peak(lambda: evio.open(path))
    assert isinstance(err, evio.FormatError) and "t: npy header declares" in str(err), err
    assert peak < 1 << 20
