"""ES-ImageNet ODG (`evio.odg`), its dense loader (`evio.es_imagenet_dense`) and `evio.edge_integral`,
each against a slow NumPy transcription of the spec's formulation (shared/spec/i2e-odg.md §3)."""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
from _sj import load_spikingjelly_datasets
from hypothesis import given, settings
from hypothesis import strategies as st

import evio
from evio.image import ODGDropWarning, ODGSample
from evio.image.odg import nearest_indices

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


# -- the spec's formulation, transcribed (slow oracle) ----------------------------------------------

AIMSIZE = 254
TRACEX = [1, 0, 2, 1, 0, 2, 1, 1, 2]          # image row offset on the canvas at steps 0..8
TRACEY = [0, 2, 1, 0, 1, 2, 0, 1, 1]          # column offset


def spec_nearest(in_size, out_size):
    """PyTorch's nearest index rule as the spec states it."""
    idx = []
    for dst in range(out_size):
        if out_size == in_size:
            idx.append(dst)
        elif out_size == 2 * in_size:
            idx.append(dst >> 1)
        else:
            scale = np.float32(np.float32(in_size) / np.float32(out_size))
            idx.append(min(int(np.floor(np.float32(np.float32(dst) * scale))), in_size - 1))
    return np.array(idx, np.int64)


def spec_resized_shape(a, b):
    if a > b:
        return AIMSIZE, int(b * AIMSIZE / a)
    return int(a * AIMSIZE / b), AIMSIZE


def spec_value(img):
    """V = max over channels of the nearest-resized uint8 image, as int16 ``k`` (the image holds k / 255)."""
    img = img if img.ndim == 3 else img[:, :, None]
    a, b = spec_resized_shape(*img.shape[:2])
    resized = img[spec_nearest(img.shape[0], a)][:, spec_nearest(img.shape[1], b)]
    return resized.max(axis=2).astype(np.int16)


def spec_odg(img):
    """(pos, neg, a, b): the generator's integer formulation, canvases, masks and crop filter."""
    V = spec_value(img)
    a, b = V.shape
    canvases = []
    for t in range(9):
        canvas = np.zeros((a + 4, b + 4), np.int16)
        canvas[TRACEX[t]:TRACEX[t] + a, TRACEY[t]:TRACEY[t] + b] = V
        canvases.append(canvas)
    on = np.zeros((8, a + 4, b + 4), bool)
    off = np.zeros((8, a + 4, b + 4), bool)
    for t in range(1, 9):
        diff = canvases[t] - canvases[t - 1]
        x, x0, y, y0 = TRACEX[t], TRACEX[t - 1], TRACEY[t], TRACEY[t - 1]
        diff[min(x, x0):max(x, x0), :] = 0
        diff[min(x, x0) + a:max(x, x0) + a, :] = 0
        diff[:, min(y, y0):max(y, y0)] = 0
        diff[:, min(y, y0) + b:max(y, y0) + b] = 0
        on[t - 1] = diff >= 46
        off[t - 1] = -diff >= 46

    def rows(events):
        t, x, y = np.nonzero(events)
        good = (x < 240) & (x > 16) & (y < 240) & (y > 16)
        return np.stack([x[good], y[good], t[good] + 1], axis=1).astype(np.uint8)

    return rows(on), rows(off), a, b


def spec_loader(pos, neg, a, b):
    """The dense loader: float [C=2, T=8, 224, 224], pos -> channel 0."""
    dy = (254 - b) // 2
    dx = (254 - a) // 2
    inp = np.zeros((2, 8, 256, 256), np.float32)
    for c, data in enumerate((pos, neg)):
        inp[c, data[:, 2].astype(np.int64) - 1, data[:, 0].astype(np.int64) + dx, data[:, 1].astype(np.int64) + dy] = 1
    return inp[:, :, 16:240, 16:240]


def spec_edge_integral(reshape):
    """Edge-Integral of the loader tensor [2, 8, H, W]: int [H, W]."""
    tracex = [0, 2, 1, 0, 2, 1, 1, 2]
    tracey = [2, 1, 0, 1, 2, 0, 1, 1]
    H, W = reshape.shape[2:]
    total = np.zeros((1, 1, H + 4, W + 4), np.int64)
    for t in range(8):
        dx, dy = tracex[t], tracey[t]
        total[0, 0, 2 - dx:2 - dx + H, 2 - dy:2 - dy + W] += reshape[0, t].astype(np.int64)
        total[0, 0, 2 - dx:2 - dx + H, 2 - dy:2 - dy + W] -= reshape[1, t].astype(np.int64)
    return total[0, 0, 1:H + 1, 1:W + 1]


# -- images ------------------------------------------------------------------------------------------

def _photos():
    """Real photographs: fixtures/images (if present), else scikit-image's bundled ones."""
    found = {}
    folder = FIXTURES / "images"
    if folder.is_dir() and importlib.util.find_spec("PIL"):
        from PIL import Image

        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".webp"):
                with Image.open(path) as im:
                    found[path.stem] = np.asarray(im.convert("RGB"))
    if len(found) < 2:
        try:
            from skimage import data
        except ImportError:
            data = None
        if data is not None:
            for name in ("astronaut", "chelsea", "coffee", "camera"):
                try:
                    found[name] = np.ascontiguousarray(getattr(data, name)())
                except (OSError, ValueError):        # a data file missing from this scikit-image build
                    continue
    return found


PHOTOS = _photos()


def _derived():
    """Every aspect ratio from the photos: as is, portrait, landscape, square, tiny, exact 1x/2x sizes."""
    out = {}
    for name, img in PHOTOS.items():
        H, W = img.shape[:2]
        out[name] = img
        out[f"{name}-transposed"] = np.ascontiguousarray(np.swapaxes(img, 0, 1))
        out[f"{name}-portrait"] = img[:, : max(1, W // 3)]
        out[f"{name}-landscape"] = img[: max(1, H // 4)]
        s = min(H, W)
        out[f"{name}-square"] = img[:s, :s]
        out[f"{name}-tiny"] = img[::max(1, H // 9), ::max(1, W // 7)]
        out[f"{name}-3x2"] = img[100:103, 100:102]
        out[f"{name}-2x-long"] = img[:127, :90]              # 127 -> 254 and 90 -> 180: both exactly 2x
        out[f"{name}-2x-wide"] = img[:50, :127]
        out[f"{name}-identity"] = img[:254, :200] if H >= 254 else img[:H, :254]
        out[f"{name}-254sq"] = img[:254, :254]
        out[f"{name}-1px"] = img[:1, :254]
        out[f"{name}-odd"] = img[7:7 + 253, 3:3 + 251]
        for h in range(H, max(H - 60, 0), -1):             # a height whose float32 / float64 indices differ
            a, b = spec_resized_shape(h, W)
            if min(a, b) and any((nearest_indices(n, m) != nearest_indices(n, m, "float64")).any()
                                 for n, m in ((h, a), (W, b))):
                out[f"{name}-precision"] = img[:h]
                break
    return out


DERIVED = _derived()
needs_photos = pytest.mark.skipif(not PHOTOS, reason="no photographs (fixtures/images or scikit-image)")


def _assert_same(sample, ref):
    pos, neg, a, b = ref
    assert (sample.a, sample.b) == (a, b)
    assert sample.pos.dtype == np.uint8 and sample.neg.dtype == np.uint8
    np.testing.assert_array_equal(sample.pos, pos)
    np.testing.assert_array_equal(sample.neg, neg)


@st.composite
def images(draw):
    """Any aspect ratio (1..300 pixels a side), colour or gray; noise, threshold-edge levels, constant, ramps."""
    H, W = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    if min(spec_resized_shape(H, W)) < 1:
        H, W = max(H, W), max(H, W)
    channels = draw(st.sampled_from([3, 3, 1, 0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (H, W) if channels == 0 else (H, W, channels)
    kind = draw(st.sampled_from(["noise", "levels", "constant", "ramp"]))
    if kind == "noise":
        img = rng.integers(0, 256, shape, dtype=np.uint8)
    elif kind == "levels":
        base = int(rng.integers(0, 256 - 92))
        img = rng.choice(np.array([base, base + 45, base + 46, base + 91, base + 92], np.uint8), shape)
    elif kind == "constant":
        img = np.full(shape, rng.integers(0, 256), np.uint8)
    else:
        ramp = (np.arange(W) * int(rng.integers(1, 60))) % 256
        img = np.broadcast_to(ramp[None, :, None] if len(shape) == 3 else ramp[None], shape).astype(np.uint8)
    return img


# -- ODG ---------------------------------------------------------------------------------------------

@given(img=images())
@settings(max_examples=60)
def test_odg_equals_the_spec_on_random_images(img):
    sample = evio.odg(img)
    _assert_same(sample, spec_odg(img))
    assert sample.kept == (sample.n_events >= 1000)


@needs_photos
@pytest.mark.parametrize("name", sorted(DERIVED))
def test_odg_equals_the_spec_on_photographs(name):
    img = DERIVED[name]
    ref = spec_odg(img)
    _assert_same(evio.odg(img), ref)
    if img.ndim == 3:
        _assert_same(evio.odg(np.ascontiguousarray(img[:, :, ::-1]), color_order="bgr"), ref)


@needs_photos
def test_photograph_aspect_ratios_are_covered():
    shapes = {evio.odg(img)[2:] for img in DERIVED.values()}
    a_b = list(shapes)
    assert any(a > b for a, b in a_b) and any(a < b for a, b in a_b) and (254, 254) in shapes
    sizes = [img.shape[:2] for img in DERIVED.values()]
    assert any(max(s) == 127 for s in sizes) and any(max(s) == 254 for s in sizes) and any(max(s) < 10 for s in sizes)
    kept = [evio.odg(img).kept for img in PHOTOS.values()]
    assert all(kept)


def test_nearest_indices_follow_the_spec_rule():
    for n_in in (1, 2, 3, 5, 7, 90, 127, 200, 253, 254, 255, 300, 333, 375, 500, 640, 1001):
        for n_out in {1, 2, 127, 180, 253, 254, n_in, 2 * n_in, max(1, n_in * 254 // 641)}:
            np.testing.assert_array_equal(nearest_indices(n_in, n_out), spec_nearest(n_in, n_out))


@pytest.mark.peer
def test_nearest_indices_match_torch_interpolate():
    """"float32" is torch on float32 tensors, "float64" torch 2.x on float64 ones (the generator's image / 255.0)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    differ = 0
    for n_in in (1, 3, 5, 90, 127, 253, 254, 300, 356, 375, 464, 500, 1001):
        for n_out in {1, 127, 180, 190, 235, 253, 254, n_in, 2 * n_in}:
            for precision, dtype in (("float32", torch.float32), ("float64", torch.float64)):
                src = torch.arange(n_in, dtype=dtype).reshape(1, 1, n_in, 1)
                got = F.interpolate(src, size=(n_out, 1), mode="nearest").reshape(-1).numpy().astype(np.int64)
                np.testing.assert_array_equal(nearest_indices(n_in, n_out, precision), got)
            differ += (nearest_indices(n_in, n_out) != nearest_indices(n_in, n_out, "float64")).any()
    assert differ > 0


def test_resized_shape_is_the_generators_float_division():
    from evio.image.odg import resized_shape

    long, short = np.meshgrid(np.arange(1, 2049), np.arange(1, 2049), indexing="ij")
    keep = short <= long
    long, short = long[keep], short[keep]
    np.testing.assert_array_equal(np.floor(short * 254 / long).astype(np.int64), short * 254 // long)
    for h, w in [(1, 1), (254, 254), (375, 500), (500, 375), (1, 254), (3, 2), (4000, 3000)]:
        assert resized_shape(h, w) == spec_resized_shape(h, w)


def test_integer_threshold_equals_the_float_rule():
    k = np.arange(256)
    v32 = (k / 255.0).astype(np.float32)                     # imagetest / 255.0 placed on a float32 canvas
    diff = v32[:, None] - v32[None, :]                       # new - old, float32
    integer = (k[:, None] - k[None, :]) >= 46
    np.testing.assert_array_equal(diff > np.float32(0.18), integer)
    np.testing.assert_array_equal(diff.astype(np.float64) > 0.18, integer)
    np.testing.assert_array_equal(diff < -np.float32(0.18), integer.T)


def _torch_float_pipeline(torch, img, dtype):
    """The generator's float pipeline: torch nearest resize of ``img / 255.0``, V = max, float32 canvases,
    ``diff > 0.18`` / ``< -0.18``, restricted to pixels covered by both frames and 16 < row, col < 240."""
    F = torch.nn.functional
    img = img if img.ndim == 3 else img[:, :, None]
    x = torch.from_numpy(img / 255.0).to(dtype).permute(2, 0, 1)[None]
    a, b = spec_resized_shape(*img.shape[:2])
    v = torch.max(F.interpolate(x, size=(a, b), mode="nearest")[0], dim=0)[0]
    canv = []
    for t in range(9):
        c = torch.zeros((a + 4, b + 4), dtype=torch.float32)
        c[TRACEX[t]:TRACEX[t] + a, TRACEY[t]:TRACEY[t] + b] = v
        canv.append(c)
    dense = np.zeros((2, 8, a + 4, b + 4), bool)
    for t in range(1, 9):
        diff = canv[t] - canv[t - 1]
        both = np.zeros((a + 4, b + 4), bool)
        r0, c0 = max(TRACEX[t], TRACEX[t - 1]), max(TRACEY[t], TRACEY[t - 1])
        r1, c1 = min(TRACEX[t], TRACEX[t - 1]) + a, min(TRACEY[t], TRACEY[t - 1]) + b
        both[max(r0, 17):min(r1, 240), max(c0, 17):min(c1, 240)] = True
        dense[0, t - 1] = (diff > 0.18).numpy() & both
        dense[1, t - 1] = (diff < -0.18).numpy() & both
    return dense


@pytest.mark.peer
@needs_photos
def test_float_formulation_with_torch_resize_agrees():
    torch = pytest.importorskip("torch")
    names = [n for n in DERIVED if n.endswith(("-precision", "-2x-long", "-tiny", "-odd", "-portrait"))]
    names += sorted(PHOTOS)[:2]
    for name in names:
        img = DERIVED[name]
        for precision, dtype in (("float32", torch.float32), ("float64", torch.float64)):
            sample = evio.odg(img, resize_precision=precision)
            dense = np.zeros((2, 8, sample.a + 4, sample.b + 4), bool)
            for c, rows in enumerate((sample.pos, sample.neg)):
                dense[c, rows[:, 2].astype(int) - 1, rows[:, 0], rows[:, 1]] = True
            np.testing.assert_array_equal(dense, _torch_float_pipeline(torch, img, dtype), f"{name} {precision}")


@needs_photos
def test_resize_precisions_differ_only_where_indices_do():
    name = next(n for n in DERIVED if n.endswith("-precision"))
    img = DERIVED[name]
    f32, f64 = evio.odg(img), evio.odg(img, resize_precision="float64")
    assert (f32.a, f32.b) == (f64.a, f64.b)
    assert not (np.array_equal(f32.pos, f64.pos) and np.array_equal(f32.neg, f64.neg))
    with pytest.raises(ValueError, match="precision must be one of"):
        evio.odg(img, resize_precision="float16")


def test_drop_rule_is_reported_not_applied():
    flat = np.full((40, 60, 3), 128, np.uint8)
    sample = evio.odg(flat)
    assert sample.n_events == 0 and not sample.kept and sample.a == 169 and sample.b == 254
    with pytest.warns(ODGDropWarning, match="0 events, fewer than 1000"):
        ev = evio.odg(flat, output="events")
    assert len(ev) == 0
    with pytest.warns(ODGDropWarning):
        dense = evio.odg(flat, output="dense")
    assert dense.shape == (8, 2, 224, 224) and not dense.any()
    edge = np.zeros((40, 60), np.uint8)
    edge[18:20, 28:31] = 200                                   # a small bright patch: a few hundred events
    sample = evio.odg(edge)
    assert 0 < sample.n_events < 1000 and not sample.kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evio.odg(edge)                                         # "sparse" reports through .kept only


def test_outputs_events_and_dense(tmp_path):
    img = np.random.default_rng(5).integers(0, 256, (180, 240, 3), dtype=np.uint8)
    sample = evio.odg(img)
    assert isinstance(sample, ODGSample) and sample.kept
    pos, neg, a, b = sample
    ev = evio.odg(img, output="events")
    assert ev.dtype == evio.EVENT_DTYPE and len(ev) == len(pos) + len(neg)
    np.testing.assert_array_equal(ev["p"], np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    both = np.concatenate([pos, neg]).astype(np.int64)
    np.testing.assert_array_equal(ev["y"], both[:, 0])
    np.testing.assert_array_equal(ev["x"], both[:, 1])
    np.testing.assert_array_equal(ev["t"], both[:, 2] - 1)
    dense = evio.odg(img, output="dense")
    np.testing.assert_array_equal(dense, spec_loader(pos, neg, a, b).transpose(1, 0, 2, 3) == 1)
    assert dense.dtype == np.bool_


def test_inputs_and_errors(tmp_path):
    Image = pytest.importorskip("PIL.Image")

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    ref = spec_odg(img)
    Image.fromarray(img).save(tmp_path / "img.png")
    _assert_same(evio.odg(tmp_path / "img.png"), ref)
    _assert_same(evio.odg(str(tmp_path / "img.png")), ref)
    _assert_same(evio.odg(Image.fromarray(img)), ref)
    _assert_same(evio.odg(img[::-1][::-1]), ref)                 # a non-contiguous view
    _assert_same(evio.odg(img[:, :, :1]), spec_odg(img[:, :, 0]))
    torch = pytest.importorskip("torch")
    _assert_same(evio.odg(torch.from_numpy(img)), ref)
    with pytest.raises(evio.FormatError, match="uint8"):
        evio.odg(img.astype(np.float32) / 255)
    with pytest.raises(evio.FormatError, match=r"\[H, W, 3\]"):
        evio.odg(np.zeros((3, 10, 12), np.uint8))
    with pytest.raises(evio.FormatError, match=r"\[H, W, 3\]"):
        evio.odg(np.zeros((10, 12, 4), np.uint8))
    with pytest.raises(evio.FormatError, match="at least 1x1"):
        evio.odg(np.zeros((0, 12, 3), np.uint8))
    with pytest.raises(evio.FormatError, match="nothing is left"):
        evio.odg(np.zeros((1, 300, 3), np.uint8))
    with pytest.raises(ValueError, match="color_order must be one of"):
        evio.odg(img, color_order="hsv")
    with pytest.raises(ValueError, match="output must be one of"):
        evio.odg(img, output="frames")


# -- storage, dense loader, round trips -----------------------------------------------------------------

def test_save_writes_the_generator_layout(tmp_path):
    img = np.random.default_rng(2).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    sample = evio.odg(img)
    path = tmp_path / "class3_17.npz"
    sample.save(path)
    with np.load(path) as z:
        assert z.files == ["pos", "neg"]
        assert z["pos"].dtype == np.uint8 and z["pos"].shape[1] == 3
        np.testing.assert_array_equal(z["pos"], sample.pos)
        np.testing.assert_array_equal(z["neg"], sample.neg)
    np.testing.assert_array_equal(evio.read(path), sample.events())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evio.LossWarning)
        loader = evio.read(path, es_imagenet="loader", a=sample.a, b=sample.b)
        np.testing.assert_array_equal(loader, sample.events("loader"))
        expected = spec_loader(sample.pos, sample.neg, sample.a, sample.b).transpose(1, 0, 2, 3) == 1
        np.testing.assert_array_equal(evio.es_imagenet_dense(path, a=sample.a, b=sample.b), expected)
        with np.load(path) as z:
            np.testing.assert_array_equal(evio.es_imagenet_dense(z, sample.a, sample.b), expected)
        np.testing.assert_array_equal(evio.es_imagenet_dense(sample), expected)
        np.testing.assert_array_equal(sample.dense(), expected)
    sample.save(tmp_path / "class3_18", compress=False)          # at the path as named: no suffix added
    with np.load(tmp_path / "class3_18") as z:
        np.testing.assert_array_equal(z["neg"], sample.neg)
    empty = evio.odg(np.zeros((30, 30), np.uint8))
    empty.save(tmp_path / "empty.npz")
    with np.load(tmp_path / "empty.npz") as z:
        assert z["pos"].shape == (0, 3) and z["neg"].shape == (0, 3)


@pytest.mark.peer
def test_spikingjelly_reads_the_saved_sample(tmp_path):
    sj = load_spikingjelly_datasets()
    if sj is None:
        pytest.skip("SpikingJelly datasets not importable")
    module = pytest.importorskip("spikingjelly.datasets.es_imagenet")
    load = getattr(module, "_load_events", None)
    if load is None:
        pytest.skip("this SpikingJelly has no es_imagenet._load_events")
    img = np.random.default_rng(4).integers(0, 256, (90, 140, 3), dtype=np.uint8)
    sample = evio.odg(img)
    sample.save(tmp_path / "s.npz")
    got = load(tmp_path / "s.npz")
    ev = sample.events()
    theirs = sorted(zip(got["t"].astype(int) - 1, got["x"].astype(int), got["y"].astype(int), got["p"] == 1))
    ours = sorted(zip(ev["t"].tolist(), ev["x"].tolist(), ev["y"].tolist(), ev["p"].tolist()))
    assert theirs == ours


def test_dense_loader_drops_outside_the_crop_with_a_warning():
    img = np.random.default_rng(6).integers(0, 256, (252, 254, 3), dtype=np.uint8)   # a = 252: dx = 1
    sample = evio.odg(img)
    assert (sample.a, sample.b) == (252, 254)
    lost = int((sample.pos[:, 0] == 239).sum() + (sample.neg[:, 0] == 239).sum())
    assert lost > 0
    with pytest.warns(evio.LossWarning, match=f"{lost} of {sample.n_events} events fall outside"):
        dense = evio.es_imagenet_dense(sample)
    np.testing.assert_array_equal(dense, spec_loader(sample.pos, sample.neg, 252, 254).transpose(1, 0, 2, 3) == 1)
    assert not dense[:, :, 0, :].any() and not dense[:, :, :, 0].any()       # the loader's empty first row/col


def test_dense_loader_arguments():
    sample = evio.odg(np.random.default_rng(7).integers(0, 256, (64, 64), dtype=np.uint8))
    with pytest.raises(ValueError, match="needs a=... and b="):
        evio.es_imagenet_dense({"pos": sample.pos, "neg": sample.neg})
    with pytest.raises(ValueError, match="come from the ODGSample"):
        evio.es_imagenet_dense(sample, a=254)
    with pytest.raises(ValueError, match=r"a must be an integer in 1\.\.254"):
        evio.es_imagenet_dense({"pos": sample.pos, "neg": sample.neg}, a=0, b=254)
    with pytest.raises(evio.FormatError, match="key 'pos' row 0: t = 0"):
        evio.es_imagenet_dense({"pos": np.array([[20, 20, 0]], np.uint8), "neg": sample.neg}, a=254, b=254)
    with pytest.raises(evio.FormatError, match=r"key 'neg' row 1: row = 18446744073709551615 is outside 0\.\.255"):
        evio.es_imagenet_dense({"pos": sample.pos, "neg": np.array([[20, 20, 1], [2**64 - 1, 20, 1]], np.uint64)},
                               a=254, b=254)
    fortran = np.asfortranarray(sample.pos.astype(np.int16))
    np.testing.assert_array_equal(evio.es_imagenet_dense({"pos": fortran, "neg": sample.neg}, sample.a, sample.b),
                                  sample.dense())
    with pytest.raises(evio.FormatError, match="'neg' must hold integers"):
        evio.es_imagenet_dense({"pos": sample.pos, "neg": np.zeros((0, 3))}, a=254, b=254)
    with pytest.raises(ValueError, match="placement must be one of"):
        sample.events("centred")


@given(img=images())
@settings(max_examples=25)
def test_round_trip_through_events_and_dense(img):
    sample = evio.odg(img)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evio.LossWarning)
        dense = evio.es_imagenet_dense(sample)
        ev = sample.events("loader")
    np.testing.assert_array_equal(evio.to_dense(ev, (224, 224), T=8, channels="on_off"), dense)
    back = evio.from_dense(dense, channels="on_off")
    np.testing.assert_array_equal(evio.to_dense(back, (224, 224), T=8, channels="on_off"), dense)
    canvas = sample.events()
    in_c_order = canvas[np.lexsort((canvas["x"], canvas["y"], ~canvas["p"], canvas["t"]))]
    np.testing.assert_array_equal(evio.from_dense(evio.to_dense(canvas, (256, 256), T=8, channels="on_off"), channels="on_off"), in_c_order)
    ref = spec_edge_integral(spec_loader(sample.pos, sample.neg, sample.a, sample.b))
    for source in (sample, dense, ev, back):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", evio.LossWarning)
            got = evio.edge_integral(source)
        assert got.dtype == np.int8 and got.shape == (224, 224)
        np.testing.assert_array_equal(got, ref)


# -- Edge-Integral -------------------------------------------------------------------------------------

@given(seed=st.integers(0, 2**32 - 1), H=st.integers(1, 40), W=st.integers(1, 40),
       density=st.sampled_from([0.0, 0.05, 0.5, 1.0]))
def test_edge_integral_equals_the_spec_on_any_tensor(seed, H, W, density):
    dense = np.random.default_rng(seed).random((8, 2, H, W)) < density
    ref = spec_edge_integral(dense.transpose(1, 0, 2, 3))
    np.testing.assert_array_equal(evio.edge_integral(dense), ref)
    np.testing.assert_array_equal(evio.edge_integral(dense.astype(np.float32)), ref)
    np.testing.assert_array_equal(evio.edge_integral(evio.from_dense(dense, channels="on_off"), sensor_size=(W, H)), ref)
    assert ref.min() >= -8 and ref.max() <= 8


@needs_photos
def test_edge_integral_of_a_photograph_outlines_it():
    name = min(PHOTOS)
    sample = evio.odg(PHOTOS[name])
    gray = evio.edge_integral(sample)
    assert -8 <= gray.min() < 0 < gray.max() <= 8
    assert np.count_nonzero(gray) > 1000


def test_edge_integral_errors():
    with pytest.raises(evio.FormatError, match=r"\[8, 2, H, W\]"):
        evio.edge_integral(np.zeros((4, 2, 5, 5), bool))
    with pytest.raises(evio.FormatError, match="only 0 and 1"):
        evio.edge_integral(np.full((8, 2, 5, 5), 2, np.uint8))
    ev = evio.empty_events(1)
    ev["t"] = 8
    with pytest.raises(evio.FormatError, match="timestep index 0..7"):
        evio.edge_integral(ev)
    ev["t"], ev["x"] = 0, 300
    with pytest.raises(evio.FormatError, match="outside"):
        evio.edge_integral(ev)
