"""Static images -> synthetic event tensors: :mod:`evio.image.i2e` (I2E, the function ``evio.i2e``),
:mod:`evio.image.odg` (ES-ImageNet's ODG, ``evio.odg``), :mod:`evio.image.resize`."""

from .odg import ODGDropWarning, ODGSample, edge_integral, es_imagenet_dense

__all__ = ["ODGDropWarning", "ODGSample", "edge_integral", "es_imagenet_dense"]
