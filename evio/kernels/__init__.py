"""Numba kernels on plain arrays, independent of any file format."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numba


def drop_stale_caches(package_dir: Path = Path(__file__).parent, cache: Path | None = None) -> bool:
    """Delete Numba's cached kernels in ``cache`` (default ``package_dir/__pycache__``) when
    ``_llvm.py`` changed since they were built; returns whether it did.

    Numba keys a cached kernel on the timestamp of its own file only, so kernels that use the IR
    helpers of ``_llvm.py`` would otherwise keep their old code in a checkout that pulls a change
    to that module alone. A stamp of the module's bytes sits beside the caches.
    """
    cache = package_dir / "__pycache__" if cache is None else cache
    try:
        stamp = hashlib.sha256((package_dir / "_llvm.py").read_bytes()).hexdigest()
        marker = cache / "_llvm.sha256"
        if marker.is_file() and marker.read_text() == stamp:
            return False
        stale = list(cache.glob("*.nbi")) + list(cache.glob("*.nbc"))
        for path in stale:
            path.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        marker.write_text(stamp)
        return bool(stale)
    except OSError:  # a read-only install: Numba cannot cache there either
        return False


def _numba_cache_dir() -> Path | None:
    """Where Numba caches this package's kernels: ``NUMBA_CACHE_DIR``, ``__pycache__`` or the user
    cache directory, the first it can write to; None, after one warning, where it can write to none."""
    try:
        probe = numba.njit(cache=True)(drop_stale_caches)
    except RuntimeError:  # "no locator available": raised when the dispatcher is made, not compiled
        warnings.warn(
            "evio: Numba finds no writable cache directory (NUMBA_CACHE_DIR, the package's __pycache__ or "
            "the user cache directory), so its kernels compile anew in each process; set NUMBA_CACHE_DIR "
            "to a writable directory to cache them", RuntimeWarning, stacklevel=2)
        return None
    return Path(probe._cache.cache_path)


def njit(func=None, **options):
    """``numba.njit`` with ``nogil``, cached on disk where Numba can; ``@njit`` or ``@njit(inline=...)``."""
    decorate = numba.njit(cache=CACHE_DIR is not None, nogil=True, **options)
    return decorate if func is None else decorate(func)


CACHE_DIR = _numba_cache_dir()
if CACHE_DIR is not None:
    drop_stale_caches(cache=CACHE_DIR)

#: ``EVIO_SCALAR_KERNELS=1`` (read once, at import): every kernel takes its exact scalar path, never its
#: LLVM IR one (``_llvm.py``). The choice is made in Python (``evio.events.record_bytes`` withholds the
#: record bytes those paths need), so kernels loaded from Numba's cache follow it too.
SCALAR = os.environ.get("EVIO_SCALAR_KERNELS", "0") not in ("", "0")
