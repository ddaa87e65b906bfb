"""zarr v3 plumbing shared by the event store, the sample store and the dataset frame stores."""

from __future__ import annotations

import asyncio

COMPRESSIONS = ("blosc-zstd", "blosc-lz4", "zstd", "gzip", None)


def zarr_module():
    """The ``zarr`` package, imported on first use."""
    import zarr

    return zarr


def writing_empty_chunks():
    """A context in which zarr arrays opened and written in it store every chunk, all-zero ones too (a
    job's part is the chunk files it names; zarr 3.0 has no ``Array.with_config``)."""
    return zarr_module().config.set({"array.write_empty_chunks": True})


def compressors(compression, level):
    """The zarr codec of ``compression`` (one of :data:`COMPRESSIONS`, ``"default"``, ``"none"``) at ``level``."""
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if compression == "default":
        compression = "blosc-zstd"
    if compression is None or compression == "none":
        return None
    if compression in ("blosc-zstd", "blosc-lz4"):
        return BloscCodec(cname=compression.split("-")[1], clevel=3 if level is None else int(level),
                          shuffle="bitshuffle")
    if compression == "zstd":
        return ZstdCodec(level=3 if level is None else int(level))
    if compression == "gzip":
        return GzipCodec(level=4 if level is None else int(level))
    raise ValueError(f"unknown zarr compression {compression!r}; choose one of {COMPRESSIONS}")


def settle_writes() -> None:
    """Wait until zarr has no write in flight. When one chunk write fails (a full disk), zarr raises
    at once while the others still run and may create files after the temporary store is removed."""
    try:
        from zarr.core.sync import sync
    except ImportError:
        return

    async def others_done():
        current = asyncio.current_task()
        await asyncio.gather(*(t for t in asyncio.all_tasks() if t is not current), return_exceptions=True)

    try:
        sync(others_done(), timeout=60)
    except Exception:
        pass
