import numpy as np
import pytest
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


# -- AEDAT 2.0: the vector fast path against the exact per-word loop ------------------------------

def _aedat2_words(rng, n, chip, mix):
    """``n`` big-endian 8-byte words: polarity events, plus (``mix``) specials, addresses outside a
    96 x 100 sensor, and timestamps that wrap or jump back."""
    from evio.kernels import aer

    if chip == aer.CHIP_DVS128:
        addr = (rng.integers(0, 128, n) << 1) | (rng.integers(0, 128, n) << 8) | rng.integers(0, 2, n)
        special = np.uint64(0x8000)
    else:
        addr = (rng.integers(0, 346, n) << 12) | (rng.integers(0, 260, n) << 22) | (rng.integers(0, 2, n) << 11)
        special = np.uint64(0x80000000)
    ts = np.cumsum(rng.integers(0, 3000, n)) + int(rng.integers(0, 2 ** 32))
    addr = addr.astype(np.uint64)
    if mix:
        hit = rng.random(n) < 0.002
        addr[hit] |= special if rng.random() < 0.5 else np.uint64(0x400)
        back = rng.random(n) < 0.001
        ts[back] -= rng.integers(1, 2 ** 33, int(back.sum()))
    words = (addr << np.uint64(32)) | (ts.astype(np.uint64) & np.uint64(0xFFFFFFFF))
    return words.astype(">u8").view(np.uint8)


@given(st.integers(0, 9000), st.sampled_from([0, 1]), st.sampled_from([0, 1, 2]), st.booleans(),
       st.booleans(), st.integers(0, 2 ** 32 - 1), st.sampled_from([(128, 128), (96, 100), (346, 260)]),
       st.integers(0, 3))
def test_aedat2_fast_path_equals_exact_loop(n, chip, orient, unwrap, mix, seed, size, start):
    from evio.events import EVENT_DTYPE
    from evio.kernels import aer

    width, height = size
    buf = _aedat2_words(np.random.default_rng(seed), n, chip, mix)

    def decode(fast):
        out = np.zeros(n + start, EVENT_DTYPE)
        stats, tstate = np.zeros(4, np.int64), np.array([7, 5 << 32], np.int64)
        raw = out.view(np.uint8) if fast else np.empty(0, np.uint8)
        k = aer.aedat2_decode(buf, 8, chip, orient, width, height, unwrap, out["t"][start:], out["x"][start:],
                              out["y"][start:], out["p"][start:], stats, tstate, raw, start)
        return out[start:start + k], stats, tstate

    fast, fast_stats, fast_state = decode(True)
    exact, exact_stats, exact_state = decode(False)
    assert np.array_equal(fast, exact)
    assert np.array_equal(fast_stats, exact_stats) and np.array_equal(fast_state, exact_state)


def test_stale_caches_are_dropped_when_the_ir_helpers_change(tmp_path):
    from evio.kernels import drop_stale_caches

    (tmp_path / "_llvm.py").write_text("version = 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    (cache / "frames.count_ranges-1.py311.nbi").write_bytes(b"x")
    (cache / "frames.count_ranges-1.py311.1.nbc").write_bytes(b"x")
    (cache / "other.pyc").write_bytes(b"x")
    assert drop_stale_caches(tmp_path)                     # no stamp yet: caches of unknown origin go
    assert sorted(p.name for p in cache.iterdir()) == ["_llvm.sha256", "other.pyc"]
    (cache / "aer.aedat2_decode-29.py311.nbi").write_bytes(b"x")
    assert not drop_stale_caches(tmp_path)                 # unchanged helpers: caches kept
    assert (cache / "aer.aedat2_decode-29.py311.nbi").exists()
    (tmp_path / "_llvm.py").write_text("version = 2\n")
    assert drop_stale_caches(tmp_path)
    assert not (cache / "aer.aedat2_decode-29.py311.nbi").exists()


# -- EVT 2.0: the 8-word vector path against the word-by-word loop --------------------------------

@given(st.integers(0, 3000), st.floats(0, 0.5), st.integers(0, 2 ** 32 - 1), st.integers(1, 4000), st.integers(0, 5))
def test_evt2_vector_path_equals_word_loop(n, other, seed, cap, start):
    from evio.events import EVENT_DTYPE
    from evio.kernels import prophesee as K

    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 2, n).astype(np.uint32)
    special = rng.random(n) < other
    kind[special] = rng.choice(np.array([8, 10, 14, 2], np.uint32), int(special.sum()))
    body = (rng.integers(0, 64, n).astype(np.uint32) << 22) | (rng.integers(0, 2048, n).astype(np.uint32) << 11) \
        | rng.integers(0, 2048, n).astype(np.uint32)
    high = rng.integers(0, 1 << 28, n).astype(np.uint32)                  # TIME_HIGH values jump (and wrap)
    words = np.where(kind == 8, (np.uint32(8) << 28) | high, (kind << 28) | body).astype("<u4")

    def decode(fast):
        out = np.zeros(start + cap, EVENT_DTYPE)
        tt, tid, tval = np.zeros(n + 1, np.int64), np.zeros(n + 1, np.uint8), np.zeros(n + 1, np.bool_)
        state = np.array([5, 3 << 34, 1], np.int64)
        raw = out.view(np.uint8) if fast else np.empty(0, np.uint8)
        used, ne, nt = K.decode_evt2_into(words, out["t"][start:], out["x"][start:], out["y"][start:],
                                          out["p"][start:], tt, tid, tval, state, raw, start)
        return used, out[start:start + ne], tt[:nt], tid[:nt], tval[:nt], state

    fast, exact = decode(True), decode(False)
    assert fast[0] == exact[0]
    for a, b in zip(fast[1:], exact[1:]):
        assert np.array_equal(a, b)


# -- DAT: the record loop against a transcription of the format --------------------------------

@given(st.integers(0, 3000), st.sampled_from([1, 2]), st.floats(0, 0.02), st.integers(0, 2 ** 32 - 1),
       st.booleans(), st.integers(0, 3000))
def test_dat_decoder_equals_reference(n, version, wrap, seed, seen, split):
    from evio.events import EVENT_DTYPE
    from evio.kernels import prophesee as K

    rng = np.random.default_rng(seed)
    t = (np.cumsum(rng.integers(0, 2 ** 20, n)) + int(rng.integers(0, 2 ** 32))) % 2 ** 32   # wraps now and then
    back = rng.random(n) < wrap
    t[back] = rng.integers(0, 2 ** 32, int(back.sum()))                                     # and jumps anywhere
    words = np.empty((n, 2), "<u4")
    words[:, 0] = t
    words[:, 1] = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)           # every bit pattern
    state = np.array([int(t[0]) if n and seen else 0, 7 << 32, int(seen)], np.int64)

    expect = np.zeros(n, EVENT_DTYPE)
    prev, offset, seen_t = (int(v) for v in state)
    for i, (raw_t, d) in enumerate(words.tolist()):
        offset += 2 ** 32 if seen_t and prev - raw_t > 2 ** 31 else 0
        prev, seen_t = raw_t, 1
        x, y, p = (d & 0x1FF, d >> 9 & 0xFF, d >> 17 & 0xF) if version == 1 else (d & 0x3FFF, d >> 14 & 0x3FFF, d >> 28 & 0xF)
        expect[i] = (offset + raw_t, x, y, p > 0)
    out = np.zeros(n, EVENT_DTYPE)
    for lo, hi in ((0, min(split, n)), (min(split, n), n)):                   # in two calls, the state between
        K.decode_dat(words[lo:hi], version, out["t"][lo:hi], out["x"][lo:hi], out["y"][lo:hi], out["p"][lo:hi], state)
    assert np.array_equal(out, expect) and state.tolist() == [prev, offset, seen_t]


# -- AEDAT 3.1: the 8-event vector path against the event loop ------------------------------------

@given(st.lists(st.tuples(st.integers(0, 700), st.floats(0, 0.05), st.integers(0, 3)), max_size=6),
       st.integers(0, 2 ** 32 - 1), st.integers(1, 3000), st.integers(0, 5))
def test_aedat3_vector_path_equals_event_loop(packets, seed, cap, start):
    from evio.events import EVENT_DTYPE
    from evio.kernels import aer

    rng = np.random.default_rng(seed)
    parts = []
    for number, odd, tsovf in packets:
        data = (rng.integers(0, 400, number).astype(np.uint32) << 17) | (rng.integers(0, 300, number).astype(np.uint32) << 2) \
            | (rng.integers(0, 2, number).astype(np.uint32) << 1) | np.uint32(1)
        hit = rng.random(number) < odd
        data[hit] &= ~np.uint32(1)                                   # invalid events among valid ones
        ts = np.sort(rng.integers(0, 2 ** 31, number)).astype(np.uint32)
        valid = int(number - hit.sum())
        header = np.array([1, 0], "<u2").tobytes() + np.array([8, 4, tsovf, number, number, valid], "<i4").tobytes()
        body = np.empty((number, 2), "<u4")
        body[:, 0], body[:, 1] = data, ts
        parts.append(header + body.tobytes())
    buf = np.frombuffer(b"".join(parts), np.uint8)

    def decode(fast):
        out = np.zeros(start + cap, EVENT_DTYPE)
        state, stats = np.zeros(2, np.int64), np.zeros(8, np.int64)
        raw = out.view(np.uint8) if fast else np.empty(0, np.uint8)
        got = []
        while True:
            k, status = aer.aedat3_decode(buf, state, 346, 260, out["t"][start:], out["x"][start:], out["y"][start:],
                                          out["p"][start:], stats, raw, start)
            got.append(out[start:start + k].copy())
            if status != aer.A3_MORE:
                return np.concatenate(got), status, stats

    (a, sa, ta), (b, sb, tb) = decode(True), decode(False)
    assert sa == sb == aer.A3_END                                    # the packets are well formed
    assert len(b) == sum(n for n, _, _ in packets) - int(tb[aer.A3_INVALID]) - int(tb[aer.A3_OUT_OF_RANGE])
    assert np.array_equal(a, b) and np.array_equal(ta, tb)


# -- the IR without typed pointers, and EVIO_SCALAR_KERNELS ------------------------------------------

def test_ir_helpers_need_no_pointee_types(monkeypatch):
    """Every load, GEP and store of the IR goes through helpers that state its element type, as the
    opaque pointers of llvmlite without typed pointers need: built from pointers that carry no pointee
    type (``as_pointer`` made opaque, as it will be), the IR verifies."""
    import ast
    import inspect

    from llvmlite import binding, ir

    from evio.kernels import _llvm

    tree = ast.parse(inspect.getsource(_llvm))
    users = {top.name for top in tree.body if isinstance(top, ast.FunctionDef) for node in ast.walk(top)
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("load", "gep", "store")}
    assert users == {"_advance", "_load", "_store"}
    if not _llvm._EXPLICIT_TYPES:
        pytest.skip("this llvmlite has typed pointers only")
    typed = ir.Type.as_pointer                       # llvmlite 0.50 itself still needs typed function pointers
    monkeypatch.setattr(ir.Type, "as_pointer", lambda self, addrspace=0: typed(self, addrspace)
                        if isinstance(self, ir.FunctionType) else ir.PointerType(addrspace=addrspace))
    block = ir.VectorType(_llvm.I8, 8 * _llvm.RECORD)
    module = ir.Module()
    fn = ir.Function(module, ir.FunctionType(block, [ir.PointerType(), _llvm.I64]), "copy_block")
    builder = ir.IRBuilder(fn.append_basic_block())
    address = _llvm._advance(builder, fn.args[0], fn.args[1])
    _llvm._prefetch(builder, address)
    value = _llvm._load(builder, address, block)
    _llvm._store(builder, value, address)
    builder.ret(value)
    assert '@"llvm.prefetch.p0"(' in str(module)
    binding.parse_assembly(str(module)).verify()


_SWITCH_PROBE = """
import hashlib, json, sys, tempfile
from pathlib import Path

import evio
from evio.kernels import aer, frames, prophesee

offered = {}

def spy(module, name, raw_at):
    kernel = getattr(module, name)
    def call(*args):
        offered[name] = offered.get(name, False) or len(args[raw_at]) > 0
        return kernel(*args)
    setattr(module, name, call)

spy(frames, "count_ranges", 1)
spy(aer, "aedat2_decode", 13)
spy(aer, "aedat3_decode", 9)
spy(prophesee, "decode_evt2_into", 9)
digest = hashlib.sha256()
ev = evio.read(Path(sys.argv[1]) / "evt2_sample.raw")
digest.update(ev.tobytes())
digest.update(evio.frames(ev, 8).tobytes())
part = ev[(ev["x"] < 346) & (ev["y"] < 260)]
with tempfile.TemporaryDirectory() as tmp:
    for fmt, options in (("aedat2", {"chip": "davis346"}), ("aedat3", {})):
        evio.write(Path(tmp) / fmt, part, format=fmt, **options)
        digest.update(evio.read(Path(tmp) / fmt, format=fmt).tobytes())
print(json.dumps({"offered": offered, "digest": digest.hexdigest()}))
"""


def test_scalar_switch_withholds_the_vector_paths():
    """With ``EVIO_SCALAR_KERNELS=1`` no kernel is given the record bytes its vector path needs (the
    EVT 2.0 decoder, frame counting, AEDAT 2.0 and 3.1 written from the same real events), and the
    results are those of the vector paths."""
    import json
    import os
    import subprocess
    import sys

    from conftest import FIXTURES

    runs = {}
    for switch in ("0", "1"):
        env = {**os.environ, "EVIO_SCALAR_KERNELS": switch}
        done = subprocess.run([sys.executable, "-c", _SWITCH_PROBE, str(FIXTURES)], env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        runs[switch] = json.loads(done.stdout.splitlines()[-1])
    kernels = {"count_ranges", "aedat2_decode", "aedat3_decode", "decode_evt2_into"}
    assert runs["0"]["offered"] == dict.fromkeys(kernels, True)
    assert runs["1"]["offered"] == dict.fromkeys(kernels, False)
    assert runs["0"]["digest"] == runs["1"]["digest"]
