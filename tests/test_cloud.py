"""Sources and destinations as fsspec URLs: an S3-compatible server (moto) on 127.0.0.1, and memory://."""

import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest

import evio
from evio import _fs

from conftest import random_events

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.moto_server.threaded_moto_server")
pytest.importorskip("flask")  # moto's server mode

from _s3 import loopback_only, s3, s3_server  # noqa: E402, F401  (fixtures)

EVIO = [sys.executable, "-m", "evio.cli"]


def keys(url, options):
    fs, path = _fs.filesystem(url, options)
    fs.invalidate_cache()
    return sorted(p[len(path.rstrip("/")) + 1:] for p in fs.find(path))


def test_zarr_store_round_trip_through_s3(s3):
    bucket, options = s3
    ev = random_events(300_000, sensor=(64, 48))
    url = f"{bucket}/rec.zarr"
    assert evio.write(url, ev, (64, 48), meta={"note": "s3"}, chunk_length=20_000,
                      storage_options=options) == url
    assert "zarr.json" in keys(url, options)
    assert not [k for k in keys(bucket, options) if "evio-tmp" in k]
    assert np.array_equal(evio.read(url, storage_options=options), ev)
    with evio.open(url, storage_options=options) as reader:
        assert reader.sensor_size == (64, 48) and reader.meta["note"] == "s3" and len(reader) == len(ev)
    info = evio.info(url, storage_options=options)
    assert info["event_count"] == len(ev) and info["time_index"] and info["size_bytes"] > 0


def test_time_window_on_s3_fetches_only_the_chunks_it_needs(s3, monkeypatch):
    from zarr.storage import FsspecStore

    bucket, options = s3
    ev = random_events(400_000, sensor=(64, 48))
    url = f"{bucket}/rec.zarr"
    evio.write(url, ev, (64, 48), chunk_length=10_000, storage_options=options)
    fetched = []
    real_get = FsspecStore.get

    async def get(self, key, *args, **kwargs):
        fetched.append(key)
        return await real_get(self, key, *args, **kwargs)

    monkeypatch.setattr(FsspecStore, "get", get)
    t0 = int(ev["t"][200_000])
    t1 = t0 + 500
    with evio.open(url, storage_options=options) as reader:
        fetched.clear()
        window = reader.time_window(t0, t1)
    expected = ev[(ev["t"] >= t0) & (ev["t"] < t1)]
    assert 0 < len(window) < 10_000 and np.array_equal(window, expected)
    chunks = [k for k in fetched if k.startswith("events/x/c")]
    assert 1 <= len(chunks) <= 2, fetched  # of 40 chunks of events/x
    assert len([k for k in keys(url, options) if k.startswith("events/x/c")]) == 40


def test_overwriting_an_s3_store_replaces_it_and_drops_stale_chunks(s3):
    bucket, options = s3
    url = f"{bucket}/rec.zarr"
    evio.write(url, random_events(100_000), chunk_length=5_000, storage_options=options)
    small = random_events(7_000, seed=3)
    evio.write(url, small, chunk_length=5_000, storage_options=options)
    assert np.array_equal(evio.read(url, storage_options=options), small)
    assert len([k for k in keys(url, options) if k.startswith("events/t/c")]) == 2
    assert not [k for k in keys(bucket, options) if "evio-tmp" in k]


def test_s3_prefix_evio_did_not_write_is_not_replaced(s3):
    bucket, options = s3
    fs, _ = _fs.filesystem(bucket, options)
    fs.pipe(f"{bucket}/mine.zarr/notes.txt", b"keep me")
    with pytest.raises(FileExistsError, match="evio did not write"):
        evio.write(f"{bucket}/mine.zarr", random_events(10), storage_options=options)
    assert keys(f"{bucket}/mine.zarr", options) == ["notes.txt"]


def test_failed_write_to_s3_leaves_nothing(s3):
    bucket, options = s3
    with pytest.raises(evio.FormatError, match="outside sensor_size"):
        with evio.open(f"{bucket}/bad.zarr", "w", sensor_size=(4, 4), storage_options=options) as writer:
            writer.write(random_events(100, sensor=(64, 48)))
    assert keys(bucket, options) == []


def test_missing_bucket_fails_before_writing(s3):
    _, options = s3
    with pytest.raises(FileNotFoundError, match="bucket does not exist"):
        evio.write(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/rec.h5", random_events(10), storage_options=options)


def _samples(n=12, shape=(4, 2, 5, 7)):
    rng = np.random.default_rng(0)
    return rng.random((n, *shape)) < 0.2, rng.integers(0, 10, n)


def _read_samples(url, **options):
    with evio.open(url, **options) as reader:
        parts = list(reader.samples())
    return np.concatenate([d for d, _, _ in parts]), np.concatenate([lab for _, lab, _ in parts])


def test_parquet_shards_through_s3(s3, tmp_path):
    pytest.importorskip("pyarrow")
    bucket, options = s3
    dense, labels = _samples()
    with evio.open(f"{bucket}/train-00000-of-00001.parquet", "w", config_name="I2E", split="train",
                   storage_options=options) as writer:
        writer.write_samples(dense, labels)
    got_dense, got_labels = _read_samples(f"{bucket}/train-00000-of-00001.parquet", storage_options=options)
    assert np.array_equal(got_dense, dense) and np.array_equal(got_labels, labels)
    # shard on s3 -> zarr sample store on s3 -> local shard
    evio.convert(f"{bucket}/train-00000-of-00001.parquet", f"{bucket}/samples.zarr", storage_options=options)
    evio.convert(f"{bucket}/samples.zarr", tmp_path / "back.parquet", storage_options=options)
    got_dense, got_labels = _read_samples(tmp_path / "back.parquet")
    assert np.array_equal(got_dense, dense) and np.array_equal(got_labels, labels)


def test_cli_converts_from_s3_to_a_local_file(s3, s3_server, tmp_path):
    bucket, options = s3
    ev = random_events(50_000, sensor=(128, 96))
    evio.write(f"{bucket}/rec.aedat4", ev, (128, 96), storage_options=options)
    env = {**os.environ, "FSSPEC_S3_ENDPOINT_URL": s3_server}
    out = tmp_path / "local.h5"
    run = subprocess.run([*EVIO, "convert", f"{bucket}/rec.aedat4", str(out)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(evio.read(out), ev)
    assert f"{bucket}/rec.aedat4 -> {out}" in run.stdout
    # and back up, from the local file to a zarr store on s3, read in place
    run = subprocess.run([*EVIO, "convert", "-q", str(out), f"{bucket}/rec.zarr"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(evio.read(f"{bucket}/rec.zarr", storage_options=options), ev)
    run = subprocess.run([*EVIO, "convert", "-q", str(out), f"{bucket}/rec.zarr"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "destination exists (use --force to overwrite)" in run.stderr


def test_credentials_in_urls_never_appear_in_errors(s3, s3_server, tmp_path):
    bucket, options = s3
    secret = "SUPERSECRET123"
    url = f"s3://AKIAUSER:{secret}@{bucket[5:]}/missing.aedat4"
    with pytest.raises(Exception) as info:
        evio.read(url, storage_options=options)
    assert secret not in str(info.value) and "***@" in str(info.value)
    env = {**os.environ, "FSSPEC_S3_ENDPOINT_URL": s3_server}
    run = subprocess.run([*EVIO, "convert", url, str(tmp_path / "x.h5")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and secret not in run.stderr + run.stdout, run.stderr
    assert run.stderr.startswith("evio: error:") and len(run.stderr.strip().splitlines()) == 1


def test_redact_hides_user_password_and_query_values():
    text = "cannot open https://me:pw@host.example/a/b.h5?X-Amz-Signature=abc&token=xyz (retry)"
    assert _fs.redact(text) == ("cannot open https://***@host.example/a/b.h5?X-Amz-Signature=***&token=*** "
                                "(retry)")
    assert _fs.redact("s3://bucket/key.zarr") == "s3://bucket/key.zarr"


@pytest.mark.parametrize("name", ["rec.zarr", "rec.h5", "rec.aedat4", "rec.npz"])
def test_memory_round_trips(name):
    ev = random_events(20_000, sensor=(32, 24))
    url = f"memory://evio-{uuid.uuid4().hex[:8]}/{name}"
    evio.write(url, ev, (32, 24))
    assert np.array_equal(evio.read(url), ev)
    with evio.open(url) as reader:
        t0, t1 = int(ev["t"][5_000]), int(ev["t"][9_000])
        assert np.array_equal(reader.time_window(t0, t1), ev[(ev["t"] >= t0) & (ev["t"] < t1)])


def test_file_urls_are_local_paths(tmp_path):
    ev = random_events(1_000)
    evio.write(f"file://{tmp_path}/rec.h5", ev)
    assert (tmp_path / "rec.h5").is_file()
    assert np.array_equal(evio.read(f"file://{tmp_path}/rec.h5"), ev)


def test_download_of_a_remote_file_is_removed_after_reading(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    url = f"memory://evio-{uuid.uuid4().hex[:8]}/rec.h5"
    evio.write(url, random_events(100))
    assert len(evio.read(url)) == 100
    evio.convert(url, tmp_path / "out.zarr")
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]
    with evio.open(url) as reader:
        assert len(reader.read()) == 100 and len(list(tmp_path.iterdir())) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]       # removed on leaving the block
    reader = evio.open(url)
    assert len(reader.read()) == 100 and len(list(tmp_path.iterdir())) == 2
    reader.close()
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]       # and by close()


def test_store_upload_copies_the_root_metadata_last(monkeypatch):
    from fsspec.implementations.memory import MemoryFileSystem

    url = f"memory://evio-{uuid.uuid4().hex[:8]}/rec.zarr"
    evio.write(url, random_events(30_000), chunk_length=10_000)
    steps, real_copy, real_rm_file = [], MemoryFileSystem.copy, MemoryFileSystem.rm_file

    def copy(self, path1, path2, *args, **kwargs):
        steps.extend(("copy", p) for p in ([path2] if isinstance(path2, str) else path2))
        return real_copy(self, path1, path2, *args, **kwargs)

    def rm_file(self, path):
        steps.append(("rm", path))
        return real_rm_file(self, path)

    monkeypatch.setattr(MemoryFileSystem, "copy", copy)
    monkeypatch.setattr(MemoryFileSystem, "rm_file", rm_file)
    new = random_events(5_000, seed=1)
    evio.write(url, new, chunk_length=10_000)
    root = url[len("memory:/"):] + "/zarr.json"
    copied = [p for kind, p in steps if kind == "copy"]
    assert steps[0] == ("rm", root) and copied[-1] == root
    after = steps[steps.index(("copy", root)) + 1:]
    stale = [p for kind, p in after if "evio-tmp" not in p]  # the old chunks the new store lacks, removed last
    assert stale and all(kind == "rm" for kind, _ in after) and all("/c/" in p for p in stale)
    assert copied.index(url[len("memory:/"):] + "/events/t/zarr.json") > copied.index(
        url[len("memory:/"):] + "/events/t/c/0")
    assert np.array_equal(evio.read(url), new)


def test_failed_upload_keeps_the_old_store_and_leaves_no_temporary_prefix(monkeypatch):
    from fsspec.implementations.memory import MemoryFileSystem

    url = f"memory://evio-{uuid.uuid4().hex[:8]}/rec.zarr"
    old = random_events(30_000)
    evio.write(url, old, chunk_length=10_000)
    before = keys(url, None)

    def put(self, *args, **kwargs):
        raise ConnectionError("network gone")

    monkeypatch.setattr(MemoryFileSystem, "put", put)
    with pytest.raises(OSError, match="network gone"):
        evio.write(url, random_events(5_000, seed=1))
    assert keys(url, None) == before and np.array_equal(evio.read(url), old)
    assert not [k for k in keys(url.rsplit("/", 1)[0], None) if "evio-tmp" in k]


def test_cli_info_of_a_store_on_s3(s3, s3_server):
    bucket, options = s3
    evio.write(f"{bucket}/rec.zarr", random_events(1_000), (1280, 720), storage_options=options)
    env = {**os.environ, "FSSPEC_S3_ENDPOINT_URL": s3_server}
    run = subprocess.run([*EVIO, "info", "--json", f"{bucket}/rec.zarr"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["path"] == f"{bucket}/rec.zarr" and data["event_count"] == 1_000 and data["format"] == "zarr"
