"""PyTorch integration (skipped when torch is not installed)."""

import numpy as np
import pytest

from evio import packbits

torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")
pytestmark = pytest.mark.peer


def test_i2e_shards_in_a_dataloader_with_workers(tmp_path):
    from torch.utils.data import DataLoader

    from evio.datasets import I2EShards, write_i2e_shards

    rng = np.random.default_rng(0)
    dense = [rng.random((8, 2, 16, 16)) < 0.06 for _ in range(12)]
    write_i2e_shards(dense, list(range(12)), tmp_path, "I2E-MNIST", split="train", rows_per_shard=5)
    ds = I2EShards(tmp_path, config="I2E-MNIST", split="train")
    seen = []
    for x, y in DataLoader(ds, batch_size=4, num_workers=2, shuffle=True):
        assert x.dtype == torch.float32 and x.shape[1:] == (8, 2, 16, 16)
        for xi, yi in zip(x, y):
            np.testing.assert_array_equal(xi.numpy(), dense[int(yi)])
            seen.append(int(yi))
    assert sorted(seen) == list(range(12))


def test_loads_into_a_preallocated_batch_tensor():
    rng = np.random.default_rng(1)
    dense = rng.random((5, 8, 2, 24, 24)) < 0.1
    out = torch.empty((5, 8, 2, 24, 24), dtype=torch.float32)
    assert packbits.loads(packbits.dumps(dense), out=out) is out
    np.testing.assert_array_equal(out.numpy(), dense)
