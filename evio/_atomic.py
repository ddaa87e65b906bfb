"""Atomic output: write to a hidden temporary sibling, rename over the destination on success.

Temporary entries are named ``.<name>.evio-tmp-<host>-<pid>-<tag>`` (``evio-old`` for a folder being
replaced), so a later run in the same folder can tell the leftovers of a killed process (SIGKILL,
power loss) from the work of a live one, and removes them (see :func:`sweep_stale`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import threading
import uuid
import warnings
from pathlib import Path

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"
_STALE_RE = re.compile(r"^\..+\.evio-(?:tmp|old)-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[0-9a-f]{8}(?:\..+)?$")
_swept: set[str] = set()
_swept_lock = threading.Lock()


def temp_sibling(final: Path, kind: str = "tmp") -> Path:
    """A fresh hidden path beside ``final`` that names this host and process."""
    return final.with_name(f".{final.name}.evio-{kind}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def sweep_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove temporary entries that a dead evio process on this host left in ``folder``.

    Entries of live processes and of other hosts (a shared file system) are kept. Each folder is
    swept once per process; returns what was removed (a warning names each).
    """
    folder = Path(folder)
    key = os.path.abspath(folder)
    with _swept_lock:
        if key in _swept:
            return []
        _swept.add(key)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        match = _STALE_RE.match(entry.name)
        if match is None or match["host"] != _HOST:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        path = Path(entry.path)
        try:
            _remove(path)
        except OSError:
            continue
        removed.append(path)
        warnings.warn(f"removed {path}: temporary output of an evio process ({pid}) that was killed",
                      RuntimeWarning, stacklevel=3)
    return removed


def evio_layout(path: str | os.PathLike) -> str | None:
    """The ``evio_layout`` attribute of a zarr v3 folder that evio wrote, else None."""
    try:
        with open(Path(path) / "zarr.json", "rb") as f:
            doc = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return None
    attrs = doc.get("attributes") if isinstance(doc, dict) else None
    layout = attrs.get("evio_layout") if isinstance(attrs, dict) else None
    return layout if isinstance(layout, str) and layout.startswith("evio-") else None


def _inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_destination(path: str | os.PathLike, *, sources=()) -> Path:
    """Fail early, before reading anything, if ``path`` cannot be created or must not be replaced.

    Refused: a missing parent folder; a destination that is, holds, or lies inside one of ``sources``;
    an existing folder that is not a store evio wrote (evio replaces files and its own stores, never an
    arbitrary folder).
    """
    dst = Path(path)
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"destination folder does not exist: {parent}")
    real_dst = Path(os.path.realpath(dst))
    for src in sources:
        real_src = Path(os.path.realpath(src))
        if real_dst == real_src:
            raise ValueError(f"source and destination are the same path: {src}")
        if _inside(real_dst, real_src):
            raise ValueError(f"destination {dst} lies inside the source {src}; choose a path outside it")
        if _inside(real_src, real_dst):
            raise ValueError(f"destination {dst} holds the source {src}; choose another destination")
    check_replaceable(dst)
    return dst


def check_replaceable(path: Path) -> None:
    """Raise ``FileExistsError`` if ``path`` is a folder (or other non-file) that evio did not write."""
    if path.is_symlink() or not path.exists() or path.is_file():
        return
    if path.is_dir() and evio_layout(path) is not None:
        return
    what = "a folder" if path.is_dir() else "not a regular file"
    raise FileExistsError(errno.EEXIST, f"destination is {what} that evio did not write; evio replaces only "
                          "files and its own stores (remove it yourself, or choose another path)", str(path))


class AtomicDestination:
    """A temporary path next to ``final`` that becomes ``final`` on :meth:`commit`.

    :meth:`discard` removes the temporary file or folder, so a failed write leaves nothing behind.
    """

    def __init__(self, final: str | os.PathLike):
        self.final = check_destination(final)
        sweep_stale(self.final.parent if str(self.final.parent) else ".")
        self.tmp = temp_sibling(self.final)
        self.done = False

    def commit(self) -> None:
        """Move the finished output into place; an old folder, or a file replaced by a folder, is
        first moved aside so that a crash between the two renames never loses both."""
        check_replaceable(self.final)
        if self.final.exists() and (self.final.is_dir() or self.tmp.is_dir()):
            old = temp_sibling(self.final, "old")
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
        path.unlink(missing_ok=True)
