"""I2E sparse coordinate list (npz layout ``"i2e-sparse"``), as the I2E paper (Appendix C) describes it.

The paper stores each sample as a list of events ``(t, p, x, y)`` in a uint8 matrix inside an ``.npz``
but publishes no writer or key names, so evio fixes them:

- key ``events``: uint8 ``[N, 4]``, columns ``t, p, x, y`` in that order (``t`` timestep index,
  ``p`` 1 = ON / 0 = OFF, ``x`` column, ``y`` row);
- key ``shape``: uint16 ``[4]`` = ``(T, C=2, H, W)``, so T and the sensor size survive.

Every value must fit uint8: ``T``, ``H``, ``W`` are at most 256. Nothing is ever wrapped.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..events import EVENT_DTYPE
from ._npzio import MAX_MEMBER_BYTES, NpzLayoutReader, NpzLayoutWriter, checked_int, read_array

LAYOUT = "i2e-sparse"
KEYS = ("events", "shape")
COLUMNS = ("t", "p", "x", "y")
_MAX_SIDE = 256


class I2ESparseReader(NpzLayoutReader):
    layout = LAYOUT

    def _load(self, zf):
        shape = read_array(zf, "shape", self.path, kinds="iu", ndim=1, max_bytes=64)
        if shape.shape != (4,):
            raise FormatError(f"key 'shape': must hold 4 values (T, C, H, W), has {len(shape)}", self.path)
        T, C, H, W = (int(v) for v in shape)
        if C != 2:
            raise FormatError(f"key 'shape': C = {C}, the layout has 2 polarity channels", self.path)
        for name, value in (("T", T), ("H", H), ("W", W)):
            if not 1 <= value <= _MAX_SIDE:
                raise FormatError(f"key 'shape': {name} = {value} is outside 1..{_MAX_SIDE}", self.path)
        rows = read_array(zf, "events", self.path, kinds="iu", ndim=2)
        if rows.shape[1] != 4:
            raise FormatError(f"key 'events': must be [N, 4] (columns t, p, x, y), has shape {rows.shape}",
                              self.path)
        t, p, x, y = (rows[:, i] for i in range(4))
        for name, col, hi in (("t", t, T - 1), ("p", p, 1), ("x", x, W - 1), ("y", y, H - 1)):
            checked_int(col, name, 0, hi, self.path, key="events")
        out = np.empty(len(rows), dtype=EVENT_DTYPE)
        out["t"], out["x"], out["y"], out["p"] = t, x, y, p == 1
        self._set_geometry(W, H, T)
        self._details = {"shape": [T, 2, H, W], "columns": list(COLUMNS), "dtype": str(rows.dtype)}
        return out


class I2ESparseWriter(NpzLayoutWriter):
    """Options: ``compress`` (default True, as ``np.savez_compressed``)."""

    layout = LAYOUT
    max_T = _MAX_SIDE

    def _check_size(self, W, H):
        if W > _MAX_SIDE or H > _MAX_SIDE:
            raise FormatError(f"the {LAYOUT} layout stores uint8 coordinates: sensor_size (W={W}, H={H}) "
                              f"does not fit {_MAX_SIDE} x {_MAX_SIDE}", self.path)

    def _check_xy(self, events, offset):
        for name in ("x", "y"):
            checked_int(events[name], name, 0, _MAX_SIDE - 1, self.path, what="event", offset=offset)

    def _arrays(self, events, W, H, T):
        if 4 * len(events) > MAX_MEMBER_BYTES:
            raise FormatError(f"{len(events)} events exceed the {MAX_MEMBER_BYTES}-byte member limit", self.path)
        rows = np.empty((len(events), 4), dtype=np.uint8)
        rows[:, 0] = events["t"]
        rows[:, 1] = events["p"]
        rows[:, 2] = events["x"]
        rows[:, 3] = events["y"]
        return {"events": rows, "shape": np.array([T, 2, H, W], dtype="<u2")}
