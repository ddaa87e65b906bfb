"""AEDAT 4.0: real fixtures against ground truth and peers, write/read identity, hostile input."""

import struct
import time

import numpy as np
import pytest
from conftest import FIXTURES
from hypothesis import given
from hypothesis import strategies as st

import evio
from evio.formats.aedat4 import MAGIC, Aedat4Reader, Aedat4Writer

pytest.importorskip("lz4")
pytest.importorskip("zstandard")

DAVIS = FIXTURES / "aestream_davis.aedat4"
TONIC = FIXTURES / "tonic_sample.aedat4"

# (file, count, first event, last t, sensor size, source, packets per stream) from fixtures/SOURCES.md;
# ON counts (not in SOURCES.md) were checked against aedat and dv-processing.
ON = {"davis": 72_363, "tonic": 55_023}
TRUTH = {
    "davis": (DAVIS, 117_667, (1633953690975950, 218, 15, True), 1633953691105949, (346, 260),
              "DAVIS346_00000104", {"0": 13, "1": 3, "2": 13, "3": 11}),
    "tonic": (TONIC, 111_954, (1605537493718345, 154, 204, False), 1605537494308262, (320, 240),
              "DVXplorer_DXB00010", {"0": 59, "2": 59, "3": 0}),
}


def _read(path, **kw):
    with Aedat4Reader(path, **kw) as r:
        return r.read()


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_ground_truth(name):
    path, count, first, last_t, size, source, packets = TRUTH[name]
    with Aedat4Reader(path) as r:
        ev = r.read()
        assert r.sensor_size == size
        assert r.meta["source"] == source
        assert r.version == "aedat 4.0"
        assert {k: v["packets"] for k, v in r.extra_info()["streams"].items()} == packets
        assert r.extra_info()["streams"]["0"]["type"] == "EVTS"
        assert r.extra_info()["data_table"] == "valid"
        assert r.count == count  # from the data table, checked against every packet while reading
        assert r.extra_info()["t_range"] == [first[0], last_t]
    assert len(ev) == count
    assert tuple(ev[0].tolist()) == first
    assert int(ev["t"][-1]) == last_t
    assert int(ev["p"].sum()) == ON[name]
    assert (np.diff(ev["t"]) >= 0).all()
    assert ev["x"].max() < size[0] and ev["y"].max() < size[1]


def test_registry_and_api():
    assert evio.registry.resolve_read(DAVIS).name == "aedat4"
    assert evio.registry.resolve_write("out.aedat4").name == "aedat4"


def test_stream_selection():
    with pytest.raises(evio.FormatError, match="not an event stream"):
        Aedat4Reader(DAVIS, stream=1)
    assert len(_read(DAVIS, stream=0)) == 117_667


@pytest.mark.parametrize("chunk", [1, 7, 1000, 9050, 117_667, 1 << 22])
def test_chunked_equals_whole(chunk):
    whole = _read(DAVIS)
    if chunk == 1:
        whole = whole[:3000]
    with Aedat4Reader(DAVIS) as r:
        parts = []
        got = 0
        for c in r.chunks(chunk):
            assert 0 < len(c) <= chunk
            parts.append(c)
            got += len(c)
            if got >= len(whole):
                break
    assert np.array_equal(np.concatenate(parts)[:len(whole)], whole)


def _peer_aedat(path):
    aedat = pytest.importorskip("aedat")
    parts = [p["events"] for p in aedat.Decoder(str(path)) if "events" in p and p["stream_id"] == 0]
    a = np.concatenate(parts)
    return a["t"].astype(np.int64), a["x"], a["y"], a["on"]


def _peer_dv(path):
    dv = pytest.importorskip("dv_processing")
    rec = dv.io.MonoCameraRecording(str(path))
    parts = []
    while True:
        batch = rec.getNextEventBatch()
        if batch is None:
            break
        parts.append(batch.numpy())
    d = np.concatenate(parts)
    return d["timestamp"], d["x"], d["y"], d["polarity"].astype(bool)


PEERS = {"aedat": _peer_aedat, "dv-processing": _peer_dv}


def _same(ev, fields):
    t, x, y, p = fields
    assert len(t) == len(ev)
    assert np.array_equal(ev["t"], t)
    assert np.array_equal(ev["x"], x)
    assert np.array_equal(ev["y"], y)
    assert np.array_equal(ev["p"], p)


@pytest.mark.peer
@pytest.mark.parametrize("peer", sorted(PEERS))
@pytest.mark.parametrize("name", sorted(TRUTH))
def test_fixture_equals_peer(peer, name):
    path = TRUTH[name][0]
    _same(_read(path), PEERS[peer](path))


def _events(n, seed=0, size=(346, 260)):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=evio.EVENT_DTYPE)
    ev["t"] = 1_600_000_000_000_000 + np.cumsum(rng.integers(0, 5, n))
    ev["x"] = rng.integers(0, size[0], n)
    ev["y"] = rng.integers(0, size[1], n)
    ev["p"] = rng.random(n) < 0.5
    return ev


def _write(path, ev, **kw):
    kw.setdefault("sensor_size", (346, 260))
    with Aedat4Writer(path, **kw) as w:
        for a in range(0, len(ev), 3001):
            w.write(ev[a:a + 3001])


@pytest.mark.parametrize("compression", ["lz4", "zstd", None])
def test_write_read_identity(tmp_path, compression):
    ev = _events(20_000)
    path = tmp_path / "out.aedat4"
    _write(path, ev, compression=compression, packet_events=4096, meta={"source": "cam<1>&"})
    with Aedat4Reader(path) as r:
        assert r.sensor_size == (346, 260)
        assert r.meta["source"] == "cam<1>&"
        assert r.extra_info()["compression"] == (compression or "none")
        assert r.extra_info()["streams"]["0"]["packets"] == 5
        assert r.count == len(ev)
        assert r.extra_info()["t_range"] == [int(ev["t"].min()), int(ev["t"].max())]
        assert np.array_equal(r.read(), ev)
    _write(path, ev, compression=compression, data_table=False)
    with Aedat4Reader(path) as r:
        assert r.count is None and r.extra_info()["data_table"] == "absent"
        assert np.array_equal(r.read(), ev)


@given(ev=st.builds(lambda n, s, big: _events(n, s, (32768, 32768) if big else (4, 3)),
                    st.integers(0, 300), st.integers(0, 1000), st.booleans()),
       t_shift=st.sampled_from([0, -(1 << 62), (1 << 62)]),
       packet=st.integers(1, 64), compression=st.sampled_from(["lz4", "zstd", None]))
def test_write_read_identity_hypothesis(tmp_path_factory, ev, t_shift, packet, compression):
    ev["t"] += t_shift
    path = tmp_path_factory.mktemp("a4") / "h.aedat4"
    with Aedat4Writer(path, compression=compression, packet_events=packet) as w:
        w.write(ev)
    assert np.array_equal(_read(path), ev)


def test_write_out_of_range(tmp_path):
    ev = _events(10)
    ev["x"][3] = 40000
    with pytest.raises(evio.FormatError, match="int16"), Aedat4Writer(tmp_path / "x.aedat4") as w:
        w.write(ev)
    assert not (tmp_path / "x.aedat4").exists()
    with pytest.raises(evio.FormatError):
        Aedat4Writer(tmp_path / "y.aedat4", sensor_size=(40000, 10))
    with pytest.raises(ValueError):
        Aedat4Writer(tmp_path / "z.aedat4", compression="gzip")


@pytest.mark.peer
@pytest.mark.parametrize("peer", sorted(PEERS))
@pytest.mark.parametrize("data_table", [True, False])
@pytest.mark.parametrize("compression", ["lz4", "zstd", None])
def test_write_peer_read(tmp_path, peer, compression, data_table):
    ev = _events(12_345, seed=3)
    path = tmp_path / "peer.aedat4"
    _write(path, ev, compression=compression, packet_events=1000, data_table=data_table)
    _same(ev, PEERS[peer](path))


def test_peer_dv_reads_sensor_size(tmp_path):
    dv = pytest.importorskip("dv_processing")
    path = tmp_path / "s.aedat4"
    _write(path, _events(100), meta={"source": "evio-test"})
    rec = dv.io.MonoCameraRecording(str(path))
    assert tuple(rec.getEventResolution()) == (346, 260)
    assert rec.getCameraName() == "evio-test"
    assert tuple(rec.getTimeRange()) == tuple(_read(path)[["t"]][[0, -1]]["t"].tolist())


# --- hostile input ----------------------------------------------------------------------------

def _outcome(data, tmp_path, name="f.aedat4"):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        with Aedat4Reader(path, chunk_size=50_000) as r:
            n = 0
            for c in r.chunks():
                n += len(c)
                assert n <= 1 << 24
        return n
    except evio.FormatError as exc:
        assert exc.path == str(path)
        return exc


def _first_packet(data):
    hlen = struct.unpack_from("<I", data, 14)[0]
    return 18 + hlen


def test_hostile_lengths(tmp_path):
    data = bytearray(DAVIS.read_bytes())
    p = _first_packet(data)
    # a packet claiming 2^31 - 1 bytes
    bad = bytearray(data)
    struct.pack_into("<i", bad, p + 4, 2**31 - 1)
    assert isinstance(_outcome(bytes(bad), tmp_path), evio.FormatError)
    # an IOHeader claiming 2^31 bytes
    bad = bytearray(data)
    struct.pack_into("<I", bad, 14, 2**31)
    assert isinstance(_outcome(bytes(bad), tmp_path), evio.FormatError)
    # a flatbuffer vector claiming 2^31 events: write an uncompressed file, then patch it
    path = tmp_path / "raw.aedat4"
    _write(path, _events(10), compression=None)
    raw = bytearray(path.read_bytes())
    q = _first_packet(raw)
    assert struct.unpack_from("<I", raw, q + 8 + 28)[0] == 10
    struct.pack_into("<I", raw, q + 8 + 28, 2**31)
    out = _outcome(bytes(raw), tmp_path, "vec.aedat4")
    assert isinstance(out, evio.FormatError) and out.offset == q and "vector" in str(out)
    # a negative x
    raw = bytearray(path.read_bytes())
    struct.pack_into("<h", raw, q + 8 + 32 + 8, -5)
    assert isinstance(_outcome(bytes(raw), tmp_path, "neg.aedat4"), evio.FormatError)


def test_not_aedat4(tmp_path):
    assert isinstance(_outcome(b"#!AER-DAT3.1\r\n" + b"\0" * 100, tmp_path), evio.FormatError)
    assert isinstance(_outcome(MAGIC + b"\1\0", tmp_path), evio.FormatError)


def test_truncated(tmp_path):
    data = DAVIS.read_bytes()
    full = 117_667
    for cut in [14, 17, 100, 3000, _first_packet(data) + 3, 200_000, 600_000, len(data) - 1500]:
        out = _outcome(data[:cut], tmp_path)
        assert isinstance(out, evio.FormatError) or out <= full


def _packet_boundary(data, at_least):
    """The first packet boundary at or after ``at_least`` (or the file end)."""
    p = _first_packet(data)
    while p < at_least and p + 8 <= len(data):
        p += 8 + struct.unpack_from("<i", data, p + 4)[0]
    return min(p, len(data))


def test_truncated_at_packet_boundary(tmp_path):
    """A file cut between packets yields the events of every whole packet, then FormatError."""
    data = DAVIS.read_bytes()
    cut = _packet_boundary(data, 500_000)
    whole = _read(DAVIS)
    with Aedat4Reader(_save(tmp_path, "cut.aedat4", data[:cut])) as r:
        assert r.count is None
        got = []
        with pytest.raises(evio.FormatError, match="truncated") as exc:
            for c in r.chunks(10_000):
                got.append(c)
        assert exc.value.offset == cut
    got = np.concatenate(got)
    assert 0 < len(got) < len(whole) and np.array_equal(got, whole[:len(got)])


def test_fuzz_byte_flips(tmp_path):
    """Random flips in the header, the packets and the data table: events or FormatError, quickly."""
    deadline = time.monotonic() + 6
    rng = np.random.default_rng(1234)
    outcomes = {"events": 0, "error": 0}
    for path in (DAVIS, TONIC):
        data = path.read_bytes()
        start = _first_packet(data)
        table = struct.unpack_from("<q", data, 54)[0]
        # the header plus a few whole packets, the data table dropped, keeps each try short
        short = bytearray(data[:_packet_boundary(data, start + 60_000)])
        struct.pack_into("<q", short, 54, -1)
        for i in range(250):
            if time.monotonic() > deadline:
                break
            if i % 3 == 2:
                buf, lo, hi = bytearray(data), table, len(data)  # whole file, flips in the data table
            else:
                buf, lo, hi = bytearray(short), 0, (start if i % 3 else len(short))
            for pos in rng.integers(lo, hi, int(rng.integers(1, 6))):
                buf[int(pos)] ^= int(rng.integers(1, 256))
            if rng.random() < 0.2:
                buf = buf[: int(rng.integers(0, len(buf)))]
            out = _outcome(bytes(buf), tmp_path)
            outcomes["error" if isinstance(out, evio.FormatError) else "events"] += 1
    assert outcomes["events"] and outcomes["error"]


def test_hostile_data_table(tmp_path):
    """A data table that disagrees with the packets is ignored; one that lies about counts fails the read."""
    path = tmp_path / "t.aedat4"
    ev = _events(5000)
    _write(path, ev, compression=None, packet_events=1000)
    raw = bytearray(path.read_bytes())
    table = struct.unpack_from("<q", raw, 54)[0]
    n = struct.unpack_from("<I", raw, table + 40)[0]
    first = (44 + 4 * n + 7) // 8 * 8
    lie = bytearray(raw)
    struct.pack_into("<q", lie, table + first + 24, 999)  # first packet's element count
    with Aedat4Reader(_save(tmp_path, "lie.aedat4", lie)) as r:
        assert r.count == 4999
        with pytest.raises(evio.FormatError, match="data table says 999"):
            r.read()
    moved = bytearray(raw)
    struct.pack_into("<q", moved, table + first + 8, 12345)  # first packet's byte offset
    with Aedat4Reader(_save(tmp_path, "moved.aedat4", moved)) as r:
        assert r.count is None and r.extra_info()["data_table"] == "invalid"
        assert np.array_equal(r.read(), ev)


def _save(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(bytes(data))
    return p


def test_missing_codec_names_the_extra(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "lz4.frame", None)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(ImportError, match=r"evio-toolkit\[aedat4\]"):
        _read(DAVIS)
    with pytest.raises(ImportError, match=r"evio-toolkit\[aedat4\]"):
        Aedat4Writer(tmp_path / "z.aedat4", compression="zstd")
    _write(tmp_path / "plain.aedat4", _events(10), compression=None)  # no codec needed
    assert len(_read(tmp_path / "plain.aedat4")) == 10
