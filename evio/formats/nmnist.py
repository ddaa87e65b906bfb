"""N-MNIST / N-Caltech101 ``.bin`` (Orchard et al., ATIS): 5 bytes per event, no header.

``byte0 = x``, ``byte1 = y``, ``byte2`` bit 7 = polarity (1 = ON), and a 23-bit µs timestamp
``(byte2 & 0x7F) << 16 | byte3 << 8 | byte4``. Rows with ``y == 240`` are overflow markers: every
later timestamp gets ``+ 2**13`` per marker (as in Orchard's MATLAB reader and Tonic's
``read_mnist_file``) and the marker rows are dropped. See ``docs/formats/nmnist.md``.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..events import empty_events
from ..kernels import aer
from ..registry import FormatSpec
from .base import EventReader, EventWriter

DATASET_SIZES = {"nmnist": (34, 34), "ncaltech101": (240, 180)}
#: At most this many overflow markers per write call (a larger jump in time is refused).
MAX_MARKERS_PER_WRITE = 1 << 24


class NmnistReader(EventReader):
    """Options: ``dataset`` ("nmnist" → 34x34 default, "ncaltech101" → 240x180) or ``sensor_size``."""

    format_name = "nmnist"

    def __init__(self, path, *, dataset: str = "nmnist", sensor_size=None, **options):
        super().__init__(path, **options)
        if dataset not in DATASET_SIZES:
            raise ValueError(f"dataset must be one of {sorted(DATASET_SIZES)}, got {dataset!r}")
        self._file = open(self.path, "rb")  # noqa: SIM115  (closed by close())
        self._file.seek(0, 2)
        size = self._file.tell()
        self._rows, self._trailing = divmod(size, 5)
        self.version = None
        self.meta.update(sensor_size=list(sensor_size if sensor_size is not None else DATASET_SIZES[dataset]),
                         dataset=dataset)
        self.markers = 0
        self.count = None

    def _chunks(self, size):
        self._file.seek(0)
        tstate = np.zeros(2, dtype=np.int64)
        remaining = self._rows
        while remaining > 0:
            n = min(size, remaining)
            buf = np.fromfile(self._file, dtype=np.uint8, count=5 * n)
            if len(buf) < 5 * n:
                raise FormatError("file shrank while reading", self.path)
            remaining -= n
            out = empty_events(n)
            k = aer.nmnist_decode(buf, out["t"], out["x"], out["y"], out["p"], tstate)
            self.markers = int(tstate[1])
            self.meta["overflow_markers"] = self.markers
            yield out[:k]
        if self._trailing:
            raise FormatError(f"{self._trailing} trailing bytes do not form a whole 5-byte event", self.path,
                              5 * self._rows)

    def close(self):
        self._file.close()


class NmnistWriter(EventWriter):
    """Writes 5-byte events; x in 0..255, y in 0..239 (240 marks an overflow), t >= 0. A time
    beyond the 23-bit field is reached by inserting overflow markers (each adds 2**13 µs to every
    later event), so t must not fall below the offset reached by earlier events (sorted input is
    always fine)."""

    format_name = "nmnist"
    stores_meta = ("time_unit", "dataset", "overflow_markers")

    def __init__(self, path, **options):
        super().__init__(path, **options)
        self._file = open(self.tmp_path, "wb")  # noqa: SIM115  (closed by _finish/_release)
        self._mstate = np.zeros(1, dtype=np.int64)

    def _write(self, events):
        if not len(events):
            return
        t = events["t"]
        if int(t.min()) < 0:
            raise FormatError(f"timestamp {int(t.min())} < 0 does not fit N-MNIST .bin", self.path)
        if int(events["x"].max()) > 255 or int(events["y"].max()) > 239:
            raise FormatError("N-MNIST .bin holds x in 0..255 and y in 0..239", self.path)
        top = (int(t.max()) - (1 << 23)) // aer.NMNIST_OVERFLOW_STEP + 1
        markers = max(0, top - int(self._mstate[0]))
        if markers > MAX_MARKERS_PER_WRITE:
            raise FormatError(f"timestamp {int(t.max())} needs {markers} overflow markers; refusing", self.path)
        out = np.empty(5 * (len(events) + markers), dtype=np.uint8)
        n = aer.nmnist_encode(t, events["x"], events["y"], events["p"], out, self._mstate)
        if n < 0:
            i = -n - 1
            raise FormatError(f"event {i} (t={int(t[i])}) lies before the time offset already reached by "
                              f"overflow markers; N-MNIST .bin cannot hold it (sort by t)", self.path)
        self._file.write(out[:n].tobytes())

    def _finish(self):
        self._file.close()

    def _release(self):
        self._file.close()


def _looks_like_nmnist(path) -> bool:
    """A ``.bin`` file of whole 5-byte rows whose first rows have y <= 240 (240 = overflow marker).

    ``.bin`` is too generic to claim by suffix alone (an HDF5 file with a user block may be called
    ``.bin`` too), so the format is found by this content check, after formats with magic bytes.
    """
    try:
        if path.suffix.lower() != ".bin" or not path.is_file():
            return False
        size = path.stat().st_size
        if size == 0 or size % 5:
            return False
        with open(path, "rb") as f:
            head = np.frombuffer(f.read(5000), dtype=np.uint8)
    except OSError:
        return False
    head = head[: len(head) // 5 * 5].reshape(-1, 5)
    return bool(np.all(head[:, 1] <= aer.NMNIST_OVERFLOW_Y))


FORMAT = FormatSpec(
    name="nmnist",
    description="N-MNIST / N-Caltech101 .bin (5-byte ATIS events, 34x34 default)",
    # no suffix claim: .bin files are recognised by _looks_like_nmnist; write with format="nmnist"
    suffixes=(),
    sniff=_looks_like_nmnist,
    reader=NmnistReader,
    writer=NmnistWriter,
)
