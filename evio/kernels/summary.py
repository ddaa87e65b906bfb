"""Single-pass statistics over event fields."""

from __future__ import annotations

import numpy as np

from . import njit


@njit
def _summarize(t, x, y, p):
    n = t.shape[0]
    t_min = np.iinfo(np.int64).max
    t_max = np.iinfo(np.int64).min
    x_max = -1
    y_max = -1
    on = 0
    is_sorted = True
    for i in range(n):
        ti = t[i]
        if ti < t_min:
            t_min = ti
        if ti > t_max:
            t_max = ti
        if i > 0 and ti < t[i - 1]:
            is_sorted = False
        if x[i] > x_max:
            x_max = x[i]
        if y[i] > y_max:
            y_max = y[i]
        if p[i]:
            on += 1
    return n, on, t_min, t_max, x_max, y_max, is_sorted


class Summary:
    """Running statistics over event chunks: count, ON count, t range, coordinate maxima, sortedness."""

    __slots__ = ("count", "on", "t_min", "t_max", "x_max", "y_max", "is_sorted", "first_t", "last_t")

    def __init__(self):
        self.count = 0
        self.on = 0
        self.t_min = None
        self.t_max = None
        self.x_max = -1
        self.y_max = -1
        self.is_sorted = True
        self.first_t = None
        self.last_t = None

    def update(self, events: np.ndarray) -> None:
        if len(events) == 0:
            return
        n, on, t_min, t_max, x_max, y_max, is_sorted = _summarize(
            events["t"], events["x"], events["y"], events["p"].view(np.uint8)
        )
        first, last = int(events["t"][0]), int(events["t"][-1])
        if self.last_t is not None and first < self.last_t:
            is_sorted = False
        if self.first_t is None:
            self.first_t = first
        self.last_t = last
        self.count += int(n)
        self.on += int(on)
        self.t_min = int(t_min) if self.t_min is None else min(self.t_min, int(t_min))
        self.t_max = int(t_max) if self.t_max is None else max(self.t_max, int(t_max))
        self.x_max = max(self.x_max, int(x_max))
        self.y_max = max(self.y_max, int(y_max))
        self.is_sorted = self.is_sorted and bool(is_sorted)

    @property
    def inferred_sensor_size(self) -> tuple[int, int] | None:
        """``(W, H)`` just large enough for every event seen, or ``None`` if none was seen."""
        if self.count == 0:
            return None
        return (self.x_max + 1, self.y_max + 1)


def summarize(events: np.ndarray) -> Summary:
    s = Summary()
    s.update(events)
    return s
