"""AEDAT 4.0 (iniVation DV): ``#!AER-DAT4.0\\r\\n``, a flatbuffer IOHeader, then compressed packets.

Reads the events of one event stream (``EVTS``; the lowest stream id by default, or ``stream=``),
packet by packet in bounded memory; frame, IMU and trigger packets are skipped but counted
(``extra_info()["streams"]``). A file without an event stream (frames only) opens, so that
``evio.info`` describes its streams, but reading its events raises :class:`evio.FormatError`.
Writes one event stream with LZ4 (default), ZSTD or no compression.
Every flatbuffer offset, vector length, packet size and decompressed size is checked against
its buffer before use; a malformed file raises :class:`evio.FormatError` with the byte offset.
Needs the ``lz4`` and ``zstandard`` packages (``pip install 'evio-toolkit[aedat4]'``).
See ``docs/formats/aedat4.md``.
"""

from __future__ import annotations

import io
import os
import struct
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..kernels import aedat4 as kern
from ..kernels.summary import Summary
from ..registry import FormatSpec
from ._buffer import grow_events, trim_events
from .base import EventReader, EventWriter

MAGIC = b"#!AER-DAT4.0\r\n"
COMPRESSION_NAMES = {0: "none", 1: "lz4", 2: "lz4_high", 3: "zstd", 4: "zstd_high"}
_COMPRESSION_CODES = {None: 0, "none": 0, "lz4": 1, "zstd": 3}
_XML_COMPRESSION = {0: "NONE", 1: "LZ4", 3: "ZSTD"}
#: Largest IOHeader accepted (the XML is normally a few KiB).
MAX_HEADER_BYTES = 16 << 20
#: Largest decompressed packet accepted (16 Mi events).
MAX_PACKET_BYTES = 256 << 20
#: A decompressed ZSTD packet may be at most this many times its compressed size (plus 1 MiB).
MAX_RATIO = 1024
#: The same for LZ4, which cannot expand more than about 255:1.
MAX_LZ4_RATIO = 256
#: Events per packet written by :class:`Aedat4Writer` unless told otherwise.
DEFAULT_PACKET_EVENTS = 8192
_WRITER_HEADER_BYTES = 4096  # size-prefixed IOHeader buffer, padded so it can be written last
_INSTALL = "pip install 'evio-toolkit[aedat4]'"


def _codec(name: str):
    try:
        if name == "lz4":
            import lz4.frame as mod
        else:
            import zstandard as mod
    except ImportError:
        pkg = "lz4" if name == "lz4" else "zstandard"
        raise ImportError(f"AEDAT 4 {name.upper()} compression needs the {pkg!r} package: {_INSTALL}") from None
    return mod


class _Flat:
    """A bounds-checked reader of one size-prefixed flatbuffer held in ``buf``."""

    def __init__(self, buf: bytes, ident: bytes, fail):
        self.buf = buf
        self.fail = fail  # fail(message, position in buf) -> raises FormatError
        if len(buf) < 12:
            fail("flatbuffer shorter than 12 bytes", 0)
        size = self.u32(0)
        if size + 4 > len(buf) or size < 8:
            fail(f"flatbuffer size {size} does not fit its {len(buf) - 4} bytes", 0)
        self.end = size + 4
        if buf[8:12] != ident:
            fail(f"flatbuffer identifier {bytes(buf[8:12])!r}, expected {ident!r}", 8)
        self.root = self.table(4 + self.u32(4))

    def _need(self, pos: int, n: int) -> None:
        if pos < 0 or pos + n > self.end:
            self.fail(f"offset {pos}+{n} outside the {self.end}-byte flatbuffer", max(pos, 0))

    def u16(self, pos):
        self._need(pos, 2)
        return int.from_bytes(self.buf[pos:pos + 2], "little")

    def u32(self, pos):
        if pos < 0 or pos + 4 > len(self.buf):
            self.fail(f"offset {pos}+4 outside the buffer", max(pos, 0))
        return int.from_bytes(self.buf[pos:pos + 4], "little")

    def i32(self, pos):
        self._need(pos, 4)
        return int.from_bytes(self.buf[pos:pos + 4], "little", signed=True)

    def i64(self, pos):
        self._need(pos, 8)
        return int.from_bytes(self.buf[pos:pos + 8], "little", signed=True)

    def table(self, pos):
        self._need(pos, 4)
        vt = pos - self.i32(pos)
        vlen = self.u16(vt)
        tlen = self.u16(vt + 2)
        if vlen < 4 or vlen % 2:
            self.fail(f"bad vtable length {vlen}", vt)
        self._need(vt, vlen)
        self._need(pos, max(tlen, 4))
        return pos, vt, vlen, tlen

    def field(self, table, index: int, size: int):
        """Position of field ``index`` (``size`` bytes) of ``table``, or None when absent."""
        pos, vt, vlen, tlen = table
        slot = 4 + 2 * index
        if slot + 2 > vlen:
            return None
        off = self.u16(vt + slot)
        if off == 0:
            return None
        if off + size > tlen:
            self.fail(f"field {index} at {off}+{size} outside its {tlen}-byte table", pos)
        return pos + off

    def vector(self, pos, elem_size: int):
        """``(start, count)`` of the vector whose offset is stored at ``pos``."""
        vp = pos + self.u32(pos)
        n = self.u32(vp) if vp + 4 <= self.end else self.fail("vector outside the buffer", vp)
        if n * elem_size > self.end - vp - 4:
            self.fail(f"vector of {n} x {elem_size} bytes runs past the buffer end", vp)
        return vp + 4, n


def _parse_info(xml: str, fail) -> dict[int, dict]:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        fail(f"infoNode XML does not parse ({exc})")
    streams = {}
    out = root.find("node") if root.find("node") is not None else root
    for node in out.findall("node"):
        try:
            sid = int(node.get("name", ""))
        except ValueError:
            continue
        attrs = {a.get("key"): (a.text or "") for a in node.findall("attr")}
        info = node.find("node[@name='info']")
        iattrs = {} if info is None else {a.get("key"): (a.text or "") for a in info.findall("attr")}
        s = {"type": attrs.get("typeIdentifier", ""), "name": attrs.get("originalOutputName", ""),
             "compression": attrs.get("compression", "")}
        if iattrs.get("source"):
            s["source"] = iattrs["source"]
        try:
            if "sizeX" in iattrs and "sizeY" in iattrs:
                w, h = int(iattrs["sizeX"]), int(iattrs["sizeY"])
                if 0 < w <= 65536 and 0 < h <= 65536:
                    s["sensor_size"] = [w, h]
        except ValueError:
            pass
        streams[sid] = s
    return streams


class Aedat4Reader(EventReader):
    format_name = "aedat4"

    def __init__(self, path, *, stream: int | None = None, **options):
        super().__init__(path, **options)
        self._file = open(self.path, "rb")  # noqa: SIM115  (closed by close())
        try:
            self._open(stream)
        except BaseException:
            self._file.close()
            raise

    def _fail(self, message, offset=None):
        raise FormatError(message, self.path, offset)

    def _open(self, stream):
        f = self._file
        self._size = size = os.fstat(f.fileno()).st_size
        head = f.read(len(MAGIC) + 4)
        if not head.startswith(MAGIC):
            self._fail(f"not AEDAT 4.0: starts with {head[:14]!r}", 0)
        if len(head) < 18:
            self._fail("file ends inside the IOHeader", len(head))
        hlen = int.from_bytes(head[14:18], "little")
        if hlen > MAX_HEADER_BYTES or 18 + hlen > size:
            self._fail(f"IOHeader claims {hlen} bytes; the file has {size - 18} after the magic", 14)
        buf = head[14:] + f.read(hlen)
        fb = _Flat(buf, b"IOHE", lambda m, p: self._fail("IOHeader: " + m, 14 + p))
        pos = fb.field(fb.root, 0, 4)
        code = 0 if pos is None else fb.i32(pos)
        if code not in COMPRESSION_NAMES:
            self._fail(f"unknown compression code {code}", 14 + (pos or 0))
        self._compression = code
        pos = fb.field(fb.root, 1, 8)
        table_pos = -1 if pos is None else fb.i64(pos)
        pos = fb.field(fb.root, 2, 4)
        if pos is None:
            self._fail("IOHeader has no infoNode", 14)
        s, n = fb.vector(pos, 1)
        xml = bytes(buf[s:s + n]).decode("utf-8", "replace")
        self._data_start = 18 + hlen
        if table_pos == -1:
            self._data_end = size
        elif self._data_start <= table_pos <= size:
            self._data_end = table_pos
        elif table_pos > size:  # cut short: read the whole packets, then report the cut
            self._data_end = size
        else:
            self._fail(f"data table position {table_pos} outside the file", 14 + pos)
        self._table_pos = table_pos
        streams = _parse_info(xml, lambda m: self._fail(m, 18))
        evts = sorted(k for k, v in streams.items() if v["type"] == "EVTS")
        if stream is not None and int(stream) not in evts:
            raise FormatError(f"stream {stream} is not an event stream; event streams: {evts}", self.path)
        #: The event stream read; None when the file has none (its events cannot be read).
        self.stream = int(stream) if stream is not None else evts[0] if evts else None
        self._streams = streams
        self._scan()
        if table_pos > size and self._broken is None:
            self._broken = (f"file is truncated: its data table should start at byte {table_pos}", size)
        sized = [v for v in streams.values() if v.get("sensor_size")]
        chosen = streams[self.stream] if self.stream is not None else sized[0] if sized else {}
        self.version = "aedat 4.0"
        self.meta["sensor_size"] = chosen.get("sensor_size")
        if chosen.get("source"):
            self.meta["source"] = chosen["source"]
        self._expected, self._t_range = None, None
        self._table_state = "absent" if table_pos < 0 else "invalid"
        if table_pos >= 0 and self._broken is None:
            try:
                self._load_table(table_pos)
            except FormatError:
                self._expected = None
        if self._expected is not None:
            self._table_state = "valid"
            self.count = sum(self._expected)
        if self.stream is None:
            self.count = 0
        self._streams_info = {str(k): {key: v[key] for key in ("type", "name", "packets", "bytes", "sensor_size")
                                       if key in v}
                              for k, v in sorted(streams.items())}

    def _scan(self):
        """Walk the packet headers (8 bytes each) without decompressing: packet index and counts."""
        f, pos, end = self._file, self._data_start, self._data_end
        index = []
        for v in self._streams.values():
            v["packets"] = v["bytes"] = 0
        self._broken = None
        while pos < end:
            if end - pos < 8:
                self._broken = (f"file ends inside a packet header ({end - pos} of 8 bytes)", pos)
                break
            f.seek(pos)
            sid, n = struct.unpack("<ii", f.read(8))
            if n < 0 or n > end - pos - 8:
                self._broken = (f"packet of stream {sid} claims {n} bytes; {end - pos - 8} remain", pos)
                break
            if sid not in self._streams:
                self._broken = (f"packet of unknown stream {sid}", pos)
                break
            self._streams[sid]["packets"] += 1
            self._streams[sid]["bytes"] += n
            if sid == self.stream:
                index.append((pos, n))
            pos += 8 + n
        self._index = index

    def _load_table(self, table_pos: int) -> None:
        """Event counts per packet from the FileDataTable, used only when it matches the packets found."""
        n = self._size - table_pos
        if n < 8 or n > MAX_HEADER_BYTES:
            return
        self._file.seek(table_pos)
        data = self._decompress(self._file.read(n), table_pos)
        fb = _Flat(data, b"FTAB", lambda m, p: self._fail("data table: " + m, table_pos))
        field = fb.field(fb.root, 0, 4)
        if field is None:
            return
        start, count = fb.vector(field, 4)
        expected, t0, t1 = [], None, None
        for i in range(count):
            e = start + 4 * i
            tab = fb.table(e + fb.u32(e))
            f = [fb.field(tab, k, 8) for k in range(5)]
            if f[0] is None or f[1] is None:
                return
            sid = fb.i32(f[1])
            if sid != self.stream:
                continue
            body, size = fb.i64(f[0]), fb.i32(f[1] + 4)
            k = len(expected)
            if k >= len(self._index) or self._index[k] != (body - 8, size):
                return
            elems = 0 if f[2] is None else fb.i64(f[2])
            if not 0 <= elems <= MAX_PACKET_BYTES // kern.EVENT_STRUCT_SIZE:
                return
            expected.append(elems)
            if elems and f[3] is not None and f[4] is not None:
                a, b = fb.i64(f[3]), fb.i64(f[4])
                t0 = a if t0 is None else min(t0, a)
                t1 = b if t1 is None else max(t1, b)
        if len(expected) == len(self._index):
            self._expected = expected
            self._t_range = None if t0 is None else (t0, t1)

    def extra_info(self) -> dict:
        out = {"streams": self._streams_info, "stream": self.stream,
               "compression": COMPRESSION_NAMES[self._compression],
               "data_table": self._table_state}
        if self._expected is not None and self._t_range is not None:
            out["t_range"] = list(self._t_range)
        if self._broken is not None:
            out["damaged_at_byte"] = self._broken[1]
        return out

    def _cap(self, n: int) -> int:
        """The most bytes a packet body of ``n`` compressed bytes may decompress to."""
        if self._compression == 0:
            return n
        ratio = MAX_LZ4_RATIO if self._compression in (1, 2) else MAX_RATIO
        return min(MAX_PACKET_BYTES, ratio * n + (1 << 20))

    def _decompress(self, body: bytes, pos: int, hint: int | None = None) -> bytes:
        """``hint``: the expected decompressed size, if known (only sizes the first output buffer, never
        beyond what ``body`` can decompress to)."""
        code = self._compression
        cap = self._cap(len(body))
        if code == 0:
            return body
        try:
            if code in (1, 2):
                lz4f = _codec("lz4")
                d = lz4f.LZ4FrameDecompressor()
                # A first buffer of the likely size (a cap-sized one costs ~40% more time), then
                # more pieces while the frame has output left, never beyond cap + 1 bytes.
                first = hint if hint is not None else 8 * len(body) + (1 << 16)
                out = d.decompress(body, max_length=max(1, min(cap + 1, first)))
                if not d.eof and not d.needs_input:
                    parts, total = [out], len(out)
                    while not d.eof and not d.needs_input and total <= cap:
                        piece = d.decompress(b"", max_length=min(cap + 1 - total, max(total, 1 << 20)))
                        if not piece:
                            break
                        parts.append(piece)
                        total += len(piece)
                    out = b"".join(parts)
                if len(out) > cap:
                    self._fail(f"packet decompresses to more than {cap} bytes", pos)
                if not d.eof:
                    self._fail("LZ4 frame is truncated", pos)
                return out
            zstd = _codec("zstd")
            with zstd.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=False) as r:
                parts, total = [], 0
                while total <= cap:
                    piece = r.read(min(1 << 20, cap + 1 - total))
                    if not piece:
                        break
                    parts.append(piece)
                    total += len(piece)
            if total > cap:
                self._fail(f"packet decompresses to more than {cap} bytes", pos)
            return b"".join(parts)
        except FormatError:
            raise
        except ImportError:
            raise
        except Exception as exc:  # noqa: BLE001  (lz4/zstd raise their own error types on corrupt frames)
            self._fail(f"cannot decompress packet ({type(exc).__name__}: {exc})", pos)

    def _packet_words(self, pos: int, n: int, expected: int | None = None) -> np.ndarray:
        """The packet's events as int64 words, two per event (validated bounds, not yet decoded).
        ``expected``: the data table's event count, a size hint for decompression only."""
        self._file.seek(pos + 8)
        body = self._file.read(n)
        if len(body) != n:
            self._fail("file ends inside a packet", pos)
        hint = None if expected is None else expected * kern.EVENT_STRUCT_SIZE + 4096
        data = self._decompress(body, pos, hint)
        fb = _Flat(data, b"EVTS", lambda m, p: self._fail(f"event packet: {m} (at {p} in the decompressed packet)", pos))
        field = fb.field(fb.root, 0, 4)
        if field is None:
            return np.empty(0, "<i8")
        start, count = fb.vector(field, kern.EVENT_STRUCT_SIZE)
        return np.frombuffer(data, "<i8", count=2 * count, offset=start)

    def _packets(self):
        """``(position, int64 words)`` of each packet of the stream, in file order, its event count
        checked against the data table. The damage the scan found is raised by :meth:`_check_damage`."""
        for k, (pos, n) in enumerate(self._index):
            expected = None if self._expected is None else self._expected[k]
            words = self._packet_words(pos, n, expected)
            if expected is not None and len(words) // 2 != expected:
                self._fail(f"packet holds {len(words) // 2} events; the data table says {expected}", pos)
            yield pos, words

    def _check_damage(self):
        if self._broken is not None:
            self._fail(*self._broken)

    def _check_event_stream(self):
        if self.stream is None:
            kinds = ", ".join(f"{k}: {v['type']}" for k, v in sorted(self._streams.items())) or "none"
            self._fail(f"no event stream (EVTS) to read; streams: {kinds} (evio info describes them)")

    def summary(self) -> Summary:
        """Statistics over the events; a file without an event stream has none."""
        if self.stream is None:
            self._check_damage()
            return Summary()
        return super().summary()

    def _decode(self, words, out, pos, first: int = 0):
        """Decode ``words`` into the events ``out``; ``first`` numbers the packet's first event there."""
        bad = kern.decode_events(words, out["t"], out["x"], out["y"], out["p"])
        if bad >= 0:
            self._fail(f"event {first + bad} of the packet has a negative x or y", pos)

    def _chunks(self, size):
        """Decode each packet straight into chunk buffers of ``size`` events (no concatenation)."""
        self._check_event_stream()
        left = self.count  # None when unknown
        buf, fill = None, 0
        for pos, words in self._packets():
            count = len(words) // 2
            i = 0
            while i < count:
                if buf is None:
                    cap = size if left is None else max(1, min(size, left))
                    buf, fill = np.empty(cap, dtype=EVENT_DTYPE), 0
                take = min(count - i, len(buf) - fill)
                self._decode(words[2 * i:2 * (i + take)], buf[fill:fill + take], pos, i)
                fill += take
                i += take
                if left is not None:
                    left -= take
                if fill == len(buf):
                    yield buf
                    buf = None
        if buf is not None and fill:
            yield buf[:fill].copy() if fill < len(buf) // 2 else buf[:fill]
        self._check_damage()

    def read(self):
        """All events, each packet decoded straight into one output array (no chunks to join).

        The output is sized from the data table's count when it has one, but never beyond what
        the packets' compressed sizes allow (nor one event per compressed byte); without a table
        it starts from the compressed size and grows geometrically. It is trimmed at the end."""
        self._check_event_stream()
        sizes = [n for _, n in self._index]
        compressed = sum(sizes)
        bound = sum(self._cap(n) for n in sizes) // kern.EVENT_STRUCT_SIZE
        guess = self.count if self.count is not None else compressed // 4
        cap = max(1, min(guess, bound, max(compressed, 1 << 16)))
        out = np.empty(cap, dtype=EVENT_DTYPE)
        fill = 0
        for pos, words in self._packets():
            count = len(words) // 2
            if fill + count > cap:
                cap = max(fill + count, cap + cap // 2)
                out = grow_events(out, fill, cap)
            self._decode(words, out[fill:fill + count], pos)
            fill += count
        self._check_damage()
        return trim_events(out, fill)

    def close(self):
        self._file.close()


def _header_buffer(code: int, table_pos: int, xml: bytes, total: int) -> bytes:
    """A size-prefixed IOHeader flatbuffer of exactly ``total`` bytes (XML padded with spaces)."""
    room = total - 53  # prefix 4, root 4, id 4, pad 4, vtable 10, pad 2, table 20, strlen 4, NUL 1
    if len(xml) > room:
        raise FormatError(f"stream description of {len(xml)} bytes does not fit the {room}-byte header")
    xml = xml + b" " * (room - len(xml))
    out = bytearray()
    out += struct.pack("<I", total - 4)
    out += struct.pack("<I", 24) + b"IOHE" + b"\0" * 4           # root table at 28
    out += struct.pack("<5H", 10, 20, 4, 12, 8)                  # vtable at 16
    out += b"\0\0"
    out += struct.pack("<iiIq", 12, code, 12, table_pos)         # table at 28; string at 48
    out += struct.pack("<I", len(xml)) + xml + b"\0"
    assert len(out) == total
    return bytes(out)


def _data_table(entries: list[tuple[int, int, int, int, int, int]]) -> bytes:
    """A size-prefixed FileDataTable (FTAB) flatbuffer.

    ``entries``: ``(body offset, stream id, body size, element count, t start, t end)`` per packet.
    """
    n = len(entries)
    first = (44 + 4 * n + 7) // 8 * 8  # entry tables, 48 bytes each, 8-aligned
    total = first + 48 * n
    out = bytearray(total)
    struct.pack_into("<II4s", out, 0, total - 4, 28, b"FTAB")        # root table at 32
    struct.pack_into("<3H", out, 12, 6, 8, 4)                        # root vtable at 12
    struct.pack_into("<7H", out, 18, 14, 48, 8, 16, 24, 32, 40)      # entry vtable at 18
    struct.pack_into("<iII", out, 32, 20, 4, n)                      # root table; vector at 40
    for i, (body, sid, size, count, t0, t1) in enumerate(entries):
        e = first + 48 * i
        struct.pack_into("<I", out, 44 + 4 * i, e - (44 + 4 * i))
        struct.pack_into("<i4xqiiqqq", out, e, e - 18, body, sid, size, count, t0, t1)
    return bytes(out)


def _event_packet(events: np.ndarray) -> bytes:
    n = len(events)
    buf = np.zeros(32 + 16 * n, dtype=np.uint8)
    head = struct.pack("<II4s2x3HiII", 28 + 16 * n, 16, b"EVTS", 6, 8, 4, 6, 4, n)
    buf[:32] = np.frombuffer(head, np.uint8)
    kern.encode_events(events["t"], events["x"], events["y"], events["p"], buf, 32)
    return buf.tobytes()


class Aedat4Writer(EventWriter):
    format_name = "aedat4"
    stores_meta = ("sensor_size", "time_unit", "source")

    def __init__(self, path, *, compression: str | None = "lz4", packet_events: int = DEFAULT_PACKET_EVENTS,
                 data_table: bool = True, **options):
        key = None if compression is None else str(compression).lower()
        if key not in _COMPRESSION_CODES:
            raise ValueError(f"compression must be 'lz4', 'zstd' or None, got {compression!r}")
        self._code = _COMPRESSION_CODES[key]
        if self._code == 1:
            self._lz4 = _codec("lz4")
        elif self._code == 3:
            self._zstd = _codec("zstd").ZstdCompressor(level=3)
        if int(packet_events) < 1:
            raise ValueError(f"packet_events must be >= 1, got {packet_events}")
        self.packet_events = int(packet_events)
        self.data_table = bool(data_table)
        super().__init__(path, **options)
        size = self.meta.get("sensor_size")
        if size is not None and (size[0] > 32768 or size[1] > 32768):
            raise FormatError(f"AEDAT 4 stores x, y as int16; sensor_size {size} is too large", self.path)
        self._file = open(self.tmp_path, "wb")  # noqa: SIM115  (closed by _finish/_release)
        self._file.write(b"\0" * (len(MAGIC) + _WRITER_HEADER_BYTES))
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._table: list[tuple] = []

    def _write(self, events):
        if len(events) and (int(events["x"].max()) > 32767 or int(events["y"].max()) > 32767):
            raise FormatError("AEDAT 4 stores x, y as int16: a coordinate exceeds 32767", self.path)
        self._pending.append(events)
        self._pending_n += len(events)
        if self._pending_n >= self.packet_events:
            self._flush(final=False)

    def _flush(self, final: bool):
        if not self._pending_n:
            return
        buf = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        k = self.packet_events
        stop = len(buf) if final else (len(buf) // k) * k
        for a in range(0, stop, k):
            self._packet(buf[a:a + k])
        rest = buf[stop:]
        self._pending = [rest] if len(rest) else []
        self._pending_n = len(rest)

    def _packet(self, events):
        body = self._compress(_event_packet(events))
        pos = self._file.tell()
        self._file.write(struct.pack("<ii", 0, len(body)))
        self._file.write(body)
        t = events["t"]
        self._table.append((pos + 8, 0, len(body), len(events), int(t.min()), int(t.max())))

    def _compress(self, data: bytes) -> bytes:
        if self._code == 1:
            return self._lz4.compress(data)
        if self._code == 3:
            return self._zstd.compress(data)
        return data

    def _finish(self):
        self._flush(final=True)
        meta = self.final_meta()
        w, h = meta.get("sensor_size") or (1, 1)
        source = escape(str(meta.get("source") or "evio"))[:256]
        comp = _XML_COMPRESSION[self._code]
        p = "/mainloop/Recorder/outInfo/"
        xml = (
            '<dv version="2.0">\n'
            f'    <node name="outInfo" path="{p}">\n'
            f'        <node name="0" path="{p}0/">\n'
            f'            <attr key="compression" type="string">{comp}</attr>\n'
            '            <attr key="originalModuleName" type="string">evio</attr>\n'
            '            <attr key="originalOutputName" type="string">events</attr>\n'
            '            <attr key="typeDescription" type="string">Array of events (polarity ON/OFF).</attr>\n'
            '            <attr key="typeIdentifier" type="string">EVTS</attr>\n'
            f'            <node name="info" path="{p}0/info/">\n'
            f'                <attr key="sizeX" type="int">{int(w)}</attr>\n'
            f'                <attr key="sizeY" type="int">{int(h)}</attr>\n'
            f'                <attr key="source" type="string">{source}</attr>\n'
            '                <attr key="tsOffset" type="long">0</attr>\n'
            '            </node>\n'
            '        </node>\n'
            '    </node>\n'
            '</dv>\n'
        ).encode()
        table_pos = -1
        if self.data_table:
            table_pos = self._file.tell()
            self._file.write(self._compress(_data_table(self._table)))
        self._file.seek(0)
        self._file.write(MAGIC + _header_buffer(self._code, table_pos, xml, _WRITER_HEADER_BYTES))
        self._file.close()

    def _release(self):
        self._file.close()


FORMAT = FormatSpec(
    name="aedat4",
    description="AEDAT 4.0 (iniVation DV) flatbuffer packets, LZ4/ZSTD",
    suffixes=(".aedat4",),
    magic=(MAGIC[:12],),
    reader=Aedat4Reader,
    writer=Aedat4Writer,
)
