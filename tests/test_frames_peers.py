"""evio.frames against SpikingJelly 2.0 and Tonic: same frames, value for value, same dtype.

Both peers are run on the very array evio gets (SpikingJelly on its dict of the same fields). Where
a peer raises, evio must raise FormatError (SpikingJelly's empty windows, equal timestamps).
"""
import warnings

import numpy as np
import pytest
from _sj import load_spikingjelly_datasets
from hypothesis import given
from hypothesis import strategies as st

import evio
from evio import FormatError, LossWarning

pytestmark = pytest.mark.peer

W, H = 7, 5
BIG_T0 = (1 << 53) + 12345          # above 2**53: float64 window edges round (Tonic's float arithmetic)


@st.composite
def streams(draw, min_size=0, max_size=120, unsorted=False):
    """Sorted (or not) streams: duplicates, single events, N < T, all on one pixel, huge timestamps."""
    n = draw(st.integers(min_size, max_size))
    t0 = draw(st.sampled_from([0, 1_000_000, 1_600_000_000_000_000, BIG_T0]))
    span = draw(st.sampled_from([3, 50, 1000, 100_000]))
    t = np.array(draw(st.lists(st.integers(0, span), min_size=n, max_size=n)), dtype=np.int64) + t0
    if not unsorted:
        t.sort()
    one_pixel = draw(st.booleans())
    ev = np.empty(n, dtype=evio.EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = 3 if one_pixel else draw(st.lists(st.integers(0, W - 1), min_size=n, max_size=n))
    ev["y"] = 2 if one_pixel else draw(st.lists(st.integers(0, H - 1), min_size=n, max_size=n))
    ev["p"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return ev


def sj_dict(ev):
    return {"t": ev["t"].copy(), "x": ev["x"].astype(np.int64), "y": ev["y"].astype(np.int64),
            "p": ev["p"].astype(np.int64)}


def same(got, want):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(got, want)


def peer_or_error(call, evio_call):
    """Run the peer; if it raises, evio must raise FormatError; otherwise return both results."""
    try:
        want = call()
    except (IndexError, ValueError):
        with pytest.raises(FormatError):
            evio_call()
        return None, None
    return evio_call(), want


# -- SpikingJelly ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sj():
    ds = load_spikingjelly_datasets()
    if ds is None:
        pytest.skip("spikingjelly (with torch) is not installed")
    return ds


@given(ev=streams(), T=st.integers(1, 10), split=st.sampled_from(["number", "time"]))
def test_sj_fixed_frames_number(sj, ev, T, split):
    by = "count" if split == "number" else "time"
    got, want = peer_or_error(
        lambda: sj.integrate_events_by_fixed_frames_number(sj_dict(ev), split, T, H, W),
        lambda: evio.frames(ev, T, by=by, sensor_size=(W, H)))
    if want is not None:
        same(got, want)


@given(ev=streams(unsorted=True), T=st.integers(1, 6))
def test_sj_split_by_time_unsorted(sj, ev, T):
    """Unsorted t: SpikingJelly's first/last-index-in-window segments, reproduced."""
    got, want = peer_or_error(
        lambda: sj.integrate_events_by_fixed_frames_number(sj_dict(ev), "time", T, H, W),
        lambda: evio.frames(ev, T, by="time", sensor_size=(W, H)))
    if want is not None:
        same(got, want)


@given(ev=streams(), duration=st.sampled_from([1, 3, 7, 100, 999, 40_000]))
def test_sj_fixed_duration_grid(sj, ev, duration):
    got, want = peer_or_error(
        lambda: sj.integrate_events_by_fixed_duration(sj_dict(ev), duration, H, W),
        lambda: evio.frames(ev, by="duration", duration=duration, sensor_size=(W, H)))
    if want is not None:
        same(got, want)


def test_sj_float32_loader_dtype_and_foreign_dict(sj):
    rng = np.random.default_rng(1)
    n = 5000
    d = {"t": np.sort(rng.integers(0, 10**6, n)).astype(">u4"), "x": rng.integers(0, W, n).astype(np.uint32),
         "y": rng.integers(0, H, n).astype(np.uint32), "p": rng.integers(0, 2, n).astype(np.int64)}
    for split, by in (("number", "count"), ("time", "time")):
        want = sj.integrate_events_by_fixed_frames_number(d, split, 8, H, W)
        same(evio.frames(d, 8, by=by, sensor_size=(W, H)), want)
        same(evio.frames(d, 8, by=by, sensor_size=(W, H), dtype=np.float32), want.astype(np.float32))
    same(evio.frames(d, by="duration", duration=12_345, sensor_size=(W, H)),
         sj.integrate_events_by_fixed_duration(d, 12_345, H, W))


def test_sj_large_counts(sj):
    ev = np.zeros(200_000, dtype=evio.EVENT_DTYPE)
    ev["t"] = np.arange(len(ev))
    ev["x"], ev["y"], ev["p"] = 1, 1, True
    same(evio.frames(ev, 3, by="time", sensor_size=(W, H)),
         sj.integrate_events_by_fixed_frames_number(sj_dict(ev), "time", 3, H, W))


def test_sj_pad_collate_and_mask(sj):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    xs = [rng.random((n, 2, 3, 4)).astype(np.float32) for n in (3, 1, 5)]
    batch = [(torch.as_tensor(x), i) for i, x in enumerate(xs)]
    want = sj.pad_sequence_collate(batch)
    got = evio.pad_collate(batch)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and torch.equal(g, w)
    got_np = evio.pad_collate([(x, i) for i, x in enumerate(xs)])
    for g, w in zip(got_np, want):
        assert np.array_equal(g, w.numpy()) and g.dtype == w.numpy().dtype
    for T in (None, 7):
        w = sj.padded_sequence_mask(want[2], T)
        assert torch.equal(evio.padded_sequence_mask(want[2], T), w)
        assert np.array_equal(evio.padded_sequence_mask(want[2].numpy(), T), w.numpy())


def test_frames_batch_matches_sj_collate(sj):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    samples = []
    for n in (50, 400, 1):
        ev = np.zeros(n, evio.EVENT_DTYPE)
        ev["t"] = np.sort(rng.integers(0, 5000, n))
        ev["x"], ev["y"], ev["p"] = rng.integers(0, W, n), rng.integers(0, H, n), rng.random(n) < 0.5
        samples.append(ev)
    samples[2]["t"] = 0
    kw = {"by": "duration", "duration": 700, "sensor_size": (W, H), "allow_empty": True}
    padded, lengths = evio.frames_batch(samples, **kw)
    per_sample = [torch.as_tensor(evio.frames(s, **kw)) for s in samples]
    want_x, _, want_len = sj.pad_sequence_collate([(f, 0) for f in per_sample])
    assert np.array_equal(padded, want_x.numpy()) and np.array_equal(lengths, want_len.numpy())


# -- Tonic ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tonic():
    return pytest.importorskip("tonic")


def to_frame(tonic, ev, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tonic.functional.to_frame_numpy(ev.copy(), (W, H, 2), **kw)


@given(ev=streams(min_size=1), T=st.integers(1, 10), overlap=st.sampled_from([0, 0.0, 0.25, 0.5]))
def test_tonic_bins(tonic, ev, T, overlap):
    for by, key in (("count", "n_event_bins"), ("time", "n_time_bins")):
        want = to_frame(tonic, ev, **{key: T}, overlap=overlap)
        same(evio.frames(ev, T, by=by, sensor_size=(W, H), convention="tonic", overlap=overlap), want)


@given(ev=streams(min_size=1), event_count=st.integers(1, 40), overlap=st.integers(0, 10),
       include_incomplete=st.booleans())
def test_tonic_event_count(tonic, ev, event_count, overlap, include_incomplete):
    if overlap >= event_count:
        with pytest.raises(ValueError):
            evio.frames(ev, by="count", event_count=event_count, overlap=overlap, convention="tonic")
        return
    want = to_frame(tonic, ev, event_count=event_count, overlap=overlap, include_incomplete=include_incomplete)
    got = evio.frames(ev, by="count", event_count=event_count, overlap=overlap,
                      include_incomplete=include_incomplete, sensor_size=(W, H), convention="tonic")
    same(got, want)


@given(ev=streams(min_size=1), duration=st.sampled_from([1, 5, 37, 1000, 12.5]),
       overlap=st.sampled_from([0, 2, 0.5]), include_incomplete=st.booleans(),
       start=st.sampled_from([None, -3, 10]), end=st.sampled_from([None, 5, 2000]))
def test_tonic_time_window(tonic, ev, duration, overlap, include_incomplete, start, end):
    if overlap >= duration:
        return
    kw = {"overlap": overlap, "include_incomplete": include_incomplete,
          "start_time": None if start is None else int(ev["t"][0]) + start,
          "end_time": None if end is None else int(ev["t"][0]) + end}
    want = to_frame(tonic, ev, time_window=duration, **kw)
    same(evio.frames(ev, by="duration", duration=duration, sensor_size=(W, H), convention="tonic", **kw), want)


def test_tonic_toframe_and_dtypes(tonic):
    """ToFrame itself, on Tonic's own structured layouts (DVSGesture, CIFAR10DVS, NMNIST)."""
    rng = np.random.default_rng(4)
    n = 3000
    layouts = [np.dtype([("x", "<i2"), ("y", "<i2"), ("p", "?"), ("t", "<i8")]),
               np.dtype([("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("p", "?")]),
               np.dtype([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])]
    for dt, t0 in ((d, t0) for d in layouts for t0 in (1_600_000_000_000_000, BIG_T0)):
        ev = np.zeros(n, dtype=dt)
        ev["t"] = np.sort(rng.integers(0, 10**6 if t0 < 2**53 else 5000, n)) + t0   # dense: edges round
        ev["x"], ev["y"], ev["p"] = rng.integers(0, W, n), rng.integers(0, H, n), rng.integers(0, 2, n)
        for kw, ekw in (({"n_time_bins": 6}, {"T": 6, "by": "time"}), ({"n_event_bins": 6}, {"T": 6}),
                        ({"n_time_bins": 7, "overlap": 0.3}, {"T": 7, "by": "time", "overlap": 0.3}),
                        ({"time_window": 333, "overlap": 10.5}, {"by": "duration", "duration": 333,
                                                                 "overlap": 10.5}),
                        ({"time_window": 33_333}, {"by": "duration", "duration": 33_333}),
                        ({"event_count": 999}, {"event_count": 999})):
            got = evio.frames(ev, sensor_size=(W, H, 2), convention="tonic", **ekw)
            span = int(ev["t"][-1]) - int(ev["t"][0])
            if dt["t"].kind == "u" and kw.get("time_window", 0) > span:
                assert got.shape[0] == 1       # Tonic's uint64 `span - time_window` wraps: a MemoryError there
                continue
            same(got, tonic.transforms.ToFrame(sensor_size=(W, H, 2), **kw)(ev.copy()))


def test_tonic_int16_wrap_warns(tonic):
    ev = np.zeros(40_000, dtype=evio.EVENT_DTYPE)
    ev["t"] = np.arange(len(ev))
    ev["x"], ev["y"], ev["p"] = 2, 1, True
    want = to_frame(tonic, ev, n_event_bins=1)
    assert want.min() == -25536
    with pytest.warns(LossWarning, match="wrap"):
        got = evio.frames(ev, 1, sensor_size=(W, H), convention="tonic")
    same(got, want)
    wide = evio.frames(ev, 1, sensor_size=(W, H), convention="tonic", dtype=np.int32)
    assert wide.dtype == np.int32 and wide.max() == 40_000


def test_tonic_single_polarity(tonic):
    ev = np.zeros(100, dtype=evio.EVENT_DTYPE)
    ev["t"] = np.arange(100)
    ev["x"] = np.arange(100) % W
    ev["p"] = True
    want = tonic.functional.to_frame_numpy(ev.copy(), (W, H, 1), n_time_bins=4)
    same(evio.frames(ev, 4, by="time", sensor_size=(W, H, 1), convention="tonic"), want)
