"""Built-in formats: one module each; one line here registers it."""

from ..registry import register
from . import csv_text, hdf5, npy, npz, parquet, sample_store, zarr_store

register(hdf5.FORMAT)
register(zarr_store.FORMAT)
register(npz.FORMAT)
register(npy.FORMAT)
register(csv_text.FORMAT)
register(parquet.FORMAT)
register(parquet.FOLDER_FORMAT)
register(sample_store.FORMAT)
from . import aedat4  # noqa: E402
register(aedat4.FORMAT)
from . import prophesee_dat, prophesee_raw  # noqa: E402
register(prophesee_raw.FORMAT)
register(prophesee_dat.FORMAT)

from . import aedat2, aedat3, nmnist  # noqa: E402

register(aedat2.FORMAT)
register(aedat3.FORMAT)
register(nmnist.FORMAT)
