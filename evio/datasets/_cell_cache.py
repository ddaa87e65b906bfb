"""A memory-mappable cache of packed sample cells, so that random access costs one decode per item.

Three files in a cache folder, named by ``<id>`` (a hash of the source paths):

    <id>.json                  manifest: version, key (each source's path, size, mtime_ns and a hash of
                               its last 64 KiB), sample count, byte count and the two file names below
    <id>-<build>.cells.npy     uint8 [L]: every cell (the ``.npy`` bytes of one sample) back to back
    <id>-<build>.index.npy     int64 [2 N + 1]: cell offsets [N + 1] (offsets[i]:offsets[i + 1] is cell i),
                               then labels [N]

``<id>.lock`` (empty) serialises builds. Every file is written beside its final name and renamed into place (:class:`evio._atomic.AtomicDestination`),
the manifest last, so a killed build leaves no manifest that names unfinished files; files no manifest
names are removed by the next build. A cache whose key, sizes or offsets disagree is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no lock; concurrent builds then each write their own files
    fcntl = None

import numpy as np

from .._atomic import AtomicDestination
from .._npy import npy_header

VERSION = 1
_HEADER_BYTES = 128
_TAIL_BYTES = 64 << 10


def fingerprint(paths) -> list:
    """``[path, size, mtime_ns, blake2b of the last 64 KiB]`` of each file (a parquet footer; for a
    folder, its ``zarr.json``)."""
    key = []
    for p in paths:
        p = Path(p).resolve()
        f = p / "zarr.json" if p.is_dir() else p
        st = f.stat()
        with open(f, "rb") as fh:
            fh.seek(max(0, st.st_size - _TAIL_BYTES))
            tail = hashlib.blake2b(fh.read(_TAIL_BYTES), digest_size=16).hexdigest()
        key.append([str(p), st.st_size, st.st_mtime_ns, st.st_ino, tail])
    return key


def cache_id(paths) -> str:
    text = "\n".join(str(Path(p).resolve()) for p in paths)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class CellCache:
    """An opened cache: ``cell(i)`` is a zero-copy view of cell ``i``; ``labels`` int64 [N].
    Pickles as its paths; the memory map is opened lazily in each process."""

    def __init__(self, cells_path: Path, index_path: Path, n: int):
        self.cells_path, self.index_path, self.n = Path(cells_path), Path(index_path), int(n)
        self._cells = self._offsets = self._labels = self._cell_bytes = None
        self._pid = None

    def __getstate__(self):
        return {"cells_path": self.cells_path, "index_path": self.index_path, "n": self.n,
                "_cells": None, "_offsets": None, "_labels": None, "_cell_bytes": None, "_pid": None}

    def _open(self) -> None:
        index = np.load(self.index_path)
        self._cells = np.load(self.cells_path, mmap_mode="r")
        self._offsets, self._labels = index[: self.n + 1], index[self.n + 1:]
        sizes = np.diff(self._offsets)
        self._cell_bytes = int(sizes[0]) if self.n and sizes[0] > 0 and np.all(sizes == sizes[0]) else None
        self._pid = os.getpid()

    def rows(self, idx: np.ndarray) -> np.ndarray | None:
        """uint8 ``[len(idx), cell bytes]``: the cells ``idx`` gathered in one copy, or None when the
        cells differ in length."""
        if self._pid != os.getpid():
            self._open()
        if self._cell_bytes is None:
            return None
        return self._cells[: self.n * self._cell_bytes].reshape(self.n, self._cell_bytes)[idx]

    @property
    def offsets(self) -> np.ndarray:
        if self._pid != os.getpid():
            self._open()
        return self._offsets

    @property
    def labels(self) -> np.ndarray:
        if self._pid != os.getpid():
            self._open()
        return self._labels

    def cell(self, i: int) -> np.ndarray:
        if self._pid != os.getpid():
            self._open()
        return self._cells[self._offsets[i]:self._offsets[i + 1]]

    def close(self) -> None:
        self._cells = self._offsets = self._labels = None
        self._pid = None


def open_cache(folder: Path, cid: str, key: list, n: int) -> CellCache | None:
    """The cache ``cid`` in ``folder`` if it is complete and made from sources matching ``key``, else None."""
    try:
        manifest = json.loads((folder / f"{cid}.json").read_text())
        if manifest.get("version") != VERSION or manifest.get("key") != key or manifest.get("samples") != n:
            return None
        cells_path, index_path = folder / manifest["cells_file"], folder / manifest["index_file"]
        nbytes = int(manifest["cells_bytes"])
        if cells_path.stat().st_size != _HEADER_BYTES + nbytes:
            return None
        cells = np.load(cells_path, mmap_mode="r")
        index = np.load(index_path)
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None
    if cells.dtype != np.uint8 or cells.shape != (nbytes,) or index.dtype != np.int64 or index.shape != (2 * n + 1,):
        return None
    offsets = index[: n + 1]
    if offsets[0] != 0 or offsets[-1] != nbytes or np.any(np.diff(offsets) < 0):
        return None
    return CellCache(cells_path, index_path, n)


def open_or_build(folder: Path, cid: str, key: list, n: int, batches, progress=None, what: str = "samples") -> CellCache:
    """The cache ``cid`` in ``folder``, built from ``batches`` (a callable giving the iterable of
    :func:`build_cache`) unless a valid one is there. Processes that open the same cache at once
    (``DataLoader`` workers, distributed ranks) build it once: the build holds a lock on ``<id>.lock``.
    OSError when ``folder`` cannot be written."""
    found = open_cache(folder, cid, key, n)
    if found is not None:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{cid}.lock", "ab") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        found = open_cache(folder, cid, key, n)
        if found is not None:
            return found
        return build_cache(folder, cid, key, n, batches(), progress, what)


def build_cache(folder: Path, cid: str, key: list, n: int, batches, progress=None, what: str = "samples") -> CellCache:
    """Write the cache ``cid`` from ``batches`` (an iterable of ``(cells, labels)``, ``n`` samples in all)
    and return it opened. ``progress``: None, True (a line on stderr once the build takes over half a
    second) or a callable ``(done, total)``.
    OSError when ``folder`` cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    build = os.urandom(4).hex()
    cells_dest = AtomicDestination(folder / f"{cid}-{build}.cells.npy")
    index_dest = AtomicDestination(folder / f"{cid}-{build}.index.npy")
    manifest_dest = AtomicDestination(folder / f"{cid}.json")
    report = _progress_printer(what) if progress is True else progress
    offsets = np.zeros(n + 1, np.int64)
    labels = np.zeros(n, np.int64)
    done = total = 0
    try:
        with open(cells_dest.tmp, "wb") as f:
            f.write(b"\0" * _HEADER_BYTES)
            for cells, batch_labels in batches:
                if done + len(cells) > n:
                    raise ValueError(f"the sources hold more than the {n} samples their metadata announces")
                for cell in cells:
                    f.write(cell)
                    total += len(memoryview(cell).cast("B"))
                    done += 1
                    offsets[done] = total
                labels[done - len(cells):done] = batch_labels
                if report is not None:
                    report(done, n)
            if done != n:
                raise ValueError(f"the sources hold {done} samples, their metadata announces {n}")
            f.seek(0)
            f.write(npy_header(np.dtype(np.uint8), total, total=_HEADER_BYTES))
            f.flush()
            os.fsync(f.fileno())
        with open(index_dest.tmp, "wb") as f:
            np.save(f, np.concatenate([offsets, labels]))
            f.flush()
            os.fsync(f.fileno())
        manifest = {"version": VERSION, "key": key, "samples": n, "cells_bytes": total,
                    "cells_file": cells_dest.final.name, "index_file": index_dest.final.name}
        manifest_dest.tmp.write_text(json.dumps(manifest))
        cells_dest.commit()
        index_dest.commit()
        manifest_dest.commit()
    except BaseException:
        for dest in (cells_dest, index_dest, manifest_dest):
            if not dest.done:
                dest.discard()
        raise
    for old in folder.glob(f"{cid}-*.npy"):
        if old.name not in (cells_dest.final.name, index_dest.final.name):
            old.unlink(missing_ok=True)
    return CellCache(cells_dest.final, index_dest.final, n)


def _progress_printer(what: str, after_s: float = 0.5):
    """A progress line on stderr, shown once a build has taken ``after_s`` seconds (small builds stay quiet)."""
    start = time.monotonic()
    last = [None]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - start < after_s or (done < total and last[0] is not None and now - last[0] < 0.2):
            return
        last[0] = now
        end = "\n" if done >= total else ""
        print(f"\revio: caching {what} for random access: {done:,}/{total:,} ({100 * done // max(total, 1)} %)",
              end=end, file=sys.stderr, flush=True)

    return report
