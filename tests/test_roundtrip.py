"""Every valid event array survives every format and every pair of conversions, field for field."""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import evio

from conftest import event_arrays

SUFFIXES = {"hdf5": ".h5", "zarr": ".zarr", "npz": ".npz", "npy": ".npy", "csv": ".csv"}
META_FORMATS = {"hdf5", "zarr", "npz", "csv"}


def _assert_same(a, b):
    assert a.dtype == evio.EVENT_DTYPE and b.dtype == evio.EVENT_DTYPE
    assert len(a) == len(b)
    for f in evio.EVENT_DTYPE.names:
        np.testing.assert_array_equal(a[f], b[f], err_msg=f)


def _meta(reader):
    return {k: v for k, v in reader.meta.items() if k not in ("format", "source_format", "sensor_size_inferred")}


@pytest.mark.parametrize("fmt", list(SUFFIXES))
@given(ev=event_arrays())
def test_write_read_identity(tmp_path_factory, fmt, ev):
    path = tmp_path_factory.mktemp(fmt) / ("ev" + SUFFIXES[fmt])
    size = (int(ev["x"].max()) + 1, int(ev["y"].max()) + 1) if len(ev) else (7, 5)
    meta = {"camera": "DVXplorer", "start_time_us": 1633953690975950}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evio.LossWarning)
        evio.write(path, ev, sensor_size=size, meta=meta)
    _assert_same(evio.read(path), ev)
    with evio.open(path) as r:
        if fmt == "csv":
            with pytest.raises(TypeError, match="event count"):
                len(r)
        else:
            assert len(r) == len(ev)
        _assert_same(np.concatenate([evio.empty_events()] + list(r.chunks(7))), ev)
        if fmt in META_FORMATS:
            assert r.sensor_size == size
            assert _meta(r) == {"sensor_size": list(size), "time_unit": "us", **meta}


@pytest.mark.parametrize("src,dst", list(itertools.product(SUFFIXES, SUFFIXES)))
@settings(max_examples=12)
@given(ev=event_arrays(max_size=30))
def test_every_pair_of_conversions(tmp_path_factory, src, dst, ev):
    d = tmp_path_factory.mktemp(f"{src}-{dst}")
    a, b = d / ("a" + SUFFIXES[src]), d / ("b" + SUFFIXES[dst])
    meta = {"camera": "DAVIS346", "time_unit": "us"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", evio.LossWarning)
        evio.write(a, ev, sensor_size=(65536, 65536), meta=meta)
        evio.convert(a, b, chunk_size=5)
    _assert_same(evio.read(b), ev)
    if src in META_FORMATS and dst in META_FORMATS:
        with evio.open(b) as r:
            assert r.sensor_size == (65536, 65536)
            assert r.meta["camera"] == "DAVIS346"
            assert r.meta["source_format"] == src


def test_npy_warns_when_metadata_is_lost(tmp_path):
    ev = evio.empty_events(2)
    with pytest.warns(evio.LossWarning, match="sensor_size"):
        evio.write(tmp_path / "a.npy", ev, sensor_size=(4, 4))
