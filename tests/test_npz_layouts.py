"""The npz layouts around I2E and ES-ImageNet: i2e-sparse, i2e-dense, es-imagenet (and dispatch by keys)."""

import io
import struct
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evio

from conftest import random_events

TS = {"time_unit": "timestep"}


def _no_leftovers(folder, keep=()):
    left = sorted(p.name for p in folder.iterdir() if p.name not in keep)
    assert left == [], left


@st.composite
def timestep_samples(draw, max_side=256, max_t=16, max_events=80):
    """(events, (W, H), T): any order, duplicates allowed, sizes up to ``max_side``, possibly empty."""
    side = st.one_of(st.integers(1, max_side), st.just(max_side))
    W, H, T = draw(side), draw(side), draw(st.one_of(st.integers(1, max_t), st.just(max_t)))
    n = draw(st.integers(0, max_events))
    ev = np.empty(n, dtype=evio.EVENT_DTYPE)
    ev["t"] = draw(st.lists(st.integers(0, T - 1), min_size=n, max_size=n))
    ev["x"] = draw(st.lists(st.integers(0, W - 1), min_size=n, max_size=n))
    ev["y"] = draw(st.lists(st.integers(0, H - 1), min_size=n, max_size=n))
    ev["p"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return ev, (W, H), T


def _check_timestep_reader(path, layout, size, T, n):
    with evio.open(path) as r:
        assert r.version == layout and r.format_name == "npz"
        assert r.sensor_size == tuple(size) and len(r) == n
        assert r.meta["time_unit"] == "timestep" and r.meta["T"] == T
    info = evio.info(path)
    assert info["version"] == layout and info["time_unit"] == "timestep"
    W, H = size
    assert info["representations"]["T"] == T
    assert info["representations"]["dense_bool"] == T * 2 * W * H
    assert info["representations"]["sparse_uint8"] == 4 * n


# -- i2e-sparse ------------------------------------------------------------------------------------

@given(sample=timestep_samples(), give_T=st.booleans())
def test_i2e_sparse_round_trip(tmp_path, sample, give_T):
    ev, size, T = sample
    path = tmp_path / "s.npz"
    meta = {"T": T, **TS} if give_T else {}
    evio.write(path, ev, sensor_size=size, layout="i2e-sparse", meta=meta)
    with np.load(path) as z:
        assert sorted(z.files) == ["events", "shape"]
        rows, shape = z["events"], z["shape"]
    T_file = T if give_T else (int(ev["t"].max()) + 1 if len(ev) else 1)
    assert rows.dtype == np.uint8 and rows.shape == (len(ev), 4)
    assert shape.dtype == np.dtype("<u2") and shape.tolist() == [T_file, 2, size[1], size[0]]
    np.testing.assert_array_equal(rows, np.stack([ev["t"], ev["p"], ev["x"], ev["y"]], axis=1))
    np.testing.assert_array_equal(evio.read(path), ev)
    _check_timestep_reader(path, "i2e-sparse", size, T_file, len(ev))


def test_i2e_sparse_rejects_values_that_do_not_fit_uint8(tmp_path):
    path = tmp_path / "s.npz"
    ev = evio.empty_events(3)
    ev["x"] = [0, 256, 1]
    with pytest.raises(evio.FormatError, match=r"event 1: x = 256 is outside 0\.\.255") as exc:
        evio.write(path, ev, layout="i2e-sparse")
    assert exc.value.path == str(path)
    ev["x"], ev["y"] = 0, [0, 0, 300]
    with pytest.raises(evio.FormatError, match="event 2: y = 300"):
        evio.write(path, ev, layout="i2e-sparse")
    ev["y"], ev["t"] = 0, [0, 256, 0]
    with pytest.raises(evio.FormatError, match="event 1: t = 256"):
        evio.write(path, ev, layout="i2e-sparse", meta=TS)
    ev["t"] = [0, -1, 0]
    with pytest.raises(evio.FormatError, match="t = -1"):
        evio.write(path, ev, layout="i2e-sparse")
    ev["t"] = [0, 8, 0]
    with pytest.raises(evio.FormatError, match=r"t = 8 is outside 0\.\.7"):
        evio.write(path, ev, layout="i2e-sparse", meta={"T": 8, **TS})
    ev["t"] = 0
    with pytest.raises(evio.FormatError, match="W=257"):
        evio.write(path, ev, sensor_size=(257, 10), layout="i2e-sparse")
    with pytest.raises(evio.FormatError, match="H=300"):
        evio.write(path, ev, sensor_size=(10, 300), layout="i2e-sparse")
    with pytest.raises(evio.FormatError, match="at most T = 256"):
        evio.write(path, ev, sensor_size=(10, 10), layout="i2e-sparse", meta={"T": 257})
    with pytest.raises(ValueError, match="time_unit"):
        evio.write(path, ev, layout="i2e-sparse", meta={"time_unit": "us"})
    with pytest.raises(ValueError, match="positive integer"):
        evio.write(path, ev, layout="i2e-sparse", meta={"T": 0})
    with pytest.raises(ValueError, match="sensor_size"):
        evio.write(path, evio.empty_events(), layout="i2e-sparse")
    _no_leftovers(tmp_path)
    # W = H = T = 256 is the largest that fits
    ev["x"], ev["y"], ev["t"] = 255, 255, 255
    evio.write(path, ev, sensor_size=(256, 256), layout="i2e-sparse", meta={"T": 256})
    np.testing.assert_array_equal(evio.read(path), ev)


def test_i2e_sparse_reader_validates_every_value(tmp_path):
    path = tmp_path / "s.npz"
    good = np.array([[0, 1, 3, 4], [7, 0, 9, 2]], np.uint8)
    shape = np.array([8, 2, 5, 10], np.uint16)
    np.savez_compressed(path, events=good, shape=shape)
    ev = evio.read(path)
    assert ev.tolist() == [(0, 3, 4, True), (7, 9, 2, False)]
    cases = [
        (np.array([[0, 1, 3, 4], [8, 0, 9, 2]], np.uint8), shape, r"key 'events' row 1: t = 8 is outside 0\.\.7"),
        (np.array([[0, 2, 3, 4]], np.uint8), shape, "key 'events' row 0: p = 2"),
        (np.array([[0, 1, 10, 4]], np.uint8), shape, "x = 10 is outside 0..9"),
        (np.array([[0, 1, 3, 5]], np.uint8), shape, "y = 5 is outside 0..4"),
        (np.array([[0, 1, 3, 4]], np.int16) - 1, shape, "t = -1"),
        (good.astype(np.float32), shape, "key 'events': dtype float32"),
        (good[:, :3], shape, r"must be \[N, 4\]"),
        (good.reshape(-1), shape, "key 'events': must be 2-D"),
        (good, np.array([8, 3, 5, 10], np.uint16), "C = 3"),
        (good, np.array([8, 2, 5, 300], np.uint16), r"W = 300 is outside 1\.\.256"),
        (good, np.array([0, 2, 5, 10], np.uint16), "T = 0"),
        (good, np.array([8, 2, 5], np.uint16), "must hold 4 values"),
        (good, np.array([8.0, 2, 5, 10]), "key 'shape': dtype float64"),
    ]
    for rows, shp, message in cases:
        np.savez_compressed(path, events=rows, shape=shp)
        with pytest.raises(evio.FormatError, match=message) as exc:
            evio.read(path)
        assert exc.value.path == str(path)


def test_i2e_sparse_reads_fortran_ordered_matrices(tmp_path):
    ev = random_events(200, seed=1, sensor=(64, 48))
    ev["t"] = np.arange(200) % 8
    rows = np.stack([ev["t"], ev["p"], ev["x"], ev["y"]]).T.astype(np.uint8)   # a transposed, F-ordered matrix
    assert rows.flags.f_contiguous and not rows.flags.c_contiguous
    np.savez(tmp_path / "f.npz", events=rows, shape=np.array([8, 2, 48, 64], np.uint16))
    np.testing.assert_array_equal(evio.read(tmp_path / "f.npz"), ev)


# -- i2e-dense -------------------------------------------------------------------------------------

@st.composite
def dense_samples(draw, max_side=256, max_t=16):
    T = draw(st.integers(1, max_t))
    H, W = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    density = draw(st.sampled_from([0.0, 0.002, 0.06, 0.5]))
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random((T, 2, H, W)) < density


@settings(max_examples=30)
@given(dense=dense_samples())
def test_i2e_dense_round_trip(tmp_path, dense):
    T, _, H, W = dense.shape
    ev = evio.from_dense(dense, channels="on_off")
    path = tmp_path / "d.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error", evio.LossWarning)       # canonical order, no duplicates: nothing lost
        evio.write(path, ev, sensor_size=(W, H), layout="i2e-dense", meta={"T": T, **TS})
    with np.load(path) as z:                                   # what the I2E loader does
        assert z.files == ["arr_0"]
        arr = z["arr_0"]
    assert arr.dtype == np.bool_ and arr.shape == dense.shape
    np.testing.assert_array_equal(arr, dense)
    np.testing.assert_array_equal(evio.read(path), ev)
    _check_timestep_reader(path, "i2e-dense", (W, H), T, len(ev))


@given(sample=timestep_samples(max_side=64, max_t=8))
def test_i2e_dense_of_any_events_is_their_set(tmp_path, sample):
    ev, size, T = sample
    path = tmp_path / "d.npz"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evio.write(path, ev, sensor_size=size, layout="i2e-dense", meta={"T": T})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evio.LossWarning)
        expected = evio.from_dense(evio.to_dense(ev, size, T, channels="on_off"), channels="on_off")
    np.testing.assert_array_equal(evio.read(path), expected)
    lost = [str(w.message) for w in caught if issubclass(w.category, evio.LossWarning)]
    assert bool(lost) == (len(expected) != len(ev) or not np.array_equal(expected, ev))
    assert all(m.startswith(str(path)) for m in lost)


def test_reads_i2e_notebook_files(tmp_path):
    """``np.savez_compressed(os.path.join(save_path, str(index)), img_event.numpy().astype(bool))``."""
    rng = np.random.default_rng(7)
    img_event = (rng.random((8, 2, 40, 56)) < 0.07).astype(np.float32)  # I2E's float {0, 1} output
    np.savez_compressed(str(tmp_path / "10008"), img_event.astype(bool))
    path = tmp_path / "10008.npz"
    ev = evio.read(path)
    np.testing.assert_array_equal(evio.to_dense(ev, (56, 40), T=8, channels="on_off"), img_event.astype(bool))
    on = img_event[:, 0].sum()
    assert ev["p"].sum() == on and len(ev) == img_event.sum()
    _check_timestep_reader(path, "i2e-dense", (56, 40), 8, len(ev))
    info = evio.info(path)
    assert info["npz_layout"] == {"name": "i2e-dense", "shape": [8, 2, 40, 56], "channels": "on_off",
                                  "dtype": "bool"}
    # 0/1 integer tensors read too; counts become one event each, with a LossWarning
    np.savez(path, img_event.astype(np.uint8) * 3)
    with pytest.warns(evio.LossWarning, match="neither 0 nor 1"):
        assert len(evio.read(path)) == len(ev)


def test_i2e_dense_rejects_bad_tensors(tmp_path):
    path = tmp_path / "d.npz"
    for arr, message in [
        (np.zeros((8, 2, 4, 4), np.float32), "key 'arr_0': dtype float32"),
        (np.zeros((2, 8, 4, 4), np.int8), r"expected \[T, 2, H, W\]"),     # ES-ImageNet's event-frame tensors
        (np.zeros((2, 4, 4), bool), "must be 4-D"),
        (np.zeros((0, 2, 4, 4), bool), "T >= 1"),
    ]:
        np.savez_compressed(path, arr)
        with pytest.raises(evio.FormatError, match=message):
            evio.read(path)
    ev = evio.empty_events(1)
    ev["t"] = 3
    with pytest.raises(evio.FormatError, match=r"t = 3 is outside 0\.\.1"):
        evio.write(path, ev, sensor_size=(4, 4), layout="i2e-dense", meta={"T": 2})
    with pytest.raises(evio.FormatError, match="member limit"):
        evio.write(path, ev, sensor_size=(65536, 65536), layout="i2e-dense")


# -- es-imagenet -----------------------------------------------------------------------------------

def _odg_sample(rng, a, b, n_on=300, n_off=200):
    """Synthetic generator output: events on the (a+4) x (b+4) canvas, in t then row-major order."""
    def rows(n):
        on = np.zeros((8, 256, 256), bool)
        on[rng.integers(0, 8, n), rng.integers(17, min(a + 4, 240), n), rng.integers(17, min(b + 4, 240), n)] = True
        t, r, c = np.nonzero(on)
        return np.stack([r, c, t + 1], axis=1).astype(np.uint8)
    return rows(n_on), rows(n_off)


def test_reads_es_imagenet_generator_files_on_the_canvas(tmp_path):
    rng = np.random.default_rng(3)
    pos, neg = _odg_sample(rng, 254, 190)
    name = str(tmp_path / "class3_17")
    np.savez_compressed(name, pos=pos, neg=neg)                   # as the generator does
    path = tmp_path / "class3_17.npz"
    ev = evio.read(path)
    assert len(ev) == len(pos) + len(neg)
    np.testing.assert_array_equal(ev["p"], np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    both = np.concatenate([pos, neg]).astype(np.int64)
    np.testing.assert_array_equal(ev["x"], both[:, 1])           # x = col
    np.testing.assert_array_equal(ev["y"], both[:, 0])           # y = row
    np.testing.assert_array_equal(ev["t"], both[:, 2] - 1)       # t = 0..7
    _check_timestep_reader(path, "es-imagenet", (256, 256), 8, len(ev))
    assert evio.info(path)["npz_layout"] == {"name": "es-imagenet", "es_imagenet": "canvas",
                                             "pos": len(pos), "neg": len(neg)}


def es_loader_reference(pos, neg, a, b):
    """ES-ImageNet's dense loader (spec §3.4) transcribed to NumPy: [C=2, T=8, 224, 224]."""
    dy = (254 - b) // 2
    dx = (254 - a) // 2
    inp = np.zeros((2, 8, 256, 256), dtype=np.float32)
    for c, data in enumerate((pos, neg)):                    # neg -> channel 1
        x = data[:, 0].astype(np.int64) + dx
        y = data[:, 1].astype(np.int64) + dy
        t = data[:, 2].astype(np.int64) - 1
        inp[c, t, x, y] = 1
    return inp[:, :, 16:240, 16:240]


@st.composite
def loader_cases(draw):
    a, b = draw(st.sampled_from([(254, None), (None, 254), (None, None)]))
    a = a or draw(st.integers(1, 254))
    b = b or draw(st.integers(1, 254))
    dx, dy = (254 - a) // 2, (254 - b) // 2

    def rows():
        n = draw(st.integers(0, 60))
        r = draw(st.lists(st.integers(0, 255 - dx), min_size=n, max_size=n))  # the loader fails beyond 255
        c = draw(st.lists(st.integers(0, 255 - dy), min_size=n, max_size=n))
        t = draw(st.lists(st.integers(1, 8), min_size=n, max_size=n))
        return np.array([r, c, t], dtype=np.uint8).T.reshape(n, 3)
    return rows(), rows(), a, b


@settings(max_examples=60)
@given(case=loader_cases())
def test_es_imagenet_loader_option_matches_the_loader(tmp_path, case):
    pos, neg, a, b = case
    path = tmp_path / "s.npz"
    np.savez_compressed(path, pos=pos, neg=neg)
    dx, dy = (254 - a) // 2, (254 - b) // 2
    both = np.concatenate([pos, neg]).astype(np.int64)
    inside = (both[:, 0] + dx >= 16) & (both[:, 0] + dx < 240) & (both[:, 1] + dy >= 16) & (both[:, 1] + dy < 240)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with evio.open(path, es_imagenet="loader", a=a, b=b) as r:
            ev = r.read()
            assert r.sensor_size == (224, 224) and r.meta["T"] == 8 and r.version == "es-imagenet"
    lost = [str(w.message) for w in caught if issubclass(w.category, evio.LossWarning)]
    dropped = int((~inside).sum())
    message = (f"{path}: {dropped} of {len(both)} events fall outside the loader's 224 x 224 crop "
               f"(a={a}, b={b}) and are dropped")
    assert lost == ([message] if dropped else [])
    assert len(ev) == inside.sum()
    np.testing.assert_array_equal(ev["y"], both[inside, 0] + dx - 16)
    np.testing.assert_array_equal(ev["x"], both[inside, 1] + dy - 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evio.LossWarning)     # duplicates collapse, as in the loader
        dense = evio.to_dense(ev, (224, 224), T=8, channels="on_off")
    np.testing.assert_array_equal(dense, es_loader_reference(pos, neg, a, b).transpose(1, 0, 2, 3) == 1)


def test_es_imagenet_loader_orientation_by_hand(tmp_path):
    pos = np.array([[100, 30, 1]], np.uint8)                     # canvas row 100, col 30, first step
    np.savez_compressed(tmp_path / "s.npz", pos=pos, neg=np.zeros((0, 3), np.uint8))
    ev = evio.read(tmp_path / "s.npz", es_imagenet="loader", a=254, b=200)   # dx = 0, dy = 27
    assert ev.tolist() == [(0, 30 + 27 - 16, 100 - 16, True)]    # x from col, y from row
    ref = es_loader_reference(pos, np.zeros((0, 3), np.uint8), 254, 200)
    assert ref[0, 0, 84, 41] == 1 and ref.sum() == 1               # the loader's [c, t, row, col]


def test_es_imagenet_options_and_values(tmp_path):
    path = tmp_path / "s.npz"
    np.savez_compressed(path, pos=np.array([[20, 20, 1]], np.uint8), neg=np.array([[20, 21, 8]], np.uint8))
    with pytest.raises(ValueError, match="needs a=... and b="):
        evio.read(path, es_imagenet="loader")
    with pytest.raises(ValueError, match="only with es_imagenet='loader'"):
        evio.read(path, a=254, b=254)
    with pytest.raises(ValueError, match="es_imagenet must be one of"):
        evio.read(path, es_imagenet="centred")
    with pytest.raises(ValueError, match=r"a must be an integer in 1\.\.254"):
        evio.read(path, es_imagenet="loader", a=300, b=254)
    for pos, message in [
        (np.array([[20, 20, 0]], np.uint8), r"key 'pos' row 0: t = 0 is outside 1\.\.8"),
        (np.array([[20, 20, 1], [20, 20, 9]], np.uint8), "key 'pos' row 1: t = 9"),
        (np.array([[20, 300, 1]], np.int16), "key 'pos' row 0: col = 300"),
        (np.array([[20, 20, 1]], np.float64), "key 'pos': dtype float64"),
        (np.array([[20, 20]], np.uint8), r"must be \[N, 3\]"),
    ]:
        np.savez_compressed(path, pos=pos, neg=np.zeros((0, 3), np.uint8))
        with pytest.raises(evio.FormatError, match=message):
            evio.read(path)


@given(sample=timestep_samples(max_side=256, max_t=8))
def test_es_imagenet_write_round_trip(tmp_path, sample):
    ev = sample[0]
    ev = np.concatenate([ev[ev["p"]], ev[~ev["p"]]])                 # the layout keeps ON, then OFF
    path = tmp_path / "e.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error", evio.LossWarning)
        evio.write(path, ev, sensor_size=(256, 256), layout="es-imagenet", meta={"T": 8, **TS})
    with np.load(path) as z:
        assert z.files == ["pos", "neg"] and z["pos"].dtype == np.uint8
        np.testing.assert_array_equal(z["pos"][:, 2], ev["t"][ev["p"]] + 1)
    np.testing.assert_array_equal(evio.read(path), ev)


def test_es_imagenet_writer_limits(tmp_path):
    path = tmp_path / "e.npz"
    ev = evio.empty_events(2)
    ev["p"] = [False, True]
    with pytest.warns(evio.LossWarning, match="order is not kept"):
        evio.write(path, ev, layout="es-imagenet")
    assert evio.read(path)["p"].tolist() == [True, False]
    ev["p"] = [True, False]
    with pytest.warns(evio.LossWarning, match="reads back as the 256 x 256 canvas"):
        evio.write(path, ev, sensor_size=(224, 224), layout="es-imagenet")
    ev["t"] = 8
    with pytest.raises(evio.FormatError, match=r"t = 8 is outside 0\.\.7"):
        evio.write(path, ev, layout="es-imagenet")
    with pytest.raises(evio.FormatError, match="T = 8"):
        evio.write(path, ev, layout="es-imagenet", meta={"T": 4})


# -- dispatch, options and hostile archives ------------------------------------------------------

def test_layout_is_detected_by_keys(tmp_path):
    ev = random_events(20, seed=2, sensor=(64, 64))
    evio.write(tmp_path / "sj.npz", ev)
    with evio.open(tmp_path / "sj.npz") as r:
        assert r.version == "spikingjelly"
    assert evio.info(tmp_path / "sj.npz")["version"] == "spikingjelly"
    empty3 = np.zeros((0, 3), np.uint8)
    cases = [
        ({"events": np.zeros((0, 4), np.uint8)}, r"missing keys \['shape'\] of the i2e-sparse layout"),
        ({"pos": empty3}, r"missing keys \['neg'\] of the es-imagenet layout"),
        ({"t": ev["t"], "x": ev["x"], "y": ev["y"]}, r"missing event arrays \['p'\]"),
        ({"frames": np.zeros(3)}, "no known npz layout: found keys .'frames'."),
        ({"arr_0": np.zeros((1, 2, 1, 1), bool), "pos": empty3, "neg": empty3}, "match several npz layouts"),
    ]
    for arrays, message in cases:
        np.savez(tmp_path / "k.npz", **arrays)
        with pytest.raises(evio.FormatError, match=message) as exc:
            evio.read(tmp_path / "k.npz")
        assert exc.value.path == str(tmp_path / "k.npz")
    assert len(evio.read(tmp_path / "k.npz", layout="es-imagenet")) == 0
    assert len(evio.read(tmp_path / "k.npz", layout="i2e-dense")) == 0
    with pytest.raises(evio.FormatError, match="missing keys"):
        evio.read(tmp_path / "sj.npz", layout="i2e-dense")
    with pytest.raises(ValueError, match="unknown npz layout"):
        evio.read(tmp_path / "sj.npz", layout="tonic")


def test_writer_options_are_per_layout(tmp_path):
    ev = evio.empty_events(1)
    with pytest.raises(ValueError, match="unknown npz layout 'i2e'"):
        evio.write(tmp_path / "a.npz", ev, layout="i2e")
    with pytest.raises(ValueError, match="no option 'store_meta' for the i2e-sparse layout"):
        evio.write(tmp_path / "a.npz", ev, layout="i2e-sparse", store_meta=False)
    with pytest.raises(ValueError, match="no option 'es_imagenet'"):
        evio.read(evio.write(tmp_path / "b.npz", ev), es_imagenet="canvas")
    evio.write(tmp_path / "c.npz", ev, sensor_size=(2, 2), layout="i2e-dense", compress=False)
    assert zipfile.ZipFile(tmp_path / "c.npz").infolist()[0].compress_type == zipfile.ZIP_STORED
    with pytest.warns(evio.LossWarning, match="camera"):
        evio.write(tmp_path / "d.npz", ev, sensor_size=(2, 2), layout="i2e-sparse", meta={"camera": "none"})


def test_convert_between_layouts_keeps_T_and_size(tmp_path):
    dense = np.random.default_rng(4).random((8, 2, 30, 20)) < 0.1
    np.savez_compressed(tmp_path / "d.npz", dense)
    evio.convert(tmp_path / "d.npz", tmp_path / "s.npz", layout="i2e-sparse")
    evio.convert(tmp_path / "s.npz", tmp_path / "sj.npz")
    evio.convert(tmp_path / "sj.npz", tmp_path / "d2.npz", layout="i2e-dense")
    with evio.open(tmp_path / "sj.npz") as r:
        assert r.version == "spikingjelly" and r.meta["T"] == 8 and r.meta["time_unit"] == "timestep"
    np.testing.assert_array_equal(np.load(tmp_path / "d2.npz")["arr_0"], dense)
    evio.write(tmp_path / "us.npz", random_events(10, sensor=(20, 20)), sensor_size=(20, 20))
    with pytest.raises(ValueError, match="time_unit is 'us'"):
        evio.convert(tmp_path / "us.npz", tmp_path / "bad.npz", layout="i2e-sparse")
    assert not (tmp_path / "bad.npz").exists()


def _npy_header(descr, shape):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _raw_zip(path, members, method=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _patch_central_size(path, file_size):
    """Make the zip directory claim another uncompressed size for the first member."""
    data = bytearray(path.read_bytes())
    cd = data.index(b"PK\x01\x02")
    data[cd + 24:cd + 28] = struct.pack("<I", file_size)
    path.write_bytes(bytes(data))


def test_hostile_headers_are_refused_before_allocating(tmp_path):
    path = tmp_path / "h.npz"
    # a header announcing 160 GB with 4 bytes behind it
    _raw_zip(path, {"arr_0.npy": _npy_header("|b1", (8, 2, 100_000, 100_000)) + b"\0" * 4})
    with pytest.raises(evio.FormatError, match="key 'arr_0'.*more than the"):
        evio.read(path)
    # a consistent-looking but absurd shape within the byte limit, with the data missing
    _raw_zip(path, {"arr_0.npy": _npy_header("|b1", (8, 2, 1000, 1000)) + b"\0" * 4})
    with pytest.raises(evio.FormatError, match=r"header declares shape \(8, 2, 1000, 1000\).*holds 4 bytes"):
        evio.read(path)
    # negative and non-integer shapes, bad magic
    for header in (_npy_header("|b1", (8, 2, 4, 4)).replace(b"(8, 2, 4, 4)", b"(8, 2, -4, 4)"),
                   b"\x93NUMPY\x09\x00garbage", b"not npy at all"):
        _raw_zip(path, {"arr_0.npy": header})
        with pytest.raises(evio.FormatError, match="key 'arr_0'"):
            evio.read(path)
    # the zip directory lies about the decompressed size (a zip bomb claim)
    header = _npy_header("|u1", (2**31 - 1 - 128, 3))
    _raw_zip(path, {"pos.npy": header, "neg.npy": _npy_header("|u1", (0, 3))})
    _patch_central_size(path, 2**31 - 1)
    with pytest.raises(evio.FormatError, match="key 'pos'.*more than deflate can produce"):
        evio.read(path)
    _raw_zip(path, {"pos.npy": header, "neg.npy": _npy_header("|u1", (0, 3))}, method=zipfile.ZIP_STORED)
    _patch_central_size(path, 2**20)
    with pytest.raises(evio.FormatError, match="key 'pos': stored"):
        evio.read(path)
    # object arrays would need pickle
    _raw_zip(path, {"events.npy": _npy_header("|O", (1, 4)) + b"\0" * 8,
                    "shape.npy": _npy_header("<u2", (4,)) + struct.pack("<4H", 1, 2, 1, 1)})
    with pytest.raises(evio.FormatError, match="object arrays"):
        evio.read(path)


def test_truncated_and_corrupt_members(tmp_path):
    path = tmp_path / "t.npz"
    np.savez_compressed(path, np.ones((8, 2, 64, 64), bool) ^ (np.arange(64) % 3 == 0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(evio.FormatError):
        evio.read(path)
    np.savez(path, pos=np.ones((100, 3), np.uint8), neg=np.ones((5, 3), np.uint8))
    data = bytearray(path.read_bytes())
    i = data.index(b"\x01\x01\x01\x01")
    data[i] = 2                                                   # flips a byte: CRC mismatch
    path.write_bytes(bytes(data))
    with pytest.raises(evio.FormatError, match="key 'pos'"):
        evio.read(path)
