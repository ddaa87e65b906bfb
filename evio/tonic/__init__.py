"""Tonic integration, laid out as Tonic is: :mod:`evio.tonic.datasets` (``tonic.Dataset`` classes over
I2E shards, CIFAR10-DVS, DVS128 Gesture, folders of event files and images) and
:mod:`evio.tonic.transforms` (frozen-dataclass transforms backed by evio kernels). See ``docs/tonic.md``.

Needs Tonic (``pip install 'evio-toolkit[tonic]'``); ``import evio`` never imports it.
"""

try:
    import tonic  # noqa: F401
except ImportError as exc:
    raise ImportError(f"evio.tonic needs Tonic ({exc}): pip install 'evio-toolkit[tonic]'") from exc

from . import datasets, transforms

__all__ = ["datasets", "transforms"]
