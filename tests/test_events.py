import numpy as np
import pytest

import evio
from evio.events import from_fields


def test_dtype_contract():
    assert evio.EVENT_DTYPE.names == ("t", "x", "y", "p")
    assert evio.EVENT_DTYPE["t"] == np.int64
    assert evio.EVENT_DTYPE["x"] == np.uint16 and evio.EVENT_DTYPE["y"] == np.uint16
    assert evio.EVENT_DTYPE["p"] == np.bool_
    assert issubclass(evio.FormatError, ValueError)


def test_as_events_passthrough_is_no_copy():
    ev = evio.empty_events(3)
    assert evio.as_events(ev) is ev


def test_tonic_style_structured_array():
    tonic = np.zeros(3, dtype=[("x", "<i2"), ("y", "<i2"), ("p", "?"), ("t", "<i8")])
    tonic["x"], tonic["y"], tonic["t"], tonic["p"] = [1, 2, 3], [4, 5, 6], [7, 8, 9], [True, False, True]
    ev = evio.as_events(tonic)
    assert ev.dtype == evio.EVENT_DTYPE
    assert ev["x"].tolist() == [1, 2, 3] and ev["t"].tolist() == [7, 8, 9]
    assert ev["p"].tolist() == [True, False, True]


def test_spikingjelly_dict_with_big_endian_t():
    sj = {"t": np.array([5, 6], ">u4"), "x": np.array([1, 2], np.uint32),
          "y": np.array([3, 4], np.uint32), "p": np.array([0, 1], np.int64)}
    ev = evio.as_events(sj)
    assert ev["t"].tolist() == [5, 6] and ev["p"].tolist() == [False, True]


def test_polarity_minus_one_is_off():
    ev = from_fields([0, 1, 2], [0, 0, 0], [0, 0, 0], np.array([-1, 1, 0]))
    assert ev["p"].tolist() == [False, True, False]


@pytest.mark.parametrize("field,value", [("x", -1), ("y", 65536), ("x", 70000)])
def test_out_of_range_coordinates_raise(field, value):
    cols = {"t": np.array([0], np.int64), "x": np.array([0], np.int32),
            "y": np.array([0], np.int32), "p": np.array([1], np.int8)}
    cols[field][0] = value
    with pytest.raises(evio.FormatError, match=field):
        evio.as_events(cols)


def test_float_and_huge_timestamps_raise():
    with pytest.raises(evio.FormatError, match="integers"):
        from_fields(np.array([0.5]), [0], [0], [1])
    with pytest.raises(evio.FormatError, match="int64"):
        from_fields(np.array([2**63], np.uint64), [0], [0], [1])


def test_missing_fields_and_length_mismatch():
    with pytest.raises(evio.FormatError, match="missing"):
        evio.as_events(np.zeros(2, dtype=[("t", "<i8"), ("x", "<u2")]))
    with pytest.raises(evio.FormatError, match="lengths"):
        from_fields([0, 1], [0], [0], [0])
    with pytest.raises(evio.FormatError, match="structured"):
        evio.as_events(np.zeros((2, 4)))


def test_aliases_of_other_libraries():
    aedat = np.zeros(2, dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), (("p", "on"), "?")])
    aedat["on"] = [True, False]
    assert evio.as_events(aedat)["p"].tolist() == [True, False]
    dv = np.zeros(2, dtype=[("timestamp", "<i8"), ("x", "<i2"), ("y", "<i2"), ("polarity", "i1")])
    dv["timestamp"] = [5, 6]
    dv["polarity"] = [1, 0]
    ev = evio.as_events(dv)
    assert ev["t"].tolist() == [5, 6] and ev["p"].tolist() == [True, False]
