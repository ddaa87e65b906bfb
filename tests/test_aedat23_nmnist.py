"""AEDAT 1.0/2.0 (jAER), AEDAT 3.1 (cAER) and N-MNIST .bin: real fixtures, hand examples from the
spec, derived fixtures written by evio from real events, peers (Tonic) and a bounded fuzz loop."""

import struct
import time

import numpy as np
import pytest
from conftest import FIXTURES
from hypothesis import given
from hypothesis import strategies as st

import evio
from evio.errors import FormatError
from evio.formats.aedat2 import Aedat2Reader, decode_raw_dvs128
from evio.formats.nmnist import NmnistReader

NMNIST = FIXTURES / "tonic_sample_nmnist.bin"
A2_HEADER = b"#!AER-DAT2.0\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n#End Of ASCII Header\r\n"


def _a2_file(tmp_path, words, header=A2_HEADER, name="f.aedat"):
    """An AEDAT 2.0 file from (address, timestamp) pairs."""
    arr = np.array(words, dtype=[("a", ">u4"), ("t", ">i4")]) if words else np.zeros(0, ">u4")
    p = tmp_path / name
    p.write_bytes(header + arr.tobytes())
    return p


def _a3_packet(etype, words, tsovf=0, size=8, capacity=None, number=None, valid=None, source=1):
    n = len(words)
    body = b"".join(struct.pack("<Ii", d, t) for d, t in words)
    return struct.pack("<hhiiiiii", etype, source, size, 4, tsovf, n if capacity is None else capacity,
                       n if number is None else number, n if valid is None else valid) + body


def _a3_file(tmp_path, packets, source="DVS128", name="g.aedat"):
    head = (f"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: {source}\r\n"
            "#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n#!END-HEADER\r\n").encode()
    p = tmp_path / name
    p.write_bytes(head + b"".join(packets))
    return p


def _real_events_128():
    """Real events (Prophesee EVT3 sample) cropped to the DVS128 array, times rebased to 0."""
    ev = np.load(FIXTURES / "evt3_sample.npy")
    ev = ev[(ev["x"] < 128) & (ev["y"] < 128)]
    out = evio.as_events(ev).copy()
    out["t"] -= out["t"].min()
    return out


# --- header handling on the real jAER headers ----------------------------------------------------

def test_header_end_real_jaer_headers():
    with Aedat2Reader(FIXTURES / "header_test_128.aedat_test") as r:
        assert r.header_end == 4241
        assert r.chip == "dvs128" and r.sensor_size == (128, 128) and r.version == "2.0"
    with Aedat2Reader(FIXTURES / "header_test_240.aedat_test") as r:
        assert r.header_end == 303869
        assert r.chip == "davis240" and r.sensor_size == (240, 180)


def test_tonic_header_lf_davis346red():
    with evio.open(FIXTURES / "tonic_sample_aedat_header.aedat") as r:
        assert r.format_name == "aedat2" and r.version == "2.0"
        assert r.header_end == 599 and r.chip == "davis346" and r.sensor_size == (346, 260)
        assert r.meta["creation_time_ms"] == 1695355587880
        assert len(r.read()) == 0


def test_dollar_filler_is_not_silently_decoded_as_whole_events():
    # 38 filler bytes = 4 words + 6 trailing bytes: the reader refuses the ragged end
    with pytest.raises(FormatError, match="trailing"):
        evio.read(FIXTURES / "header_test_128.aedat_test", format="aedat2")


# --- hand examples ---------------------------------------------------------------------------------

def test_mibblez_event_vector(tmp_path):
    """SOURCES.md: bytes [0,0,56,231,156,86,232,205] -> polarity true, t=-1672025907, x=13, y=72 in
    aedat-file-reader-rs's raw convention (x = 128 - bits 7..1, y = 128 - bits 14..8, pol = bit 0)."""
    p = tmp_path / "v.aedat"
    p.write_bytes(A2_HEADER + bytes([0, 0, 56, 231, 156, 86, 232, 205]))
    with evio.open(p) as r:
        a, t = r.read_raw()
        ev = r.read()
    raw = decode_raw_dvs128(a, t)
    assert int(raw["t"][0]) == -1672025907
    assert 128 - int(raw["x_raw"][0]) == 13 and 128 - int(raw["y_raw"][0]) == 72
    assert int(raw["bit0"][0]) == 1  # that repo's "polarity true"
    # evio (caer, top-left): x = 127 - x_raw, y = 127 - y_raw; jAER: raw bit0 == 1 is OFF
    assert ev.tolist() == [(-1672025907, 12, 71, False)]


@pytest.mark.parametrize("orientation,expect", [
    ("caer", [(10, 124, 122, True), (11, 0, 127, False)]),
    ("jaer", [(10, 124, 5, True), (11, 0, 0, False)]),
    ("spikingjelly-cifar10dvs", [(10, 122, 124, True), (11, 127, 0, False)]),
])
def test_dvs128_orientations(tmp_path, orientation, expect):
    words = [((5 << 8) | (3 << 1) | 0, 10), ((0 << 8) | (127 << 1) | 1, 11), (0x8000 | 7, 12)]
    p = _a2_file(tmp_path, words)
    with evio.open(p, orientation=orientation) as r:
        assert r.read().tolist() == expect
        assert r.skipped["external"] == 1


def test_spikingjelly_cifar10dvs_formula(tmp_path):
    """SpikingJelly's CIFAR10-DVS loader as written in the spec (§2.7), applied to the raw words."""
    ev = _real_events_128()[:5000]
    p = tmp_path / "c.aedat"
    evio.write(p, ev, orientation="spikingjelly-cifar10dvs")
    with evio.open(p, orientation="spikingjelly-cifar10dvs") as r:
        got = r.read()
        a, t = r.read_raw()
    a = a.astype(np.int64)
    sj = {"t": t, "x": 127 - ((a & 0x7F00) >> 8), "y": 127 - ((a & 0xFE) >> 1), "p": 1 - (a & 1)}
    np.testing.assert_array_equal(got["t"], sj["t"])
    np.testing.assert_array_equal(got["x"], sj["x"])
    np.testing.assert_array_equal(got["y"], sj["y"])
    np.testing.assert_array_equal(got["p"], sj["p"] == 1)
    np.testing.assert_array_equal(got, ev)


def test_davis_layout_and_skips(tmp_path):
    hdr = A2_HEADER.replace(b"ch.unizh.ini.jaer.chip.retina.DVS128", b"eu.seebetter.ini.chips.davis.Davis346B")
    words = [
        ((7 << 22) | (9 << 12) | (1 << 11), 1),        # DVS ON
        ((7 << 22) | (9 << 12), 2),                    # DVS OFF
        ((7 << 22) | (9 << 12) | (1 << 10), 3),        # external
        (0x80000000 | (7 << 22) | (9 << 12) | 5, 4),   # APS
        (0x80000000 | (3 << 10), 5),                   # IMU
        ((300 << 22) | (9 << 12), 6),                  # y off the sensor
    ]
    p = _a2_file(tmp_path, words, header=hdr)
    with evio.open(p) as r:
        assert r.read().tolist() == [(1, 336, 252, True), (2, 336, 252, False)]
        assert r.skipped == {"external": 1, "aps": 1, "imu": 1, "out_of_range": 1}
    with evio.open(p, orientation="jaer") as r:
        assert r.read()["y"].tolist() == [7, 7]


def test_aedat2_timestamp_wrap(tmp_path):
    p = _a2_file(tmp_path, [(0, 2**31 - 10), (0, -2**31 + 5)])
    assert evio.read(p)["t"].tolist() == [2**31 - 10, 2**31 + 5]
    assert evio.read(p, unwrap=False)["t"].tolist() == [2**31 - 10, -2**31 + 5]


def test_aedat10_six_byte_events(tmp_path):
    p = tmp_path / "old.aedat"
    body = struct.pack(">Hi", (5 << 8) | (3 << 1), 77)
    p.write_bytes(b"# jAER 1.0 file with no version line\r\n" + body)
    with evio.open(p) as r:
        assert r.version == "1.0"
        assert r.read().tolist() == [(77, 124, 122, True)]


def test_aedat3_hand_packets(tmp_path):
    def word(x, y, p, valid=1):
        return (x << 17) | (y << 2) | (p << 1) | valid
    packets = [
        _a3_packet(1, [(word(3, 4, 1), 100), (word(5, 6, 0, valid=0), 101), (word(127, 0, 0), 102)]),
        _a3_packet(0, [((1 << 1) | 1, 0)]),                         # TIMESTAMP_RESET
        _a3_packet(2, [(0, 0)] * 3, size=8),                          # FRAME: skipped by size
        _a3_packet(1, [(word(1, 2, 1), 7)], tsovf=3),
        _a3_packet(1, [(word(200, 2, 1), 8)]),                       # x off the 128 sensor
    ]
    p = _a3_file(tmp_path, packets)
    with evio.open(p) as r:
        assert r.format_name == "aedat3" and r.version == "3.1" and r.sensor_size == (128, 128)
        assert r.read().tolist() == [(100, 3, 4, True), (102, 127, 0, False), ((3 << 31) | 7, 1, 2, True)]
        s = r.skipped
        assert s["invalid"] == 1 and s["timestamp_resets"] == 1 and s["other_packets"] == 1
        assert s["out_of_range"] == 1 and s["packets"] == 5


def test_aedat3_sensor_size_fallback_and_option(tmp_path):
    p = _a3_file(tmp_path, [_a3_packet(1, [((200 << 17) | 1, 1)])], source="Unknown thing")
    with evio.open(p) as r:
        assert r.sensor_size == (128, 128) and r.meta["sensor_size_from"] == "fallback"
        assert len(r.read()) == 0
    with evio.open(p, sensor_size=(346, 260)) as r:
        assert r.read().tolist() == [(1, 200, 0, False)]
    q = _a3_file(tmp_path, [], source="DAVIS346", name="d.aedat")
    assert evio.open(q).sensor_size == (346, 260)


def test_dispatch_by_version_line(tmp_path):
    a2 = _a2_file(tmp_path, [(0, 1)], name="a.aedat")
    a3 = _a3_file(tmp_path, [_a3_packet(1, [(1, 5)])], name="b.aedat")
    assert evio.open(a2).format_name == "aedat2"
    assert evio.open(a3).format_name == "aedat3"
    bad = tmp_path / "c.aedat"
    bad.write_bytes(b"#!AER-DAT5.0\r\n" + bytes(16))
    with pytest.raises(FormatError):
        evio.read(bad)
    with pytest.raises(FormatError):
        evio.read(a3, format="aedat2")
    with pytest.raises(FormatError):
        evio.read(a2, format="aedat3")
    with pytest.raises(FormatError):  # 3.0 is not 3.1
        _raise_3_0(tmp_path)


def _raise_3_0(tmp_path):
    p = tmp_path / "h.aedat"
    p.write_bytes(b"#!AER-DAT3.0\r\n#!END-HEADER\r\n")
    evio.read(p)


# --- N-MNIST ---------------------------------------------------------------------------------------

def test_nmnist_ground_truth():
    ev = evio.read(NMNIST)
    assert len(ev) == 4325
    assert ev[0].tolist() == (654, 7, 15, True)
    assert int(ev["p"].sum()) == 2145
    assert int(ev["t"].min()) == 654 and int(ev["t"].max()) == 311175
    assert np.all(np.diff(ev["t"]) >= 0)
    assert int(ev["x"].max()) <= 33 and int(ev["y"].max()) <= 33
    with evio.open(NMNIST) as r:
        assert r.sensor_size == (34, 34)
    assert NmnistReader(NMNIST, dataset="ncaltech101").sensor_size == (240, 180)


@pytest.mark.peer
def test_nmnist_vs_tonic():
    tio = pytest.importorskip("tonic.io")
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    ref = tio.read_mnist_file(str(NMNIST), dtype)
    ev = evio.read(NMNIST)
    for f in ("t", "x", "y"):
        np.testing.assert_array_equal(ev[f], ref[f])
    np.testing.assert_array_equal(ev["p"], ref["p"] == 1)


def test_nmnist_overflow_markers(tmp_path):
    ev = evio.read(NMNIST)
    far = ev.copy()
    far["t"] += np.linspace(0, 3 * 2**23, len(ev)).astype(np.int64)
    p = tmp_path / "far.bin"
    evio.write(p, far, format="nmnist")
    raw = np.frombuffer(p.read_bytes(), np.uint8).reshape(-1, 5)
    markers = int((raw[:, 1] == 240).sum())
    assert markers > 0 and len(raw) == len(ev) + markers
    back = evio.read(p)
    np.testing.assert_array_equal(back, far)
    with evio.open(p) as r:
        r.read()
        assert r.meta["overflow_markers"] == markers


@pytest.mark.peer
def test_nmnist_overflow_markers_vs_tonic(tmp_path):
    tio = pytest.importorskip("tonic.io")
    ev = evio.read(NMNIST)
    ev["t"] += np.arange(len(ev), dtype=np.int64) * 5000
    p = tmp_path / "far.bin"
    evio.write(p, ev, format="nmnist")
    ref = tio.read_mnist_file(str(p), np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    np.testing.assert_array_equal(ref["t"], ev["t"])
    np.testing.assert_array_equal(ref["x"], ev["x"])


def test_nmnist_writer_refuses(tmp_path):
    ev = evio.read(NMNIST)[:3].copy()
    for field, value in (("y", 240), ("x", 256), ("t", -1)):
        bad = ev.copy()
        bad[field][1] = value if field != "t" else 0
        if field == "t":
            bad["t"][1] = -1
        with pytest.raises(FormatError):
            evio.write(tmp_path / f"bad_{field}.bin", bad, format="nmnist")
    back = ev.copy()
    back["t"] = [2**24, 5, 2**24 + 1]  # after markers, t=5 cannot be expressed
    with pytest.raises(FormatError):
        evio.write(tmp_path / "unsorted.bin", back, format="nmnist")
    assert not (tmp_path / "unsorted.bin").exists()


# --- derived fixtures from real events, and peers ------------------------------------------------

@pytest.mark.parametrize("fmt,options", [
    ("aedat2", {}), ("aedat2", {"orientation": "jaer"}), ("aedat2", {"chip": "davis346"}),
    ("aedat2", {"chip": "davis240"}), ("aedat3", {}),
])
@pytest.mark.parametrize("source", ["nmnist", "evt3"])
def test_derived_real_roundtrip(tmp_path, fmt, options, source):
    ev = evio.read(NMNIST) if source == "nmnist" else _real_events_128()
    p = tmp_path / "d.aedat"
    evio.write(p, ev, format=fmt, **options)
    read_opts = {"orientation": options["orientation"]} if "orientation" in options else {}
    with evio.open(p, **read_opts) as r:
        assert r.format_name == fmt
        back = r.read()
    np.testing.assert_array_equal(back, ev)


@pytest.mark.peer
def test_davis346_vs_tonic(tmp_path):
    tio = pytest.importorskip("tonic.io")
    ev = _real_events_128()
    ev = ev[ev["t"] < 2**31]
    p = tmp_path / "d346.aedat"
    evio.write(p, ev, chip="davis346")
    first = p.read_bytes()
    _, _, ref = tio.read_davis_346(str(p))
    assert b"#End Of ASCII Header" in first
    np.testing.assert_array_equal(ref["x"], ev["x"])
    np.testing.assert_array_equal(ref["y"], ev["y"])
    np.testing.assert_array_equal(ref["t"], ev["t"])
    np.testing.assert_array_equal(ref["p"].astype(bool), ev["p"])


@pytest.mark.peer
def test_aedat3_raw_words_vs_tonic(tmp_path):
    tio = pytest.importorskip("tonic.io")
    ev = _real_events_128()
    p = tmp_path / "g.aedat"
    evio.write(p, ev, format="aedat3")
    version, start, _ = tio.read_aedat_header_from_file(str(p))
    raw = tio.get_aer_events_from_file(str(p), version, start)
    d = raw["address"].astype(np.int64)
    # spikingjelly's load_aedat_v3 formulas (spec §2.8) on the words Tonic reads
    np.testing.assert_array_equal((d >> 17) & 0x7FFF, ev["x"])
    np.testing.assert_array_equal((d >> 2) & 0x7FFF, ev["y"])
    np.testing.assert_array_equal((d >> 1) & 1, ev["p"])
    np.testing.assert_array_equal(d & 1, 1)
    np.testing.assert_array_equal(raw["timeStamp"], ev["t"] & 0x7FFFFFFF)


# --- property round trips and range checks -----------------------------------------------------

@st.composite
def _events(draw, w, h, t_max, sorted_t=False):
    n = draw(st.integers(0, 50))
    ev = np.empty(n, dtype=evio.EVENT_DTYPE)
    t = draw(st.lists(st.integers(0, t_max), min_size=n, max_size=n))
    ev["t"] = sorted(t) if sorted_t else t
    ev["x"] = draw(st.lists(st.integers(0, w - 1), min_size=n, max_size=n))
    ev["y"] = draw(st.lists(st.integers(0, h - 1), min_size=n, max_size=n))
    ev["p"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return ev


@given(ev=_events(128, 128, 2**31 - 1),
       orientation=st.sampled_from(["caer", "jaer", "spikingjelly-cifar10dvs"]))
def test_aedat2_dvs128_roundtrip_property(tmp_path, ev, orientation):
    p = tmp_path / "h.aedat"
    evio.write(p, ev, orientation=orientation)
    np.testing.assert_array_equal(evio.read(p, orientation=orientation), ev)


@given(ev=_events(346, 260, 2**31 - 1))
def test_aedat2_davis346_roundtrip_property(tmp_path, ev):
    p = tmp_path / "h.aedat"
    evio.write(p, ev, chip="davis346")
    np.testing.assert_array_equal(evio.read(p), ev)


@given(ev=_events(32768, 32768, 2**62 - 1))
def test_aedat3_roundtrip_property(tmp_path, ev):
    p = tmp_path / "h.aedat"
    evio.write(p, ev, format="aedat3", sensor_size=(32768, 32768))
    with evio.open(p) as r:
        assert r.sensor_size == (32768, 32768) and r.meta["sensor_size_from"] == "header"
        np.testing.assert_array_equal(r.read(), ev)


@given(ev=_events(256, 240, 2**26, sorted_t=True))
def test_nmnist_roundtrip_property(tmp_path, ev):
    p = tmp_path / "h.bin"
    evio.write(p, ev, format="nmnist")
    np.testing.assert_array_equal(evio.read(p, format="nmnist", sensor_size=(256, 240)), ev)


@pytest.mark.parametrize("fmt,options,field,value", [
    ("aedat2", {}, "x", 128), ("aedat2", {}, "t", 2**31), ("aedat2", {}, "t", -1),
    ("aedat2", {"chip": "davis346"}, "y", 260), ("aedat3", {}, "x", 32768), ("aedat3", {}, "t", -5),
    ("aedat3", {}, "t", 2**62),
])
def test_out_of_range_raises(tmp_path, fmt, options, field, value):
    ev = np.zeros(2, dtype=evio.EVENT_DTYPE)
    ev[field][1] = value
    p = tmp_path / "o.aedat"
    with pytest.raises(FormatError):
        evio.write(p, ev, format=fmt, **options)
    assert not p.exists()


# --- robustness ---------------------------------------------------------------------------------

def _read_or_format_error(path, fmt):
    try:
        with evio.open(path, format=fmt) as r:
            n = sum(len(c) for c in r.chunks(1000))
        return n
    except FormatError:
        return None


def test_hostile_packet_header(tmp_path):
    huge = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 2**31 - 1, 2**31 - 1, 2**31 - 1)
    p = _a3_file(tmp_path, [_a3_packet(1, [(1, 1)]), huge + bytes(64)])
    with pytest.raises(FormatError, match="truncated"):
        evio.read(p)
    neg = struct.pack("<hhiiiiii", 1, 1, -8, 4, 0, 5, 5, 5)
    with pytest.raises(FormatError, match="impossible"):
        evio.read(_a3_file(tmp_path, [neg], name="n.aedat"))
    more = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, 1, 9, 9)  # number > capacity
    with pytest.raises(FormatError):
        evio.read(_a3_file(tmp_path, [more + bytes(8)], name="m.aedat"))


def test_fuzz_truncation_and_flips(tmp_path):
    ev = evio.read(NMNIST)[:300]
    sources = {}
    for fmt, suffix in (("aedat2", ".aedat"), ("aedat3", ".aedat"), ("nmnist", ".bin")):
        p = tmp_path / f"src_{fmt}{suffix}"
        evio.write(p, ev, format=fmt)
        sources[fmt] = p.read_bytes()
    rng = np.random.default_rng(1234)
    deadline = time.monotonic() + 4.0
    target = tmp_path / "fuzz.aedat"
    rounds = 0
    while time.monotonic() < deadline and rounds < 600:
        fmt = ("aedat2", "aedat3", "nmnist")[rounds % 3]
        data = bytearray(sources[fmt])
        if rng.random() < 0.5:
            data = data[: int(rng.integers(0, len(data) + 1))]
        for _ in range(int(rng.integers(1, 8))):
            if data:
                data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        target.write_bytes(bytes(data))
        n = _read_or_format_error(target, fmt)
        assert n is None or 0 <= n <= len(data)
        rounds += 1
    assert rounds >= 30


def test_info_and_time_window(tmp_path):
    ev = evio.read(NMNIST)
    for fmt, name in (("aedat2", "i.aedat"), ("aedat3", "j.aedat"), ("nmnist", "k.bin")):
        p = tmp_path / name
        evio.write(p, ev, format=fmt)
        info = evio.info(p)
        assert info["format"] == fmt
        with evio.open(p) as r:
            w = r.time_window(1000, 50_000)
        np.testing.assert_array_equal(w, ev[(ev["t"] >= 1000) & (ev["t"] < 50_000)])


def test_first_event_starting_with_hash_byte(tmp_path):
    """A DAVIS346 word whose first byte is 0x23 ('#') right after the header is still an event."""
    ev = np.zeros(2, dtype=evio.EVENT_DTYPE)
    ev["x"] = [5, 6]
    ev["y"] = [259 - 141, 3]  # y_raw = 141 -> address byte 0 = 0x23
    ev["t"] = [1, 2]
    p = tmp_path / "hash.aedat"
    evio.write(p, ev, chip="davis346")
    with evio.open(p) as r:
        assert p.read_bytes()[r.header_end] == 0x23
        np.testing.assert_array_equal(r.read(), ev)


def test_hostile_aedat2_headers(tmp_path):
    p = tmp_path / "long.aedat"
    p.write_bytes(b"#!AER-DAT2.0\r\n#" + b"x" * (1 << 21))
    with pytest.raises(FormatError, match="header line"):
        evio.read(p)
    q = tmp_path / "chip.aedat"
    q.write_bytes(b"#!AER-DAT2.0\r\n# AEChip: some.unknown.Chip\r\n" + bytes(8))
    with pytest.raises(FormatError, match="chip="):
        evio.read(q)
    assert evio.read(q, chip="dvs128").tolist() == [(0, 127, 127, True)]
