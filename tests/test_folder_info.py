"""`evio info FOLDER` totals a sample set: the I2E paper's dense / packed / sparse comparison."""

import json

import numpy as np
from click.testing import CliRunner

import evio
from evio import cli, packbits

from conftest import random_events


def test_folder_of_samples_totals_every_representation(tmp_path):
    rng = np.random.default_rng(0)
    dense = [rng.random((8, 2, 16, 24)) < 0.1 for _ in range(5)]
    for i, d in enumerate(dense):
        (tmp_path / "train" / str(i % 2)).mkdir(parents=True, exist_ok=True)
        np.savez_compressed(tmp_path / "train" / str(i % 2) / f"{i}.npz", d)
    evio.write(tmp_path / "events.zarr", random_events(100), sensor_size=(1280, 720))
    (tmp_path / "notes.txt").write_text("not data")
    (tmp_path / "broken.npz").write_bytes(b"junk")
    data = evio.info(tmp_path)
    assert data["files"] == 6 and data["formats"] == {"npz": 5, "zarr": 1}
    assert data["sample_count"] == 5 and data["skipped"] == 1
    assert data["event_count"] == 100 + sum(int(d.sum()) for d in dense)
    reps = data["representations"]
    assert reps["dense_bool"] == 5 * 8 * 2 * 16 * 24
    assert reps["packed_npy"] == 5 * len(packbits.dumps(dense[0]))
    assert reps["sparse_uint8"] == 4 * sum(int(d.sum()) for d in dense)
    result = CliRunner().invoke(cli.main, ["info", str(tmp_path)])
    assert result.exit_code == 0 and "packed npy" in result.output and "1 unreadable" in result.output
    as_json = json.loads(CliRunner().invoke(cli.main, ["info", str(tmp_path), "--json"]).output)
    assert as_json["representations"] == reps


def test_empty_folder(tmp_path):
    data = evio.info(tmp_path)
    assert data["files"] == 0 and data["representations"] is None
