"""Datasets of labelled dense samples, usable with a PyTorch ``DataLoader``."""

from .i2e import I2EShards, I2EShardWriter, SampleBatch, write_i2e_shards
from ._neuromorphic import PreparedFrames, prepare
from .cifar10dvs import CIFAR10DVS
from .dvs128gesture import DVS128Gesture
from .nmnist import NMNIST, NCaltech101
from .asldvs import ASLDVS
from .esimagenet import ESImageNet

__all__ = ["I2EShardWriter", "I2EShards", "SampleBatch", "write_i2e_shards"]
__all__ += ["CIFAR10DVS", "DVS128Gesture", "PreparedFrames", "prepare"]
__all__ += ["ASLDVS", "ESImageNet", "NCaltech101", "NMNIST"]
