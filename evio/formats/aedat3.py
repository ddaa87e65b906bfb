"""cAER AEDAT 3.1 (``.aedat``, e.g. DVS128 Gesture): ``#`` header up to ``#!END-HEADER``, then
little-endian packets with 28-byte headers. Polarity packets are decoded; SPECIAL packets are
counted; every other packet type is skipped by its size. See ``docs/formats/aedat3.md``.
"""

from __future__ import annotations

import itertools
import re
import time

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE, empty_events, record_bytes
from ..kernels import aer
from ..registry import FormatSpec
from .aedat2 import read_header, read_version
from ._buffer import grow_events, trim_events
from .base import EventReader, EventWriter, HeaderAfterBody

#: Known device names in ``#Source`` lines -> (W, H)
DEVICE_SIZES = {
    "dvs128": (128, 128),
    "davis240": (240, 180),
    "davis346": (346, 260),
    "dvxplorer": (640, 480),
}
FALLBACK_SENSOR_SIZE = (128, 128)
PACKET_EVENTS = 4096
_MAX_COORD = 0x7FFF


def _size_from_header(lines: list[str]) -> tuple[int, int] | None:
    sx = sy = None
    for ln in lines:
        m = re.search(r"sizeX\D{0,3}(\d+)", ln)
        if m:
            sx = int(m.group(1))
        m = re.search(r"sizeY\D{0,3}(\d+)", ln)
        if m:
            sy = int(m.group(1))
    if sx and sy:
        return sx, sy
    for ln in lines:
        m = re.match(r"#-?Source\s+\d+:\s*(.*)$", ln)
        if m:
            name = m.group(1).strip().lower().replace(" ", "")
            for key, size in DEVICE_SIZES.items():
                if key in name:
                    return size
    return None


class Aedat3Reader(EventReader):
    """Options: ``sensor_size`` (W, H) used when the header names no known device (else DVS128's
    128x128). Events off the sensor are dropped and counted in ``meta["skipped"]``."""

    format_name = "aedat3"

    def __init__(self, path, *, sensor_size=None, **options):
        super().__init__(path, **options)
        version = read_version(self.path)
        if version is None or version[0] != 3:
            v = "no version line" if version is None else f"version {version[0]}.{version[1]}"
            raise FormatError(f"not an AEDAT 3.x file ({v})", self.path, 0)
        if version != (3, 1):
            raise FormatError(f"unsupported AEDAT version {version[0]}.{version[1]} (evio reads 3.1)",
                              self.path, 0)
        self.version = "3.1"
        with open(self.path, "rb") as f:
            raw_lines, self.header_end = read_header(f, self.path, end_lines=(b"#!end-header",))
            f.seek(0, 2)
            self._size = f.tell()
        self.header = [ln.decode("latin-1") for ln in raw_lines]
        if not self.header or self.header[-1].strip().lower() != "#!end-header":
            raise FormatError("AEDAT 3.1 header has no #!END-HEADER line", self.path, self.header_end)
        from_header = _size_from_header(self.header)
        if from_header is not None:
            size, origin = from_header, "header"
        elif sensor_size is not None:
            size, origin = (int(sensor_size[0]), int(sensor_size[1])), "option"
        else:
            size, origin = FALLBACK_SENSOR_SIZE, "fallback"
        if not (0 < size[0] <= _MAX_COORD + 1 and 0 < size[1] <= _MAX_COORD + 1):
            raise FormatError(f"sensor size {size} outside 1..32768", self.path)
        self.stats = np.zeros(8, dtype=np.int64)
        self.meta.update(sensor_size=list(size), sensor_size_from=origin, header_bytes=self.header_end)
        m = next((re.match(r"#Start-Time:\s*(.*)$", ln) for ln in self.header if ln.startswith("#Start-Time")),
                 None)
        if m:
            self.meta["start_time"] = m.group(1).strip()
        self.count = None

    @property
    def skipped(self) -> dict:
        s = self.stats
        return {"invalid": int(s[aer.A3_INVALID]), "special": int(s[aer.A3_SPECIAL]),
                "timestamp_wraps": int(s[aer.A3_TS_WRAP]), "timestamp_resets": int(s[aer.A3_TS_RESET]),
                "other_packets": int(s[aer.A3_SKIPPED_PACKETS]), "other_events": int(s[aer.A3_SKIPPED_EVENTS]),
                "packets": int(s[aer.A3_PACKETS]), "out_of_range": int(s[aer.A3_OUT_OF_RANGE])}

    def _finished(self, status: int, state: np.ndarray) -> bool:
        """True at the end of the data, False when the kernel stopped for room; raises on bad packets."""
        if status == aer.A3_MORE:
            return False
        if status == aer.A3_END:
            return True
        where = self.header_end + int(state[0])
        if status == aer.A3_TRUNCATED:
            raise FormatError("packet runs past the end of the file (truncated)", self.path, where)
        raise FormatError("packet header with impossible size/capacity/number fields", self.path, where)

    def _chunks(self, size):
        self.stats[:] = 0
        if self._size == self.header_end:
            return
        buf = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.header_end)
        try:
            state = np.zeros(2, dtype=np.int64)
            w, h = self.meta["sensor_size"]
            while True:
                out = empty_events(size)
                k, status = aer.aedat3_decode(buf, state, w, h, out["t"], out["x"], out["y"], out["p"],
                                              self.stats, record_bytes(out), 0)
                self.meta["skipped"] = self.skipped
                if k:
                    yield out[:k]
                if self._finished(status, state):
                    return
        finally:
            del buf

    def read(self):
        """All events in one kernel pass into one array: every polarity event takes at least 8
        bytes, so ``data bytes // 8`` bounds the output; it is trimmed to the events kept."""
        self.stats[:] = 0
        if self._size == self.header_end:
            return empty_events(0)
        buf = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.header_end)
        try:
            state = np.zeros(2, dtype=np.int64)
            w, h = self.meta["sensor_size"]
            cap = len(buf) // 8 + 1
            out = np.empty(cap, EVENT_DTYPE)
            fill = 0
            while True:
                if fill == cap:
                    cap += cap // 2 + 1  # pragma: no cover - the bound above always holds
                    out = grow_events(out, fill, cap)
                k, status = aer.aedat3_decode(buf, state, w, h, out["t"][fill:], out["x"][fill:],
                                              out["y"][fill:], out["p"][fill:], self.stats, record_bytes(out), fill)
                fill += k
                self.meta["skipped"] = self.skipped
                if self._finished(status, state):
                    break
        finally:
            del buf
        return trim_events(out, fill)

    def extra_info(self):
        return {"header_bytes": self.header_end, "sensor_size_from": self.meta["sensor_size_from"]}


class Aedat3Writer(HeaderAfterBody, EventWriter):
    """Writes AEDAT 3.1 polarity packets (up to 4096 events each, all valid; a new packet whenever
    ``t >> 31`` changes, which is stored as ``eventTSOverflow``). ``t`` must lie in ``0 .. 2**62-1``;
    x and y in ``0 .. 32767``. The ``#Source`` line names DVS128/DAVIS240/DAVIS346 when the
    sensor size is theirs, and ``sizeX``/``sizeY`` comment lines carry any other size."""

    format_name = "aedat3"
    stores_meta = ("time_unit", "sensor_size", "start_time", "header_bytes", "sensor_size_from", "skipped")

    def __init__(self, path, **options):
        super().__init__(path, **options)
        self._open_spool()

    def _header(self, size):
        names = {v: k.upper() for k, v in DEVICE_SIZES.items()}
        lines = ["#!AER-DAT3.1", "#Format: RAW"]
        if size is not None and tuple(size) in names:
            lines.append(f"#Source 1: {names[tuple(size)]}")
        else:
            lines.append("#Source 1: evio")
            if size is not None:
                lines += [f"#sizeX: {size[0]}", f"#sizeY: {size[1]}"]
        lines.append(time.strftime("#Start-Time: %Y-%m-%d %H:%M:%S (TZ%z)"))
        lines.append("#!END-HEADER")
        return ("\r\n".join(lines) + "\r\n").encode("ascii")

    def _write(self, events):
        if not len(events):
            return
        t = events["t"]
        if int(t.min()) < 0 or int(t.max()) >= 1 << 62:
            bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
            raise FormatError(f"timestamp {bad} does not fit AEDAT 3.1 (0 .. 2**62-1)", self.path)
        x = events["x"].astype(np.uint32)
        y = events["y"].astype(np.uint32)
        if int(x.max()) > _MAX_COORD or int(y.max()) > _MAX_COORD:
            raise FormatError("x/y exceed AEDAT 3.1's 15-bit coordinates", self.path)
        body = np.empty(len(events), dtype=[("d", "<u4"), ("t", "<i4")])
        body["d"] = (x << 17) | (y << 2) | (events["p"].astype(np.uint32) << 1) | 1
        body["t"] = (t & 0x7FFFFFFF).astype(np.int32)
        ovf = t >> 31
        cuts = np.flatnonzero(np.diff(ovf)) + 1
        bounds = np.union1d(np.concatenate([[0], cuts, [len(t)]]), np.arange(0, len(t), PACKET_EVENTS))
        for a, b in itertools.pairwise(bounds):
            n = int(b - a)
            head = np.array([1 | (1 << 16), 8, 4, int(ovf[a]), n, n, n], dtype="<u4")
            self._body.write(head.tobytes())
            self._body.write(body[a:b].tobytes())

    def _finish(self):
        self._emit(self._header(self.final_meta().get("sensor_size")))


FORMAT = FormatSpec(
    name="aedat3",
    description="cAER AEDAT 3.1 (polarity packets; e.g. DVS128 Gesture)",
    suffixes=(".aedat",),
    magic=(b"#!AER-DAT3.",),
    reader=Aedat3Reader,
    writer=Aedat3Writer,
)
