"""evio events plug straight into Tonic (skipped when Tonic is not installed)."""

import numpy as np
import pytest

import evio

from conftest import FIXTURES

tonic = pytest.importorskip("tonic")
pytestmark = pytest.mark.peer


def _as_tonic(ev):
    out = np.zeros(len(ev), dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])
    for f in "xytp":
        out[f] = ev[f]
    return out


@pytest.fixture(scope="module")
def real_events():
    return evio.read(FIXTURES / "evt3_sample.npy")


@pytest.mark.parametrize("kwargs", [{"n_time_bins": 4}, {"n_event_bins": 3}, {"time_window": 5000.0}])
def test_tonic_to_frame_accepts_evio_events(real_events, kwargs):
    transform = tonic.transforms.ToFrame(sensor_size=(1280, 720, 2), **kwargs)
    np.testing.assert_array_equal(transform(real_events), transform(_as_tonic(real_events)))


def test_tonic_transforms_output_converts_back(real_events, tmp_path):
    transform = tonic.transforms.Compose([
        tonic.transforms.Denoise(filter_time=10_000),
        tonic.transforms.Downsample(spatial_factor=0.5),
    ])
    from_evio = transform(real_events)
    from_tonic = transform(_as_tonic(real_events))
    np.testing.assert_array_equal(evio.as_events(from_evio), evio.as_events(from_tonic))
    evio.write(tmp_path / "small.h5", from_evio, sensor_size=(640, 360))
    np.testing.assert_array_equal(evio.read(tmp_path / "small.h5"), evio.as_events(from_tonic))
