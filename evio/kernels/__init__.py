"""Numba kernels on plain arrays, independent of any file format."""
