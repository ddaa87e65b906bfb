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
        """Move the finished output into place; an old folder, or a file replaced by a folder, is
        first moved aside so that a crash between the two renames never loses both."""
        if self.final.exists() and (self.final.is_dir() or self.tmp.is_dir()):
            old = self.final.with_name(f".{self.final.name}.evio-old-{uuid.uuid4().hex[:8]}")
            os.replace(self.final, old)
            os.replace(self.tmp, self.final)
            _remove(old)
        else:
            os.replace(self.tmp, self.final)
        self.done = True

    def discard(self) -> None:
        _remove(self.tmp)
        self.done = True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
