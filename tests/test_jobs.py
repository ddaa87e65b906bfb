"""Issue 15 items 1, 2, 5: resumable jobs (evio.jobs) behind `evio i2e`, `evio dataset prepare` and
`evio convert-many`: the same bytes on one process, two processes and a Dask LocalCluster; a job
that failed or was SIGKILLed finishes with --resume, identical to an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
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

pytest.importorskip("PIL")
pytest.importorskip("pyarrow")

N_IMAGES, PER_TASK, RATIO = 384, 32, 0.1
TASKS = N_IMAGES // PER_TASK
#: Tasks of PER_TASK images: one parquet shard, or one zarr shard, each.
JOB = {"images_per_task": PER_TASK, "rows_per_shard": PER_TASK}
ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return CliRunner().invoke(cli.main, [*map(str, args)])


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """``N_IMAGES`` 32 x 32 RGB crops of the fixture photos, with labels, as an .npz."""
    return photo_crops(tmp_path_factory.mktemp("crops") / "crops.npz", N_IMAGES)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> list[Path]:
    """40 recordings: consecutive slices of the fixture tonic_sample.aedat4."""
    events = evio.read(FIXTURES / "tonic_sample.aedat4")
    folder = tmp_path_factory.mktemp("recordings")
    step = len(events) // 40
    paths = []
    for k in range(40):
        path = folder / f"rec{k:02d}.npz"
        evio.write(path, events[k * step:(k + 1) * step], sensor_size=(346, 260))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def reference(crops, tmp_path_factory) -> dict:
    """The uninterrupted run in this process: ``{"shards"|"zarr": tree bytes}``."""
    base = tmp_path_factory.mktemp("reference")
    out = {}
    for kind, dst in (("shards", base / "hub"), ("zarr", base / "s.zarr")):
        i2e_folder(crops, dst, RATIO, engine=1, **JOB)
        out[kind] = tree_bytes(dst)
    with evio.open(base / "s.zarr") as reader:
        dense = np.concatenate([d for d, _, _ in reader.samples()])
    with np.load(crops) as z:
        np.testing.assert_array_equal(dense, evio.i2e(z["images"], RATIO))
    return out


# -- item 2: every engine writes the same bytes -------------------------------------------------------

@pytest.mark.parametrize("kind", ["shards", "zarr"])
def test_i2e_same_bytes_on_every_engine(crops, reference, dask_client, tmp_path, kind):
    name = "hub" if kind == "shards" else "s.zarr"
    for engine in (2, dask_client):
        dst = tmp_path / f"{type(engine).__name__}" / name
        dst.parent.mkdir()
        i2e_folder(crops, dst, RATIO, engine=engine, **JOB)
        assert tree_bytes(dst) == reference[kind]
        assert not work_folder(dst).exists()


def test_i2e_cli_same_bytes_with_workers_and_dask(crops, dask_client, tmp_path):
    outputs = []
    for flags in (["--workers", "1"], ["--workers", "2"], ["--dask", dask_client.scheduler.address]):
        dst = tmp_path / f"out{len(outputs)}.zarr"
        result = run("i2e", crops, dst, "--ratio", RATIO, "-q", *flags)
        assert result.exit_code == 0, result.output
        outputs.append(tree_bytes(dst))
    assert outputs[0] == outputs[1] == outputs[2]


def test_prepare_and_convert_many_same_bytes_on_every_engine(recordings, dask_client, tmp_path):
    stores, files = [], []
    for k, engine in enumerate((1, 2, dask_client)):
        dst = tmp_path / f"f{k}.zarr"
        assert convert_many(recordings, dst, frames={"T": 4, "by": "count"}, engine=engine) == dst
        stores.append(tree_bytes(dst))
        outs = convert_many(recordings, tmp_path / f"npz{k}", format=".npz", engine=engine)
        files.append({p.name: p.read_bytes() for p in outs})
    assert stores[0] == stores[1] == stores[2]
    assert files[0] == files[1] == files[2] and len(files[0]) == 40
    frames = evio.datasets.PreparedFrames(tmp_path / "f0.zarr")
    assert len(frames) == 40 and frames.names[3] == "rec03.npz"
    want = evio.frames(evio.read(recordings[3]), T=4, by="count", sensor_size=(346, 260))
    np.testing.assert_array_equal(frames[3][0], want)
    np.testing.assert_array_equal(evio.read(tmp_path / "npz1" / "rec07.npz"), evio.read(recordings[7]))


def test_convert_many_cli(recordings, tmp_path):
    result = run("convert-many", *recordings[:5], tmp_path / "out", "--to", "h5", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "5 recordings" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"rec{k:02d}.h5" for k in range(5)]
    again = run("convert-many", *recordings[:5], tmp_path / "out", "--to", "h5", "-q")
    assert again.exit_code == 1 and "--force" in again.output
    result = run("convert-many", *recordings[:5], tmp_path / "f.zarr", "--frames", "3", "--workers", "1", "-q")
    assert result.exit_code == 0, result.output
    assert evio.info(tmp_path / "f.zarr")["sample_count"] == 5
    both = run("convert-many", *recordings[:2], tmp_path / "x", "--frames", "3", "--to", "h5")
    assert both.exit_code == 2 and "either --to" in both.output


def test_dataset_prepare_cli_on_dask(dask_client, tmp_path):
    root = tmp_path / "cifar"
    for cls in ("airplane", "cat"):
        for i in range(3):
            (root / cls).mkdir(parents=True, exist_ok=True)
            events = evio.read(FIXTURES / "tonic_sample.aedat4")[i * 2000:(i + 1) * 2000]
            events["x"] %= 128
            events["y"] %= 128
            events["t"] -= events["t"][0]
            evio.write(root / cls / f"cifar10_{cls}_{i}.aedat", events, format="aedat2", chip="dvs128")
    outs = []
    for flags in (["--workers", "1"], ["--dask", dask_client.scheduler.address]):
        out = tmp_path / f"p{len(outs)}.zarr"
        result = run("dataset", "prepare", "cifar10dvs", root, out, "--frames", "3", "-q", *flags)
        assert result.exit_code == 0, result.output
        outs.append(tree_bytes(out))
    assert outs[0] == outs[1]


# -- item 1: resume after a failure, after SIGKILL; a different job is refused ----------------------

def test_failed_task_then_resume_is_identical(crops, reference, tmp_path, monkeypatch):
    dst = tmp_path / "s.zarr"
    convert = image_folder._convert_chunk
    calls, fail_at = [], [5]          # call 1 probes the sample shape

    def fail_fourth_task(job):
        calls.append(1)
        if len(calls) == fail_at[0]:
            raise RuntimeError("injected failure")
        return convert(job)

    monkeypatch.setattr(image_folder, "_convert_chunk", fail_fourth_task)
    with pytest.raises(RuntimeError, match="injected"), pytest.warns(RuntimeWarning, match="3 of 12 tasks"):
        i2e_folder(crops, dst, RATIO, engine=1, **JOB)
    assert not dst.exists()
    manifest = json.loads((work_folder(dst) / MANIFEST).read_text())
    assert sorted(map(int, manifest["done"])) == [0, 1, 2]
    with pytest.raises(FileExistsError, match="resume=True"):
        i2e_folder(crops, dst, RATIO, engine=1, **JOB, overwrite=False)
    result = run("i2e", crops, dst, "--ratio", RATIO, "--workers", "1")
    assert result.exit_code == 1 and "use --resume" in result.output and "use --force" in result.output
    calls.clear()
    fail_at[0] = None
    i2e_folder(crops, dst, RATIO, engine=1, **JOB, resume=True)
    assert len(calls) == 1 + TASKS - 3                  # the probe, then only the rest
    assert tree_bytes(dst) == reference["zarr"]
    assert not work_folder(dst).exists()


def test_resume_refuses_another_job(crops, tmp_path, monkeypatch):
    dst = tmp_path / "hub"
    convert = image_folder._convert_chunk
    calls = []

    def fail_second_task(job):
        calls.append(1)
        if len(calls) == 3:                              # call 1 probes the sample shape
            raise RuntimeError("injected failure")
        return convert(job)

    monkeypatch.setattr(image_folder, "_convert_chunk", fail_second_task)
    with pytest.raises(RuntimeError), pytest.warns(RuntimeWarning):
        i2e_folder(crops, dst, RATIO, engine=1, **JOB)
    result = run("i2e", crops, dst, "--ratio", "0.2", "--workers", "1", "--resume")
    assert result.exit_code == 1 and "other inputs or options" in result.output and "options" in result.output
    assert work_folder(dst).is_dir()                     # the other job's parts are kept
    monkeypatch.setattr(image_folder, "_convert_chunk", convert)
    i2e_folder(crops, dst, 0.2, engine=1, **JOB, overwrite=True)   # starts over
    assert not work_folder(dst).exists()


def test_frame_store_job_resumes_after_a_failed_recording(recordings, tmp_path, monkeypatch):
    import evio.api

    frames = {"T": 4, "by": "count"}
    reference = convert_many(recordings, tmp_path / "ref.zarr", frames=frames, engine=1)
    read, reads, fail_at = evio.api.read, [], [20]

    def fail_twentieth(path, **options):
        reads.append(path)
        if len(reads) == fail_at[0]:
            raise OSError(5, "injected failure", str(path))
        return read(path, **options)

    monkeypatch.setattr(evio.api, "read", fail_twentieth)
    dst = tmp_path / "f.zarr"
    with pytest.raises(OSError, match="injected"), pytest.warns(RuntimeWarning, match="1 of 3 tasks"):
        convert_many(recordings, dst, frames=frames, engine=1)      # sample 0 probed, then task 0 done
    assert not dst.exists() and work_folder(dst).is_dir()
    reads.clear()
    fail_at[0] = None
    convert_many(recordings, dst, frames=frames, engine=1, resume=True)
    assert len(reads) == 40 - 16                                     # only the tasks not done
    assert tree_bytes(dst) == tree_bytes(reference)
    assert not work_folder(dst).exists()


KILLED_JOB = """
import sys, time
from evio.image import folder
convert = folder._convert_chunk
def slow(job):
    time.sleep(0.3)
    return convert(job)
folder._convert_chunk = slow
folder.i2e_folder(sys.argv[1], sys.argv[2], {ratio}, engine=1, images_per_task={per_task},
                  rows_per_shard={per_task})
"""


def test_sigkill_then_resume_is_identical(crops, reference, tmp_path):
    dst = tmp_path / "hub"
    script = KILLED_JOB.format(ratio=RATIO, per_task=PER_TASK)
    proc = subprocess.Popen([sys.executable, "-c", script, str(crops), str(dst)], cwd=ROOT)
    manifest = work_folder(dst) / MANIFEST
    done = {}
    deadline = time.monotonic() + 60
    try:
        while len(done) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            try:
                done = json.loads(manifest.read_text())["done"]
            except (OSError, ValueError, KeyError):
                pass
        with pytest.raises(FileExistsError, match="another evio process"):   # while it runs
            i2e_folder(crops, dst, RATIO, engine=1, **JOB, resume=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and 4 <= len(done) < TASKS
    assert not dst.exists() or not any(dst.rglob("*.parquet"))
    recorded = sorted(json.loads(manifest.read_text())["done"].items())
    damaged = work_folder(dst) / next(iter(recorded[1][1]["files"]))
    damaged.write_bytes(damaged.read_bytes()[:-100])     # a recorded part that is no longer what was written
    with warnings.catch_warnings(record=True) as caught:     # the killed run's scratch folder, if a task was on
        warnings.simplefilter("always")
        i2e_folder(crops, dst, RATIO, engine=2, **JOB, resume=True)
    assert all("that was killed" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert tree_bytes(dst) == reference["shards"]
    assert not work_folder(dst).exists()


def test_engine_errors(crops, tmp_path):
    with pytest.raises(ValueError, match="scheduler address"):
        i2e_folder(crops, tmp_path / "a.zarr", engine="nowhere")
    result = run("i2e", crops, tmp_path / "b.zarr", "--dask", "nowhere")
    assert result.exit_code == 1 and result.output.startswith("evio: error:") and result.output.count("\n") == 1
    assert not (tmp_path / "b.zarr").exists() and not work_folder(tmp_path / "b.zarr").exists()
    assert os.listdir(tmp_path) == []


def test_convert_many_cli_on_a_local_dask_cluster(recordings, tmp_path):
    pytest.importorskip("distributed")
    result = run("convert-many", *recordings[:3], tmp_path / "out", "--to", ".npz", "--dask", "local",
                 "--workers", "1", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["rec00.npz", "rec01.npz", "rec02.npz"]


# -- item 5: the progress bar's throughput ------------------------------------------------------------

def test_progress_shows_samples_per_second(monkeypatch):
    from evio.cli import _app

    clock = [100.0]
    monkeypatch.setattr(_app.time, "monotonic", lambda: clock[0])
    bar = _app.Progress(1000, "x", enabled=False, unit="images", rate=True)
    clock[0] += 2.0
    bar(300)
    assert bar.done == 300 and bar._describe(None) == "150 images/s"
    assert _app.Progress(10, "x", enabled=False, unit="events")._describe(None) == "events"
