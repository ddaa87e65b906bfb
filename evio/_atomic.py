"""Atomic output: write to a hidden temporary sibling, rename over the destination on success."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def check_destination(path: str | os.PathLike) -> Path:
    """Fail early, before reading anything, if ``path`` cannot be created."""
    dst = Path(path)
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"destination folder does not exist: {parent}")
    return dst


class AtomicDestination:
    """A temporary path next to ``final`` that becomes ``final`` on :meth:`commit`.

    :meth:`discard` removes the temporary file or folder, so a failed write leaves nothing behind.
    """

    def __init__(self, final: str | os.PathLike):
        self.final = check_destination(final)
        self.tmp = self.final.with_name(f".{self.final.name}.evio-tmp-{uuid.uuid4().hex[:8]}")
        self.done = False

    def commit(self) -> None:
        if self.final.is_dir() and not self.final.is_symlink():
            shutil.rmtree(self.final)
        elif self.tmp.is_dir() and self.final.exists():
            self.final.unlink()
        os.replace(self.tmp, self.final)
        self.done = True

    def discard(self) -> None:
        if self.tmp.is_dir() and not self.tmp.is_symlink():
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif self.tmp.exists():
            self.tmp.unlink()
        self.done = True
