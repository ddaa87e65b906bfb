"""Format registry: maps paths to format modules by suffix and magic bytes."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import FormatError

_SNIFF_BYTES = 64


@dataclass(frozen=True)
class FormatSpec:
    """Everything evio knows about one format, declared once in its module under ``evio/formats/``."""

    name: str
    description: str
    suffixes: tuple[str, ...]
    magic: tuple[bytes, ...] = ()
    directory: bool = False
    reader: Callable | None = None
    writer: Callable | None = None
    #: Content check beyond ``magic`` (e.g. a folder holding ``zarr.json``); gets the path.
    sniff: Callable[[Path], bool] | None = field(default=None, compare=False)
    #: ``"events"``: one event stream; ``"samples"``: a collection of labelled dense samples.
    kind: str = "events"

    @property
    def can_read(self) -> bool:
        return self.reader is not None

    @property
    def can_write(self) -> bool:
        return self.writer is not None

    def matches_content(self, path: Path, head: bytes) -> bool:
        if self.directory != path.is_dir():
            return False
        if self.magic and any(head.startswith(m) for m in self.magic):
            return True
        return self.sniff is not None and bool(self.sniff(path))


_REGISTRY: dict[str, FormatSpec] = {}


def register(spec: FormatSpec) -> FormatSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"format {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _loaded() -> dict[str, FormatSpec]:
    if not _REGISTRY:
        from . import formats  # noqa: F401  (registers the built-in formats)
    return _REGISTRY


def all_formats() -> list[FormatSpec]:
    return list(_loaded().values())


def get_format(name: str) -> FormatSpec:
    specs = _loaded()
    key = name.lower().lstrip(".")
    if key in specs:
        return specs[key]
    for spec in specs.values():
        if "." + key in spec.suffixes:
            return spec
    raise FormatError(f"unknown format {name!r}; known formats: {', '.join(sorted(specs))}")


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def by_suffix(path: Path) -> list[FormatSpec]:
    """The registered formats whose suffixes include ``path``'s (case-insensitive)."""
    suffix = _suffix(path)
    return [s for s in _loaded().values() if suffix and suffix in s.suffixes]


def _head(path: Path) -> bytes:
    if path.is_dir():
        return b""
    with open(path, "rb") as f:
        return f.read(_SNIFF_BYTES)


def check_source(path: Path) -> None:
    """Refuse what is neither a regular file nor a folder (a FIFO, socket or device): evio's readers
    seek, and reading a pipe would block until a writer comes, then fail."""
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) \
        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
    raise FormatError(f"is {kind}; evio reads regular files and folders (save the stream to a file first)",
                      path)


def resolve_read(path: str | os.PathLike, format: str | None = None) -> FormatSpec:
    """The format to read ``path`` with: the named one, else by suffix, checked against magic bytes."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    check_source(path)
    if format is not None:
        spec = get_format(format)
        if not spec.can_read:
            raise FormatError(f"evio cannot read the {spec.name} format", path)
        return spec
    head = _head(path)
    if not path.is_dir() and not head:
        raise FormatError("file is empty", path, 0)
    candidates = [s for s in by_suffix(path) if s.can_read]
    by_content = [s for s in _loaded().values() if s.can_read and s.matches_content(path, head)]
    magic_matches = [s for s in by_content if s.magic and any(head.startswith(m) for m in s.magic)]
    by_content = magic_matches + [s for s in by_content if s not in magic_matches]
    for spec in candidates:
        if spec in by_content:
            return spec
    if magic_matches and not any(s.magic for s in candidates):
        return magic_matches[0]
    if candidates:
        spec = candidates[0]
        hint = ""
        if by_content:
            other = by_content[0].name
            hint = f"; its content looks like {other} (pass format={other!r}, or --from {other} on the command line)"
        if spec.directory and not path.is_dir():
            raise FormatError(f"a {spec.name} store is a folder, but this is a file{hint}", path)
        if spec.directory or not spec.magic:
            return spec
        raise FormatError(f"not a {spec.name} file: unexpected bytes {head[:8]!r}{hint}", path, 0)
    if len(by_content) >= 1:
        return by_content[0]
    known = ", ".join(sorted({sfx for s in _loaded().values() for sfx in s.suffixes}))
    raise FormatError(
        f"unknown format: suffix {_suffix(path) or '(none)'!r} is not registered and the content matches "
        f"no known format (known suffixes: {known}; pass format=... or --from FORMAT)",
        path,
    )


def resolve_write(path: str | os.PathLike, format: str | None = None) -> FormatSpec:
    """The format to write ``path`` in: the named one, else by suffix."""
    path = Path(path)
    if format is not None:
        spec = get_format(format)
    else:
        candidates = by_suffix(path)
        writable = [s for s in candidates if s.can_write]
        if not writable:
            if candidates:
                raise FormatError(f"evio cannot write the {candidates[0].name} format", path)
            known = ", ".join(sorted({sfx for s in _loaded().values() if s.can_write for sfx in s.suffixes}))
            raise FormatError(
                f"cannot tell the output format from suffix {_suffix(path) or '(none)'!r}; "
                f"use one of {known} or pass format=...",
                path,
            )
        spec = writable[0]
    if not spec.can_write:
        raise FormatError(f"evio cannot write the {spec.name} format", path)
    return spec
