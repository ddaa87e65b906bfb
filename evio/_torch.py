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


class BatchRow(np.ndarray):
    """One sample of a batch decoded in one call (a view of it). PyTorch's default collate, given the
    rows of one batch in order, returns that batch as a tensor instead of stacking copies of them."""

    def __array_finalize__(self, obj):
        self._evio_batch = None
        self._evio_index = -1


class _Batch:
    __slots__ = ("array", "tensor", "taken")

    def __init__(self, array, tensor):
        self.array, self.tensor, self.taken = array, tensor, False


def batch_buffer(shape, dtype) -> tuple[np.ndarray, object]:
    """``(array, handle)``: a new C-contiguous array of ``shape`` and ``dtype`` to decode a batch into.

    Inside a PyTorch ``DataLoader`` worker it lies in shared memory (``handle`` is its tensor), so the
    batch reaches the main process without the copy the default collate would make; elsewhere it is
    ``np.empty`` (``handle`` None)."""
    torch = _loaded_torch()
    if torch is not None and torch.utils.data.get_worker_info() is not None:
        tdtype = torch.from_numpy(np.empty(0, dtype)).dtype
        tensor = torch.empty(0, dtype=tdtype)
        try:
            count = int(np.prod(shape, dtype=np.int64))
            tensor.set_(tensor.untyped_storage()._new_shared(count * tensor.element_size()), 0, tuple(shape))
        except (AttributeError, RuntimeError, TypeError):
            tensor = torch.empty(tuple(shape), dtype=tdtype).share_memory_()
        return tensor.numpy(), tensor
    return np.empty(shape, dtype), None


def batch_rows(array: np.ndarray, handle=None) -> list:
    """The rows of ``array`` as :class:`BatchRow` views that PyTorch's default collate turns back into
    ``array`` (``handle``, its shared-memory tensor, when given) without copying."""
    _register_collate()
    batch = _Batch(array, handle)
    rows = []
    for i in range(len(array)):
        row = array[i].view(BatchRow)
        row._evio_batch, row._evio_index = batch, i
        rows.append(row)
    return rows


def _loaded_torch():
    import sys

    torch = sys.modules.get("torch")
    return torch if torch is not None and hasattr(torch, "utils") and hasattr(torch.utils, "data") else None


_REGISTERED = []


def _register_collate() -> None:
    """Teach ``torch.utils.data.default_collate`` :class:`BatchRow` (the extension point its documentation
    shows: ``default_collate_fn_map``). Without torch loaded there is no collate to teach."""
    if _REGISTERED or _loaded_torch() is None:
        return
    try:
        from torch.utils.data._utils.collate import default_collate_fn_map
    except ImportError:
        return
    default_collate_fn_map[BatchRow] = _collate_rows
    _REGISTERED.append(True)


def _collate_rows(rows, *, collate_fn_map=None):
    """All the rows of one batch, in order, once: the batch itself; anything else: stacked copies."""
    import torch

    batch = getattr(rows[0], "_evio_batch", None)
    whole = (batch is not None and not batch.taken and len(rows) == len(batch.array)
             and all(getattr(r, "_evio_batch", None) is batch and r._evio_index == i for i, r in enumerate(rows)))
    if whole:
        batch.taken = True
        return batch.tensor if batch.tensor is not None else torch.from_numpy(batch.array)
    plain = [np.asarray(r).view(np.ndarray) for r in rows]
    if collate_fn_map is not None and np.ndarray in collate_fn_map:
        return collate_fn_map[np.ndarray](plain, collate_fn_map=collate_fn_map)
    return torch.stack([torch.as_tensor(r) for r in plain])
