"""The training-loop input path: I2EShards' random-access cache, __getitems__, packed samples,
evio.torch.unpack/collate, the zarr sample store as a source, DataLoader workers."""

import io
import multiprocessing
import os
import pickle
import signal
import sys
import time
import warnings

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import evio
from evio import packbits
from evio.datasets import I2EShards, write_i2e_shards
from evio.dense import from_dense
from evio.formats.parquet import ParquetShard

SHAPE = (3, 2, 6, 5)  # 180 elements: the packed body ends in a padded byte
NBYTES = (int(np.prod(SHAPE)) + 7) // 8


def samples(n, seed=0, shape=SHAPE):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)) < 0.2, rng.integers(0, 10, n)


@pytest.fixture
def shards(tmp_path):
    """27 samples in 2 shards (14 + 13 rows, row groups of 4) of a Hub config folder."""
    X, y = samples(27)
    files = write_i2e_shards(X, y, tmp_path, "I2E-T", rows_per_shard=14, row_group_size=4)
    return tmp_path / "I2E-T", X, y, files


def parquet_truth(files):
    """``(dense bool [N, ...], labels, bodies uint8 [N, NBYTES])`` straight from pyarrow and the npy bytes."""
    table = pa.concat_tables([pq.read_table(f) for f in files])
    cells = table.column("data").to_pylist()
    raws = [np.load(io.BytesIO(c)) for c in cells]
    dense = np.stack([np.unpackbits(r[8:])[: np.prod(SHAPE)].reshape(SHAPE).astype(bool) for r in raws])
    return dense, np.asarray(table.column("label").to_pylist()), np.stack([r[8:] for r in raws])


class Counter:
    """Counts row-group and row-batch reads of every ParquetShard."""

    def __init__(self, monkeypatch):
        self.reads = 0
        read_row_group, iter_rows = ParquetShard.read_row_group, ParquetShard.iter_rows

        def counted_read(shard, *a, **k):
            self.reads += 1
            return read_row_group(shard, *a, **k)

        def counted_iter(shard, *a, **k):
            for rows in iter_rows(shard, *a, **k):
                self.reads += 1
                yield rows

        monkeypatch.setattr(ParquetShard, "read_row_group", counted_read)
        monkeypatch.setattr(ParquetShard, "iter_rows", counted_iter)


def cache_files(folder):
    return sorted(p.name for p in (folder / ".evio-cache").iterdir())


# -- item 1: the random-access cache ----------------------------------------------------------------

def test_cache_built_once_then_reused_without_row_group_reads(shards, monkeypatch):
    folder, X, y, files = shards
    count = Counter(monkeypatch)
    calls = []
    ds = I2EShards(folder, progress=lambda done, total: calls.append((done, total)))
    assert count.reads > 0 and calls[-1] == (27, 27)
    assert len(cache_files(folder)) == 4  # lock, manifest, cells, index
    count.reads, calls[:] = 0, []
    again = I2EShards(folder, progress=lambda done, total: calls.append((done, total)))
    for i in np.random.default_rng(1).permutation(27):
        sample, label = again[int(i)]
        np.testing.assert_array_equal(sample, X[i])
        assert label == y[i]
    assert again.shape == SHAPE and list(again.labels) == list(y)
    assert count.reads == 0 and calls == []
    assert pickle.loads(pickle.dumps(again))._cells is not None
    assert ds._cells is not None


def test_cache_rebuilt_when_a_shard_is_rewritten(shards):
    folder, X, y, files = shards
    I2EShards(folder)
    before = cache_files(folder)
    X2, y2 = samples(27, seed=5)
    write_i2e_shards(X2, y2, folder.parent, "I2E-T", rows_per_shard=14, row_group_size=4)
    ds = I2EShards(folder)
    for i in range(27):
        np.testing.assert_array_equal(ds[i][0], X2[i])
        assert ds[i][1] == y2[i]
    after = cache_files(folder)
    assert len(after) == 4 and after != before  # the old build is gone


def _build_then_die(folder):
    def die(done, total):
        if done > 8:
            os.kill(os.getpid(), signal.SIGKILL)

    I2EShards(folder, progress=die)


def test_killed_build_is_never_trusted(shards):
    folder, X, y, files = shards
    cache = folder / ".evio-cache"
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    proc = ctx.Process(target=_build_then_die, args=(folder,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    left = [p.name for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert left and all(".evio-tmp-" in name for name in left)  # half-written, and no manifest

    with pytest.warns(RuntimeWarning, match="killed"):
        ds = I2EShards(folder, progress=False)
    assert not any(".evio-tmp-" in p.name for p in cache.iterdir()) and len(cache_files(folder)) == 4
    np.testing.assert_array_equal(ds.get_batch(range(27)), X)

    def interrupted(done, total):
        if done > 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        I2EShards(folder, cache_dir=cache / "other", progress=interrupted)
    assert [p.suffix for p in (cache / "other").iterdir()] == [".lock"]


def _open_slowly(folder, log):
    def slow(done, total):
        if done == total:
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")
        time.sleep(0.1)

    I2EShards(folder, progress=slow)


def test_processes_opening_at_once_build_once(shards, tmp_path):
    folder, X, y, files = shards
    log = tmp_path / "builds.txt"
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_open_slowly, args=(folder, log)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    assert len(log.read_text().split()) == 1 and len(cache_files(folder)) == 4


def test_truncated_cache_files_are_rebuilt(shards):
    folder, X, y, files = shards
    cache = folder / ".evio-cache"
    I2EShards(folder)
    cells = next(cache.glob("*.cells.npy"))
    size = cells.stat().st_size
    with open(cells, "r+b") as f:
        f.truncate(size - 7)
    ds = I2EShards(folder, progress=False)
    for i in range(27):
        np.testing.assert_array_equal(ds[i][0], X[i])
    rebuilt = next(cache.glob("*.cells.npy"))
    assert rebuilt != cells and not cells.exists() and rebuilt.stat().st_size == size
    index = next(cache.glob("*.index.npy"))
    index.write_bytes(index.read_bytes()[:-8])
    ds = I2EShards(folder, progress=False)
    assert [ds[i][1] for i in range(27)] == list(y)


def test_read_only_shard_folder_uses_cache_dir(shards, tmp_path, monkeypatch):
    folder, X, y, files = shards
    (folder / ".evio-cache").write_bytes(b"")  # the folder beside the shards cannot be made
    with pytest.warns(RuntimeWarning, match="cache_dir="):
        slow = I2EShards(folder)
    assert slow._cells is None
    np.testing.assert_array_equal(slow.get_batch([3, 20]), X[[3, 20]])
    elsewhere = tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = I2EShards(folder, cache_dir=elsewhere)
    assert ds._cells is not None and len(list(elsewhere.glob("*.cells.npy"))) == 1
    count = Counter(monkeypatch)
    again = I2EShards(folder, cache_dir=elsewhere)
    np.testing.assert_array_equal(again.get_batch(range(27)), X)
    assert count.reads == 0
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        write_i2e_shards(X, y, ro, "C")
        os.chmod(ro / "C", 0o555)
        try:
            with pytest.warns(RuntimeWarning, match="cannot write"):
                I2EShards(ro / "C")
        finally:
            os.chmod(ro / "C", 0o755)


@pytest.mark.parametrize("cache", [True, False])
def test_shuffled_access_equals_the_parquet_contents(shards, cache):
    folder, X, y, files = shards
    dense, labels, bodies = parquet_truth(files)
    ds = I2EShards(folder, cache=cache, dtype=bool)
    packed = I2EShards(folder, cache=cache, decode="packed")
    events = I2EShards(folder, cache=cache, decode="events")
    for i in np.random.default_rng(2).permutation(27):
        i = int(i)
        sample, label = ds[i]
        np.testing.assert_array_equal(sample, dense[i])
        assert label == labels[i]
        body, label = packed[i]
        assert body.dtype == np.uint8 and body.shape == (NBYTES,) and label == labels[i]
        np.testing.assert_array_equal(body, bodies[i])
        ev, _ = events[i]
        np.testing.assert_array_equal(ev, from_dense(dense[i], channels="on_off"))
    assert packed.packed_bytes == NBYTES


def test_getitems_equals_per_item(shards):
    folder, X, y, files = shards
    idx = [5, 0, 26, -1, 13, 14, 5]
    for decode in ("dense", "packed", "events"):
        ds = I2EShards(folder, decode=decode, dtype=np.uint8)
        batch = ds.__getitems__(idx)
        assert len(batch) == len(idx)
        for (sample, label), i in zip(batch, idx):
            one, lab = ds[i]
            assert label == lab and isinstance(label, int)
            if decode == "events":
                np.testing.assert_array_equal(sample, one)
            else:
                np.testing.assert_array_equal(sample, one)
                assert sample.dtype == one.dtype
        if decode != "events":
            assert batch.samples.shape == (len(idx), *(SHAPE if decode == "dense" else (NBYTES,)))
            np.testing.assert_array_equal(batch.labels, y[idx])
    ds = I2EShards(folder, transform=lambda s: s.sum(), target_transform=lambda lab: -lab)
    batch = ds.__getitems__(idx)
    assert batch.samples is None and [b[1] for b in batch] == [-y[i] for i in idx]
    assert [b[0] for b in batch] == [X[i].sum() for i in idx]
    with pytest.raises(IndexError):
        ds.__getitems__([0, 27])


def test_sample_store_is_a_source_with_the_same_api(shards, tmp_path):
    folder, X, y, files = shards
    store = evio.convert(files[0], tmp_path / "s.zarr", samples_per_shard=4)
    for cache in (True, False):
        ds = I2EShards(store, cache=cache, dtype=bool)
        assert len(ds) == 14 and ds.shape == SHAPE and ds.config == "I2E-T"
        for i in np.random.default_rng(3).permutation(14):
            sample, label = ds[int(i)]
            np.testing.assert_array_equal(sample, X[i])
            assert label == y[i]
        np.testing.assert_array_equal(ds.get_batch([4, 1]), X[[4, 1]])
        assert list(ds.labels) == list(y[:14]) and ds.file_paths == I2EShards(files[0]).file_paths
        packed = I2EShards(store, cache=cache, decode="packed")
        np.testing.assert_array_equal(packed.__getitems__([2, 9]).samples, parquet_truth(files)[2][[2, 9]])
    assert (tmp_path / ".evio-cache").is_dir()


# -- item 2: DataLoader, packed transfer, evio.torch ------------------------------------------------

def _loader_items(ds, method):
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(ds, batch_size=5, num_workers=2, multiprocessing_context=method)
    xs, ys = [], []
    for x, y in loader:
        assert isinstance(x, torch.Tensor) and y.dtype == torch.int64
        xs.append(x)
        ys.append(y)
    return torch.cat(xs).numpy(), torch.cat(ys).numpy()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataloader_workers_give_the_shard_contents(shards, method):
    pytest.importorskip("torch")
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    folder, X, y, files = shards
    dense, labels, bodies = parquet_truth(files)
    x, lab = _loader_items(I2EShards(folder), method)
    assert x.dtype == np.float32 and x.shape == (27, *SHAPE)
    np.testing.assert_array_equal(x, dense)
    np.testing.assert_array_equal(lab, labels)
    x, lab = _loader_items(I2EShards(folder, decode="packed"), method)
    np.testing.assert_array_equal(x, bodies)
    np.testing.assert_array_equal(lab, labels)


@pytest.mark.parametrize("decode", ["dense", "packed"])
def test_default_collate_takes_the_decoded_batch_without_a_copy(shards, decode):
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate

    folder, X, y, files = shards
    ds = I2EShards(folder, decode=decode)
    batch = ds.__getitems__([3, 1, 4, 1, 5])
    x, labels = default_collate(batch)
    assert x.data_ptr() == batch.samples.ctypes.data and tuple(x.shape) == batch.samples.shape
    assert torch.equal(labels, torch.as_tensor(batch.labels))
    again, _ = default_collate(batch)
    assert again.data_ptr() != x.data_ptr() and torch.equal(again, x)
    part = default_collate(list(batch)[1:])[0]
    assert torch.equal(part, x[1:])
    shuffled = default_collate(list(batch)[::-1])[0]
    assert torch.equal(shuffled, x.flip(0))
    transformed = I2EShards(folder, decode=decode, transform=lambda s: s + 1).__getitems__([3, 1])
    assert transformed.samples is None
    assert torch.equal(default_collate(transformed)[0], x[:2] + 1)


def _where_decoded(batch):
    from torch.utils.data import default_collate

    handle = batch[0][0]._evio_batch.tensor
    return handle is not None and handle.is_shared(), default_collate(batch)


def test_workers_decode_batches_into_shared_memory(shards):
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    folder, X, y, files = shards
    dense, labels, _ = parquet_truth(files)
    loader = DataLoader(I2EShards(folder), batch_size=4, num_workers=1, collate_fn=_where_decoded)
    seen = list(loader)
    assert all(shared for shared, _ in seen)
    np.testing.assert_array_equal(np.concatenate([x.numpy() for _, (x, _) in seen]), dense)
    in_process = DataLoader(I2EShards(folder), batch_size=4, num_workers=0, collate_fn=_where_decoded)
    assert not any(shared for shared, _ in in_process)


@pytest.mark.parametrize("shape", [(3, 2, 6, 5), (8, 2, 16, 16), (1, 1, 1, 1), (2, 2, 3, 3)])
def test_torch_unpack_equals_packbits_loads(shape):
    torch = pytest.importorskip("torch")
    import evio.torch

    rng = np.random.default_rng(sum(shape))
    x = rng.random((6, *shape)) < 0.3
    cells = packbits.dumps(x)
    bodies = np.stack([np.frombuffer(c, np.uint8)[-((int(np.prod(shape)) + 7) // 8):] for c in cells])
    for dtype in (torch.float32, torch.float16, torch.float64, torch.uint8, torch.bool, torch.int8):
        out = evio.torch.unpack(torch.from_numpy(bodies), shape, dtype=dtype)
        assert out.dtype == dtype and tuple(out.shape) == (6, *shape)
        np.testing.assert_array_equal(out.to(torch.float64).numpy(), packbits.loads(cells, dtype=np.float64))
    one = evio.torch.unpack(bodies[2], shape)
    np.testing.assert_array_equal(one.numpy(), packbits.loads(cells[2], dtype=np.float32))
    if torch.cuda.is_available():
        gpu = evio.torch.unpack(torch.from_numpy(bodies).cuda(), shape)
        assert gpu.is_cuda
        np.testing.assert_array_equal(gpu.cpu().numpy(), packbits.loads(cells, dtype=np.float32))
    with pytest.raises(TypeError, match="uint8"):
        evio.torch.unpack(torch.from_numpy(bodies).float(), shape)
    with pytest.raises(ValueError, match=r"\[\.\.\., "):
        evio.torch.unpack(torch.from_numpy(bodies[:, 1:]), shape)


def test_torch_unpack_on_real_shards(shards):
    torch = pytest.importorskip("torch")
    import evio.torch

    folder, X, y, files = shards
    packed = I2EShards(folder, decode="packed")
    batch = packed.__getitems__(list(range(27)))
    dense = evio.torch.unpack(torch.from_numpy(batch.samples), packed.shape, dtype=torch.bool)
    np.testing.assert_array_equal(dense.numpy(), X)


def test_evio_torch_without_torch_names_the_extra(monkeypatch):
    import evio.torch

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"evio-toolkit\[torch\]"):
        evio.torch.unpack(np.zeros(23, np.uint8), SHAPE)
