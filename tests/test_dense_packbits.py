"""Dense <-> sparse <-> packed I2E samples: identities, byte-exact .npy output, hostile headers."""

import io
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evio
from evio import packbits


@st.composite
def dense_tensors(draw, max_t=16, max_hw=300, batch=False):
    t = draw(st.integers(1, max_t))
    h = draw(st.integers(1, max_hw))
    w = draw(st.integers(1, max_hw))
    n = draw(st.integers(1, 3)) if batch else None
    shape = (t, 2, h, w) if n is None else (n, t, 2, h, w)
    density = draw(st.sampled_from([0.0, 0.001, 0.06, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).random(shape) < density


def reference_dumps(dense):
    """The construction in the spec (i2e-odg.md §2.2)."""
    hdr = np.asarray(dense.shape, dtype="<u2").view(np.uint8)
    body = np.packbits(np.ascontiguousarray(dense, dtype=bool).reshape(-1))
    buf = io.BytesIO()
    np.save(buf, np.concatenate([hdr, body]))
    return buf.getvalue()


@settings(max_examples=60)
@given(dense=dense_tensors(), channels=st.sampled_from(["on_off", "off_on"]))
def test_dense_sparse_dense_identity(dense, channels):
    ev = evio.from_dense(dense, channels=channels)
    assert ev.dtype == evio.EVENT_DTYPE and len(ev) == dense.sum()
    back = evio.to_dense(ev, sensor_size=(dense.shape[3], dense.shape[2]), T=dense.shape[0], channels=channels)
    np.testing.assert_array_equal(back, dense)


@settings(max_examples=60)
@given(dense=dense_tensors())
def test_dumps_is_byte_exact_and_loads_inverts(dense):
    data = packbits.dumps(dense)
    assert data == reference_dumps(dense)
    np.testing.assert_array_equal(packbits.readme_decode(data), dense.astype(np.float32))
    for dtype in (bool, np.uint8, np.float32):
        out = packbits.loads(data, dtype=dtype)
        assert out.dtype == np.dtype(dtype) and out.shape == dense.shape
        np.testing.assert_array_equal(out, dense.astype(dtype))
    np.testing.assert_array_equal(packbits.unpack(packbits.pack(dense)), dense)


@settings(max_examples=25)
@given(dense=dense_tensors(max_hw=64, batch=True))
def test_batched_forms(dense):
    datas = packbits.dumps(dense)
    assert isinstance(datas, list) and len(datas) == len(dense)
    out = np.empty(dense.shape, np.float32)
    assert packbits.loads(datas, dtype=np.float32, out=out) is out
    np.testing.assert_array_equal(out, dense)
    raws = np.stack([packbits.pack(d) for d in dense])
    np.testing.assert_array_equal(packbits.unpack(raws), dense)
    events = evio.from_dense(dense, channels="on_off")
    assert len(events) == len(dense)
    back = evio.to_dense(events, sensor_size=(dense.shape[4], dense.shape[3]), T=dense.shape[1], channels="on_off")
    np.testing.assert_array_equal(back, dense)


def test_channel_meaning():
    dense = np.zeros((2, 2, 3, 4), bool)
    dense[1, 0, 2, 3] = True
    on = evio.from_dense(dense, channels="on_off")
    assert on.tolist() == [(1, 3, 2, True)]
    off = evio.from_dense(dense, channels="off_on")
    assert off.tolist() == [(1, 3, 2, False)]


def test_to_dense_rejects_events_outside_and_warns_on_duplicates():
    ev = evio.empty_events(2)
    ev["t"] = [0, 5]
    with pytest.raises(evio.FormatError, match="event 1"):
        evio.to_dense(ev, sensor_size=(4, 4), T=3, channels="on_off")
    ev["t"] = [1, 1]
    with pytest.warns(evio.LossWarning, match="1 duplicate"):
        dense = evio.to_dense(ev, sensor_size=(4, 4), channels="on_off")
    assert dense.shape == (2, 2, 4, 4) and dense.sum() == 1


def test_channels_are_required_and_sensor_size_is_checked():
    ev = evio.empty_events(1)
    with pytest.raises(TypeError, match="on_off.*off_on"):
        evio.to_dense(ev, (4, 4), T=1)
    with pytest.raises(TypeError, match="on_off.*off_on"):
        evio.from_dense(np.zeros((1, 2, 4, 4), bool))
    assert evio.to_dense(ev, (4, 3, 2), T=1, channels="on_off").shape == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="P"):
        evio.to_dense(ev, (4, 3, 1), T=1, channels="on_off")     # one polarity channel: refused, not dropped
    with pytest.raises(ValueError, match="sensor_size"):
        evio.to_dense(ev, (4,), T=1, channels="on_off")


def test_from_dense_counts_warn_and_torch_like_input():
    frames = np.zeros((1, 2, 2, 2), np.float32)
    frames[0, 1, 0, 0] = 3.0
    with pytest.warns(evio.LossWarning, match="neither 0 nor 1"):
        ev = evio.from_dense(frames, channels="on_off")
    assert len(ev) == 1
    with pytest.raises(ValueError, match="T, 2, H, W"):
        evio.from_dense(np.zeros((2, 3, 4, 4)), channels="on_off")


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d[:-1], "announces"),
    (lambda d: d + b"\0", "announces"),
    (lambda d: d[:5], "too short"),
    (lambda d: b"XXXXXX" + d[6:], "magic"),
    (lambda d: d.replace(b"'|u1'", b"'<f8'"), "uint8"),
])
def test_loads_rejects_broken_npy(mutate, match):
    data = packbits.dumps(np.ones((8, 2, 4, 4), bool))
    with pytest.raises(evio.FormatError, match=match):
        packbits.loads(mutate(data))


def test_loads_rejects_header_body_mismatch():
    raw = packbits.pack(np.ones((8, 2, 4, 4), bool))
    raw[:8] = np.asarray((8, 2, 400, 400), "<u2").view(np.uint8)
    buf = io.BytesIO()
    np.save(buf, raw)
    with pytest.raises(evio.FormatError, match="needs 320000 body bytes"):
        packbits.loads(buf.getvalue())
    good = packbits.dumps(np.ones((8, 2, 4, 4), bool))
    other = packbits.dumps(np.ones((8, 2, 5, 4), bool))
    with pytest.raises(evio.FormatError, match="sample 1"):
        packbits.loads([good, other])
    with pytest.raises(ValueError, match="out has shape"):
        packbits.loads(good, out=np.empty((8, 2, 4, 5), bool))


def test_dims_must_fit_uint16():
    with pytest.raises(ValueError, match="uint16"):
        packbits.pack(np.zeros((1, 1, 1, 70000), bool))


def test_torch_out_tensor():
    torch = pytest.importorskip("torch")
    dense = np.random.default_rng(0).random((8, 2, 16, 16)) < 0.1
    out = torch.empty((8, 2, 16, 16), dtype=torch.float32)
    assert packbits.loads(packbits.dumps(dense), dtype=np.float32, out=out) is out
    np.testing.assert_array_equal(out.numpy(), dense)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(evio.from_dense(torch.from_numpy(dense), channels="on_off"), evio.from_dense(dense, channels="on_off"))


@pytest.mark.parametrize("shape", [(1, 1, 3, 5), (3, 1, 1, 1), (2, 3, 7, 9), (1, 2, 1, 4)])
def test_odd_sizes_and_channel_counts_in_every_dtype(shape):
    rng = np.random.default_rng(1)
    batch = rng.random((3, *shape)) < 0.5
    datas = packbits.dumps(batch)
    for dtype in (bool, np.uint8, np.int8, np.float16, np.float32, np.float64):
        np.testing.assert_array_equal(packbits.loads(datas, dtype=dtype), batch.astype(dtype))
        np.testing.assert_array_equal(packbits.loads(datas[1], dtype=dtype), batch[1].astype(dtype))


@pytest.mark.parametrize("data", [b"\x93NUMPY\x02\x00\x00\x00", b"\x93NUMPY\x03\x00\x00\x00\x00",
                                  b"\x93NUMPY\x02\x00\xff\xff\xff\xff", b"\x93NUMPY\x01\x00\x05\x00"])
def test_a_cut_npy_header_is_a_format_error(data):
    with pytest.raises(evio.FormatError):
        packbits.loads(data)


def test_dumps_writes_the_header_numpy_writes():
    for dense in (np.ones((1, 1, 1, 1), bool), np.zeros((8, 2, 128, 128), bool)):
        cell = packbits.dumps(dense)
        buf = io.BytesIO()
        np.save(buf, packbits.pack(dense))
        assert cell == buf.getvalue()
