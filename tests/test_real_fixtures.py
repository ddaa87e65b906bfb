"""Real recordings (see fixtures/SOURCES.md) read and survive every store with their ground truth."""

import warnings

import numpy as np
import pytest

import evio

from conftest import FIXTURES

# Ground truth from fixtures/SOURCES.md (verified with faery and expelliarmus there).
NCARS = dict(file="exp18f239a_dat_sample.npy", count=4407, first=(0, 6, 18, True), last=(99937, 48, 47, True),
             on=1671, x_max=53, y_max=60)
EVT3 = dict(file="evt3_sample.npy", count=219_596, first=(11718656, 874, 200, False), last_t=11772513,
            on=115_532, x_max=1279, y_max=719)


def test_ncars_reference_decode_ground_truth():
    ev = evio.read(FIXTURES / NCARS["file"])
    assert len(ev) == NCARS["count"]
    assert tuple(ev[0].tolist()) == NCARS["first"] and tuple(ev[-1].tolist()) == NCARS["last"]
    assert int(ev["p"].sum()) == NCARS["on"]
    assert (int(ev["x"].max()), int(ev["y"].max())) == (NCARS["x_max"], NCARS["y_max"])


def test_evt3_reference_decode_ground_truth():
    raw = np.load(FIXTURES / EVT3["file"])
    ev = evio.read(FIXTURES / EVT3["file"])
    assert len(ev) == EVT3["count"] and tuple(ev[0].tolist()) == EVT3["first"]
    assert int(ev["t"][-1]) == EVT3["last_t"] and int(ev["p"].sum()) == EVT3["on"]
    for f in "txy":
        np.testing.assert_array_equal(ev[f], raw[f])
    np.testing.assert_array_equal(ev["p"], raw["p"] == 1)


@pytest.mark.parametrize("suffix", [".h5", ".zarr", ".npz", ".csv", ".npy"])
def test_real_recording_through_every_format(tmp_path, suffix):
    src = FIXTURES / EVT3["file"]
    ev = evio.read(src)
    dst = tmp_path / ("evt3" + suffix)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evio.LossWarning)
        evio.convert(src, dst, sensor_size=(1280, 720), chunk_size=50_000)
    np.testing.assert_array_equal(evio.read(dst), ev)
    info = evio.info(dst)
    assert info["event_count"] == EVT3["count"] and info["on_count"] == EVT3["on"]
    assert (info["t_min"], info["t_max"]) == (EVT3["first"][0], EVT3["last_t"])
    if suffix != ".npy":
        assert info["sensor_size"] == [1280, 720]


def test_real_recording_time_windows(tmp_path):
    ev = evio.read(FIXTURES / EVT3["file"])
    dst = tmp_path / "evt3.zarr"
    evio.write(dst, ev, sensor_size=(1280, 720), chunk_length=1 << 14)
    with evio.open(dst) as r:
        assert r.has_time_index
        for t0 in range(int(ev["t"][0]) - 500, int(ev["t"][-1]) + 500, 3_700):
            expected = ev[(ev["t"] >= t0) & (ev["t"] < t0 + 1000)]
            np.testing.assert_array_equal(r.time_window(t0, t0 + 1000), expected)
