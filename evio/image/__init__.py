"""Static images -> synthetic event tensors (I2E; ES-ImageNet ODG)."""

from .i2e import i2e
from .odg import ODGDropWarning, ODGSample, edge_integral, es_imagenet_dense, odg

__all__ = ["i2e", "ODGDropWarning", "ODGSample", "edge_integral", "es_imagenet_dense", "odg"]
