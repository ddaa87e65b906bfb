"""CIFAR10-DVS and DVS128 Gesture on miniature roots built from the real AEDAT 4 fixture.

The roots hold AEDAT 2.0 / 3.1 files written by evio from slices of ``tonic_sample.aedat4``
(coordinates mapped onto 128 x 128). SpikingJelly 2.0's own preprocessing runs on the same files
as the oracle (``@pytest.mark.peer``).
"""
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _sj import load_spikingjelly_datasets
from click.testing import CliRunner

import evio
from evio.cli import main
from evio.datasets import CIFAR10DVS, DVS128Gesture, PreparedFrames, prepare
from evio.datasets.cifar10dvs import CLASSES

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
#: files per class in the miniature CIFAR10-DVS root (train = ceil(0.9 n): 9/1, 10/1, 11/1, 12/1, 18/2)
PER_CLASS = (10, 11, 12, 13, 20, 10, 11, 12, 13, 10)
ZIPPED = ("bird", "ship")


@pytest.fixture(scope="module")
def fixture_events():
    pytest.importorskip("lz4")
    ev = evio.read(FIXTURES / "tonic_sample.aedat4")
    out = np.empty(len(ev), evio.EVENT_DTYPE)
    out["t"] = ev["t"] - ev["t"][0] + 1_000_000
    out["x"] = ev["x"].astype(np.int64) * 128 // 320
    out["y"] = ev["y"].astype(np.int64) * 128 // 240
    out["p"] = ev["p"]
    return out


def _cifar_slices(events):
    """{(class, i): events} of 200..700 events each, from different places of the recording."""
    rng = np.random.default_rng(5)
    out = {}
    for cls, n in zip(CLASSES, PER_CLASS):
        for i in range(n):
            size = int(rng.integers(200, 700))
            start = int(rng.integers(0, len(events) - size))
            out[cls, i] = events[start:start + size]
    return out


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory, fixture_events):
    """``root/<class>/cifar10_<class>_<i>.aedat``; two classes only as ``root/<class>.zip``.
    ``plain/`` keeps every file unzipped (the SpikingJelly ``extract`` layout)."""
    base = tmp_path_factory.mktemp("cifar")
    root, plain = base / "root", base / "plain"
    slices = _cifar_slices(fixture_events)
    for (cls, i), ev in slices.items():
        path = plain / cls / f"cifar10_{cls}_{i}.aedat"
        path.parent.mkdir(parents=True, exist_ok=True)
        evio.write(path, ev, format="aedat2", chip="dvs128")
    for cls in CLASSES:
        if cls in ZIPPED:
            root.mkdir(exist_ok=True)
            with zipfile.ZipFile(root / f"{cls}.zip", "w") as zf:
                for f in sorted((plain / cls).iterdir()):
                    zf.write(f, f"{cls}/{f.name}")
        else:
            (root / cls).mkdir(parents=True)
            for f in (plain / cls).iterdir():
                os.link(f, root / cls / f.name)
    return root, plain, slices


# -- DVS128 Gesture miniature: 3 recordings, label rows with overlaps, repeats and empty windows ------

RECORDINGS = {"user01_fluorescent": "train", "user02_led": "train", "user24_lab": "test"}


def _gesture_rows(t0, t1, seed):
    rng = np.random.default_rng(seed)
    span = t1 - t0
    rows = []
    for k, cls in enumerate([1, 2, 3, 5, 8, 8, 10, 11, 4]):
        start = t0 + k * span // 10 + int(rng.integers(0, 2000))
        rows.append((cls, start, start + span // 8))  # span/8 > span/10: consecutive rows overlap
    rows.append((6, t1 + 5_000, t1 + 9_000))            # after the last event: empty window
    rows.append((7, t0 + span // 2, t0 + span // 2))   # start == end: empty
    return rows


@pytest.fixture(scope="module")
def gesture_root(tmp_path_factory, fixture_events):
    root = tmp_path_factory.mktemp("gesture")
    folder = root / "DvsGesture"
    folder.mkdir()
    third = len(fixture_events) // 3
    recorded = {}
    for k, name in enumerate(RECORDINGS):
        ev = fixture_events[k * third:(k + 1) * third]
        evio.write(folder / f"{name}.aedat", ev, sensor_size=(128, 128), format="aedat3")
        rows = _gesture_rows(int(ev["t"][0]), int(ev["t"][-1]), k)
        with open(folder / f"{name}_labels.csv", "w") as f:
            f.write("class,startTime_usec,endTime_usec\n")
            f.writelines(f"{c},{a},{b}\n" for c, a, b in rows)
        recorded[name] = (ev, rows)
    for part in ("train", "test"):
        names = [n for n, s in RECORDINGS.items() if s == part]
        (folder / f"trials_to_{part}.txt").write_text("".join(f"{n}.aedat\n" for n in names) + "\n")
    return root, recorded


# -- CIFAR10-DVS --------------------------------------------------------------------------------------

def test_cifar_events_labels_and_order(cifar_root):
    root, _, slices = cifar_root
    ds = CIFAR10DVS(root)
    assert len(ds) == sum(PER_CLASS) and ds.source == "aedat"
    assert ds.sensor_size == (128, 128, 2) and ds.dtype == evio.EVENT_DTYPE and ds.ordering == ("t", "x", "y", "p")
    for cls, n in zip(CLASSES, PER_CLASS):
        names = [name for name in ds.names if name.startswith(cls + "/")]
        assert names == sorted(f"{cls}/cifar10_{cls}_{i}" for i in range(n))   # name order, as SpikingJelly
    for i in (0, 5, 30, len(ds) - 1, -1):
        events, label = ds[i]
        cls, stem = ds.names[i].split("/")
        assert label == CLASSES.index(cls)
        assert np.array_equal(events, slices[cls, int(stem.rsplit("_", 1)[1])])   # top-left: lossless


def test_cifar_split_and_transforms(cifar_root):
    root = cifar_root[0]
    train, test = CIFAR10DVS(root, split="train"), CIFAR10DVS(root, split="test")
    assert len(train) + len(test) == sum(PER_CLASS)
    assert [train.targets.count(c) for c in range(10)] == [math.ceil(n * 0.9) for n in PER_CLASS]
    assert not set(train.names) & set(test.names)
    calls = []
    ds = CIFAR10DVS(root, split="test", transform=lambda e: calls.append("t") or len(e),
                    target_transform=lambda y: calls.append("y") or y + 100,
                    transforms=lambda e, y: (calls.append("ty") or (e, -y)))
    n, y = ds[0]
    assert calls == ["t", "y", "ty"] and y == -(test.targets[0] + 100) and n == len(test[0][0])


def test_cifar_spikingjelly_orientation_is_the_transpose(cifar_root):
    root = cifar_root[0]
    a, b = CIFAR10DVS(root, split="test"), CIFAR10DVS(root, split="test", orientation="spikingjelly")
    ea, eb = a[3][0], b[3][0]
    assert np.array_equal(ea["x"], eb["y"]) and np.array_equal(ea["y"], eb["x"])
    assert np.array_equal(ea["t"], eb["t"]) and np.array_equal(ea["p"], eb["p"])


def test_cifar_aedat4_source(tmp_path, fixture_events):
    for cls in CLASSES[:2]:
        for i in range(3):
            path = tmp_path / "CIFAR10DVS" / cls / f"cifar10_{cls}_{i}.aedat4"
            path.parent.mkdir(parents=True, exist_ok=True)
            evio.write(path, fixture_events[i * 100:(i + 1) * 100 + 50], sensor_size=(128, 128))
    ds = CIFAR10DVS(tmp_path)
    assert ds.source == "aedat4" and len(ds) == 6 and ds.targets == [0, 0, 0, 1, 1, 1]
    assert np.array_equal(ds[4][0], fixture_events[100:250])
    sj = CIFAR10DVS(tmp_path, orientation="spikingjelly")[4][0]
    assert np.array_equal(sj["x"], fixture_events["y"][100:250])


def test_cifar_errors(tmp_path, cifar_root):
    with pytest.raises(FileNotFoundError, match="download=True"):
        CIFAR10DVS(tmp_path)
    with pytest.raises(ValueError, match="orientation"):
        CIFAR10DVS(cifar_root[0], orientation="caer")
    with pytest.raises(ValueError, match="split"):
        CIFAR10DVS(cifar_root[0], split="val")
    with pytest.raises(IndexError):
        CIFAR10DVS(cifar_root[0], split="test")[1000]
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "cifar10_cat_0.aedat").write_bytes(b"#!AER-DAT2.0\r\n" + b"\0" * 11)
    with pytest.raises(evio.FormatError, match="trailing"):
        CIFAR10DVS(tmp_path)[0]


@pytest.mark.peer
def test_cifar_matches_spikingjelly(cifar_root, tmp_path):
    sjd = load_spikingjelly_datasets()
    if sjd is None:
        pytest.skip("spikingjelly not installed")
    from spikingjelly.datasets import cifar10_dvs as sjc
    from spikingjelly.datasets import utils as sju

    root, plain, _ = cifar_root
    raw = tmp_path / "events_np"
    raw.mkdir()
    sjc.CIFAR10DVS.create_raw_from_extracted(plain, raw)
    # torchvision's DatasetFolder order: class folders sorted, then file names sorted
    files = [(c, f) for c in sorted(os.listdir(raw)) for f in sorted(os.listdir(raw / c))]
    ds = CIFAR10DVS(root, orientation="spikingjelly")
    assert ds.names == [f"{c}/{f[:-4]}" for c, f in files]
    assert ds.targets == [sorted(os.listdir(raw)).index(c) for c, _ in files]
    for i, (c, f) in enumerate(files):
        ref = np.load(raw / c / f)
        ev = ds[i][0]
        for key in "txy":
            assert np.array_equal(ev[key].astype(np.int64), ref[key].astype(np.int64)), (f, key)
        assert np.array_equal(ev["p"].astype(np.int64), ref["p"])
    framed = CIFAR10DVS(root, orientation="spikingjelly", frames={"T": 4, "by": "count", "dtype": "float32"})
    for i in (0, 57):
        ref = dict(np.load(raw / files[i][0] / files[i][1]))
        want = sju.integrate_events_by_fixed_frames_number(ref, "number", 4, 128, 128).astype(np.float32)
        assert np.array_equal(framed[i][0], want)
    label_idx = [[i for i, t in enumerate(ds.targets) if t == c] for c in range(10)]
    sj_train, sj_test = sju._split_class_indices(label_idx, 0.9, False)
    assert CIFAR10DVS(root, split="train").names == [ds.names[i] for i in sj_train]
    assert CIFAR10DVS(root, split="test").names == [ds.names[i] for i in sj_test]


# -- DVS128 Gesture -----------------------------------------------------------------------------------

def test_gesture_samples_follow_the_label_rows(gesture_root):
    root, recorded = gesture_root
    train, test = DVS128Gesture(root), DVS128Gesture(root, split="test")
    rows_per = {n: len(r) for n, (_, r) in recorded.items()}
    assert len(train) == rows_per["user01_fluorescent"] + rows_per["user02_led"]
    assert len(test) == rows_per["user24_lab"]
    assert len(DVS128Gesture(root, split="all")) == len(train) + len(test)
    ev, rows = recorded["user01_fluorescent"]
    for k, (cls, start, end) in enumerate(rows):
        events, label = train[k]
        assert label == cls - 1
        assert np.array_equal(events, ev[(ev["t"] >= start) & (ev["t"] < end)])
    assert train.names[4:6] == ["7/user01_fluorescent_0", "7/user01_fluorescent_1"]   # class 8 twice
    sizes = [len(train[k][0]) for k in range(len(rows))]
    assert sizes[-1] == 0 and sizes[-2] == 0 and min(sizes[:-2]) > 0
    a, b = train[0][0], train[1][0]
    assert np.intersect1d(a["t"], b["t"]).size > 0   # overlapping rows share events


def test_gesture_spikingjelly_label_order(gesture_root):
    root = gesture_root[0]
    plain, sj = DVS128Gesture(root), DVS128Gesture(root, label_order="spikingjelly")
    assert sorted(zip(plain.names, plain.labels)) == sorted(zip(sj.names, sj.labels))
    folder_rank = {name: rank for rank, name in enumerate(sorted(str(c) for c in range(11)))}
    assert sj.targets == [folder_rank[str(label)] for label in sj.labels]
    keys = [(n.split("/")[0], n.split("/")[1] + ".npz") for n in sj.names]
    assert keys == sorted(keys)


def test_gesture_errors(tmp_path, gesture_root):
    with pytest.raises(FileNotFoundError, match="cannot be downloaded automatically"):
        DVS128Gesture(tmp_path)
    folder = tmp_path / "DvsGesture"
    folder.mkdir()
    (folder / "trials_to_train.txt").write_text("user05_led.aedat\n")
    (folder / "user05_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n12,0,10\n")
    with pytest.raises(evio.FormatError, match="class 12"):
        DVS128Gesture(tmp_path)
    (folder / "user05_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n1,0\n")
    with pytest.raises(evio.FormatError, match="3 integers"):
        DVS128Gesture(tmp_path)
    with pytest.raises(FileNotFoundError, match="trials_to_test"):
        DVS128Gesture(tmp_path, split="test")


@pytest.mark.peer
def test_gesture_matches_spikingjelly(gesture_root, tmp_path):
    sjd = load_spikingjelly_datasets()
    if sjd is None:
        pytest.skip("spikingjelly not installed")
    from spikingjelly.datasets import dvs128_gesture as sjg

    root, _ = gesture_root
    raw = tmp_path / "events_np"
    raw.mkdir()
    sjg.DVS128Gesture.create_raw_from_extracted(root, raw)
    for part in ("train", "test"):
        ours = DVS128Gesture(root, split=part, label_order="spikingjelly")
        classes = sorted(os.listdir(raw / part))
        files = [(c, f) for c in classes for f in sorted(os.listdir(raw / part / c))]
        assert ours.names == [f"{c}/{f[:-4]}" for c, f in files]
        assert ours.targets == [classes.index(c) for c, _ in files]
        assert ours.labels == [int(c) for c, _ in files]
        for i, (c, f) in enumerate(files):
            ref = np.load(raw / part / c / f)
            ev = ours[i][0]
            assert len(ev) == len(ref["t"]), f
            for key in "txyp":
                assert np.array_equal(ev[key].astype(np.int64), ref[key].astype(np.int64)), (f, key)


# -- Tonic --------------------------------------------------------------------------------------------

@pytest.mark.peer
def test_tonic_can_use_the_datasets(cifar_root, gesture_root, tmp_path):
    tonic = pytest.importorskip("tonic")
    to_frame = tonic.transforms.ToFrame(sensor_size=CIFAR10DVS.sensor_size, n_event_bins=4)
    ds = CIFAR10DVS(cifar_root[0], split="test", transform=to_frame)
    frames, label = ds[0]
    events = CIFAR10DVS(cifar_root[0], split="test")[0][0]
    assert frames.shape == (4, 2, 128, 128) and label == ds.targets[0]
    assert frames.sum() == len(events) // 4 * 4
    cached = tonic.DiskCachedDataset(DVS128Gesture(gesture_root[0], transform=to_frame), cache_path=str(tmp_path))
    again = tonic.DiskCachedDataset(DVS128Gesture(gesture_root[0], transform=to_frame), cache_path=str(tmp_path))
    assert np.array_equal(cached[2][0], again[2][0]) and cached[2][1] == again[2][1]
    plain = CIFAR10DVS(cifar_root[0], split="test")
    events_cache = tonic.DiskCachedDataset(plain, cache_path=str(tmp_path / "events"))
    assert np.array_equal(events_cache[1][0], plain[1][0])   # structured events survive Tonic's HDF5 cache
    sliced = tonic.SlicedDataset(plain, tonic.slicers.SliceByEventCount(event_count=100), metadata_path=None)
    assert len(sliced) == sum(len(plain[i][0]) // 100 for i in range(len(plain)))
    assert np.array_equal(sliced[0][0], plain[0][0][:100]) and sliced[0][1] == plain.targets[0]


# -- frames, frame stores, `evio dataset prepare` -------------------------------------------------------

def test_frames_and_cache(cifar_root, tmp_path):
    root = cifar_root[0]
    opts = {"T": 4, "by": "count"}
    plain = CIFAR10DVS(root, split="test", frames=opts)
    x, y = plain[1]
    assert x.shape == (4, 2, 128, 128) and y == plain.targets[1]
    assert np.array_equal(x, evio.frames(plain.events(1), T=4, by="count", sensor_size=(128, 128)))
    store = tmp_path / "cache.zarr"
    cached = CIFAR10DVS(root, split="test", frames=opts, cache=store)
    assert not (store / "frames" / "c.1.0.0.0.0").exists()
    assert np.array_equal(cached[1][0], x)
    assert (store / "frames" / "c.1.0.0.0.0").is_file() and not (store / "frames" / "c.2.0.0.0.0").exists()
    again = CIFAR10DVS(root, split="test", frames=opts, cache=store)
    again.events = None   # a second epoch reads the store, never the files
    assert np.array_equal(again[1][0], x)
    with pytest.raises(evio.FormatError, match="other samples or options"):
        CIFAR10DVS(root, split="test", frames={"T": 5, "by": "count"}, cache=store)
    with pytest.raises(ValueError, match="frames="):
        CIFAR10DVS(root, cache=tmp_path / "x.zarr")


def test_prepare_writes_a_complete_store(gesture_root, tmp_path):
    ds = DVS128Gesture(gesture_root[0], split="all", frames={"T": 3, "by": "count"})
    out = prepare(ds, tmp_path / "g.zarr", workers=2)
    pf = PreparedFrames(out)
    assert len(pf) == len(ds) and pf.targets == ds.targets and pf.names == ds.names
    for i in (0, 5, len(ds) - 1):
        assert np.array_equal(pf[i][0], ds[i][0])
    assert pf[-1][0].sum() == 0   # an empty window integrates to zero frames


def test_cli_dataset_prepare(cifar_root, tmp_path):
    out = tmp_path / "c.zarr"
    runner = CliRunner()
    res = runner.invoke(main, ["dataset", "prepare", "cifar10dvs", str(cifar_root[0]), str(out),
                               "--frames", "2", "--by", "count", "--split", "test", "--workers", "2"])
    assert res.exit_code == 0, res.output
    pf = PreparedFrames(out)
    ref = CIFAR10DVS(cifar_root[0], split="test", frames={"T": 2, "by": "count"})
    assert len(pf) == len(ref) and np.array_equal(pf[3][0], ref[3][0])
    res = runner.invoke(main, ["dataset", "prepare", "cifar10dvs", str(cifar_root[0]), str(out), "--frames", "2"])
    assert res.exit_code == 1 and "evio: error:" in res.output and "exists" in res.output


def test_cli_dataset_prepare_errors(tmp_path):
    res = CliRunner().invoke(main, ["dataset", "prepare", "dvs128gesture", str(tmp_path), str(tmp_path / "g.zarr")])
    assert res.exit_code == 1
    assert res.output.startswith("evio: error:") and res.output.count("\n") == 1
    assert not (tmp_path / "g.zarr").exists()


def test_pytorch_dataloader_batches_frames(gesture_root):
    torch = pytest.importorskip("torch")
    import pickle

    ds = DVS128Gesture(gesture_root[0], frames={"T": 2, "by": "count"}, transform=torch.from_numpy)
    ds.recording(0)
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._recording_cache is None and torch.equal(clone[3][0], ds[3][0])
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert tuple(x.shape) == (4, 2, 2, 128, 128) and y.tolist() == ds.targets[:4]


# -- download and extraction (file:// URLs: nothing leaves the machine) ---------------------------------

def test_download_checks_md5_and_extracts(cifar_root, tmp_path, monkeypatch):
    from evio.datasets import _neuromorphic as nm
    from evio.datasets import cifar10dvs

    _, plain, _ = cifar_root
    served = tmp_path / "served"
    served.mkdir()
    resources = []
    for cls in CLASSES:
        archive = served / f"{cls}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for f in sorted((plain / cls).iterdir()):
                zf.write(f, f"{cls}/{f.name}")
        resources.append((archive.name, archive.as_uri(), nm.md5sum(archive)))
    monkeypatch.setattr(cifar10dvs, "AEDAT2_RESOURCES", tuple(resources))
    root = tmp_path / "root"
    ds = CIFAR10DVS(root, download=True)
    assert len(ds) == sum(PER_CLASS) and (root / "extract" / "truck").is_dir()
    assert np.array_equal(ds[7][0], CIFAR10DVS(cifar_root[0])[7][0])
    with pytest.raises(evio.FormatError, match="md5"):
        nm.download(resources[0][1], tmp_path / "bad.zip", md5="0" * 32)
    assert not (tmp_path / "bad.zip").exists() and not (tmp_path / "bad.zip.part").exists()
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", "x")
    with pytest.raises(evio.FormatError, match="outside"):
        nm.extract(evil, tmp_path / "x")
    assert not (tmp_path / "outside.txt").exists()


def test_gesture_archive_is_md5_checked_and_extracted(gesture_root, tmp_path, monkeypatch):
    import tarfile

    from evio.datasets import _neuromorphic as nm
    from evio.datasets import dvs128gesture

    archive = tmp_path / "download" / "DvsGesture.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(gesture_root[0] / "DvsGesture", arcname="DvsGesture")
    with pytest.raises(evio.FormatError, match="md5"):
        DVS128Gesture(tmp_path)
    name, url, _ = dvs128gesture.ARCHIVE
    monkeypatch.setattr(dvs128gesture, "ARCHIVE", (name, url, nm.md5sum(archive)))
    ds = DVS128Gesture(tmp_path, split="test")
    assert ds.folder == tmp_path / "extract" / "DvsGesture"
    assert ds.names == DVS128Gesture(gesture_root[0], split="test").names
