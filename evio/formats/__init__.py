"""Built-in formats: one module each; one line here registers it."""

from ..registry import register
from . import csv_text, hdf5, npy, npz, zarr_store

register(hdf5.FORMAT)
register(zarr_store.FORMAT)
register(npz.FORMAT)
register(npy.FORMAT)
register(csv_text.FORMAT)
