"""N-MNIST / N-Caltech101 ``.bin`` (Orchard et al., ATIS): 5 bytes per event, no header.

``byte0 = x``, ``byte1 = y``, ``byte2`` bit 7 = polarity (1 = ON), and a 23-bit µs timestamp
``(byte2 & 0x7F) << 16 | byte3 << 8 | byte4``. Rows with ``y == 240`` are overflow markers: every
later timestamp gets ``+ 2**13`` per marker (as in Orchard's MATLAB reader and Tonic's
``read_mnist_file``) and the marker rows are dropped. See ``docs/formats/nmnist.md``.

Found as ``.bin`` (by content) or ``.bs2`` (SLAYER's name for the same bytes); a file with an
unregistered suffix only when its content passes :func:`_plausible_rows`.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..events import check_sensor_size, empty_events, record_bytes
from ..kernels import aer
from ..registry import FormatSpec, by_suffix
from .base import EventReader, EventWriter

#: Sensors named by ``dataset=``: N-MNIST's 34x34, N-Caltech101's 240x180 (the bound Orchard et al.
#: scaled the images to).
DATASET_SIZES = {"nmnist": (34, 34), "ncaltech101": (240, 180)}
NMNIST_SIZE = DATASET_SIZES["nmnist"]
#: Suffixes claimed outright (SLAYER and its users keep N-MNIST / N-Caltech101 recordings as ``.bs2``).
SUFFIXES = (".bs2",)
#: At most this many overflow markers per write call (a larger jump in time is refused).
MAX_MARKERS_PER_WRITE = 1 << 24
#: Rows examined by content detection.
SNIFF_ROWS = 1000
#: Fewest rows a file with an unregistered suffix must have to be recognised by content.
MIN_SNIFF_ROWS = 16
_SCAN_ROWS = 1 << 20


class NmnistReader(EventReader):
    """Options: ``sensor_size=(W, H)``, or ``dataset`` (``"nmnist"``: 34x34, ``"ncaltech101"``:
    240x180). Without either the size comes from the file, in one pass over it: 34x34 when every
    event fits there (an N-MNIST digit), else the extent of the events ``(max x + 1, max y + 1)``
    (``meta["sensor_size_source"]`` says which: ``"option"``, ``"dataset"``, ``"nmnist"`` or
    ``"events"``)."""

    format_name = "nmnist"

    def __init__(self, path, *, dataset: str | None = None, sensor_size=None, **options):
        super().__init__(path, **options)
        if dataset is not None and dataset not in DATASET_SIZES:
            raise ValueError(f"dataset must be one of {sorted(DATASET_SIZES)}, got {dataset!r}")
        self._file = open(self.path, "rb")  # noqa: SIM115  (closed by close())
        self._file.seek(0, 2)
        size = self._file.tell()
        self._rows, self._trailing = divmod(size, 5)
        self.version = None
        if sensor_size is not None:
            W, H, _ = check_sensor_size(sensor_size)
            sensor, source = (W, H), "option"
        elif dataset is not None:
            sensor, source = DATASET_SIZES[dataset], "dataset"
        else:
            sensor, source = self._size_from_events()
            dataset = "nmnist" if source == "nmnist" else None
        self.meta.update(sensor_size=list(sensor), sensor_size_source=source)
        if dataset is not None:
            self.meta["dataset"] = dataset
        self.markers = 0
        self.count = None

    def _size_from_events(self) -> tuple[tuple[int, int], str]:
        """N-MNIST's 34x34 when every event lies inside it, else ``(max x + 1, max y + 1)``."""
        self._file.seek(0)
        x_max = y_max = -1
        remaining = self._rows
        while remaining > 0:
            n = min(_SCAN_ROWS, remaining)
            rows = np.fromfile(self._file, dtype=np.uint8, count=5 * n)
            if len(rows) < 5 * n:
                raise FormatError("file shrank while reading", self.path)
            remaining -= n
            rows = rows.reshape(-1, 5)
            rows = rows[rows[:, 1] != aer.NMNIST_OVERFLOW_Y]
            if len(rows):
                x_max, y_max = max(x_max, int(rows[:, 0].max())), max(y_max, int(rows[:, 1].max()))
        if x_max < NMNIST_SIZE[0] and y_max < NMNIST_SIZE[1]:
            return NMNIST_SIZE, "nmnist"
        return (x_max + 1, y_max + 1), "events"

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
            k = aer.nmnist_decode(buf, out["t"], out["x"], out["y"], out["p"], tstate, record_bytes(out))
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
    stores_meta = ("time_unit", "dataset", "overflow_markers", "sensor_size_source")

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
    """Whether ``path`` holds 5-byte N-MNIST rows; checked after every format with magic bytes.

    ``.bin`` is too generic to claim by suffix alone (an HDF5 file with a user block may be called
    ``.bin`` too): whole 5-byte rows whose first rows have y <= 240 (240 = overflow marker).
    A file whose suffix no format registers (or that has none) must pass the stricter
    :func:`_plausible_rows`; a registered suffix of another format is never claimed.
    """
    try:
        if not path.is_file():
            return False
        suffix = path.suffix.lower()
        strict = suffix not in (".bin", *SUFFIXES)
        if strict and by_suffix(path):
            return False
        size = path.stat().st_size
        if size == 0 or size % 5 or (strict and size < 5 * MIN_SNIFF_ROWS):
            return False
        with open(path, "rb") as f:
            head = np.frombuffer(f.read(5 * SNIFF_ROWS), dtype=np.uint8)
    except OSError:
        return False
    rows = head[: len(head) // 5 * 5].reshape(-1, 5)
    if not np.all(rows[:, 1] <= aer.NMNIST_OVERFLOW_Y):
        return False
    return not strict or _plausible_rows(rows)


def _plausible_rows(rows: np.ndarray) -> bool:
    """Content check for a file without a telling suffix: not printable text, not one repeated row,
    some events, and timestamps (with overflow markers applied) that never decrease."""
    if np.all((rows >= 0x20) & (rows < 0x7F) | np.isin(rows, (0x09, 0x0A, 0x0D))):
        return False
    if np.all(rows == rows[0]):
        return False
    marker = rows[:, 1] == aer.NMNIST_OVERFLOW_Y
    if marker.all():
        return False
    r = rows.astype(np.int64)
    t = ((r[:, 2] & 0x7F) << 16) | (r[:, 3] << 8) | r[:, 4]
    t = (t + np.cumsum(marker) * aer.NMNIST_OVERFLOW_STEP)[~marker]
    return bool(np.all(np.diff(t) >= 0))


FORMAT = FormatSpec(
    name="nmnist",
    description="N-MNIST / N-Caltech101 .bin, .bs2 (5-byte ATIS events; sensor 34x34 or the events' extent)",
    # .bin is not claimed (too generic): such files are recognised by _looks_like_nmnist
    suffixes=SUFFIXES,
    sniff=_looks_like_nmnist,
    reader=NmnistReader,
    writer=NmnistWriter,
)
