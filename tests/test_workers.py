"""Worker safety (issue 12, item 5): every evio dataset pickles without open handles after it has been
read from, and a ``DataLoader`` with two persistent workers (fork and spawn) gives what direct indexing
gives, over two epochs. The same for a user's dataset over a reader from ``evio.open`` (every format).
Miniature roots: random events written as AEDAT 2.0 / 3.1 and the other formats, tiny I2E shards."""

import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")

import evio  # noqa: E402
from evio.datasets import CIFAR10DVS, DVS128Gesture, I2EShards, PreparedFrames, prepare, write_i2e_shards  # noqa: E402
from evio.datasets.cifar10dvs import CLASSES  # noqa: E402

FRAMES = {"T": 3, "by": "count"}


def random_events(n, seed, t0=1_000):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, evio.EVENT_DTYPE)
    ev["t"] = t0 + np.sort(rng.integers(0, 200_000, n))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
    return ev


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    """Two AEDAT 2.0 files per class; ``ship`` as ``ship.zip`` (the zipped layout keeps a zip path)."""
    root = tmp_path_factory.mktemp("cifar")
    for k, cls in enumerate(CLASSES):
        (root / cls).mkdir()
        for i in range(2):
            evio.write(root / cls / f"cifar10_{cls}_{i}.aedat", random_events(60, 10 * k + i),
                       format="aedat2", chip="dvs128")
    with zipfile.ZipFile(root / "ship.zip", "w") as zf:
        for f in sorted((root / "ship").iterdir()):
            zf.write(f, f"ship/{f.name}")
            f.unlink()
    (root / "ship").rmdir()
    return root


@pytest.fixture(scope="module")
def gesture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gesture")
    folder = root / "DvsGesture"
    folder.mkdir()
    for k, (name, part) in enumerate([("user01_led", "train"), ("user24_lab", "test")]):
        ev = random_events(400, k)
        evio.write(folder / f"{name}.aedat", ev, sensor_size=(128, 128), format="aedat3")
        t0, span = int(ev["t"][0]), int(ev["t"][-1] - ev["t"][0])
        rows = "".join(f"{c},{t0 + j * span // 4},{t0 + (j + 1) * span // 4}\n" for j, c in enumerate([1, 3, 5, 11]))
        (folder / f"{name}_labels.csv").write_text("class,startTime_usec,endTime_usec\n" + rows)
        (folder / f"trials_to_{part}.txt").write_text(f"{name}.aedat\n")
    return root


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory):
    rng = np.random.default_rng(3)
    root = tmp_path_factory.mktemp("i2e")
    write_i2e_shards(rng.random((10, 2, 2, 6, 5)) < 0.3, rng.integers(0, 3, 10), root, "I2E-CIFAR10", "train",
                     rows_per_shard=6, row_group_size=3)
    return root


@pytest.fixture(scope="module")
def prepared(cifar_root, tmp_path_factory):
    path = tmp_path_factory.mktemp("prepared") / "frames.zarr"
    return prepare(CIFAR10DVS(cifar_root, frames=FRAMES), path, workers=1)


def _tonic():
    pytest.importorskip("tonic")
    from evio.tonic import datasets

    return datasets


BUILDERS = {
    "I2EShards": lambda r: I2EShards(r["shards"]),
    "I2EShards-packed": lambda r: I2EShards(r["shards"], decode="packed"),
    "I2EShards-uncached": lambda r: I2EShards(r["shards"], cache=False),
    "CIFAR10DVS": lambda r: CIFAR10DVS(r["cifar"]),
    "CIFAR10DVS-frames-cache": lambda r: CIFAR10DVS(r["cifar"], frames=FRAMES, cache=r["tmp"] / "cache.zarr"),
    "DVS128Gesture": lambda r: DVS128Gesture(r["gesture"], "all"),
    "PreparedFrames": lambda r: PreparedFrames(r["prepared"]),
    "tonic.I2E": lambda r: _tonic().I2E(r["shards"]),
    "tonic.CIFAR10DVS": lambda r: _tonic().CIFAR10DVS(r["cifar"]),
    "tonic.DVS128Gesture": lambda r: _tonic().DVS128Gesture(r["gesture"], "all"),
    "tonic.EventFolder": lambda r: _tonic().EventFolder(r["gesture"] / "DvsGesture", "*.aedat", format="aedat3"),
    "tonic.Images": lambda r: _tonic().Images(np.arange(5 * 4 * 4 * 3, dtype=np.uint8).reshape(5, 4, 4, 3)),
}
READER_SUFFIXES = (".h5", ".zarr", ".npy", ".npz", ".csv", ".aedat4", ".raw", ".dat", ".aedat")


class Windows:
    """A user's dataset over one ``evio.open`` reader: item ``i`` is the events of the i-th 20 ms window."""

    def __init__(self, path):
        self.reader = evio.open(path)

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return self.reader.time_window(1_000 + 20_000 * i, 1_000 + 20_000 * (i + 1))


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readers")
    ev = random_events(300, 9)
    ev["x"] %= 64
    ev["y"] %= 48
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what some formats cannot keep (e.g. the sensor size) is not tested here
        for suffix in READER_SUFFIXES:
            evio.write(folder / f"rec{suffix}", ev, sensor_size=(64, 48))
    return folder


for _suffix in READER_SUFFIXES:
    BUILDERS[f"reader{_suffix}"] = lambda r, s=_suffix: Windows(r["recordings"] / f"rec{s}")

#: one spawn case per family (spawn re-imports torch in each worker: about 2 s a case)
SPAWNED = ("I2EShards-packed", "CIFAR10DVS-frames-cache", "PreparedFrames", "tonic.EventFolder", "reader.h5",
           "reader.aedat4")


@pytest.fixture
def roots(shard_root, cifar_root, gesture_root, prepared, recordings, tmp_path):
    return {"shards": shard_root, "cifar": cifar_root, "gesture": gesture_root, "prepared": prepared,
            "recordings": recordings, "tmp": tmp_path}


def assert_items_equal(a, b):
    assert type(a) is type(b)
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_items_equal(x, y)
    elif isinstance(a, (np.ndarray, torch.Tensor)):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(np.asarray(a), np.asarray(b))
    else:
        assert a == b


def direct(ds):
    return [ds[i] for i in range(len(ds))]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_pickles_after_reading_and_the_copy_gives_equal_items(name, roots):
    ds = BUILDERS[name](roots)
    want = direct(ds)  # handles and caches are open now
    copy = pickle.loads(pickle.dumps(ds))
    assert_items_equal(direct(copy), want)
    assert_items_equal(direct(ds), want)


def _identity(batch):
    return batch


@pytest.mark.parametrize("context,name", [("fork", n) for n in BUILDERS] + [("spawn", n) for n in SPAWNED])
def test_persistent_workers_give_the_direct_items_over_two_epochs(context, name, roots):
    ds = BUILDERS[name](roots)
    want = direct(ds)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, persistent_workers=True,
                                         multiprocessing_context=context, collate_fn=_identity)
    for _ in range(2):
        got = list(loader)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert_items_equal(a, b)
