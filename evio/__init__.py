"""evio: fast, lossless movement of neuromorphic event data between files, stores and tensors.

Events are ``EVENT_DTYPE`` structured arrays (``t`` int64 µs, ``x``/``y`` uint16 pixels with the
origin top-left, ``p`` bool with True = ON); metadata travels beside them in ``reader.meta``.

The names below load their module on first use, so ``import evio`` (and the command line's start)
stays cheap. No public name shadows a module: ``evio.frames`` is the function (module
``evio.framing``), ``evio.i2e`` the function (module ``evio.image.i2e``), ``evio.list_formats``
lists the formats (package ``evio.formats``).
"""

from __future__ import annotations

import os as _os
import signal as _signal
import sys as _sys

if _sys.argv and _os.path.basename(_sys.argv[0]) in ("evio", "evio.exe") \
        and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    # The ``evio`` command is starting: until its group takes over (and restores Python's handler, so
    # that writers clean up on Ctrl-C), Ctrl-C ends it with one line; there is nothing to clean up yet.
    def _interrupted_while_starting(signum, frame):
        _os.write(2, b"evio: interrupted\n")
        _os._exit(130)

    _signal.signal(_signal.SIGINT, _interrupted_while_starting)

import importlib  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

__version__ = "0.2.0"

#: public name -> the module (relative to ``evio``) that defines it
_EXPORTS = {
    "EVENT_DTYPE": "events", "as_events": "events", "empty_events": "events",
    "FormatError": "errors", "IndexWarning": "errors", "LossWarning": "errors",
    "convert": "api", "info": "api", "list_formats": "api", "open": "api", "read": "api", "write": "api",
    "from_dense": "dense", "to_dense": "dense",
    "frames": "framing", "frames_batch": "framing", "pad_collate": "framing", "padded_sequence_mask": "framing",
    "i2e": "image.i2e", "i2e_folder": "image.folder",
    "edge_integral": "image.odg", "es_imagenet_dense": "image.odg", "odg": "image.odg",
    "to_dask": "_dask", "convert_many": "batch",
}
#: public submodules reachable as attributes of ``evio`` without an import of their own
_SUBMODULES = ("datasets", "packbits")

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'evio' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from . import datasets, packbits
    from ._dask import to_dask
    from .batch import convert_many
    from .api import convert, info, list_formats, open, read, write
    from .dense import from_dense, to_dense
    from .errors import FormatError, IndexWarning, LossWarning
    from .events import EVENT_DTYPE, as_events, empty_events
    from .framing import frames, frames_batch, pad_collate, padded_sequence_mask
    from .image.folder import i2e_folder
    from .image.i2e import i2e
    from .image.odg import edge_integral, es_imagenet_dense, odg
