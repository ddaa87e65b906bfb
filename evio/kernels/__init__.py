"""Numba kernels on plain arrays, independent of any file format."""

from __future__ import annotations

import hashlib
from pathlib import Path


def drop_stale_caches(package_dir: Path = Path(__file__).parent) -> bool:
    """Delete Numba's cached kernels in ``package_dir/__pycache__`` when ``_llvm.py`` changed since
    they were built; returns whether it did.

    Numba keys a cached kernel on the timestamp of its own file only, so kernels that use the IR
    helpers of ``_llvm.py`` would otherwise keep their old code in a checkout that pulls a change
    to that module alone. A stamp of the module's bytes sits beside the caches.
    """
    cache = package_dir / "__pycache__"
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


drop_stale_caches()
