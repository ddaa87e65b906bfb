"""Datasets of labelled dense samples, usable with a PyTorch ``DataLoader``."""

from .i2e import I2EShards, I2EShardWriter, write_i2e_shards

__all__ = ["I2EShardWriter", "I2EShards", "write_i2e_shards"]
