"""Animated GIFs of event frames: evio's GIF89a encoder decoded by Pillow, `evio render`."""
import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import evio
from evio.cli import main
from evio.render import (
    BACKGROUND,
    OFF_COLOUR,
    ON_COLOUR,
    encode_gif,
    palette,
    render_gif,
    render_images,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def decode(data_or_path):
    """RGB frames ``uint8 [n, h, w, 3]`` of a GIF, through Pillow."""
    pil = pytest.importorskip("PIL.Image")
    from PIL import GifImagePlugin

    GifImagePlugin.LOADING_STRATEGY = GifImagePlugin.LoadingStrategy.RGB_ALWAYS
    src = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with pil.open(src) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.array(im.convert("RGB")))
    return np.stack(out)


def test_gif_encoder_round_trip():
    """Random palette images (code-table resets included), tiny and odd sizes, several frames."""
    rng = np.random.default_rng(1)
    pal = palette()
    for h, w in [(1, 1), (3, 7), (64, 96), (200, 300)]:
        images = [rng.integers(0, 256, (h, w)).astype(np.uint8),
                  ((rng.random((h, w)) < 0.1) * 2).astype(np.uint8), np.zeros((h, w), np.uint8)]
        data = encode_gif(images, pal, delay_cs=10)
        assert data[:6] == b"GIF89a" and data[-1:] == b"\x3b"
        got = decode(data)
        assert got.shape == (3, h, w, 3)
        for k, image in enumerate(images):
            assert np.array_equal(got[k], pal[image]), (h, w, k)


def _frames(T=4, H=20, W=30, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((T, 2, H, W)) < 0.1).astype(np.float32) * rng.integers(1, 4, (T, 2, H, W))


def test_render_gif_colours_and_size(tmp_path):
    frames = _frames()
    out = render_gif(frames, tmp_path / "a.gif", scale=3, fps=5)
    got = decode(out)
    assert got.shape == (4, 60, 90, 3)
    on, off = frames[:, 1] > 0, frames[:, 0] > 0
    small = got[:, ::3, ::3]
    assert np.all(small[on & ~off] == ON_COLOUR) and np.all(small[off & ~on] == OFF_COLOUR)
    assert np.all(small[~on & ~off] == BACKGROUND)
    on_off = render_images(frames[:, ::-1], channels="on_off")
    assert all(np.array_equal(a, b) for a, b in zip(on_off, render_images(frames)))


def test_render_gif_grid_and_original(tmp_path):
    frames = _frames(T=3, H=16, W=16)
    grid = decode(render_gif(frames, tmp_path / "g.gif", grid=True))
    assert grid.shape == (1, 16, 3 * 16 + 2 * 2, 3)
    rgb = np.random.default_rng(2).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    both = decode(render_gif(frames, tmp_path / "o.gif", original=rgb, scale=2))
    assert both.shape == (3, 32, 2 * (16 + 2 + 16), 3)
    left = both[0, ::4, :32:4].astype(int)        # the 8x8 image drawn 16x16, then scaled by 2
    assert np.abs(left - rgb.astype(int)).max() <= 26   # 6 levels per channel
    with pytest.raises(ValueError, match="original"):
        render_gif(frames, tmp_path / "x.gif", original=rgb.astype(np.float32))
    with pytest.raises(ValueError, match=r"\[T, 2, H, W\]"):
        render_gif(np.zeros((3, 4, 5)), tmp_path / "x.gif")
    assert not (tmp_path / "x.gif").exists()


def test_render_events(tmp_path):
    ev = evio.read(FIXTURES / "evt3_sample.npy")[:50_000]
    out = render_gif(ev, tmp_path / "e.gif", T=5, sensor_size=(1280, 720), scale=1)
    got = decode(out)
    assert got.shape == (5, 720, 1280, 3)
    frames = evio.frames(ev, T=5, by="count", sensor_size=(1280, 720))
    lit = (frames[:, 0] > 0) | (frames[:, 1] > 0)
    assert np.array_equal(np.any(got != BACKGROUND, axis=-1), lit)


def test_cli_render(tmp_path):
    pytest.importorskip("lz4")
    out = tmp_path / "r.gif"
    runner = CliRunner()
    res = runner.invoke(main, ["render", str(FIXTURES / "tonic_sample.aedat4"), str(out), "--T", "6", "--scale", "2"])
    assert res.exit_code == 0, res.output
    assert decode(out).shape == (6, 480, 640, 3)
    res = runner.invoke(main, ["render", str(FIXTURES / "tonic_sample.aedat4"), str(out)])
    assert res.exit_code == 1 and res.output.startswith("evio: error:") and "exists" in res.output
    res = runner.invoke(main, ["render", str(FIXTURES / "tonic_sample.aedat4"), str(out), "--grid", "-f", "--T", "3"])
    assert res.exit_code == 0 and decode(out).shape == (1, 240, 3 * 320 + 4, 3)


def test_cli_render_errors(tmp_path):
    res = CliRunner().invoke(main, ["render", str(tmp_path / "missing.h5"), str(tmp_path / "o.gif")])
    assert res.exit_code == 1 and res.output.startswith("evio: error:") and res.output.count("\n") == 1
    assert not (tmp_path / "o.gif").exists()


def test_cli_render_image_shows_i2e_beside_the_original(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image
    src = FIXTURES / "images" / "chelsea.png"
    out = tmp_path / "cat.gif"
    res = CliRunner().invoke(main, ["render", str(src), str(out), "--preset", "cifar10"])
    assert res.exit_code == 0, res.output
    assert "event rate" in res.output
    got = decode(out)
    assert got.shape[0] == 8 and got.shape[1] == 128
    image = evio.i2e.preprocess(np.asarray(Image.open(src).convert("RGB")), sensor_size=128)
    dense = evio.i2e(image, preset="cifar10")
    right = got[:, :, -128:]                       # the 8 time steps, ON (channel 0) amber
    lit = dense[:, 0] | dense[:, 1]
    assert np.array_equal(np.any(right != BACKGROUND, axis=-1), lit)
    assert np.array_equal(np.all(right == ON_COLOUR, axis=-1), dense[:, 0] & ~dense[:, 1])


def test_cli_render_image_errors(tmp_path):
    runner = CliRunner()
    src = FIXTURES / "images" / "chelsea.png"
    for args in (["--preset", "nope"], ["--ratio", "0"]):
        res = runner.invoke(main, ["render", str(src), str(tmp_path / "o.gif"), *args])
        assert res.exit_code != 0 and "Traceback" not in res.output
    res = runner.invoke(main, ["render", str(FIXTURES / "SOURCES.md"), str(tmp_path / "o.gif"), "--from", "image"])
    assert res.exit_code == 1 and res.output.startswith("evio: error:") and res.output.count("\n") == 1
    res = runner.invoke(main, ["render", str(src), str(tmp_path / "o.png")])
    assert res.exit_code != 0 and ".gif" in res.output
    res = runner.invoke(main, ["render", str(FIXTURES / "tonic_sample.aedat4"), str(tmp_path / "o.gif"),
                               "--ratio", "0.1"])
    assert res.exit_code != 0
    assert not list(tmp_path.iterdir())


def test_render_by_duration(tmp_path):
    pytest.importorskip("lz4")
    ev = evio.read(FIXTURES / "tonic_sample.aedat4")
    span = int(ev["t"].max()) - int(ev["t"].min())
    want = evio.frames(ev, by="duration", duration=span // 5, sensor_size=(346, 260))
    out = tmp_path / "d.gif"
    res = CliRunner().invoke(main, ["render", str(FIXTURES / "tonic_sample.aedat4"), str(out), "--by", "duration",
                                    "--duration", str(span // 5)])
    assert res.exit_code == 0, res.output
    assert "frames of" in res.output and decode(out).shape[0] == len(want)
    with pytest.raises(ValueError, match="more than 2000 frames"):
        render_gif(ev, tmp_path / "x.gif", by="duration", duration=1, sensor_size=(346, 260))
    with pytest.raises(ValueError, match="needs duration"):
        render_gif(ev, tmp_path / "x.gif", by="duration", sensor_size=(346, 260))
    for args in (["--by", "duration"], ["--duration", "1000"]):
        res = CliRunner().invoke(main, ["render", str(FIXTURES / "tonic_sample.aedat4"), str(tmp_path / "y.gif"),
                                        *args])
        assert res.exit_code != 0 and "--duration" in res.output
    assert not (tmp_path / "x.gif").exists() and not (tmp_path / "y.gif").exists()
