"""Time index for sorted event streams: ``index[m]`` = first event with ``t - t_offset >= m * bin_width``.

With ``bin_width = 1000`` µs this is DSEC's ``ms_to_idx``. The index is built while events stream
in and coarsened (bin width doubled) whenever it would grow beyond ``max(2**20, 4 * events)``
entries, so its size stays bounded by the event count (8 MiB at most for small files).
"""

from __future__ import annotations

import numpy as np

DEFAULT_BIN_WIDTH = 1000
_MIN_CAP = 1 << 20


class TimeIndexBuilder:
    def __init__(self, t_offset: int, bin_width: int = DEFAULT_BIN_WIDTH):
        self.t_offset = int(t_offset)
        self.bin_width = int(bin_width)
        self._parts: list[np.ndarray] = []
        self._n_bins = 0
        self._count = 0

    def _cap(self, extra_events: int) -> int:
        return max(_MIN_CAP, 4 * (self._count + extra_events))

    def _coarsen(self) -> None:
        whole = np.concatenate(self._parts) if self._parts else np.zeros(0, np.uint64)
        whole = whole[::2].copy()
        self._parts = [whole]
        self._n_bins = len(whole)
        self.bin_width *= 2

    def add(self, t: np.ndarray) -> None:
        """Add the timestamps of the next chunk (must continue a non-decreasing stream)."""
        n = len(t)
        if n == 0:
            return
        last_rel = int(t[-1]) - self.t_offset
        while last_rel // self.bin_width + 1 > self._cap(n):
            self._coarsen()
        last_bin = last_rel // self.bin_width
        if last_bin >= self._n_bins:
            rel = t.view(np.uint64) - np.uint64(self.t_offset & 0xFFFFFFFFFFFFFFFF)
            bins = np.arange(self._n_bins, last_bin + 1, dtype=np.uint64) * np.uint64(self.bin_width)
            first = np.searchsorted(rel, bins, side="left").astype(np.uint64) + np.uint64(self._count)
            self._parts.append(first)
            self._n_bins = last_bin + 1
        self._count += n

    def finish(self) -> np.ndarray:
        """The index with a final sentinel entry equal to the event count."""
        parts = self._parts + [np.array([self._count], dtype=np.uint64)]
        return np.concatenate(parts)


def window_bounds(index: np.ndarray, bin_width: int, t_offset: int, t0: int, t1: int) -> tuple[int, int, int, int]:
    """Event index ranges that must contain the first event with ``t >= t0`` and with ``t >= t1``.

    Returns ``(lo0, hi0, lo1, hi1)``: the answer for ``t0`` lies in ``[lo0, hi0]``, for ``t1`` in ``[lo1, hi1]``.
    """
    last = len(index) - 1

    def bracket(tq: int) -> tuple[int, int]:
        rel = tq - t_offset
        if rel <= 0:
            return 0, 0
        b = rel // bin_width
        if b >= last:
            return int(index[last]), int(index[last])
        return int(index[b]), int(index[b + 1])

    lo0, hi0 = bracket(t0)
    lo1, hi1 = bracket(t1)
    return lo0, hi0, lo1, hi1
