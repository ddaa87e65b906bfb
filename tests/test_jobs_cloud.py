"""Issue 15: resumable jobs (evio.jobs) whose destination or sources are on object storage (an S3
server, moto, on 127.0.0.1): the same bytes as a local run on every engine, resume after a failure,
overwrite rules, and a resumed run's throughput."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, photo_crops, tree_bytes

import evio
from evio import cli
from evio.batch import convert_many
from evio.image import folder as image_folder
from evio.image.folder import i2e_folder
from evio.jobs import MANIFEST, work_folder

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.moto_server.threaded_moto_server")
pytest.importorskip("flask")  # moto's server mode
pytest.importorskip("PIL")
pytest.importorskip("pyarrow")

from _s3 import loopback_only, s3, s3_server  # noqa: E402, F401  (fixtures)

N_IMAGES, PER_TASK, RATIO = 256, 32, 0.1
TASKS = N_IMAGES // PER_TASK
JOB = {"images_per_task": PER_TASK, "rows_per_shard": PER_TASK}


def objects(url: str, options: dict) -> dict:
    """``{key relative to url: bytes}`` of every object below ``url``."""
    fs = s3fs.S3FileSystem(**options)
    fs.invalidate_cache()
    root = url[len("s3://"):].rstrip("/")
    return {key[len(root) + 1:]: fs.cat_file(key) for key in sorted(fs.find(root))}


def job_prefixes(bucket: str, options: dict) -> list:
    return [key for key in objects(bucket, options) if ".evio-job" in key]


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """``N_IMAGES`` 32 x 32 RGB crops of the fixture photos, with labels, as an .npz."""
    return photo_crops(tmp_path_factory.mktemp("crops") / "crops.npz", N_IMAGES)


@pytest.fixture(scope="module")
def reference(crops, tmp_path_factory) -> dict:
    """The local run in this process: ``{"hub"|"s.zarr": tree bytes}``."""
    base = tmp_path_factory.mktemp("reference")
    out = {}
    for name in ("hub", "s.zarr"):
        i2e_folder(crops, base / name, RATIO, engine=1, **JOB)
        out[name] = tree_bytes(base / name)
    return out


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> list[Path]:
    """6 recordings: consecutive slices of the fixture tonic_sample.aedat4."""
    events = evio.read(FIXTURES / "tonic_sample.aedat4")
    folder = tmp_path_factory.mktemp("recordings")
    step = len(events) // 6
    paths = []
    for k in range(6):
        path = folder / f"rec{k:02d}.npz"
        evio.write(path, events[k * step:(k + 1) * step], sensor_size=(346, 260))
        paths.append(path)
    return paths


# -- URL destinations: the same bytes as a local run ------------------------------------------------

@pytest.mark.parametrize("name", ["hub", "s.zarr"])
def test_i2e_job_to_s3_on_two_processes_equals_the_local_output(crops, reference, s3, name):
    bucket, options = s3
    written = i2e_folder(crops, f"{bucket}/{name}", RATIO, engine=2, storage_options=options, **JOB)
    assert objects(f"{bucket}/{name}", options) == reference[name]
    assert job_prefixes(bucket, options) == []
    assert written.paths[0].startswith(f"{bucket}/{name}")


def test_failed_i2e_job_on_s3_resumes_to_identical_output(crops, reference, s3, monkeypatch):
    bucket, options = s3
    dst = f"{bucket}/s.zarr"
    convert = image_folder._convert_chunk
    calls, fail_at = [], [5]          # call 1 probes the sample shape

    def fail_fourth_task(job):
        calls.append(1)
        if len(calls) == fail_at[0]:
            raise RuntimeError("injected failure")
        return convert(job)

    monkeypatch.setattr(image_folder, "_convert_chunk", fail_fourth_task)
    with pytest.raises(RuntimeError, match="injected"), pytest.warns(RuntimeWarning, match=f"3 of {TASKS} tasks"):
        i2e_folder(crops, dst, RATIO, engine=1, storage_options=options, **JOB)
    left = objects(work_folder(dst), options)
    assert sorted(map(int, json.loads(left[MANIFEST])["done"])) == [0, 1, 2]
    assert not any(key.startswith("s.zarr/") for key in objects(bucket, options))
    with pytest.raises(FileExistsError, match="resume=True"):
        i2e_folder(crops, dst, RATIO, engine=1, storage_options=options, **JOB, overwrite=False)
    calls.clear()
    fail_at[0] = None
    i2e_folder(crops, dst, RATIO, engine=1, storage_options=options, **JOB, resume=True)
    assert len(calls) == 1 + TASKS - 3                  # the probe, then only the rest
    assert objects(dst, options) == reference["s.zarr"]
    assert job_prefixes(bucket, options) == []


def test_damaged_part_on_s3_is_redone_on_resume(crops, reference, s3, monkeypatch):
    bucket, options = s3
    dst = f"{bucket}/hub"
    convert = image_folder._convert_chunk
    calls = []

    def fail_third_task(job):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("injected failure")
        return convert(job)

    monkeypatch.setattr(image_folder, "_convert_chunk", fail_third_task)
    with pytest.raises(RuntimeError), pytest.warns(RuntimeWarning):
        i2e_folder(crops, dst, RATIO, engine=1, storage_options=options, **JOB)
    manifest = json.loads(objects(work_folder(dst), options)[MANIFEST])
    part = next(name for name in manifest["done"]["1"]["files"] if name.endswith(".parquet"))
    fs = s3fs.S3FileSystem(**options)
    key = f"{work_folder(dst)}/{part}"
    fs.pipe_file(key, fs.cat_file(key)[:-100])
    monkeypatch.setattr(image_folder, "_convert_chunk", convert)
    i2e_folder(crops, dst, RATIO, engine=2, storage_options=options, **JOB, resume=True)
    assert objects(dst, options) == reference["hub"]


@pytest.fixture(scope="module")
def dask_client(s3_server):
    """A LocalCluster started in the S3 test environment (its workers find the credentials there)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_i2e_cli_on_dask_to_s3_with_the_endpoint_from_the_environment(crops, reference, s3, dask_client,
                                                                       monkeypatch):
    import fsspec

    bucket, options = s3
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": options["endpoint_url"]})  # FSSPEC_S3_ENDPOINT_URL
    result = CliRunner().invoke(cli.main, ["i2e", str(crops), f"{bucket}/hub", "--ratio", str(RATIO), "-q",
                                           "--rows-per-shard", str(PER_TASK), "--dask", dask_client.scheduler.address])
    assert result.exit_code == 0, result.output
    assert objects(f"{bucket}/hub", options) == reference["hub"]
    assert job_prefixes(bucket, options) == []


def test_convert_many_frames_to_s3_equals_the_local_store(recordings, s3, tmp_path):
    bucket, options = s3
    frames = {"T": 3, "by": "count"}
    local = convert_many(recordings, tmp_path / "f.zarr", frames=frames, engine=1)
    convert_many(recordings, f"{bucket}/f.zarr", frames=frames, engine=2, storage_options=options)
    assert objects(f"{bucket}/f.zarr", options) == tree_bytes(local)
    assert job_prefixes(bucket, options) == []


# -- URL sources -------------------------------------------------------------------------------------

def test_convert_many_from_s3_sources_to_a_local_folder(recordings, s3, tmp_path):
    bucket, options = s3
    fs = s3fs.S3FileSystem(**options)
    urls = []
    for path in recordings[:4]:
        fs.put_file(str(path), f"{bucket[5:]}/raw/{path.name}")
        urls.append(f"{bucket}/raw/{path.name}")
    local = convert_many(recordings[:4], tmp_path / "local", format=".h5", engine=1)
    outs = convert_many(urls, tmp_path / "out", format=".h5", engine=2, storage_options=options)
    assert [p.name for p in outs] == [p.name for p in local] == [f"rec{k:02d}.h5" for k in range(4)]
    for out in outs:
        np.testing.assert_array_equal(evio.read(out), evio.read(tmp_path / "local" / out.name))
    assert sorted(os.listdir(tmp_path)) == ["local", "out"]
    again = convert_many(urls, f"{bucket}/h5", format=".h5", engine=1, storage_options=options)
    assert again == [f"{bucket}/h5/rec{k:02d}.h5" for k in range(4)]
    assert sorted(objects(f"{bucket}/h5", options)) == [f"rec{k:02d}.h5" for k in range(4)]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        convert_many(urls, f"{bucket}/h5", format=".h5", engine=1, storage_options=options)


def test_convert_many_cli_from_s3_to_s3_with_the_endpoint_from_the_environment(recordings, s3, s3_server):
    bucket, options = s3
    fs = s3fs.S3FileSystem(**options)
    for path in recordings[:3]:
        fs.put_file(str(path), f"{bucket[5:]}/raw/{path.name}")
    env = {**os.environ, "FSSPEC_S3_ENDPOINT_URL": s3_server}
    urls = [f"{bucket}/raw/{p.name}" for p in recordings[:3]]
    run = subprocess.run([sys.executable, "-m", "evio.cli", "convert-many", *urls, f"{bucket}/out", "--to", ".h5",
                          "--workers", "2"], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"3 recordings -> {bucket}/out" in run.stdout
    assert sorted(objects(f"{bucket}/out", options)) == ["rec00.h5", "rec01.h5", "rec02.h5"]
    assert job_prefixes(bucket, options) == []


# -- overwrite rules -----------------------------------------------------------------------------------

def test_a_prefix_evio_did_not_write_is_not_replaced(crops, s3):
    bucket, options = s3
    fs = s3fs.S3FileSystem(**options)
    fs.pipe_file(f"{bucket[5:]}/theirs.zarr/notes.txt", b"keep me")
    with pytest.raises(FileExistsError, match="evio did not write"):
        i2e_folder(crops, f"{bucket}/theirs.zarr", RATIO, engine=1, storage_options=options, **JOB)
    assert objects(bucket, options) == {"theirs.zarr/notes.txt": b"keep me"}


# -- the throughput of a resumed run ----------------------------------------------------------------

def test_resumed_work_counts_as_done_but_not_in_the_rate(monkeypatch):
    from evio.cli import _app

    clock, wall = [100.0], [5000.0]
    monkeypatch.setattr(_app.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(_app.time, "time", lambda: wall[0])
    bar = _app.Progress(1000, "x", enabled=True, unit="images", rate=True)
    bar.resumed(600)                    # done by the killed run
    clock[0] += 2.0
    wall[0] += 2.0
    bar(100)                            # this run: 100 images in 2 s
    assert bar.done == 700 and bar._describe(None) == "50 images/s"
    assert bar.bar is not None and bar.bar.pos == 700
    # the bar's ETA: 300 images left at this run's 50 images/s
    assert abs((wall[0] - bar.bar.start) / bar.bar.pos * (1000 - 700) - 6.0) < 1e-6
    bar.close()
