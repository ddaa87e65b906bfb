"""SpikingJelly's own AEDAT loaders read the AEDAT 2.0 and 3.1 files that evio writes, event for event.

SpikingJelly is the only other reader of these files that its users rely on: CIFAR10-DVS goes through
``cifar10_dvs._load_origin_data`` (jAER AEDAT 2.0, DVS128 addresses, a transpose and flips of its own) and
DVS128 Gesture through ``load_aedat_v3`` (AEDAT 3.1 polarity packets, no flips).
"""

import numpy as np
import pytest
from _sj import load_spikingjelly_datasets
from conftest import FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st

import evio

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def sj():
    module = load_spikingjelly_datasets()
    if module is None:
        pytest.skip("SpikingJelly (and torch) not installed")
    return module


def _real_events_128():
    """Real events (Prophesee EVT3 sample) cropped to the DVS128 array, times rebased to 0."""
    ev = np.load(FIXTURES / "evt3_sample.npy")
    ev = evio.as_events(ev[(ev["x"] < 128) & (ev["y"] < 128)]).copy()
    ev["t"] -= ev["t"].min()
    return ev


def _assert_same(ev, sj_events):
    assert len(sj_events["t"]) == len(ev)
    for name in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(np.asarray(sj_events[name]).astype(np.int64), ev[name].astype(np.int64),
                                      err_msg=name)


def _sj_cifar10dvs(sj, path):
    return sj.cifar10_dvs._load_origin_data(str(path))


@st.composite
def _events(draw, w, h, t_max):
    n = draw(st.integers(0, 40))
    ev = np.empty(n, dtype=evio.EVENT_DTYPE)
    ev["t"] = sorted(draw(st.lists(st.integers(0, t_max), min_size=n, max_size=n)))
    ev["x"] = draw(st.lists(st.integers(0, w - 1), min_size=n, max_size=n))
    ev["y"] = draw(st.lists(st.integers(0, h - 1), min_size=n, max_size=n))
    ev["p"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return ev


def test_cifar10dvs_loader_reads_evio_aedat2_real(sj, tmp_path):
    """Written in evio's default image orientation, read by SpikingJelly: its preset, event for event."""
    ev = _real_events_128()
    path = tmp_path / "cifar10_airplane_0.aedat"
    evio.write(path, ev, format="aedat2")
    sj_events = _sj_cifar10dvs(sj, path)
    _assert_same(evio.read(path, orientation="spikingjelly-cifar10dvs"), sj_events)
    # the preset is the documented transpose of the image orientation, polarity unchanged
    np.testing.assert_array_equal(np.asarray(sj_events["x"]), ev["y"])
    np.testing.assert_array_equal(np.asarray(sj_events["y"]), ev["x"])
    np.testing.assert_array_equal(np.asarray(sj_events["p"]), ev["p"].astype(int))


@settings(max_examples=40, deadline=None)
@given(ev=_events(128, 128, 2**31 - 1))
def test_cifar10dvs_loader_property(sj, tmp_path_factory, ev):
    path = tmp_path_factory.mktemp("sj2") / "s.aedat"
    evio.write(path, ev, format="aedat2", orientation="spikingjelly-cifar10dvs")
    _assert_same(ev, _sj_cifar10dvs(sj, path))


def test_gesture_loader_reads_evio_aedat3_real(sj, tmp_path):
    ev = _real_events_128()
    path = tmp_path / "user01_fluorescent.aedat"
    evio.write(path, ev, format="aedat3")
    _assert_same(ev, sj.load_aedat_v3(str(path)))


@settings(max_examples=40, deadline=None)
@given(ev=_events(128, 128, 2**40))
def test_gesture_loader_property(sj, tmp_path_factory, ev):
    """Timestamps past 2^31 travel in tsOverflow, which SpikingJelly shifts back in."""
    path = tmp_path_factory.mktemp("sj3") / "s.aedat"
    evio.write(path, ev, format="aedat3")
    _assert_same(ev, sj.load_aedat_v3(str(path)))
