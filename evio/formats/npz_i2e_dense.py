"""I2E dense sample (npz layout ``"i2e-dense"``), as the I2E dataset notebooks write it.

One key, ``arr_0``: bool ``[T, 2, H, W]`` (``np.savez_compressed(path, array)``), channel 0 = ON,
1 = OFF; I2E's T = 8 steps are the directions e, f, g, h, a, b, c, d. Events are the set elements,
in C order (t, channel, y, x), with ``t`` the timestep index.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._warn import warn_loss
from ..dense import from_dense, to_dense
from ..errors import FormatError, LossWarning
from ._npzio import MAX_MEMBER_BYTES, NpzLayoutReader, NpzLayoutWriter, read_array

LAYOUT = "i2e-dense"
KEYS = ("arr_0",)
_MAX_SIDE = 65536


class I2EDenseReader(NpzLayoutReader):
    layout = LAYOUT

    def _load(self, zf):
        arr = read_array(zf, "arr_0", self.path, kinds="biu", ndim=4)
        T, C, H, W = arr.shape
        if C != 2:
            raise FormatError(f"key 'arr_0': expected [T, 2, H, W] (channel 0 = ON), got shape {arr.shape}",
                              self.path)
        if T < 1 or not (1 <= H <= _MAX_SIDE and 1 <= W <= _MAX_SIDE):
            raise FormatError(f"key 'arr_0': shape {arr.shape} needs T >= 1 and H, W within 1..{_MAX_SIDE}",
                              self.path)
        if arr.dtype != np.bool_:
            odd = int(np.count_nonzero((arr != 0) & (arr != 1)))
            if odd:
                warn_loss(f"{self.path}: key 'arr_0': {odd} elements are neither 0 nor 1; each became one event")
            arr = arr != 0
        self._set_geometry(W, H, T)
        self._details = {"shape": [T, 2, H, W], "channels": "on_off", "dtype": str(arr.dtype)}
        return from_dense(arr, channels="on_off")


class I2EDenseWriter(NpzLayoutWriter):
    """Options: ``compress`` (default True: ``np.savez_compressed``; False: ``np.savez``)."""

    layout = LAYOUT

    def _arrays(self, events, W, H, T):
        n = T * 2 * H * W
        if n > MAX_MEMBER_BYTES:
            raise FormatError(f"a [{T}, 2, {H}, {W}] bool tensor needs {n} bytes, more than the "
                              f"{MAX_MEMBER_BYTES}-byte member limit", self.path)
        key = ((events["t"] * 2 + (~events["p"]).astype(np.int64)) * H + events["y"]) * W + events["x"]
        if len(key) > 1 and not np.all(np.diff(key) > 0):
            dup = len(key) - len(np.unique(key))
            if dup:
                warn_loss(f"{self.path}: {dup} duplicate events collapse into one element each")
            if not np.all(np.diff(key) >= 0):
                warn_loss(f"{self.path}: event order is not kept: the {LAYOUT} layout reads back in "
                              "(t, channel, y, x) order")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LossWarning)
            try:
                dense = to_dense(events, (W, H), T, channels="on_off")
            except FormatError as exc:
                raise FormatError(exc.reason, self.path) from None
        return {"arr_0": dense}
