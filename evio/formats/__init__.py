"""Built-in formats: one module each; one line here registers it."""

from ..registry import register
from . import csv_text, hdf5, npy, npz, parquet, sample_store, zarr_store

register(hdf5.FORMAT)
register(zarr_store.FORMAT)
register(npz.FORMAT)
register(npy.FORMAT)
register(csv_text.FORMAT)
register(parquet.FORMAT)
register(sample_store.FORMAT)
