"""`evio i2e SRC DST`: image folders and arrays -> I2E shards or zarr sample stores, checked sample by sample."""

import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import FIXTURES

import evio
from evio import cli

pytest.importorskip("pyarrow")
pytest.importorskip("PIL")

PHOTOS = FIXTURES / "images"


def run(*args):
    return CliRunner().invoke(cli.main, ["i2e", *map(str, args)])


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "src"
    for cls, names in {"cat": ["chelsea.png"], "misc": ["astronaut.png", "camera.png", "rocket.png"]}.items():
        (root / cls).mkdir(parents=True)
        for name in names:
            shutil.copy(PHOTOS / name, root / cls / name)
    (root / "misc" / "notes.txt").write_text("not an image")
    return root


def expected(path, preset):
    img = evio.i2e.preprocess(path, sensor_size=evio.i2e.PRESETS[preset]["sensor_size"])
    return evio.i2e(img, preset=preset)


def test_folder_to_hub_shards(image_folder, tmp_path):
    from evio.datasets import I2EShards

    dst = tmp_path / "out"
    result = run(image_folder, dst, "--preset", "cifar10", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "4 samples" in result.output and "event rate mean" in result.output and "images/s" in result.output
    shards = sorted((dst / "I2E-CIFAR10").glob("train-*-of-*.parquet"))
    assert len(shards) == 1
    ds = I2EShards(dst, config="I2E-CIFAR10", split="train", dtype=bool)
    files = [image_folder / "cat" / "chelsea.png"] + [image_folder / "misc" / n
                                                      for n in ("astronaut.png", "camera.png", "rocket.png")]
    assert len(ds) == 4 and list(ds.labels) == [0, 1, 1, 1]
    assert ds.file_paths == ["0/chelsea.npy", "1/astronaut.npy", "1/camera.npy", "1/rocket.npy"]
    rates = []
    for i, f in enumerate(files):
        sample, _ = ds[i]
        want = expected(f, "cifar10")
        np.testing.assert_array_equal(sample, want)
        rates.append(want.mean())
    assert f"event rate mean {100 * np.mean(rates):.2f} %" in result.output


def test_npz_to_zarr_store_with_two_workers_equals_one(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (150, 3, 24, 20), dtype=np.uint8)          # NCHW, auto-detected
    labels = np.arange(150) % 7
    src = tmp_path / "imgs.npz"
    np.savez(src, x=images, y=labels)
    outs = []
    for workers in (1, 2):
        dst = tmp_path / f"w{workers}.zarr"
        result = run(src, dst, "--ratio", "0.1", "--workers", workers, "-q")
        assert result.exit_code == 0, result.output
        assert result.output == ""
        with evio.open(dst) as reader:
            dense, labs, _ = map(list, zip(*reader.samples()))
        outs.append(np.concatenate(dense))
        np.testing.assert_array_equal(np.concatenate(labs), labels)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], evio.i2e(images, 0.1))


def test_npy_with_size_and_rows_per_shard(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    src = tmp_path / "imgs.npy"
    np.save(src, images)
    dst = tmp_path / "hub"
    result = run(src, dst, "--sensor-size", "24", "16", "--ratio", "0.12", "--rows-per-shard", "4", "--config", "mine",
                 "--split", "validation", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert len(list((dst / "mine").glob("validation-*-of-00003.parquet"))) == 3
    from evio.datasets import I2EShards

    ds = I2EShards(dst, config="mine", split="validation", dtype=bool)
    want = evio.i2e(evio.i2e.preprocess(images, sensor_size=(24, 16)), 0.12)
    np.testing.assert_array_equal(np.stack([ds[i][0] for i in range(len(ds))]), want)
    assert list(ds.labels) == [0] * 10


def test_errors_are_one_line_and_leave_nothing(image_folder, tmp_path):
    dst = tmp_path / "out"
    result = run(image_folder, dst, "--workers", "1")             # mixed sizes, no --sensor-size
    assert result.exit_code == 1
    assert result.output.startswith("evio: error: ") and "different sizes" in result.output
    assert result.output.count("\n") == 1
    assert not dst.exists()
    assert run(image_folder, dst, "--preset", "mnist", "-q", "--workers", "1").exit_code == 0
    again = run(image_folder, dst, "--preset", "mnist", "-q", "--workers", "1")
    assert again.exit_code == 1 and "--force" in again.output
    assert run(image_folder, dst, "--preset", "mnist", "-q", "-f", "--workers", "1").exit_code == 0
    bad = tmp_path / "x.txt"
    bad.write_text("x")
    assert "must be an image folder" in run(bad, tmp_path / "y.zarr").output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "class subfolders" in run(empty, tmp_path / "z.zarr").output
    np.savez(tmp_path / "f.npz", images=np.zeros((2, 4, 4, 3), np.float32))
    out = run(tmp_path / "f.npz", tmp_path / "f.zarr", "--sensor-size", "8", "8", "--workers", "1").output
    assert out.startswith("evio: error: ") and "uint8" in out
    assert not (tmp_path / "f.zarr").exists()
    assert "--sensor-size" in run(tmp_path / "f.npz", tmp_path / "g.zarr", "--sensor-size", "0", "3").output


def test_the_command_runs_a_python_function(image_folder, tmp_path):
    from evio.datasets import I2EShards
    from evio.image.folder import i2e_folder

    calls = []
    result = i2e_folder(image_folder, tmp_path / "py", preset="mnist", progress=lambda n, total: calls.append((n, total)))
    assert run(image_folder, tmp_path / "cli", "--preset", "mnist", "-q", "--workers", "1").exit_code == 0
    assert result.paths == [tmp_path / "py" / "I2E-MNIST" / "train-00000-of-00001.parquet"]
    assert result.config_name == "I2E-MNIST" and result.ratio == evio.i2e.PRESETS["mnist"]["ratio"]
    assert calls == [(4, 4)]
    py, cli_ds = (I2EShards(tmp_path / d, config="I2E-MNIST", dtype=bool) for d in ("py", "cli"))
    assert py.file_paths == cli_ds.file_paths and list(py.labels) == list(cli_ds.labels)
    samples = np.stack([py[i][0] for i in range(len(py))])
    np.testing.assert_array_equal(samples, np.stack([cli_ds[i][0] for i in range(len(cli_ds))]))
    np.testing.assert_allclose(result.event_rates, samples.reshape(len(samples), -1).mean(axis=1))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        i2e_folder(image_folder, tmp_path / "py", preset="mnist", overwrite=False)
