"""evio: fast, lossless movement of neuromorphic event data between files, stores and tensors.

Events are ``EVENT_DTYPE`` structured arrays (``t`` int64 µs, ``x``/``y`` uint16 pixels with the
origin top-left, ``p`` bool with True = ON); metadata travels beside them in ``reader.meta``.
"""

from . import packbits
from .api import convert, formats, info, open, read, write
from .dense import from_dense, to_dense
from .errors import FormatError, LossWarning
from .events import EVENT_DTYPE, as_events, empty_events

__version__ = "0.1.0"

__all__ = [
    "EVENT_DTYPE",
    "FormatError",
    "LossWarning",
    "as_events",
    "convert",
    "empty_events",
    "formats",
    "from_dense",
    "info",
    "open",
    "packbits",
    "read",
    "to_dense",
    "write",
]
