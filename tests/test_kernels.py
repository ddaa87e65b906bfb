import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from evio.kernels import text
from evio.kernels.summary import summarize
from evio.kernels.time_index import TimeIndexBuilder, window_bounds

from conftest import event_arrays


@given(event_arrays())
def test_summary_matches_numpy(ev):
    s = summarize(ev)
    assert s.count == len(ev)
    if len(ev):
        assert s.on == int(ev["p"].sum())
        assert (s.t_min, s.t_max) == (int(ev["t"].min()), int(ev["t"].max()))
        assert (s.x_max, s.y_max) == (int(ev["x"].max()), int(ev["y"].max()))
        assert s.is_sorted == bool(np.all(ev["t"][1:] >= ev["t"][:-1]))


@given(st.lists(st.integers(0, 10**7), max_size=300), st.integers(1, 50), st.integers(1, 5000))
def test_time_index_matches_brute_force(deltas, n_chunks, bin_width):
    t = np.cumsum(np.array(deltas, dtype=np.int64)) + 123
    builder = TimeIndexBuilder(int(t[0]) if len(t) else 0, bin_width)
    for part in np.array_split(t, n_chunks):
        builder.add(part)
    index = builder.finish()
    w = builder.bin_width
    assert index[-1] == len(t)
    rel = t - builder.t_offset
    for m in range(len(index) - 1):
        assert index[m] == np.searchsorted(rel, m * w, side="left")
    if len(t):
        assert len(index) - 1 == rel[-1] // w + 1


def test_time_index_coarsens_for_sparse_streams():
    t = np.array([0, 1, 2**62], dtype=np.int64)
    builder = TimeIndexBuilder(0)
    builder.add(t)
    index = builder.finish()
    assert len(index) <= (1 << 20) + 1
    assert builder.bin_width > 1000
    lo0, hi0, lo1, hi1 = window_bounds(index, builder.bin_width, 0, 2, 2**62)
    assert lo0 <= 2 <= hi0 and lo1 <= 2 <= hi1


@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(0, 65535),
                          st.integers(0, 65535), st.booleans()), max_size=50))
def test_text_format_then_parse_roundtrip(rows):
    t = np.array([r[0] for r in rows], np.int64)
    x = np.array([r[1] for r in rows], np.uint16)
    y = np.array([r[2] for r in rows], np.uint16)
    p = np.array([r[3] for r in rows], np.uint8)
    buf = np.empty(max(1, len(rows)) * text.MAX_ROW_BYTES, np.uint8)
    n = text.format_rows(t, x, y, p, buf)
    assert buf[:n].tobytes().decode() == "".join(f"{a},{b},{c},{int(d)}\n" for a, b, c, d in rows)
    out = np.empty((len(rows) + 1, 4), np.int64)
    got, used, err, _ = text.parse_rows(buf[:n], out)
    assert (got, used, err) == (len(rows), n, text.PARSE_OK)
    assert out[:got, 0].tolist() == t.tolist()
    assert out[:got, 3].tolist() == p.tolist()


def test_parse_errors_point_at_the_byte():
    out = np.empty((4, 4), np.int64)
    for line, code, at in [(b"1,2,3\n", text.PARSE_FIELD_COUNT, 5), (b"1,2,3,4,5\n", text.PARSE_FIELD_COUNT, 8),
                           (b"1,a,3,4\n", text.PARSE_EMPTY_FIELD, 2), (b"1;2,3,4\n", text.PARSE_BAD_CHAR, 1),
                           (b"99999999999999999999,1,1,1\n", text.PARSE_OVERFLOW, 19),
                           (b"9223372036854775808,1,1,1\n", text.PARSE_OVERFLOW, 19)]:
        rows, used, err, pos = text.parse_rows(np.frombuffer(line, np.uint8), out)
        assert (rows, err, pos) == (0, code, at), line
    rows, used, err, _ = text.parse_rows(np.frombuffer(b"-9223372036854775808,0,0,0\r\n\n", np.uint8), out)
    assert (rows, err, out[0, 0]) == (1, text.PARSE_OK, np.iinfo(np.int64).min)
