"""jAER AEDAT 1.0 / 2.0 (``.aedat``): ``#`` header lines, then big-endian ``[address, timestamp]`` events.

See ``docs/formats/aedat2.md``. The address layout comes from the ``# AEChip:`` header line
(DVS128 or DAVIS240/346) or the ``chip=`` option. Coordinates follow evio's convention (x right,
y down, origin top-left, ``p=True`` ON) unless ``orientation=`` asks for another preset.
``read_raw()`` returns the undecoded address and timestamp words.
"""

from __future__ import annotations

import re
import time

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE, empty_events, record_bytes
from ..kernels import aer
from ..registry import FormatSpec
from ._buffer import trim_events
from .base import EventReader, EventWriter

VERSION_RE = re.compile(rb"^#!AER-DAT(\d+)\.(\d+)")
#: A larger header is not an AEDAT header (jAER's XML preference dumps reach a few hundred KB).
MAX_HEADER_BYTES = 64 << 20
_MAX_LINE = 1 << 20
_END_LINES = (b"#end of ascii header", b"#!end-header")

#: chip name -> (address layout, width, height)
CHIPS = {
    "dvs128": (aer.CHIP_DVS128, 128, 128),
    "davis240": (aer.CHIP_DAVIS, 240, 180),
    "davis346": (aer.CHIP_DAVIS, 346, 260),
}
ORIENTATIONS = {
    "caer": aer.ORIENT_CAER,
    "jaer": aer.ORIENT_JAER,
    "spikingjelly-cifar10dvs": aer.ORIENT_SJ_CIFAR10DVS,
}
DEFAULT_ORIENTATION = "caer"
#: Bytes per file read in ``read()`` (memory: the output plus one such block).
READ_BLOCK_BYTES = 1 << 24


# --- header helpers (shared with aedat3) -------------------------------------------------------

def read_version(path) -> tuple[int, int] | None:
    """``(major, minor)`` from the first line; ``(1, 0)`` for a ``#`` header without one; else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:
        return None
    m = VERSION_RE.match(head)
    if m:
        return int(m.group(1)), int(m.group(2))
    if head.startswith(b"#") and not head.startswith(b"#!AER-DAT"):
        return 1, 0
    return None


def read_header(f, path, *, end_lines=_END_LINES) -> tuple[list[bytes], int]:
    """``#`` lines (line ends stripped) from the start of ``f`` and the offset where data starts.

    The header ends before the first line not starting with ``#``, or after a line in
    ``end_lines`` (compared lower-case; jAER's ``#End Of ASCII Header``, cAER's ``#!END-HEADER``),
    so a first event whose address begins with byte ``0x23`` is not taken for a header line.
    """
    f.seek(0)
    lines: list[bytes] = []
    offset = 0
    while True:
        line = f.readline(_MAX_LINE)
        if not line or not line.startswith(b"#"):
            return lines, offset
        if len(line) == _MAX_LINE and not line.endswith(b"\n"):
            raise FormatError("header line longer than 1 MiB", path, offset)
        offset += len(line)
        if offset > MAX_HEADER_BYTES:
            raise FormatError("header larger than 64 MiB", path, offset)
        text = line.rstrip(b"\r\n")
        lines.append(text)
        if text.strip().lower() in end_lines:
            return lines, offset


def _chip_from_header(lines: list[str]) -> str | None:
    for ln in lines:
        if ln.lstrip("# ").lower().startswith("aechip:"):
            name = ln.split(":", 1)[1].strip().lower()
            if "dvs128" in name:
                return "dvs128"
            if "davis240" in name:
                return "davis240"
            if "346" in name:
                return "davis346"
            return "unknown:" + ln.split(":", 1)[1].strip()
    return None


def _creation_ms(lines: list[str]) -> int | None:
    for ln in lines:
        m = re.search(r"Creation time:.*?(-?\d+)\s*$", ln)
        if m:
            return int(m.group(1))
    return None


class Aedat2Reader(EventReader):
    """Options: ``chip`` ("dvs128", "davis240", "davis346"; default from ``# AEChip:``, else DVS128),
    ``orientation`` ("caer" default, "jaer", "spikingjelly-cifar10dvs"), ``unwrap`` (default True:
    a drop of more than 2**31 µs in the int32 timestamp counts as a wrap and adds 2**32)."""

    format_name = "aedat2"

    def __init__(self, path, *, chip: str | None = None, orientation: str = DEFAULT_ORIENTATION,
                 unwrap: bool = True, **options):
        super().__init__(path, **options)
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {sorted(ORIENTATIONS)}, got {orientation!r}")
        version = read_version(self.path)
        if version is None:
            raise FormatError("not an AEDAT file: no '#' header", self.path, 0)
        if version[0] >= 3:
            hint = " (read it with format='aedat3')" if version[0] == 3 else ""
            raise FormatError(f"AEDAT {version[0]}.{version[1]} is not AEDAT 1.0/2.0{hint}", self.path, 0)
        if version not in ((1, 0), (2, 0)):
            raise FormatError(f"unsupported AEDAT version {version[0]}.{version[1]}", self.path, 0)
        self.version = f"{version[0]}.{version[1]}"
        self._event_bytes = 6 if version == (1, 0) else 8
        self._file = open(self.path, "rb")  # noqa: SIM115  (closed by close())
        try:
            raw_lines, self.header_end = read_header(self._file, self.path)
            self._file.seek(0, 2)
            size = self._file.tell()
        except BaseException:
            self._file.close()
            raise
        self.header = [ln.decode("latin-1") for ln in raw_lines]
        header_chip = _chip_from_header(self.header)
        if chip is None:
            if header_chip is not None and header_chip.startswith("unknown:"):
                self._file.close()
                raise FormatError(f"unknown AEChip {header_chip[8:]!r}; pass chip= one of {sorted(CHIPS)}",
                                  self.path)
            chip = header_chip or "dvs128"
        chip = chip.lower()
        if chip not in CHIPS:
            self._file.close()
            raise ValueError(f"chip must be one of {sorted(CHIPS)}, got {chip!r}")
        if self._event_bytes == 6 and CHIPS[chip][0] != aer.CHIP_DVS128:
            self._file.close()
            raise FormatError("AEDAT 1.0 has 16-bit addresses; only the DVS128 layout fits", self.path)
        if orientation == "spikingjelly-cifar10dvs" and chip != "dvs128":
            self._file.close()
            raise ValueError("orientation 'spikingjelly-cifar10dvs' applies to DVS128 addresses only")
        self.chip = chip
        self.orientation = orientation
        self.unwrap = bool(unwrap)
        self._layout, w, h = CHIPS[chip]
        self._w, self._h = w, h
        data = size - self.header_end
        self._trailing = data % self._event_bytes
        self._n_words = data // self._event_bytes
        self.stats = np.zeros(4, dtype=np.int64)
        self.meta.update(
            sensor_size=[h, w] if orientation == "spikingjelly-cifar10dvs" else [w, h],
            chip=chip, chip_from_header=header_chip == chip, orientation=orientation,
            header_bytes=self.header_end,
            polarity="p=True is ON (jAER raw bit 0 == 0 for DVS128; bit 11 == 1 for DAVIS)",
        )
        ms = _creation_ms(self.header)
        if ms is not None:
            self.meta["creation_time_ms"] = ms
        # Events are counted only when no word is skipped, which needs a full pass; leave it unknown.
        self.count = None

    @property
    def skipped(self) -> dict:
        """Words skipped so far: external events, APS samples, IMU samples, coordinates off the sensor."""
        s = self.stats
        return {"external": int(s[0]), "aps": int(s[1]), "imu": int(s[2]), "out_of_range": int(s[3])}

    def _check_trailing(self):
        if self._trailing:
            raise FormatError(f"{self._trailing} trailing bytes do not form a whole event", self.path,
                              self.header_end + self._n_words * self._event_bytes)

    def _decode(self, per_block: int, out: np.ndarray | None = None):
        """Decode the words ``per_block`` at a time, each block into a new array, or all into ``out``
        (from index 0). Yields ``(array, start, kept)`` per block: its events are ``array[start:start + kept]``."""
        self.stats[:] = 0
        tstate = np.zeros(2, dtype=np.int64)
        eb, total = self._event_bytes, self._n_words
        block = np.empty(min(per_block, total) * eb, dtype=np.uint8)
        orient = ORIENTATIONS[self.orientation]
        self._file.seek(self.header_end)
        done = at = 0
        while done < total:
            n = min(per_block, total - done)
            buf = block[:n * eb]
            if self._file.readinto(buf) != n * eb:
                raise FormatError("file shrank while reading", self.path)
            done += n
            dest, start = (empty_events(n), 0) if out is None else (out, at)
            kept = aer.aedat2_decode(buf, eb, self._layout, orient, self._w, self._h, self.unwrap,
                                     dest["t"][start:], dest["x"][start:], dest["y"][start:], dest["p"][start:],
                                     self.stats, tstate, record_bytes(dest), start)
            self.meta.update(skipped=self.skipped)
            at += kept
            yield dest, start, kept
        self._check_trailing()

    def _chunks(self, size):
        for dest, start, kept in self._decode(size):
            yield dest[start:start + kept]

    def read(self) -> np.ndarray:
        """All events, decoded block by block straight into one array of ``bytes / event size``
        events (the bound: every event is one word), trimmed to the events kept."""
        total = self._n_words
        out = empty_events(0) if total == 0 else np.empty(total, EVENT_DTYPE)
        kept = 0
        for _, start, n in self._decode(max(1, READ_BLOCK_BYTES // self._event_bytes), out):
            kept = start + n
        return trim_events(out, kept)

    def read_raw(self) -> tuple[np.ndarray, np.ndarray]:
        """All undecoded words: ``(address uint32, timestamp int32)`` (native byte order)."""
        self._file.seek(self.header_end)
        n = self._n_words
        abytes = "u2" if self._event_bytes == 6 else "u4"
        raw = np.fromfile(self._file, dtype=np.dtype([("a", ">" + abytes), ("t", ">i4")]), count=n)
        if len(raw) < n:
            raise FormatError("file shrank while reading", self.path)
        self._check_trailing()
        return raw["a"].astype(np.uint32), raw["t"].astype(np.int32)

    def extra_info(self):
        return {"chip": self.chip, "orientation": self.orientation, "header_bytes": self.header_end}

    def close(self):
        self._file.close()


def decode_raw_dvs128(address, timestamp=None) -> dict:
    """The DVS128 address fields with no flip: ``x_raw = bits 7..1``, ``y_raw = bits 14..8``,
    ``bit0`` (jAER: 0 is ON), ``external = bit 15``; and the signed int32 timestamp."""
    a = np.asarray(address, dtype=np.uint32)
    out = {"x_raw": ((a >> 1) & 0x7F).astype(np.int64), "y_raw": ((a >> 8) & 0x7F).astype(np.int64),
           "bit0": (a & 1).astype(np.int64), "external": ((a >> 15) & 1).astype(bool)}
    if timestamp is not None:
        out["t"] = np.asarray(timestamp).astype(np.uint32).view(np.int32).astype(np.int64)
    return out


def _frame(chip: str, orientation: str) -> tuple[int, int]:
    """``(W, H)`` of ``chip``'s pixel array as the events see it in ``orientation``."""
    _, w, h = CHIPS[chip]
    return (h, w) if orientation == "spikingjelly-cifar10dvs" else (w, h)


def _fits(size, chip: str, orientation: str) -> bool:
    w, h = _frame(chip, orientation)
    return size[0] <= w and size[1] <= h


def _no_fit_message(size, chip: str, orientation: str) -> str:
    """Why ``size`` cannot be written as ``chip``, and what to write instead."""
    w, h = _frame(chip, orientation)
    text = (f"sensor size {size[0]} x {size[1]} does not fit chip {chip} ({w} x {h}); write AEDAT 3.1 "
            "with format='aedat3', which has no fixed frame")
    bigger = [c for c in sorted(CHIPS, key=lambda c: CHIPS[c][1] * CHIPS[c][2])
              if c != chip and _fits(size, c, "caer")]
    if bigger:
        fw, fh = _frame(bigger[0], "caer")
        text += f", or pass chip='{bigger[0]}' ({fw} x {fh})"
    return text


class Aedat2Writer(EventWriter):
    """Writes jAER AEDAT 2.0. Options: ``chip`` ("dvs128" default, "davis240", "davis346"),
    ``orientation`` (the preset the events are in; inverted when encoding; default "caer").

    Timestamps must lie in ``0 .. 2**31 - 1`` µs; coordinates must fit the chip. Anything else
    raises :class:`FormatError` (nothing wraps).
    """

    format_name = "aedat2"
    stores_meta = ("time_unit", "chip", "orientation", "creation_time_ms", "header_bytes", "polarity",
                   "chip_from_header", "skipped")

    def __init__(self, path, *, chip: str = "dvs128", orientation: str = DEFAULT_ORIENTATION, **options):
        chip = chip.lower()
        if chip not in CHIPS:
            raise ValueError(f"chip must be one of {sorted(CHIPS)}, got {chip!r}")
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {sorted(ORIENTATIONS)}, got {orientation!r}")
        if orientation == "spikingjelly-cifar10dvs" and chip != "dvs128":
            raise ValueError("orientation 'spikingjelly-cifar10dvs' applies to DVS128 addresses only")
        size = options.get("sensor_size") or (options.get("meta") or {}).get("sensor_size")
        if size is not None:
            size = [int(v) for v in size[:2]]
            if not _fits(size, chip, orientation):  # before any warning about metadata: nothing is written
                raise FormatError(_no_fit_message(size, chip, orientation), path)
            if size == list(_frame(chip, orientation)):  # the chip's own size is implied by the AEChip line
                self.stores_meta = self.stores_meta + ("sensor_size",)
        super().__init__(path, **options)
        self.chip, self.orientation = chip, orientation
        self._layout, self._w, self._h = CHIPS[chip]
        self._file = open(self.tmp_path, "wb")  # noqa: SIM115  (closed by _finish/_release)
        aechip = {"dvs128": "ch.unizh.ini.jaer.chip.retina.DVS128",
                  "davis240": "eu.seebetter.ini.chips.davis.DAVIS240C",
                  "davis346": "eu.seebetter.ini.chips.davis.Davis346B"}[chip]
        ms = int(time.time() * 1000)
        header = (
            "#!AER-DAT2.0\r\n"
            "# This is a raw AE data file - do not edit\r\n"
            "# Data format is int32 address, int32 timestamp (8 bytes total), repeated for each event\r\n"
            "# Timestamps tick: 1 us\r\n"
            f"# Creation time: System.currentTimeMillis() {ms}\r\n"
            f"# AEChip: {aechip}\r\n"
            "# Written by evio\r\n"
            "#End Of ASCII Header\r\n"
        )
        self._file.write(header.encode("ascii"))

    def _write(self, events):
        if not len(events):
            return
        t = events["t"]
        if int(t.min()) < 0 or int(t.max()) >= 1 << 31:
            bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
            raise FormatError(f"timestamp {bad} does not fit AEDAT 2.0 (0 .. 2**31-1 µs)", self.path)
        x = events["x"].astype(np.int64)
        y = events["y"].astype(np.int64)
        w, h = self._w, self._h
        if self.orientation == "spikingjelly-cifar10dvs":
            if int(x.max()) >= h or int(y.max()) >= w:
                raise FormatError(f"x/y exceed the {self.chip} sensor ({h}x{w} in this orientation)", self.path)
            yr = w - 1 - x
            xr = h - 1 - y
        else:
            if int(x.max()) >= w or int(y.max()) >= h:
                raise FormatError(f"x/y exceed the {self.chip} sensor ({w}x{h})", self.path)
            xr = w - 1 - x
            yr = h - 1 - y if self.orientation == "caer" else y
        on = events["p"]
        if self._layout == aer.CHIP_DVS128:
            addr = (yr << 8) | (xr << 1) | np.where(on, 0, 1)
        else:
            addr = (yr << 22) | (xr << 12) | np.where(on, 1 << 11, 0)
        out = np.empty(len(events), dtype=[("a", ">u4"), ("t", ">i4")])
        out["a"] = addr
        out["t"] = t
        self._file.write(out.tobytes())

    def _finish(self):
        self._file.close()

    def _release(self):
        self._file.close()


def _is_aedat12(path) -> bool:
    version = read_version(path)
    if version == (2, 0):
        return True
    # a '#' header without a version line is AEDAT 1.0 only under the .aedat suffix (CSV comments start with '#')
    return version == (1, 0) and path.suffix.lower() == ".aedat"


FORMAT = FormatSpec(
    name="aedat2",
    description="jAER AEDAT 1.0/2.0 (DVS128, DAVIS240/346 addresses)",
    suffixes=(".aedat",),
    magic=(b"#!AER-DAT1.", b"#!AER-DAT2."),
    sniff=_is_aedat12,
    reader=Aedat2Reader,
    writer=Aedat2Writer,
)
