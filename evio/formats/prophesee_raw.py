"""Prophesee ``.raw`` recordings: EVT 2.0, EVT 2.1 and EVT 3.0 (see ``docs/formats/prophesee.md``).

The encoding comes from the ``% evt x.y`` or ``% format EVTx;...`` header line (or the reader
option ``encoding=`` when the header names none). The sensor size comes from ``% geometry WxH`` or
``% format ...;height=H;width=W``, else from the plugin/sensor name (gen3 640x480, gen4.1 / IMX636
1280x720, ...), else it is unknown (None). x/y are top-left origin; ``p`` True is CD ON.

Reading streams blocks of ``block_bytes`` (option) through Numba decoders with explicit state, so
memory stays bounded and any block size gives the same events. External triggers are not events:
:meth:`RawReader.triggers` returns them. A trailing partial word raises :class:`FormatError`.

Writing supports EVT 2.0 and EVT 3.0 (``encoding="evt2"``/``"evt3"``; by default the encoding the
metadata names, as a converted RAW file carries it, else EVT 2.0); t must be non-decreasing and
>= 0, x and y < 2048.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE, record_bytes
from ..kernels import prophesee as K
from ..registry import FormatSpec
from ._buffer import grow_events, join_events, trim_events
from .base import EventReader, EventWriter, HeaderAfterBody

DEFAULT_BLOCK_BYTES = 1 << 22
#: A header larger than this is rejected (real headers are well under 4 KiB).
MAX_HEADER_BYTES = 1 << 20
#: Events decoded per kernel call at most (bounds the output buffers).
MAX_DECODE_EVENTS = 1 << 20
#: Bytes per file read in :meth:`RawReader.read` / ``DatReader.read`` at least (memory: output + one block).
READ_BLOCK_BYTES = 1 << 24


def read_percent_header(f, path, *, stop_at_end: bool):
    """Read leading ``%`` lines from the binary file ``f``; return ``(lines, data_offset)``.

    The header is every line starting with ``%``; it ends at the first byte that is not ``%`` at
    the start of a line, or (``stop_at_end``) right after a ``% end`` line. Lines are decoded as
    latin-1, trailing CR/LF removed, and the leading ``%`` and one space stripped.
    """
    f.seek(0)
    lines = []
    offset = 0
    while True:
        first = f.read(1)
        if first != b"%":
            break
        rest = f.readline(MAX_HEADER_BYTES)
        line = first + rest
        if not rest.endswith(b"\n"):
            raise FormatError("header line without a newline (truncated or hostile header)", path, offset)
        offset += len(line)
        if offset > MAX_HEADER_BYTES:
            raise FormatError(f"header longer than {MAX_HEADER_BYTES} bytes", path, offset)
        text = line[1:].rstrip(b"\r\n").decode("latin-1")
        text = text.removeprefix(" ")
        lines.append(text)
        if stop_at_end and text.strip() == "end":
            break
    f.seek(offset)
    return lines, offset


def header_dict(lines) -> dict:
    """``key value`` lines as a dict (the first word is the key; later duplicates win)."""
    out = {}
    for line in lines:
        parts = line.strip().split(None, 1)
        if parts:
            out[parts[0]] = parts[1] if len(parts) > 1 else ""
    return out


def positive_int(text, what, path):
    try:
        v = int(str(text).strip())
    except ValueError:
        raise FormatError(f"header {what} {text!r} is not an integer", path, 0) from None
    if not 0 < v <= 65536:
        raise FormatError(f"header {what} {v} out of range 1..65536", path, 0)
    return v


#: Events per output piece at most; chunks larger than this are joined from pieces.
_PIECE = 1 << 20


def read_words(f, block, k, path):
    """Read ``k`` items of ``block``'s dtype from ``f`` into the reused buffer ``block``; return that view."""
    words = block[:k]
    got = f.readinto(words.view(np.uint8))
    if got != words.nbytes:
        raise FormatError("file shrank while reading", path, f.tell())
    return words


class Rechunker:
    """Copies decoded columns into ``EVENT_DTYPE`` chunks of exactly ``size`` events (the last one
    shorter): :meth:`add` columns, then take complete chunks from :meth:`ready`, the tail from
    :meth:`rest`. Memory: one chunk under construction plus what the caller keeps."""

    def __init__(self, size: int):
        self.size = size
        self.pieces: list[np.ndarray] = []  # full pieces of the chunk under construction
        self.n = 0  # events in self.pieces
        self.done: list[np.ndarray] = []
        self._new()

    def _new(self):
        self.buf = np.empty(min(_PIECE, self.size - self.n), dtype=EVENT_DTYPE)
        self.fill = 0

    def add(self, t, x, y, p):
        k, n = 0, len(t)
        while k < n:
            buf, f = self.buf, self.fill
            m = min(n - k, len(buf) - f)
            buf["t"][f:f + m] = t[k:k + m]
            buf["x"][f:f + m] = x[k:k + m]
            buf["y"][f:f + m] = y[k:k + m]
            buf["p"][f:f + m] = p[k:k + m]
            self.advance(m)
            k += m

    def room(self, need):
        """Field views ``(t, x, y, p)`` of the free part of the piece under construction, for a
        decoder to write into directly (then call :meth:`advance`); None if under ``need`` free."""
        buf, f = self.buf, self.fill
        if len(buf) - f < need:
            return None
        free = buf[f:]
        return free["t"], free["x"], free["y"], free["p"]

    def room_bytes(self):
        """``(bytes of the piece under construction, index of its first free record)``, for decoders
        that write whole records (see ``decode_evt2_into``)."""
        return record_bytes(self.buf), self.fill

    def advance(self, m):
        """Count ``m`` events written into the free part (by :meth:`add` or a decoder)."""
        self.fill += m
        buf = self.buf
        if self.fill == len(buf):
            self.pieces.append(buf)
            self.n += len(buf)
            if self.n == self.size:
                self.done.append(join_events(self.pieces))
                self.pieces, self.n = [], 0
            self._new()

    def ready(self):
        done, self.done = self.done, []
        yield from done

    def rest(self):
        yield from self.ready()
        parts = self.pieces + ([self.buf[:self.fill]] if self.fill else [])
        if parts:
            yield join_events(parts)
        self.pieces, self.n = [], 0
        self._new()


TRIGGER_DTYPE = np.dtype([("t", "<i8"), ("id", "u1"), ("value", "?")])

#: Sensor size by plugin/sensor name when the header has no geometry (checked in order).
GEOMETRY_FALLBACKS = (
    ("gen41", (1280, 720)),
    ("gen4.1", (1280, 720)),
    ("imx636", (1280, 720)),
    ("imx646", (1280, 720)),
    ("gen4", (1280, 720)),
    ("imx8", (1280, 720)),
    ("gen31", (640, 480)),
    ("gen3.1", (640, 480)),
    ("gen3", (640, 480)),
    ("genx320", (320, 320)),
    ("imx708", (320, 320)),
)

_ENCODINGS = {"2.0": "evt2", "2": "evt2", "evt2": "evt2", "evt2.0": "evt2",
              "2.1": "evt21", "evt2.1": "evt21", "evt21": "evt21",
              "3.0": "evt3", "3": "evt3", "evt3": "evt3", "evt3.0": "evt3"}
_VERSION_NAME = {"evt2": "EVT 2.0", "evt21": "EVT 2.1", "evt3": "EVT 3.0"}
_WORD = {"evt2": 4, "evt21": 8, "evt3": 2}
_MAX_PER_WORD = {"evt2": 1, "evt21": 32, "evt3": 12}
#: Largest t the writers accept: time above the 34-bit (EVT2) / 24-bit (EVT3) time base is carried
#: by TIME_HIGH wraps, one bridging word per 2**33 µs (EVT2) or 2047 * 4096 µs (EVT3).
_T_LIMIT = {"evt2": (1 << 50) - 1, "evt3": (1 << 40) - 1}


def _encoding_name(value, path):
    key = str(value).strip().lower().replace(" ", "")
    if key not in _ENCODINGS:
        raise FormatError(f"unsupported Prophesee encoding {value!r} (evio reads EVT 2.0, 2.1, 3.0)", path, 0)
    return _ENCODINGS[key]


def parse_raw_header(lines, path):
    """``(encoding or None, (W, H) or None, geometry source, header dict)`` from header lines."""
    head = header_dict(lines)
    encoding = None
    size = None
    source = None
    fmt = head.get("format")
    if fmt:
        parts = [s.strip() for s in fmt.split(";")]
        encoding = _encoding_name(parts[0], path)
        kv = dict(s.split("=", 1) for s in parts[1:] if "=" in s)
        if "width" in kv and "height" in kv:
            size = (positive_int(kv["width"], "width", path), positive_int(kv["height"], "height", path))
            source = "format"
    if "evt" in head:
        enc = _encoding_name(head["evt"], path)
        if encoding is not None and enc != encoding:
            raise FormatError(f"header says both evt {head['evt']} and format {fmt}", path, 0)
        encoding = enc
    if size is None and "geometry" in head:
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", head["geometry"])
        if not m:
            raise FormatError(f"cannot parse geometry {head['geometry']!r}", path, 0)
        size = (positive_int(m.group(1), "width", path), positive_int(m.group(2), "height", path))
        source = "geometry"
    if size is None:
        names = " ".join(head.get(k, "") for k in ("plugin_name", "sensor_generation", "camera_integrator_name",
                                                   "system_ID", "sensor_name")).lower()
        tokens = set(re.split(r"[^a-z0-9.]+", names))
        for key, dims in GEOMETRY_FALLBACKS:
            if key in tokens:
                size, source = dims, f"fallback:{key}"
                break
    return encoding, size, source, head


class RawReader(EventReader):
    """Options: ``block_bytes`` (bytes read per block, rounded down to whole words, at least one
    word), ``encoding`` (``"evt2"``, ``"evt2.1"``, ``"evt3"``: used when the header names none;
    an error if it contradicts the header), ``sensor_size`` (fallback when the header has none)."""

    format_name = "prophesee-raw"

    def __init__(self, path, *, block_bytes: int = DEFAULT_BLOCK_BYTES, encoding: str | None = None,
                 sensor_size=None, **options):
        super().__init__(path, **options)
        if int(block_bytes) < 1:
            raise ValueError(f"block_bytes must be >= 1, got {block_bytes}")
        self._file = open(self.path, "rb")
        try:
            self._open(int(block_bytes), encoding, sensor_size)
        except BaseException:
            self._file.close()
            raise

    def _open(self, block_bytes, encoding, sensor_size):
        lines, self.data_offset = read_percent_header(self._file, self.path, stop_at_end=True)
        enc, size, source, head = parse_raw_header(lines, self.path)
        if encoding is not None:
            forced = _encoding_name(encoding, self.path)
            if enc is not None and enc != forced:
                raise FormatError(f"encoding={encoding!r} contradicts the header ({_VERSION_NAME[enc]})", self.path, 0)
            enc = forced
        if enc is None:
            raise FormatError("header names no encoding (no '% evt' or '% format' line); pass encoding=", self.path, 0)
        if size is None and sensor_size is not None:
            size, source = (int(sensor_size[0]), int(sensor_size[1])), "option"
        self.encoding = enc
        self.version = _VERSION_NAME[enc]
        self._word = _WORD[enc]
        self.block_bytes = max(self._word, block_bytes - block_bytes % self._word)
        self._file.seek(0, 2)
        end = self._file.tell()
        tail = (end - self.data_offset) % self._word
        if tail:
            raise FormatError(f"truncated file: {tail} trailing byte(s) do not make a whole {self._word}-byte word",
                              self.path, end - tail)
        self.n_words = (end - self.data_offset) // self._word
        self.header = head
        self.meta.update(sensor_size=None if size is None else list(size), encoding=self.version,
                         header_offset=self.data_offset)
        if source is not None:
            self.meta["sensor_size_source"] = source
        for key in ("serial_number", "plugin_name", "Date", "date"):
            if key in head:
                self.meta[key.lower()] = head[key]
        self.count = None
        self._trigger_cache = None

    def _decode(self):
        """Yield ``(t, x, y, p, tt, tid, tval)`` per kernel call over the whole file."""
        enc = self.encoding
        state = np.zeros(K.EVT3_STATE if enc == "evt3" else K.EVT2_STATE, dtype=np.int64)
        kernel = {"evt2": K.decode_evt2, "evt21": K.decode_evt21, "evt3": K.decode_evt3}[enc]
        dtype = {"evt2": "<u4", "evt21": "<u8", "evt3": "<u2"}[enc]
        per = _MAX_PER_WORD[enc]
        words_per_block = self.block_bytes // self._word
        cap = max(per, min(MAX_DECODE_EVENTS, words_per_block * per))
        tcap = max(1, min(MAX_DECODE_EVENTS, words_per_block))
        t = np.empty(cap, np.int64)
        x = np.empty(cap, np.uint16)
        y = np.empty(cap, np.uint16)
        p = np.empty(cap, np.bool_)
        tt = np.empty(tcap, np.int64)
        tid = np.empty(tcap, np.uint8)
        tval = np.empty(tcap, np.bool_)
        self._file.seek(self.data_offset)
        remaining = self.n_words
        while remaining:
            k = min(words_per_block, remaining)
            raw = self._file.read(k * self._word)
            if len(raw) != k * self._word:
                raise FormatError("file shrank while reading", self.path, self._file.tell())
            remaining -= k
            words = np.frombuffer(raw, dtype=dtype)
            pos = 0
            while pos < len(words):
                used, ne, nt = kernel(words[pos:], t, x, y, p, tt, tid, tval, state)
                if used == 0 and ne == 0 and nt == 0:  # pragma: no cover - capacity always fits one word
                    raise RuntimeError("decoder made no progress")
                pos += used
                yield t[:ne], x[:ne], y[:ne], p[:ne], tt[:nt], tid[:nt], tval[:nt]

    def _chunks(self, size):
        """Decode straight into the chunk under construction while it has room for the most
        events one word can hold; near its end, word by word through small scratch columns."""
        acc = Rechunker(size)
        trig = []
        enc = self.encoding
        state = np.zeros(K.EVT3_STATE if enc == "evt3" else K.EVT2_STATE, dtype=np.int64)
        kernel = {"evt2": K.decode_evt2, "evt21": K.decode_evt21, "evt3": K.decode_evt3}[enc]
        dtype = {"evt2": "<u4", "evt21": "<u8", "evt3": "<u2"}[enc]
        per = _MAX_PER_WORD[enc]
        words_per_block = self.block_bytes // self._word
        tcap = max(1, min(MAX_DECODE_EVENTS, words_per_block))
        t = np.empty(per, np.int64)
        x = np.empty(per, np.uint16)
        y = np.empty(per, np.uint16)
        p = np.empty(per, np.bool_)
        tt = np.empty(tcap, np.int64)
        tid = np.empty(tcap, np.uint8)
        tval = np.empty(tcap, np.bool_)
        block = np.empty(max(1, min(words_per_block, self.n_words)), dtype=dtype)
        self._file.seek(self.data_offset)
        remaining = self.n_words
        while remaining:
            k = min(words_per_block, remaining)
            words = read_words(self._file, block, k, self.path)
            remaining -= k
            pos = 0
            while pos < k:
                views = acc.room(per)
                if views is not None:
                    if enc == "evt2":
                        used, ne, nt = K.decode_evt2_into(words[pos:], *views, tt, tid, tval, state, *acc.room_bytes())
                    else:
                        used, ne, nt = kernel(words[pos:], *views, tt, tid, tval, state)
                    del views
                    acc.advance(ne)
                else:
                    used, ne, nt = kernel(words[pos:pos + 1], t, x, y, p, tt, tid, tval, state)
                    acc.add(t[:ne], x[:ne], y[:ne], p[:ne])
                if used == 0 and ne == 0 and nt == 0:  # pragma: no cover - capacity always fits one word
                    raise RuntimeError("decoder made no progress")
                pos += used
                if nt:
                    trig.append(_triggers(tt[:nt], tid[:nt], tval[:nt]))
                yield from acc.ready()
        yield from acc.rest()
        self._set_triggers(trig)

    def _set_triggers(self, parts):
        self._trigger_cache = np.concatenate(parts) if parts else np.zeros(0, TRIGGER_DTYPE)
        self.meta["trigger_count"] = len(self._trigger_cache)

    def read(self):
        """All events, decoded straight into one preallocated ``EVENT_DTYPE`` array (no per-chunk
        copies). EVT 2.0 allocates its exact bound (one event per word); EVT 2.1 / 3.0, whose
        bound (32 / 12 events per word) is too loose to allocate, start at two events per word of
        the first block and, when full, grow to what the events per word so far predict for the
        whole file (at least 1.25x). The result is shrunk in place to the events decoded."""
        enc = self.encoding
        state = np.zeros(K.EVT3_STATE if enc == "evt3" else K.EVT2_STATE, dtype=np.int64)
        kernel = {"evt2": K.decode_evt2, "evt21": K.decode_evt21, "evt3": K.decode_evt3}[enc]
        dtype = {"evt2": "<u4", "evt21": "<u8", "evt3": "<u2"}[enc]
        per = _MAX_PER_WORD[enc]
        words_per_block = max(1, max(self.block_bytes, READ_BLOCK_BYTES) // self._word)
        tcap = max(1, min(MAX_DECODE_EVENTS, words_per_block))
        tt = np.empty(tcap, np.int64)
        tid = np.empty(tcap, np.uint8)
        tval = np.empty(tcap, np.bool_)
        trig = []
        total = self.n_words
        if enc == "evt2":
            cap = total + per
        else:
            cap = min(total * per, min(words_per_block, total) * 2) + per
        out = np.empty(cap, EVENT_DTYPE)
        fill = 0
        done_words = 0
        block = np.empty(min(words_per_block, total), dtype=dtype)
        self._file.seek(self.data_offset)
        remaining = total
        while remaining:
            k = min(words_per_block, remaining)
            words = read_words(self._file, block, k, self.path)
            remaining -= k
            pos = 0
            while pos < k:
                if cap - fill < per:
                    # Grow to the size the events per word so far predict (at least 1.25x).
                    seen = done_words + pos
                    rest = total - seen
                    want = fill + int(fill / max(seen, 1) * rest * 1.05) + per
                    want = min(max(want, cap + cap // 4), fill + rest * per + per)
                    out = grow_events(out, fill, want)
                    cap = want
                if enc == "evt2":
                    used, ne, nt = K.decode_evt2_into(words[pos:], out["t"][fill:], out["x"][fill:], out["y"][fill:],
                                                      out["p"][fill:], tt, tid, tval, state, record_bytes(out), fill)
                else:
                    used, ne, nt = kernel(words[pos:], out["t"][fill:], out["x"][fill:], out["y"][fill:],
                                          out["p"][fill:], tt, tid, tval, state)
                if used == 0 and ne == 0 and nt == 0:  # pragma: no cover - capacity always fits one word
                    raise RuntimeError("decoder made no progress")
                pos += used
                fill += ne
                if nt:
                    trig.append(_triggers(tt[:nt], tid[:nt], tval[:nt]))
            done_words += k
        self._set_triggers(trig)
        return trim_events(out, fill)

    def triggers(self) -> np.ndarray:
        """External trigger events (``t`` µs, ``id``, ``value``) of the whole file (decodes it once)."""
        if self._trigger_cache is None:
            parts = [_triggers(tt, tid, tval) for *_, tt, tid, tval in self._decode() if len(tt)]
            self._set_triggers(parts)
        return self._trigger_cache

    def extra_info(self):
        self.triggers()  # makes sure meta["trigger_count"] is set (free after a full pass)
        return {}

    def close(self):
        self._file.close()


def _triggers(tt, tid, tval):
    out = np.empty(len(tt), TRIGGER_DTYPE)
    out["t"], out["id"], out["value"] = tt, tid, tval
    return out


def _source_encoding(meta: dict) -> str:
    """The encoding named by ``meta["encoding"]`` (e.g. ``"EVT 3.0"`` from a RAW source) where evio
    writes it, else ``"evt2"``."""
    name = _ENCODINGS.get(str(meta.get("encoding")).strip().lower().replace(" ", ""))
    return name if name in ("evt2", "evt3") else "evt2"


class RawWriter(HeaderAfterBody, EventWriter):
    """Options: ``encoding`` (``"evt2"`` or ``"evt3"``; default: the ``encoding`` in ``meta``, as a
    converted RAW file carries it, where that is one of the two, else ``"evt2"``). Needs t
    non-decreasing, 0 <= t < 2**50 (EVT2) or 2**40 (EVT3) µs, x and y < 2048. The header records
    ``% evt``, ``% format`` and ``% geometry``."""

    format_name = "prophesee-raw"
    stores_meta = ("time_unit", "sensor_size", "encoding", "serial_number", "plugin_name", "date",
                   "header_offset", "sensor_size_source", "trigger_count")

    def __init__(self, path, *, encoding: str | None = None, **options):
        super().__init__(path, **options)
        enc = _encoding_name(encoding or _source_encoding(self.meta), self.path)
        if enc == "evt21":
            raise FormatError("evio writes EVT 2.0 and EVT 3.0, not EVT 2.1", self.path)
        self.encoding = enc
        self._state = np.zeros(4, dtype=np.int64)
        self._last_t = None
        self._open_spool()

    def _write(self, events):
        if not len(events):
            return
        t, x, y = events["t"], events["x"], events["y"]
        if int(t.min()) < 0 or int(t.max()) > _T_LIMIT[self.encoding]:
            bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
            raise FormatError(f"timestamp {bad} outside 0..{_T_LIMIT[self.encoding]} µs, which evio's "
                              f"{_VERSION_NAME[self.encoding]} writer stores", self.path)
        if int(x.max()) >= 2048 or int(y.max()) >= 2048:
            raise FormatError(f"x = {int(x.max())} / y = {int(y.max())}: {_VERSION_NAME[self.encoding]} "
                              "holds coordinates < 2048", self.path)
        if (len(t) > 1 and bool(np.any(np.diff(t) < 0))) or (self._last_t is not None and int(t[0]) < self._last_t):
            raise FormatError(f"{_VERSION_NAME[self.encoding]} needs non-decreasing timestamps", self.path)
        self._last_t = int(t[-1])
        step = 1 << 18
        for a in range(0, len(events), step):
            part = events[a:a + step]
            pt = np.ascontiguousarray(part["t"])
            if self.encoding == "evt2":
                out = np.empty(K.evt2_words_needed(pt, self._state), np.uint32)
                n = K.encode_evt2(pt, part["x"], part["y"], part["p"], out, self._state)
            else:
                out = np.empty(K.evt3_words_needed(pt, self._state), np.uint16)
                n = K.encode_evt3(pt, part["x"], part["y"], part["p"], out, self._state)
            self._body.write(out[:n].astype(out.dtype.newbyteorder("<"), copy=False).tobytes())

    def _finish(self):
        meta = self.final_meta()
        w, h = meta.get("sensor_size") or (2048, 2048)
        name = {"evt2": "EVT2", "evt3": "EVT3"}[self.encoding]
        version = {"evt2": "2.0", "evt3": "3.0"}[self.encoding]
        lines = [f"% evt {version}", f"% format {name};height={h};width={w}", f"% geometry {w}x{h}",
                 "% integrator_name evio"]
        for key, name in (("serial_number", "serial_number"), ("plugin_name", "plugin_name"), ("date", "Date")):
            value = meta.get(key)
            if value is not None and "\n" not in str(value) and "\r" not in str(value):
                lines.append(f"% {name} {value}")
        lines.append("% end")
        self._emit(("\n".join(lines) + "\n").encode("latin-1", "replace"))


FORMAT = FormatSpec(
    name="prophesee-raw",
    description="Prophesee RAW (EVT 2.0 / 2.1 / 3.0, '% ' ASCII header)",
    suffixes=(".raw",),
    reader=RawReader,
    writer=RawWriter,
)
