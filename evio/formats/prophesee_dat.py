"""Prophesee ``.dat`` decoded-event files (DAT v1 / v2; see ``docs/formats/prophesee.md``).

Layout: ``% key value`` ASCII header lines, then one byte event type (0x00 Event2D, 0x0C EventCD;
0x0E ExtTrigger files hold no CD events and are refused) and one byte event size (must be 8), then
little-endian 8-byte records ``{u32 t_us, u32 data}``. DAT v2 (the default): x = bits 0-13,
y = bits 14-27, p = bits 28-31 (p > 0 is ON). DAT v1 (``% Version 1``): x = bits 0-8, y = bits
9-16, p = bits 17-20. A 32-bit t wrap is counted when t drops by more than 2**31.

The sensor size comes from ``% Width`` / ``% Height``; without them the reader uses the
``sensor_size=`` option, else the documented fallback :data:`DAT_FALLBACK_SIZE` (304x240, the
N-CARS ATIS crop, as faery does) and records ``sensor_size_source = "fallback:ncars-atis"``.
``count`` is exact (data bytes / 8); a partial trailing record raises :class:`FormatError` at
its byte offset when the reader is opened.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ..kernels import prophesee as K
from ..registry import FormatSpec
from .base import EventReader, EventWriter, HeaderAfterBody
from .prophesee_raw import READ_BLOCK_BYTES, header_dict, positive_int, read_percent_header, read_words

DEFAULT_BLOCK_BYTES = 1 << 23
#: Sensor size assumed when a DAT header has no ``% Width``/``% Height`` (N-CARS ATIS crop; faery's choice).
DAT_FALLBACK_SIZE = (304, 240)
EVENT_TYPES = {0x00: "Event2D", 0x0C: "EventCD"}
#: The event type byte evio writes (Metavision's EventCD; faery refuses Event2D files).
EVENT_CD = 0x0C
_MAX_T_GAP = 1 << 31


class DatReader(EventReader):
    """Options: ``block_bytes`` (bytes per read, rounded down to whole 8-byte records, at least
    one), ``sensor_size`` (used when the header has no Width/Height, instead of 304x240)."""

    format_name = "prophesee-dat"

    def __init__(self, path, *, block_bytes: int = DEFAULT_BLOCK_BYTES, sensor_size=None, **options):
        super().__init__(path, **options)
        if int(block_bytes) < 1:
            raise ValueError(f"block_bytes must be >= 1, got {block_bytes}")
        self.block_bytes = max(8, int(block_bytes) - int(block_bytes) % 8)
        self._file = open(self.path, "rb")
        try:
            self._open(sensor_size)
        except BaseException:
            self._file.close()
            raise

    def _open(self, sensor_size):
        lines, offset = read_percent_header(self._file, self.path, stop_at_end=False)
        head = header_dict(lines)
        self.header = head
        version = head.get("Version", "2").strip()
        if version not in ("1", "2"):
            raise FormatError(f"unsupported DAT version {version!r} (evio reads 1 and 2)", self.path, 0)
        self.dat_version = int(version)
        self.version = f"DAT {version}"
        type_size = self._file.read(2)
        if len(type_size) < 2:
            raise FormatError("missing event type/size bytes after the header", self.path, offset)
        ev_type, ev_size = type_size[0], type_size[1]
        if ev_type == 0x0E:
            raise FormatError("this DAT file holds external triggers, not CD events", self.path, offset)
        if ev_type not in EVENT_TYPES:
            raise FormatError(f"unknown DAT event type 0x{ev_type:02x}", self.path, offset)
        if ev_size != 8:
            raise FormatError(f"DAT event size {ev_size}, expected 8", self.path, offset + 1)
        self.data_offset = offset + 2
        self._file.seek(0, 2)
        end = self._file.tell()
        tail = (end - self.data_offset) % 8
        if tail:
            raise FormatError(f"truncated file: {tail} trailing byte(s) do not make a whole 8-byte event",
                              self.path, end - tail)
        self.count = (end - self.data_offset) // 8
        if "Width" in head and "Height" in head:
            size = (positive_int(head["Width"], "Width", self.path), positive_int(head["Height"], "Height", self.path))
            source = "header"
        elif sensor_size is not None:
            size, source = (int(sensor_size[0]), int(sensor_size[1])), "option"
        else:
            size, source = DAT_FALLBACK_SIZE, "fallback:ncars-atis"
        self.meta.update(sensor_size=list(size), sensor_size_source=source, event_type=EVENT_TYPES[ev_type],
                         header_offset=self.data_offset)
        if "Date" in head:
            self.meta["date"] = head["Date"]

    def _decode_into(self, out, state, block):
        """Decode the next ``len(out)`` records straight into the ``EVENT_DTYPE`` array ``out``."""
        per_block = len(block)
        done = 0
        while done < len(out):
            k = min(per_block, len(out) - done)
            words = read_words(self._file, block, k, self.path)
            part = out[done:done + k]
            K.decode_dat(words, self.dat_version, part["t"], part["x"], part["y"], part["p"], state)
            done += k

    def _chunks(self, size):
        state = np.zeros(K.DAT_STATE, dtype=np.int64)
        block = np.empty((max(1, min(self.block_bytes // 8, self.count)), 2), "<u4")
        self._file.seek(self.data_offset)
        remaining = self.count
        while remaining:
            out = np.empty(min(size, remaining), EVENT_DTYPE)
            self._decode_into(out, state, block)
            remaining -= len(out)
            yield out

    def read(self):
        """All events, decoded straight into one array of exactly ``count`` events."""
        state = np.zeros(K.DAT_STATE, dtype=np.int64)
        per_block = max(self.block_bytes, READ_BLOCK_BYTES) // 8
        block = np.empty((max(1, min(per_block, self.count)), 2), "<u4")
        self._file.seek(self.data_offset)
        out = np.empty(self.count, EVENT_DTYPE)
        self._decode_into(out, state, block)
        return out

    def extra_info(self):
        return {"dat_version": self.dat_version}

    def close(self):
        self._file.close()


class DatWriter(HeaderAfterBody, EventWriter):
    """Writes DAT v2 EventCD (type ``0x0C``, size 8) behind the header Metavision writes
    (``% Data file containing CD events.``, ``% Version 2``, ``% Date`` when the metadata has one,
    ``% Height``, ``% Width``), which faery, expelliarmus and Metavision read. Needs the first
    t in 0..2**32-1 and t non-decreasing with steps < 2**31 (later t >= 2**32 is stored through
    32-bit wraps, which readers that count overflows reconstruct), x and y < 16384."""

    format_name = "prophesee-dat"
    #: Derived keys (re-computed on reading) count as stored; triggers are never written.
    stores_meta = ("time_unit", "sensor_size", "event_type", "header_offset", "sensor_size_source", "encoding",
                   "trigger_count", "dat_version", "date")

    def __init__(self, path, **options):
        super().__init__(path, **options)
        self._last_t = None
        self._open_spool()

    def _write(self, events):
        if not len(events):
            return
        t, x, y = events["t"], events["x"], events["y"]
        if int(t.min()) < 0:
            raise FormatError(f"timestamp {int(t.min())} < 0 cannot be stored in DAT", self.path)
        if int(x.max()) >= 1 << 14 or int(y.max()) >= 1 << 14:
            raise FormatError(f"x = {int(x.max())} / y = {int(y.max())}: DAT holds coordinates < 16384", self.path)
        if self._last_t is None and int(t[0]) >= 1 << 32:
            raise FormatError(f"first timestamp {int(t[0])} does not fit DAT's 32-bit t", self.path)
        steps = np.diff(t) if self._last_t is None else np.diff(t, prepend=self._last_t)
        if len(steps) and (bool(np.any(steps < 0)) or int(steps.max()) >= _MAX_T_GAP):
            raise FormatError("DAT needs non-decreasing timestamps with steps < 2**31 µs", self.path)
        self._last_t = int(t[-1])
        out = np.empty((len(events), 2), np.uint32)
        K.encode_dat(np.ascontiguousarray(t), x, y, events["p"], out)
        self._body.write(out.astype("<u4", copy=False).tobytes())

    def _finish(self):
        meta = self.final_meta()
        w, h = meta.get("sensor_size") or DAT_FALLBACK_SIZE
        header = "% Data file containing CD events.\n% Version 2\n"
        date = meta.get("date")
        if date is not None and "\n" not in str(date) and "\r" not in str(date):
            header += f"% Date {date}\n"
        header += f"% Height {h}\n% Width {w}\n"
        self._emit(header.encode("latin-1", "replace") + bytes([EVENT_CD, 8]))


FORMAT = FormatSpec(
    name="prophesee-dat",
    description="Prophesee DAT (v1/v2 Event2D/EventCD, '% ' ASCII header, 8-byte records)",
    suffixes=(".dat",),
    reader=DatReader,
    writer=DatWriter,
)
