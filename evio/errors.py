"""Exceptions and warnings raised by evio."""

from __future__ import annotations

import os


class FormatError(ValueError):
    """Malformed or unsupported input.

    ``path`` and ``offset`` (bytes from the start of the file, or ``None`` where no
    byte position applies, e.g. inside a compressed store) say where the problem is.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None, offset: int | None = None):
        self.path = None if path is None else os.fspath(path)
        self.offset = offset
        self.reason = message
        where = ""
        if self.path is not None:
            where = self.path
            if offset is not None:
                where += f" at byte {offset}"
            where += ": "
        super().__init__(where + message)


class LossWarning(UserWarning):
    """A conversion could not carry everything over (a field or metadata the target cannot hold)."""


class IndexWarning(UserWarning):
    """A store's time index did not match its timestamps and was not used (the answer is still exact,
    from a scan of every event)."""

