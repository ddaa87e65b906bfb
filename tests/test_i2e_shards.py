"""I2E Hugging Face parquet shards: I2EShards, write_i2e_shards, the i2e-parquet and zarr-samples formats."""

import io
import json
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import evio
from evio import cli, packbits
from evio.datasets import I2EShards, write_i2e_shards

SHAPE = (8, 2, 5, 7)


def reference_cell(dense):
    """The construction of the spec (i2e-odg.md §2.2)."""
    hdr = np.asarray(dense.shape, dtype="<u2").view(np.uint8)
    body = np.packbits(np.ascontiguousarray(dense, dtype=bool).reshape(-1))
    buf = io.BytesIO()
    np.save(buf, np.concatenate([hdr, body]))
    return buf.getvalue()


def samples(n, shape=SHAPE, seed=0, density=0.1):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)) < density, rng.integers(0, 10, n)


def plain_shard(path, dense, labels, file_paths=None, *, order=("data", "label", "file_path"),
                data_type=None, label_type=None, row_group_size=3, cells=None):
    """A shard written with plain pyarrow, as a third party would (no evio involved)."""
    cells = [reference_cell(d) for d in dense] if cells is None else cells
    file_paths = [f"{lab}/{i}.npy" for i, lab in enumerate(labels)] if file_paths is None else file_paths
    cols = {"data": pa.array(cells, data_type or pa.binary()),
            "label": pa.array([int(v) for v in labels], label_type or pa.int64()),
            "file_path": pa.array(file_paths, pa.string())}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: cols[k] for k in order}), path, row_group_size=row_group_size)
    return path


@pytest.fixture
def hub(tmp_path):
    """A Hub-layout root: 23 train samples in 3 shards of 10/10/3 rows (row groups of 4), 5 validation."""
    X, y = samples(23)
    V, w = samples(5, seed=1)
    root = tmp_path / "root"
    root.mkdir()
    train = write_i2e_shards(X, y, root, "I2E-TEST", split="train", rows_per_shard=10, row_group_size=4)
    val = write_i2e_shards(iter(V), list(w), root, "I2E-TEST", split="validation")
    return root, X, y, V, w, train, val


def test_hub_layout_read_by_index(hub):
    root, X, y, _, _, train, val = hub
    assert [p.name for p in train] == [f"train-0000{k}-of-00003.parquet" for k in range(3)]
    assert [p.name for p in val] == ["validation-00000-of-00001.parquet"]
    assert sorted(os.listdir(root / "I2E-TEST")) == sorted(p.name for p in train + val)
    ds = I2EShards(root, config="I2E-TEST", split="train")
    assert len(ds) == 23 and ds.sensor_size == (7, 5, 2) and ds.shape == SHAPE and ds.classes == int(y.max()) + 1
    for i in [0, 3, 4, 9, 10, 19, 22, -1, -23]:
        sample, label = ds[i]
        assert sample.dtype == np.float32 and sample.shape == SHAPE
        np.testing.assert_array_equal(sample, X[i])
        assert label == y[i] and isinstance(label, int)
    with pytest.raises(IndexError):
        ds[23]
    np.testing.assert_array_equal(ds.labels, y)
    assert ds.file_paths == [f"{lab}/{i}.npy" for i, lab in enumerate(y)]
    assert [s.path for s in ds.shards] == train
    assert len(I2EShards(train[1])) == 10 and len(I2EShards([train[2], train[0]])) == 13
    assert len(I2EShards(str(root / "I2E-TEST" / "train-*.parquet"))) == 23
    assert len(I2EShards(root / "I2E-TEST")) == 28


def test_split_filtering_and_config_choice(hub):
    root, X, y, V, _, *_ = hub
    ds = I2EShards(root, split="validation")
    assert len(ds) == 5 and ds.config == "I2E-TEST"
    np.testing.assert_array_equal(ds[4][0], V[4])
    with pytest.raises(FileNotFoundError, match="splits found"):
        I2EShards(root, split="test")
    with pytest.raises(FileNotFoundError, match="I2E-TEST"):
        I2EShards(root, config="I2E-NONE")
    write_i2e_shards(X[:2], y[:2], root, "I2E-OTHER")
    with pytest.raises(ValueError, match="several configs"):
        I2EShards(root)
    assert len(I2EShards(root, config="I2E-OTHER")) == 2


def test_foreign_shards_written_with_plain_pyarrow(tmp_path):
    """A root evio did not write: data/ subfolder, other column order, large_binary, int32 labels, HF metadata."""
    X, y = samples(11, shape=(3, 2, 5, 3))
    root = tmp_path / "hf"
    shard = plain_shard(root / "I2E-X" / "data" / "train-00000-of-00001.parquet", X, y,
                        data_type=pa.large_binary(), label_type=pa.int32())
    plain_shard(root / "I2E-X" / "data" / "validation-00000-of-00001.parquet", X[:2], y[:2])
    ds = I2EShards(root, config="I2E-X", split="train", dtype=np.uint8)
    assert len(ds) == 11 and ds.sensor_size == (3, 5, 2)
    for i in range(11):
        np.testing.assert_array_equal(ds[i][0], X[i].astype(np.uint8))
    np.testing.assert_array_equal(ds.get_batch(range(11)), X)
    with evio.open(shard) as r:
        assert r.count == 11 and r.meta["config"] == "I2E-X" and r.meta["split"] == "train"
        got = list(r.samples(4))
    np.testing.assert_array_equal(np.concatenate([d for d, _, _ in got]), X)
    assert [p for _, _, ps in got for p in ps] == [f"{lab}/{i}.npy" for i, lab in enumerate(y)]


def test_class_names_from_huggingface_metadata(tmp_path):
    X, y = samples(3)
    table = pa.table({"file_path": ["a", "b", "c"], "label": pa.array(y, pa.int64()),
                      "data": pa.array(packbits.dumps(X), pa.binary())})
    hf = {"info": {"features": {"label": {"names": [f"c{k}" for k in range(10)], "_type": "ClassLabel"}}}}
    table = table.replace_schema_metadata({b"huggingface": json.dumps(hf).encode()})
    pq.write_table(table, tmp_path / "train-00000-of-00001.parquet")
    ds = I2EShards(tmp_path)
    assert ds.classes == 10 and ds.class_names[3] == "c3"
    assert ds.file_paths == ["a", "b", "c"]
    store = evio.convert(tmp_path / "train-00000-of-00001.parquet", tmp_path / "s.zarr")
    assert evio.info(store)["classes"] == 10
    back = evio.convert(store, tmp_path / "back", format="i2e-parquet")
    again = I2EShards(back, config=tmp_path.name)
    assert again.class_names == ds.class_names and again.file_paths == ["a", "b", "c"]
    features = json.loads(pq.read_schema(again.shards[0].path).metadata[b"huggingface"])["info"]["features"]
    assert features["label"] == hf["info"]["features"]["label"]
    assert features["data"] == {"dtype": "binary", "_type": "Value"}


@st.composite
def collections(draw):
    shape = (draw(st.integers(1, 9)), draw(st.sampled_from([1, 2])), draw(st.integers(1, 13)),
             draw(st.integers(1, 13)))
    n = draw(st.integers(0, 7))
    density = draw(st.sampled_from([0.0, 0.07, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    return samples(n, shape=shape, seed=seed, density=density)


@settings(max_examples=25)
@given(data=collections(), rows_per_shard=st.integers(1, 5), row_group_size=st.integers(1, 4))
def test_write_read_roundtrip(data, rows_per_shard, row_group_size):
    X, y = data
    with tempfile.TemporaryDirectory() as d:
        paths = write_i2e_shards(X, y, d, "cfg", rows_per_shard=rows_per_shard, row_group_size=row_group_size)
        assert len(paths) == max(1, -(-len(X) // rows_per_shard))
        cells = [c for p in paths for c in pq.read_table(p).column("data").to_pylist()]
        assert cells == [reference_cell(x) for x in X]
        for cell, x in zip(cells, X):
            np.testing.assert_array_equal(packbits.readme_decode(cell), x.astype(np.float32))
        ds = I2EShards(d, config="cfg", split="train", dtype=bool)
        assert len(ds) == len(X)
        for i in range(len(X)):
            np.testing.assert_array_equal(ds[i][0], X[i])
            assert ds[i][1] == y[i]
        if len(X):
            np.testing.assert_array_equal(ds.get_batch(range(len(X))), X)


def test_get_batch_equals_items(hub):
    root, X, *_ = hub
    ds = I2EShards(root, config="I2E-TEST", split="train", cache_size=1)
    idx = [22, 0, 5, 5, 13, 9, 10]
    batch = ds.get_batch(idx)
    assert batch.shape == (7, *SHAPE) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, np.stack([ds[i][0] for i in idx]))
    out = np.empty((7, *SHAPE), bool)
    assert ds.get_batch(idx, out=out) is out
    np.testing.assert_array_equal(out, X[idx])
    np.testing.assert_array_equal(ds.labels[idx], [ds[i][1] for i in idx])


def test_block_shuffle_is_a_permutation_by_row_group(hub):
    root, *_ = hub
    ds = I2EShards(root, config="I2E-TEST", split="train")
    order = ds.block_shuffle(seed=3)
    assert sorted(order.tolist()) == list(range(23))
    groups = [(i // 10, (i % 10) // 4) for i in order.tolist()]
    assert len([k for k in range(1, 23) if groups[k] != groups[k - 1]]) == 6
    np.testing.assert_array_equal(order, ds.block_shuffle(seed=3))


def test_decode_events_and_transforms(hub):
    root, X, y, *_ = hub
    ds = I2EShards(root, config="I2E-TEST", split="train", decode="events")
    ev, label = ds[7]
    assert ev.dtype == evio.EVENT_DTYPE and label == y[7]
    np.testing.assert_array_equal(ev, evio.from_dense(X[7], channels="on_off"))
    ds = I2EShards(root, config="I2E-TEST", split="train", transform=lambda s: s.sum(), target_transform=str)
    assert ds[3] == (X[3].sum(), str(y[3]))
    with pytest.raises(ValueError, match="decode"):
        I2EShards(root, decode="frames")


def _sum_items(ds):
    return [float(ds[i][0].sum()) for i in range(len(ds))]


def test_pickling_and_forked_workers(hub):
    root, X, *_ = hub
    ds = I2EShards(root, config="I2E-TEST", split="train")
    ds[0], ds[21]
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._cache == {} and all(s._pf is None for s in clone.shards)
    np.testing.assert_array_equal(clone[21][0], X[21])
    if "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            assert pool.submit(_sum_items, ds).result() == [float(x.sum()) for x in X]


def test_truncated_parquet_names_the_file(hub, tmp_path):
    _, _, _, _, _, train, _ = hub
    bad = tmp_path / "train-00000-of-00001.parquet"
    data = train[0].read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    for attempt in (lambda: I2EShards(bad), lambda: evio.info(bad), lambda: evio.open(bad)):
        with pytest.raises(evio.FormatError, match="truncated or damaged") as exc:
            attempt()
        assert exc.value.path == str(bad) and str(bad) in str(exc.value)


def test_wrong_header_names_file_and_row(tmp_path):
    X, y = samples(6)
    cells = [reference_cell(x) for x in X]
    raw = np.load(io.BytesIO(cells[3]))
    raw[:8] = np.asarray((8, 2, 400, 400), "<u2").view(np.uint8)
    buf = io.BytesIO()
    np.save(buf, raw)
    cells[3] = buf.getvalue()
    shard = plain_shard(tmp_path / "I2E-BAD" / "train-00000-of-00001.parquet", X, y, cells=cells)
    ds = I2EShards(shard)
    np.testing.assert_array_equal(ds[2][0], X[2])
    for attempt in (lambda: ds[3], lambda: ds.get_batch([0, 3])):
        with pytest.raises(evio.FormatError, match=r"row 3: .*needs 320000 body bytes") as exc:
            attempt()
        assert exc.value.path == str(shard)
    with pytest.raises(evio.FormatError, match="row 3"):
        evio.info(shard)
    with pytest.raises(evio.FormatError, match="row 3"):
        evio.convert(shard, tmp_path / "out.zarr")
    assert not (tmp_path / "out.zarr").exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_convert_roundtrip_is_byte_identical(hub, tmp_path):
    _, X, y, *_, train, _ = hub
    src = train[0]
    store = evio.convert(src, tmp_path / "s.zarr", samples_per_shard=4)
    assert evio.open(store).format_name == "zarr-samples"
    back = evio.convert(store, tmp_path / "one.parquet")
    assert pq.read_table(back).to_pydict() == pq.read_table(src).to_pydict()
    evio.convert(store, tmp_path / "hub", format="i2e-parquet", rows_per_shard=4)
    shards = sorted((tmp_path / "hub" / "I2E-TEST").iterdir())
    assert [p.name for p in shards] == [f"train-0000{k}-of-00003.parquet" for k in range(3)]
    merged = pa.concat_tables([pq.read_table(p) for p in shards])
    assert merged.to_pydict() == pq.read_table(src).to_pydict()
    with evio.open(store) as r:
        assert r.count == 10 and r.meta["config"] == "I2E-TEST" and r.meta["split"] == "train"
        ((dense, labels, paths),) = list(r.samples(100))
    np.testing.assert_array_equal(dense, X[:10])
    np.testing.assert_array_equal(labels, y[:10])
    assert paths == [f"{lab}/{i}.npy" for i, lab in enumerate(y[:10])]


def test_cli_convert_and_info(hub, tmp_path):
    _, X, *_, train, _ = hub
    runner = CliRunner()
    store, back = tmp_path / "c.zarr", tmp_path / "back"
    result = runner.invoke(cli.main, ["convert", str(train[1]), str(store)])
    assert result.exit_code == 0, result.output
    assert "10 samples" in result.output
    result = runner.invoke(cli.main, ["convert", str(store), str(back) + "/", "-q"])
    assert result.exit_code == 0, result.output
    out = back / "I2E-TEST" / "train-00000-of-00001.parquet"
    assert pq.read_table(out).to_pydict() == pq.read_table(train[1]).to_pydict()
    result = runner.invoke(cli.main, ["convert", str(store), str(back) + "/"])
    assert result.exit_code == 1 and "--force" in result.stderr
    result = runner.invoke(cli.main, ["convert", str(store), str(back), "-o", "split=validation", "-q"])
    assert result.exit_code == 0 and (back / "I2E-TEST" / "validation-00000-of-00001.parquet").is_file()
    result = runner.invoke(cli.main, ["convert", str(store), str(tmp_path / "x.h5")])
    assert result.exit_code == 1 and "event format" in result.stderr

    table = runner.invoke(cli.main, ["info", str(train[0])]).output
    rate = X[:10].mean()
    for text in ("I2E-TEST", "i2e-parquet", "T=8, C=2, H=5, W=7", "samples       10", f"{100 * rate:.2f}%",
                 "dense bool    5,600 B", "packed npy    2,060 B"):
        assert text in table, table
    data = json.loads(runner.invoke(cli.main, ["info", str(train[0]), "--json"]).output)
    assert data["kind"] == "samples" and data["sample_count"] == 10 and data["config"] == "I2E-TEST"
    assert (data["T"], data["C"], data["H"], data["W"]) == SHAPE and data["sensor_size"] == [7, 5]
    assert data["event_rate"] == pytest.approx(rate) and data["event_count"] == X[:10].sum()
    assert data["representations"] == {"samples": 10, "dense_bool": 5600, "packed_npy": 10 * 206,
                                       "sparse_uint8": 4 * int(X[:10].sum()), "sparse_estimated": False}
    assert evio.info(store)["event_count"] == X[10:20].sum()
    capped = evio.info(train[0], rate_samples=4)
    assert capped["event_rate_samples"] == 4 and "first 4 of 10" in capped["event_rate_note"]
    assert capped["event_rate"] == pytest.approx(X[:4].mean())


def test_sample_collections_are_not_event_streams(hub, tmp_path):
    *_, train, _ = hub
    store = evio.convert(train[2], tmp_path / "s.zarr")
    evio.write(tmp_path / "e.zarr", evio.empty_events(3))
    assert evio.info(tmp_path / "e.zarr")["format"] == "zarr"
    for path in (train[2], store):
        with pytest.raises(TypeError, match="sample collection"):
            evio.read(path)
        with evio.open(path) as r:
            assert len(r) == 3 and r.kind == "samples"
            with pytest.raises(TypeError, match="I2EShards"):
                list(r)
    with pytest.raises(evio.FormatError):
        evio.open(store, format="zarr")
    with pytest.raises(ValueError, match="labelled dense samples"):
        evio.convert(tmp_path / "e.zarr", tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


def test_truncated_sample_store(hub, tmp_path):
    *_, train, _ = hub
    store = evio.convert(train[0], tmp_path / "s.zarr", samples_per_shard=3)
    shutil.rmtree(store / "dense" / "c" / "2")
    with pytest.raises(evio.FormatError, match=r"truncated sample store: dense chunk c/2/0/0/0/0 \(from sample 6\)"):
        evio.convert(store, tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


def test_failed_writes_leave_nothing(hub, tmp_path):
    root, X, y, *_ = hub
    before = sorted(os.listdir(root / "I2E-TEST"))

    def broken():
        yield from X[:7]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_i2e_shards(broken(), y, root, "I2E-TEST", rows_per_shard=2, batch_size=2)
    assert sorted(os.listdir(root / "I2E-TEST")) == before
    with pytest.raises(ValueError, match="fewer labels"):
        write_i2e_shards(X[:4], y[:3], tmp_path, "NEW")
    with pytest.raises(ValueError, match="more labels"):
        write_i2e_shards(X[:4], y[:5], tmp_path, "NEW")
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        write_i2e_shards(X[:4].astype(np.uint8) * 2, y[:4], tmp_path, "NEW")
    with pytest.raises(ValueError, match="one shape"):
        write_i2e_shards([X[0], X[1][:, :, :4]], y[:2], tmp_path, "NEW", batch_size=1)
    assert not (tmp_path / "NEW").exists()


def test_missing_pyarrow_says_what_to_install(hub, monkeypatch):
    root, *_ = hub
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"evio-toolkit\[parquet\]"):
        I2EShards(root)
