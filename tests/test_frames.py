"""evio.frames without peers: the 0.0.0.0.14 greedy duration split, errors, options, batching."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import evio
from evio import FormatError, LossWarning
from evio.events import record_bytes
from evio.framing import _first_int_at_least

W, H = 6, 4


def make(t, x=None, y=None, p=None):
    n = len(t)
    ev = np.zeros(n, dtype=evio.EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = np.arange(n) % W if x is None else x
    ev["y"] = np.arange(n) // W % H if y is None else y
    ev["p"] = np.arange(n) % 2 == 0 if p is None else p
    return ev


def greedy_reference(ev, duration):
    """Transcription of the spec's 0.0.0.0.14 loop (inclusive upper bound), float64 [F, 2, H, W]."""
    t = [int(v) for v in ev["t"]]
    n = len(t)
    out = []
    left = right = 0
    while True:
        t_l = t[left]
        while not (right == n or t[right] - t_l > duration):
            right += 1
        frame = np.zeros((2, H, W))
        for i in range(left, right):
            frame[int(ev["p"][i]), ev["y"][i], ev["x"][i]] += 1
        out.append(frame[None])
        left = right
        if right == n:
            return np.concatenate(out)


@st.composite
def streams(draw, min_size=1, max_size=80, unsorted=False):
    n = draw(st.integers(min_size, max_size))
    t = draw(st.lists(st.integers(0, draw(st.sampled_from([2, 40, 5000]))), min_size=n, max_size=n))
    if not unsorted:
        t = sorted(t)
    return make(t, draw(st.lists(st.integers(0, W - 1), min_size=n, max_size=n)),
                draw(st.lists(st.integers(0, H - 1), min_size=n, max_size=n)),
                draw(st.lists(st.booleans(), min_size=n, max_size=n)))


def test_greedy_worked_example():
    ev = make([0, 5, 10, 11, 20, 21, 35])
    got = evio.frames(ev, by="duration", duration=10, duration_variant="greedy", sensor_size=(W, H))
    assert got.dtype == np.float64
    assert got.sum(axis=(1, 2, 3)).tolist() == [3, 3, 1]
    grid = evio.frames(ev, by="duration", duration=10, sensor_size=(W, H))
    assert grid.sum(axis=(1, 2, 3)).tolist() == [2, 2, 2, 1]  # 2.0: [0,10) [10,20) [20,30) [30,..)


@given(ev=streams(unsorted=True), duration=st.sampled_from([0, 1, 3, 17, 1000]))
def test_greedy_matches_spec_formula(ev, duration):
    if duration == 0:
        with pytest.raises(ValueError):
            evio.frames(ev, by="duration", duration=0, duration_variant="greedy")
        return
    got = evio.frames(ev, by="duration", duration=duration, duration_variant="greedy", sensor_size=(W, H))
    want = greedy_reference(ev, duration)
    assert got.dtype == want.dtype and np.array_equal(got, want)


@given(ev=streams(), T=st.integers(1, 9))
def test_counts_conserve_events(ev, T):
    """split_by number/time and the 2.0 grid keep every event; Tonic's bins keep a subset."""
    n = len(ev)
    assert evio.frames(ev, T, sensor_size=(W, H)).sum() == n
    assert evio.frames(ev, T, by="time", sensor_size=(W, H), allow_empty=True).sum() == n
    assert evio.frames(ev, by="duration", duration=7, sensor_size=(W, H), allow_empty=True).sum() == n
    assert evio.frames(ev, T, by="time", sensor_size=(W, H), convention="tonic").sum() <= n
    assert evio.frames(ev, T, sensor_size=(W, H), convention="tonic").sum() == n // T * T


def test_spikingjelly_errors_and_allow_empty():
    empty = make([])
    for kw in ({"by": "time"}, {"by": "duration", "duration": 5},
               {"by": "duration", "duration": 5, "duration_variant": "greedy"}):
        with pytest.raises(FormatError, match="no events"):
            evio.frames(empty, 4, sensor_size=(W, H), **kw)
    assert evio.frames(empty, 4, by="time", sensor_size=(W, H), allow_empty=True).shape == (4, 2, H, W)
    assert evio.frames(empty, by="duration", duration=5, sensor_size=(W, H), allow_empty=True).shape == (0, 2, H, W)
    assert evio.frames(empty, 4, sensor_size=(W, H)).shape == (4, 2, H, W)   # split_by number never raises

    equal = make([7, 7, 7])
    with pytest.raises(FormatError, match="all timestamps are equal"):
        evio.frames(equal, by="duration", duration=5, sensor_size=(W, H))
    one = evio.frames(equal, by="duration", duration=5, sensor_size=(W, H), allow_empty=True)
    assert one.shape == (1, 2, H, W) and one.sum() == 3
    with pytest.raises(FormatError, match="< T = 4"):
        evio.frames(equal, 4, by="time", sensor_size=(W, H))
    last = evio.frames(equal, 4, by="time", sensor_size=(W, H), allow_empty=True)
    assert last.sum(axis=(1, 2, 3)).tolist() == [0, 0, 0, 3]

    gap = make([0, 1, 2, 100])                # windows of 25 µs: [25, 50) and [50, 75) are empty
    with pytest.raises(FormatError, match=r"time window 1 \[25, 50\) µs holds no events"):
        evio.frames(gap, 4, by="time", sensor_size=(W, H))
    got = evio.frames(gap, 4, by="time", sensor_size=(W, H), allow_empty=True)
    assert got.sum(axis=(1, 2, 3)).tolist() == [3, 0, 0, 1]


def test_unsorted_and_outside_are_errors():
    unsorted = make([0, 5, 3, 9])
    for kw in ({"by": "duration", "duration": 2}, {"by": "time", "convention": "tonic"},
               {"by": "duration", "duration": 2, "convention": "tonic"}):
        with pytest.raises(FormatError, match=r"sorted by t: t\[2\] = 3 µs < t\[1\] = 5 µs"):
            evio.frames(unsorted, 2, sensor_size=(W, H), **kw)
    assert evio.frames(unsorted, 2, sensor_size=(W, H)).sum() == 4        # by count reads no time
    blocky = make(np.arange(24) * 10)                                          # read as 64-bit words
    blocky["t"][13] = 2
    for kw in ({"by": "duration", "duration": 50}, {"by": "time", "convention": "tonic"}):
        with pytest.raises(FormatError, match=r"t\[13\] = 2 µs < t\[12\] = 120 µs"):
            evio.frames(blocky, 2, sensor_size=(W, H), **kw)
    wild = make([-(2 ** 62), 2 ** 62 + 5, -(2 ** 62) - 7, 2 ** 62 + 9])   # t[2] - t[1] overflows int64
    for kw in ({"convention": "tonic", "by": "time"}, {"convention": "tonic", "by": "duration", "duration": 2 ** 61},
               {"by": "duration", "duration": 2 ** 61}):
        with pytest.raises(FormatError, match=r"t\[2\]"), np.errstate(over="ignore"):
            evio.frames(wild, 2, sensor_size=(W, H), **kw)
    outside = make([0, 1, 2], x=[0, W, 1])
    for by in BY_ALL:
        with pytest.raises(FormatError, match=f"event 1 .*x={W}.* lies outside the sensor W={W} x H={H}"):
            evio.frames(outside, 2, by=by, duration=1, sensor_size=(W, H))
    in_block = make(np.arange(20), y=np.where(np.arange(20) == 10, H, 0))      # read as 64-bit words
    with pytest.raises(FormatError, match=f"event 10 .*y={H}"):
        evio.frames(in_block, 2, sensor_size=(W, H))
    with pytest.raises(FormatError, match="x = -1 does not fit"):
        evio.frames({"t": [0], "x": [-1], "y": [0], "p": [1]}, 1, sensor_size=(W, H))


BY_ALL = ("count", "time", "duration")


@pytest.mark.parametrize("n", [8, 9, 17, 40])
def test_every_position_of_the_block_path(n):
    """An unsorted or outside event at every index (first, inside and across 8-event blocks, last),
    frames starting mid-block: the byte-level path finds each one and counts like a plain loop."""
    base = make(np.arange(n) * 10)
    want = np.zeros((2, H, W), dtype=np.int64)
    np.add.at(want, (base["p"].astype(int), base["y"], base["x"]), 1)
    for T in (1, 3, n):
        for kw in ({"by": "count"}, {"by": "time"}):             # SpikingJelly's keep every event
            got = evio.frames(base, T, sensor_size=(W, H), dtype=np.int64, allow_empty=True, **kw)
            assert np.array_equal(got.sum(axis=0), want)            # channel 0 OFF, 1 ON
    for i in range(n):
        outside = base.copy()
        outside["x" if i % 2 else "y"][i] = W if i % 2 else H
        for by in BY_ALL:
            with pytest.raises(FormatError, match=f"event {i} "):
                evio.frames(outside, 3, by=by, duration=7, sensor_size=(W, H))
        if i == 0:
            continue
        unsorted = base.copy()
        unsorted["t"][i] = unsorted["t"][i - 1] - 1
        for kw in ({"by": "duration", "duration": 7}, {"by": "time", "convention": "tonic"}):
            with pytest.raises(FormatError, match=rf"t\[{i}\] = "):
                evio.frames(unsorted, 3, sensor_size=(W, H), **kw)


def test_options_are_checked():
    ev = make([0, 1, 2])
    for kw in ({"by": "frames"}, {"convention": "torch"}, {"channels": "on"}, {"T": 0}, {"pool": 0},
               {"overlap": 0.5}, {"event_count": 3}, {"convention": "tonic", "duration_variant": "greedy"},
               {"by": "duration", "duration": None}, {"by": "duration", "duration": 2.5},
               {"sensor_size": (W, H, 3)}, {"convention": "tonic", "overlap": 1.0},
               {"convention": "tonic", "by": "time", "event_count": 2}, {"pool": 5}):
        with pytest.raises(ValueError):
            evio.frames(ev, **{"sensor_size": (W, H), **kw})
    with pytest.raises(FormatError, match="sensor_size"):
        evio.frames(make([]), 2)


def test_sensor_size_default_and_channels():
    ev = make([0, 1, 2, 3], x=[0, 4, 2, 1], y=[2, 0, 1, 0], p=[True, False, True, True])
    f = evio.frames(ev, 1)
    assert f.shape == (1, 2, 3, 5)
    assert f[0, 1, 2, 0] == 1 and f[0, 0, 0, 4] == 1          # off_on: channel = p
    g = evio.frames(ev, 1, channels="on_off")
    assert np.array_equal(g[:, ::-1], f)
    with pytest.raises(FormatError, match="both polarities"):
        evio.frames(ev, 1, sensor_size=(5, 3, 1))
    one = evio.frames(ev[ev["p"]], 1, sensor_size=(5, 3, 1), convention="tonic")
    assert one.shape == (1, 1, 3, 5) and one.dtype == np.int16 and one.sum() == 3


def test_input_forms_agree():
    rng = np.random.default_rng(0)
    n = 500
    ev = make(np.sort(rng.integers(0, 10**5, n)), rng.integers(0, W, n), rng.integers(0, H, n), rng.random(n) < 0.5)
    sj = {"t": ev["t"].astype(">u4"), "x": ev["x"].astype(np.uint32), "y": ev["y"].astype(np.uint32),
          "p": ev["p"].astype(np.int64)}
    tonic_like = np.zeros(n, dtype=[("x", "<i2"), ("y", "<i2"), ("p", "?"), ("t", "<i8")])
    for f in "txyp":
        tonic_like[f] = ev[f]
    aliased = np.zeros(n, dtype=[("timestamp", "<u8"), ("x", "<u2"), ("y", "<u2"), ("polarity", "u1")])
    for f, g in zip(("timestamp", "x", "y", "polarity"), "txyp"):
        aliased[f] = ev[g]
    for kw in ({"by": "count"}, {"by": "time"}, {"by": "duration", "duration": 999}):
        want = evio.frames(ev, 5, sensor_size=(W, H), **kw)
        for other in (sj, tonic_like, aliased):
            assert np.array_equal(evio.frames(other, 5, sensor_size=(W, H), **kw), want)


def test_binary_pool_dtype():
    ev = make([0] * 6, x=[0, 0, 1, 5, 2, 3], y=[0, 0, 1, 3, 0, 0], p=[True] * 6)
    b = evio.frames(ev, 1, sensor_size=(W, H), binary=True)
    assert b.dtype == np.bool_ and b.sum() == 5
    assert evio.frames(ev, 1, sensor_size=(W, H), binary=True, dtype=np.float32).dtype == np.float32
    s = evio.frames(ev[:3], 1, sensor_size=(W, H), pool=2)
    assert s.shape == (1, 2, 2, 3) and s.dtype == np.float64 and s[0, 1, 0, 0] == 3
    m = evio.frames(ev[:3], 1, sensor_size=(W, H), pool=2, pool_mode="mean", convention="tonic")
    assert m.dtype == np.float32 and m[0, 1, 0, 0] == 0.75
    bm = evio.frames(ev[:3], 1, sensor_size=(W, H), pool=2, pool_mode="mean", binary=True)
    assert bm[0, 1, 0, 0] == 0.5
    with pytest.warns(LossWarning, match="dropped"):
        evio.frames(ev, 1, sensor_size=(W, H), pool=4)           # x = 5 lies in the cropped column
    with pytest.warns(LossWarning, match="collapse"):
        evio.frames(ev, 1, sensor_size=(W, H), dtype=bool)
    many = make(np.arange(300), x=np.zeros(300, int), y=np.zeros(300, int), p=np.ones(300, bool))
    with pytest.warns(LossWarning, match="uint8"):
        wrapped = evio.frames(many, 1, sensor_size=(W, H), dtype=np.uint8)
    assert wrapped[0, 1, 0, 0] == 300 % 256
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evio.frames(ev, 1, sensor_size=(W, H), pool=2)


def test_frames_batch_and_collate():
    a, b = make(np.arange(10) * 10), make(np.arange(3))
    fixed, lengths = evio.frames_batch([a, b], 4, sensor_size=(W, H))
    assert fixed.shape == (2, 4, 2, H, W) and np.array_equal(fixed[1], evio.frames(b, 4, sensor_size=(W, H)))
    assert lengths.tolist() == [4, 4] and lengths.dtype == np.int64
    assert evio.frames_batch([a, b], 4).frames.shape == (2, 4, 2, 2, W)      # sensor: max + 1 over the batch
    padded, lengths = evio.frames_batch([a, b], by="duration", duration=25, sensor_size=(W, H))
    assert lengths.tolist() == [4, 1] and padded.shape == (2, 4, 2, H, W)
    assert padded[1, 1:].sum() == 0 and np.array_equal(padded[1, :1], evio.frames(b, by="duration", duration=25,
                                                                                   sensor_size=(W, H)))
    x, y, n = evio.pad_collate([(np.ones((2, 3)), 7), (np.ones((4, 3)), 8)])
    assert x.shape == (2, 4, 3) and x[0, 2:].sum() == 0 and y.tolist() == [7, 8] and n.dtype == np.int64
    mask = evio.padded_sequence_mask(n)
    assert mask.shape == (4, 2) and mask.sum(axis=0).tolist() == [2, 4]
    assert evio.padded_sequence_mask(np.array([1, 2]), T=3).tolist() == [[True, True], [False, True], [False, False]]


@given(b=st.one_of(st.floats(-(2.0 ** 62), 2.0 ** 62, allow_nan=False),
                   st.integers(-(2 ** 62), 2 ** 62).map(float)))
def test_first_int_at_least(b):
    m = _first_int_at_least(b)
    assert float(m) >= b and not float(m - 1) >= b
    assert np.searchsorted(np.array([m - 1, m], dtype=np.int64), b) == 1


def test_large_counts_float_exact():
    ev = make(np.arange(70_000), x=np.zeros(70_000, int), y=np.zeros(70_000, int), p=np.ones(70_000, bool))
    assert evio.frames(ev, 1, sensor_size=(W, H))[0, 1, 0, 0] == 70_000
    assert math.isclose(evio.frames(ev, 2, by="time", sensor_size=(W, H)).sum(), 70_000)


def test_byte_and_record_paths_agree(monkeypatch):
    """EVENT_DTYPE arrays, at any alignment, are counted through their bytes (8 events per block);
    other layouts (here a padded one) record by record: the same events give the same frames."""
    monkeypatch.setattr(evio.kernels, "SCALAR", False)                 # the byte path even under the switch
    rng = np.random.default_rng(5)
    n = 1003
    ev = make(np.sort(rng.integers(0, 10**4, n)), rng.integers(0, W, n), rng.integers(0, H, n), rng.random(n) < 0.5)
    ev["x"][:300] = 1                                     # > 255 hits on one element: the uint8 table spills
    ev["y"][:300] = 2
    part = ev[3:]
    padded = part.astype(np.dtype(evio.EVENT_DTYPE.descr, align=True))
    assert part.ctypes.data % 8 and part.copy().ctypes.data % 8 == 0
    assert record_bytes(part).size == part.nbytes and record_bytes(padded).size == 0
    for kw in ({"by": "count"}, {"by": "time"}, {"by": "duration", "duration": 333},
               {"by": "count", "event_count": 101, "overlap": 7, "convention": "tonic"}):
        expect = evio.frames(padded, 7, sensor_size=(W, H), **kw)
        assert np.array_equal(evio.frames(part, 7, sensor_size=(W, H), **kw), expect)
        assert np.array_equal(evio.frames(part.copy(), 7, sensor_size=(W, H), **kw), expect)
    total = evio.frames(part.copy(), 1, sensor_size=(W, H))
    assert total[0, :, 2, 1].sum() >= 297 and total.sum() == n - 3


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64, np.uint64,
                                   np.float16, np.float32, np.float64, bool])
@pytest.mark.parametrize("n", [40, 70_000])
def test_every_output_dtype_is_the_count_cast_as_numpy_casts_it(dtype, n):
    rng = np.random.default_rng(n)
    x, y = rng.integers(0, 3, n), rng.integers(0, 2, n)      # few pixels: counts pass 256 and 32767
    ev = make(np.sort(rng.integers(0, 10**6, n)), x, y, rng.integers(0, 2, n).astype(bool))
    T = 3
    bounds = np.arange(T) * (n // T)
    frame = np.minimum(np.searchsorted(bounds, np.arange(n), side="right") - 1, T - 1)
    counts = np.zeros((T, 2, H, W), np.int64)
    np.add.at(counts, (frame, ev["p"].astype(int), y, x), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        got = evio.frames(ev, T, sensor_size=(W, H), dtype=dtype)
        tonic = evio.frames(ev, T, sensor_size=(W, H), convention="tonic", dtype=dtype)
    assert got.dtype == np.dtype(dtype) and np.array_equal(got, counts.astype(dtype))
    assert tonic.dtype == np.dtype(dtype)
