"""evio: fast, lossless movement of neuromorphic event data between files, stores and tensors.

Events are ``EVENT_DTYPE`` structured arrays (``t`` int64 µs, ``x``/``y`` uint16 pixels with the
origin top-left, ``p`` bool with True = ON); metadata travels beside them in ``reader.meta``.
"""

from . import packbits
from .api import convert, formats, info, open, read, write
from .dense import from_dense, to_dense
from .errors import FormatError, IndexWarning, LossWarning
from .events import EVENT_DTYPE, as_events, empty_events
from .frames import frames, frames_batch, pad_collate, padded_sequence_mask
from .image import i2e
from .image.odg import edge_integral, es_imagenet_dense, odg

__version__ = "0.1.0"

__all__ = [
    "EVENT_DTYPE",
    "FormatError",
    "IndexWarning",
    "LossWarning",
    "as_events",
    "convert",
    "edge_integral",
    "empty_events",
    "es_imagenet_dense",
    "formats",
    "frames",
    "frames_batch",
    "from_dense",
    "i2e",
    "info",
    "odg",
    "open",
    "packbits",
    "pad_collate",
    "padded_sequence_mask",
    "read",
    "to_dense",
    "write",
]
