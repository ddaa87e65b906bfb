"""Torch tensors recognised without importing torch (it stays an optional dependency)."""

from __future__ import annotations

import numpy as np


def is_torch(obj) -> bool:
    """True for a torch tensor (or any other object of a ``torch`` type)."""
    return type(obj).__module__.startswith("torch")


def as_numpy(data) -> np.ndarray:
    """``data`` as a NumPy array; a torch tensor is detached and moved to the CPU first."""
    if is_torch(data):
        return data.detach().cpu().numpy()
    return np.asarray(data)
