"""N-MNIST, N-Caltech101, ASL-DVS and ES-ImageNet on miniature roots written by the tests in the
datasets' own file layouts (5-byte ATIS ``.bin``, MATLAB ``.mat``, ES-ImageNet ``.npz`` with label
files), and SpikingJelly's ``custom_integrate_function`` hook. SpikingJelly 2.0's own preprocessing
runs on the same files as the oracle (``@pytest.mark.peer``).
"""
import math
import os
import zipfile

import numpy as np
import pytest
from _sj import load_spikingjelly_datasets
from click.testing import CliRunner

import evio
from evio.cli import main
from evio.datasets import ASLDVS, NMNIST, ESImageNet, NCaltech101, PreparedFrames

NMNIST_FILES = {"train": ("00012", "00003", "10004"), "test": ("00007", "00100")}
CALTECH_CLASSES = ("accordion", "BACKGROUND_Google", "Faces_easy", "airplanes", "yin_yang")
CALTECH_PER_CLASS = (3, 5, 2, 11, 1)   # train = ceil(0.9 n): 3/0, 5/0, 2/0, 10/1, 1/0
ASL_LETTERS = ("a", "i", "k", "y")
ASL_PER_CLASS = (2, 3, 1, 2)


def _random_events(rng, n, width, height, t_max=300_000):
    ev = np.empty(n, evio.EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(0, t_max, n))
    ev["x"] = rng.integers(0, width, n)
    ev["y"] = rng.integers(0, height, n)
    ev["p"] = rng.random(n) < 0.5
    return ev


def write_atis_bin(path, ev, overflow_before=()):
    """The N-MNIST ``.bin`` layout written byte by byte (x, y, p<<7 | t[22:16], t[15:8], t[7:0]);
    ``overflow_before``: indices where a y=240 overflow row is put (each adds 2**13 µs later)."""
    rows = []
    offset = 0
    for i, (t, x, y, p) in enumerate(zip(ev["t"].tolist(), ev["x"].tolist(), ev["y"].tolist(), ev["p"].tolist())):
        if i in overflow_before:
            rows.append([0, 240, 0, 0, 0])
            offset += 1 << 13
        rel = t - offset
        rows.append([x, y, (int(p) << 7) | (rel >> 16) & 127, (rel >> 8) & 255, rel & 255])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.asarray(rows, dtype=np.uint8).reshape(-1, 5).tobytes())


@pytest.fixture(scope="module")
def nmnist_root(tmp_path_factory):
    """``root/Train/<digit>/*.bin`` and ``root/Test/<digit>/*.bin`` (SpikingJelly's extract layout)."""
    root = tmp_path_factory.mktemp("nmnist")
    rng = np.random.default_rng(1)
    recorded = {}
    for part, stems in NMNIST_FILES.items():
        for digit in range(10):
            for stem in stems:
                ev = _random_events(rng, int(rng.integers(200, 900)), 34, 34)
                write_atis_bin(root / part.capitalize() / str(digit) / f"{stem}.bin", ev)
                recorded[part, f"{digit}/{stem}"] = ev
    return root, recorded


@pytest.fixture(scope="module")
def caltech_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ncaltech")
    rng = np.random.default_rng(2)
    recorded = {}
    for cls, n in zip(CALTECH_CLASSES, CALTECH_PER_CLASS):
        for k in range(1, n + 1):
            width, height = int(rng.integers(150, 241)), int(rng.integers(100, 181))
            ev = _random_events(rng, int(rng.integers(500, 3000)), width, height)
            ev["x"] += 3   # recordings do not start at pixel 0
            ev["x"] = np.minimum(ev["x"], 239)
            write_atis_bin(root / "Caltech101" / cls / f"image_{k:04d}.bin", ev)
            recorded[f"{cls}/image_{k:04d}"] = ev
    return root, recorded


def _savemat(path, ev, dtype):
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    ts_dtype = np.float64 if dtype == np.float64 else np.int32
    savemat(path, {"ts": ev["t"].astype(ts_dtype).reshape(-1, 1), "x": ev["x"].astype(dtype).reshape(-1, 1),
                   "y": ev["y"].astype(dtype).reshape(-1, 1), "pol": ev["p"].astype(dtype).reshape(-1, 1)})


@pytest.fixture(scope="module")
def asl_root(tmp_path_factory):
    """``root/<letter>/<letter>_<k>.mat`` with column vectors ts, x, y, pol (one letter in float64)."""
    pytest.importorskip("scipy")
    root = tmp_path_factory.mktemp("asl")
    rng = np.random.default_rng(3)
    recorded = {}
    for letter, n in zip(ASL_LETTERS, ASL_PER_CLASS):
        for k in range(n):
            ev = _random_events(rng, int(rng.integers(300, 2000)), 240, 180)
            _savemat(root / letter / f"{letter}_{k + 1:04d}.mat", ev, np.float64 if letter == "i" else np.uint8)
            recorded[f"{letter}/{letter}_{k + 1:04d}"] = ev
    return root, recorded


# -- N-MNIST ----------------------------------------------------------------------------------------

def test_nmnist_events_labels_and_order(nmnist_root):
    root, recorded = nmnist_root
    train, test, both = NMNIST(root), NMNIST(root, split="test"), NMNIST(root, split="all")
    assert len(train) == 30 and len(test) == 20 and both.names == train.names + test.names
    assert train.sensor_size == (34, 34, 2) and train.classes == tuple("0123456789")
    assert train.names[:3] == ["0/00003", "0/00012", "0/10004"]   # file-name order, as SpikingJelly
    assert train.targets == [d for d in range(10) for _ in range(3)]
    for i in (0, 7, 29):
        events, label = train[i]
        assert label == int(train.names[i][0])
        assert np.array_equal(events, recorded["train", train.names[i]])
    assert np.array_equal(test[-1][0], recorded["test", "9/00100"])


def test_nmnist_first_saccade_and_overflow_rows(tmp_path):
    rng = np.random.default_rng(4)
    ev = _random_events(rng, 400, 34, 34)
    write_atis_bin(tmp_path / "Train" / "3" / "00001.bin", ev, overflow_before={100, 200})
    ds = NMNIST(tmp_path)
    assert np.array_equal(ds[0][0], ev) and ds.targets == [3]
    assert np.array_equal(ds[0][0], evio.read(tmp_path / "Train" / "3" / "00001.bin", format="nmnist"))
    first = NMNIST(tmp_path, first_saccade_only=True)[0][0]
    assert np.array_equal(first, ev[ev["t"] < 100_000]) and 0 < len(first) < len(ev)
    (tmp_path / "Train" / "3" / "00002.bin").write_bytes(bytes([0, 240, 0, 0, 0]) * 2)
    assert len(NMNIST(tmp_path)[1][0]) == 0


def test_nmnist_errors_and_zips(nmnist_root, tmp_path, monkeypatch):
    from evio.datasets import _neuromorphic as nm
    from evio.datasets import nmnist

    with pytest.raises(FileNotFoundError, match="not downloaded automatically.*Train.zip"):
        NMNIST(tmp_path)
    with pytest.raises(ValueError, match="split"):
        NMNIST(nmnist_root[0], split="val")
    bad = tmp_path / "bad"
    (bad / "Train" / "1").mkdir(parents=True)
    (bad / "Train" / "1" / "00001.bin").write_bytes(b"\x01\x02\x03\x04\x05\x06\x07")
    with pytest.raises(evio.FormatError, match="2 trailing bytes") as err:
        NMNIST(bad)[0]
    assert err.value.offset == 5
    download = tmp_path / "z" / "download"
    download.mkdir(parents=True)
    sums = []
    for part in ("Train", "Test"):
        with zipfile.ZipFile(download / f"{part}.zip", "w") as zf:
            for f in sorted((nmnist_root[0] / part).rglob("*.bin")):
                zf.write(f, f.relative_to(nmnist_root[0]).as_posix())
        sums.append((f"{part}.zip", "url", nm.md5sum(download / f"{part}.zip")))
    with pytest.raises(evio.FormatError, match="md5"):
        NMNIST(tmp_path / "z")
    monkeypatch.setattr(nmnist, "NMNIST_RESOURCES", tuple(sums))
    ds = NMNIST(tmp_path / "z", split="test")
    assert (tmp_path / "z" / "extract" / "Test").is_dir()
    assert ds.names == NMNIST(nmnist_root[0], split="test").names
    assert np.array_equal(ds[4][0], NMNIST(nmnist_root[0], split="test")[4][0])


# -- N-Caltech101 -----------------------------------------------------------------------------------

def test_ncaltech101_classes_split_and_coordinates(caltech_root):
    root, recorded = caltech_root
    ds = NCaltech101(root)
    assert ds.classes == tuple(sorted(CALTECH_CLASSES)) and ds.classes[0] == "BACKGROUND_Google"
    assert ds.sensor_size == (240, 180, 2) and len(ds) == sum(CALTECH_PER_CLASS)
    for i in (0, 6, len(ds) - 1):
        events, label = ds[i]
        assert ds.classes[label] == ds.names[i].split("/")[0]
        assert np.array_equal(events, recorded[ds.names[i]])
    train, test = NCaltech101(root, split="train"), NCaltech101(root, split="test")
    counts = dict(zip(CALTECH_CLASSES, CALTECH_PER_CLASS))
    assert [train.targets.count(k) for k in range(5)] == [math.ceil(counts[c] * 0.9) for c in ds.classes]
    assert sorted(train.names + test.names) == sorted(ds.names) and not set(train.names) & set(test.names)
    shifted = NCaltech101(root, coordinates="tonic")
    for i in (0, 9):
        ev, raw = shifted[i][0], ds[i][0]
        assert ev["x"].min() == 0 and ev["y"].min() == 0
        assert np.array_equal(ev["x"], raw["x"] - raw["x"].min()) and np.array_equal(ev["t"], raw["t"])
    with pytest.raises(ValueError, match="coordinates"):
        NCaltech101(root, coordinates="min")


def test_ncaltech101_tonic_reader_agrees(caltech_root):
    tonic_io = pytest.importorskip("tonic.io")
    root = caltech_root[0]
    ds = NCaltech101(root, coordinates="tonic")
    ref = tonic_io.read_mnist_file(str(ds.paths[3]), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    ev = ds[3][0]
    assert np.array_equal(ev["x"], ref["x"] - ref["x"].min()) and np.array_equal(ev["y"], ref["y"] - ref["y"].min())
    assert np.array_equal(ev["t"], ref["t"]) and np.array_equal(ev["p"], ref["p"].astype(bool))


# -- ASL-DVS ----------------------------------------------------------------------------------------

def test_asldvs_orientations_and_labels(asl_root):
    root, recorded = asl_root
    ds = ASLDVS(root)
    assert len(ds) == sum(ASL_PER_CLASS) and ds.sensor_size == (240, 180, 2) and len(ds.classes) == 24
    assert ds.names[:2] == ["a/a_0001", "a/a_0002"]
    assert ds.targets == [ASLDVS.classes.index(n[0]) for n in ds.names]
    assert ASLDVS(root, label_order="tonic").targets == [ord(n[0]) - ord("a") for n in ds.names]
    for i in (0, 3, len(ds) - 1):
        assert np.array_equal(ds[i][0], recorded[ds.names[i]])
    ev = recorded[ds.names[2]]
    tonic, sj = ASLDVS(root, orientation="tonic")[2][0], ASLDVS(root, orientation="spikingjelly")[2][0]
    assert np.array_equal(tonic["x"], ev["x"]) and np.array_equal(tonic["y"], 179 - ev["y"])
    assert np.array_equal(sj["x"], 239 - ev["x"]) and np.array_equal(sj["y"], 179 - ev["y"])
    train = ASLDVS(root, split="train")
    assert [train.targets.count(ASLDVS.classes.index(c)) for c in ASL_LETTERS] == \
        [math.ceil(n * 0.9) for n in ASL_PER_CLASS]


def test_asldvs_bad_files_and_missing_scipy(asl_root, tmp_path, monkeypatch):
    from scipy.io import savemat

    from evio.datasets import asldvs

    (tmp_path / "b").mkdir()
    savemat(tmp_path / "b" / "b_0001.mat", {"ts": np.arange(3).reshape(-1, 1), "x": np.array([[1], [2], [3]])})
    with pytest.raises(evio.FormatError, match=r"\['y', 'pol'\]"):
        ASLDVS(tmp_path)[0]
    savemat(tmp_path / "b" / "b_0001.mat", {"ts": [[0], [1]], "x": [[240], [2]], "y": [[0], [0]], "pol": [[1], [0]]})
    with pytest.raises(evio.FormatError, match="x values must be integers in 0..239"):
        ASLDVS(tmp_path)[0]
    (tmp_path / "b" / "b_0001.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(evio.FormatError, match="MATLAB"):
        ASLDVS(tmp_path)[0]
    with pytest.raises(FileNotFoundError, match="OpenI"):
        ASLDVS(tmp_path / "nothing")

    def no_scipy():
        raise ImportError("ASL-DVS .mat files are read with scipy: pip install 'evio-toolkit[asldvs]'")
    monkeypatch.setattr(asldvs, "_loadmat", no_scipy)
    with pytest.raises(ImportError, match=r"evio-toolkit\[asldvs\]"):
        ASLDVS(asl_root[0])


def test_asldvs_scipy_error_names_the_extra(monkeypatch):
    import builtins

    from evio.datasets import asldvs

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError("no scipy")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'evio-toolkit\[asldvs\]'"):
        asldvs._loadmat()


# -- ES-ImageNet ------------------------------------------------------------------------------------

def _es_rows(rng, n, a, b):
    """Generator-like ``[row, col, t]`` rows (canvas 17..239, t 1..8), unique, inside the loader's crop."""
    dx, dy = (254 - a) // 2, (254 - b) // 2
    rows = np.stack([rng.integers(17, 240 - dx, n), rng.integers(17, 240 - dy, n), rng.integers(1, 9, n)], 1)
    return np.unique(rows, axis=0).astype(np.uint8)


@pytest.fixture(scope="module")
def es_root(tmp_path_factory):
    """``root/ES-imagenet-0.18/{trainlabel.txt, vallabel.txt, train/class<k>/*.npz, val/*.npz}``."""
    base = tmp_path_factory.mktemp("esimagenet") / "ES-imagenet-0.18"
    rng = np.random.default_rng(5)
    samples = {}
    lines = {"train": [], "val": []}
    for part, count in (("train", 6), ("val", 3)):
        for k in range(count):
            label, a, b = int(rng.integers(0, 1000)), int(rng.integers(150, 255)), int(rng.integers(150, 255))
            name = f"class{label}/n{label:08d}_{k}.npz" if part == "train" else f"ILSVRC2012_val_{k:08d}.npz"
            pos, neg = _es_rows(rng, 900, a, b), _es_rows(rng, 700, a, b)
            path = base / part / name
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, pos=pos, neg=neg)
            lines[part].append(f"{name} {label} {a} {b}\n")
            samples[part, name] = (pos, neg, label, a, b)
    (base / "trainlabel.txt").write_text("".join(lines["train"]))
    (base / "vallabel.txt").write_text("".join(lines["val"]))
    return base.parent, samples


def _es_loader_tensor(pos, neg, a, b):
    """ES-ImageNet's own loader: ``input[t - 1, c, row + dx, col + dy] = 1`` on 256 x 256, cropped to 224."""
    dx, dy = (254 - a) // 2, (254 - b) // 2
    grid = np.zeros((8, 2, 256, 256), np.float32)
    for c, rows in ((0, pos.astype(np.int64)), (1, neg.astype(np.int64))):
        grid[rows[:, 2] - 1, c, rows[:, 0] + dx, rows[:, 1] + dy] = 1
    return grid[:, :, 16:240, 16:240]


def test_esimagenet_dense_frames_equal_the_loader(es_root):
    root, samples = es_root
    train, test = ESImageNet(root), ESImageNet(root, split="test")
    assert len(train) == 6 and len(test) == 3 and len(ESImageNet(root, split="all")) == 9
    assert test.names[0] == "ILSVRC2012_val_00000000"
    for ds, part in ((train, "train"), (test, "val")):
        for i in range(len(ds)):
            pos, neg, label, a, b = samples[part, ds.names[i] + ".npz"]
            frames, target = ds[i]
            assert target == label and frames.dtype == np.float32 and frames.shape == (8, 2, 224, 224)
            with np.errstate(all="ignore"):
                assert np.array_equal(frames, _es_loader_tensor(pos, neg, a, b)), ds.names[i]


def test_esimagenet_events_and_canvas(es_root):
    root, samples = es_root
    ds = ESImageNet(root, placement="canvas", frames=None)
    pos, neg, label, _, _ = samples["train", ds.names[0] + ".npz"]
    ev, target = ds[0]
    assert target == label and ds.sensor_size == (256, 256, 2)
    assert np.array_equal(ev["x"][:len(pos)], pos[:, 1]) and np.array_equal(ev["y"][:len(pos)], pos[:, 0])
    assert np.array_equal(ev["t"][len(pos):], neg[:, 2] - 1.0) and not ev["p"][len(pos):].any()
    counted = ESImageNet(root, frames={"T": 2, "by": "count"})
    assert counted[1][0].shape == (2, 2, 224, 224)
    assert counted[1][0].sum() == len(counted.events(1))
    bad = root / "bad"
    bad.mkdir()
    (bad / "trainlabel.txt").write_text("x.npz 3 12\n")
    with pytest.raises(evio.FormatError, match="line 1"):
        ESImageNet(bad)
    with pytest.raises(FileNotFoundError, match="not downloaded automatically.*part01.rar"):
        ESImageNet(root / "nothing")


# -- SpikingJelly as the oracle -----------------------------------------------------------------------

def _sj_frames(raw_files, H, W, T, split_by):
    from spikingjelly.datasets import utils as sju

    return [sju.integrate_events_by_fixed_frames_number(dict(np.load(f)), split_by, T, H, W).astype(np.float32)
            for f in raw_files]


@pytest.mark.peer
def test_nmnist_matches_spikingjelly(nmnist_root, tmp_path):
    if load_spikingjelly_datasets() is None:
        pytest.skip("spikingjelly not installed")
    from spikingjelly.datasets import n_mnist as sjn

    root, _ = nmnist_root
    raw = tmp_path / "events_np"
    raw.mkdir()
    sjn.NMNIST.create_raw_from_extracted(root, raw)
    for part in ("train", "test"):
        classes = sorted(os.listdir(raw / part))
        files = [raw / part / c / f for c in classes for f in sorted(os.listdir(raw / part / c))]
        ours = NMNIST(root, split=part)
        assert ours.names == [f"{f.parent.name}/{f.stem}" for f in files]
        assert ours.targets == [classes.index(f.parent.name) for f in files]
        for i, f in enumerate(files):
            ref = np.load(f)
            ev = ours[i][0]
            for key in "txyp":
                assert np.array_equal(ev[key].astype(np.int64), ref[key].astype(np.int64)), (f, key)
        for split_by, by in (("number", "count"), ("time", "time")):
            framed = NMNIST(root, split=part, frames={"T": 4, "by": by, "dtype": "float32"})
            for i, want in zip((0, 5, len(files) - 1), _sj_frames([files[0], files[5], files[-1]], 34, 34, 4, split_by)):
                assert np.array_equal(framed[i][0], want)


@pytest.mark.peer
def test_ncaltech101_matches_spikingjelly(caltech_root, tmp_path):
    if load_spikingjelly_datasets() is None:
        pytest.skip("spikingjelly not installed")
    from spikingjelly.datasets import n_caltech101 as sjc

    root, _ = caltech_root
    raw = tmp_path / "events_np"
    raw.mkdir()
    sjc.NCaltech101.create_raw_from_extracted(root, raw)
    H, W = sjc.NCaltech101.get_H_W()
    assert (W, H, 2) == NCaltech101.sensor_size
    classes = sorted(os.listdir(raw))
    files = [raw / c / f for c in classes for f in sorted(os.listdir(raw / c))]
    ds = NCaltech101(root, frames={"T": 5, "by": "count", "dtype": "float32"})
    assert ds.names == [f"{f.parent.name}/{f.stem}" for f in files] and list(ds.classes) == classes
    assert ds.targets == [classes.index(f.parent.name) for f in files]
    for i, f in enumerate(files):
        ref = np.load(f)
        ev = ds.events(i)
        assert all(np.array_equal(ev[k].astype(np.int64), ref[k].astype(np.int64)) for k in "txyp"), f
    for i, want in zip(range(0, len(files), 4), _sj_frames(files[::4], H, W, 5, "number")):
        assert np.array_equal(ds[i][0], want)
    from spikingjelly.datasets import utils as sju

    label_idx = [[i for i, t in enumerate(ds.targets) if t == c] for c in range(len(classes))]
    sj_train, sj_test = sju._split_class_indices(label_idx, 0.9, False)
    assert NCaltech101(root, split="train").names == [ds.names[i] for i in sj_train]
    assert NCaltech101(root, split="test").names == [ds.names[i] for i in sj_test]


@pytest.mark.peer
def test_asldvs_matches_spikingjelly(asl_root, tmp_path):
    if load_spikingjelly_datasets() is None:
        pytest.skip("spikingjelly not installed")
    from spikingjelly.datasets import asl_dvs as sja

    root, _ = asl_root
    raw = tmp_path / "events_np"
    raw.mkdir()
    sja.ASLDVS.create_raw_from_extracted(root, raw)
    H, W = sja.ASLDVS.get_H_W()
    classes = sorted(os.listdir(raw))
    files = [raw / c / f for c in classes for f in sorted(os.listdir(raw / c))]
    ds = ASLDVS(root, orientation="spikingjelly", frames={"T": 3, "by": "count", "dtype": "float32"})
    assert ds.names == [f"{f.parent.name}/{f.stem}" for f in files]
    # SpikingJelly numbers the folders present: with all 24 letters, their index in ASLDVS.classes
    assert [ASLDVS.classes[t] for t in ds.targets] == [f.parent.name for f in files]
    for i, f in enumerate(files):
        ref = np.load(f)
        ev = ds.events(i)
        assert all(np.array_equal(ev[k].astype(np.int64), ref[k].astype(np.int64)) for k in "txyp"), f
    for i, want in zip(range(len(files)), _sj_frames(files, H, W, 3, "number")):
        assert np.array_equal(ds[i][0], want)


# -- custom_integrate_function ----------------------------------------------------------------------

CALLS = []


def two_halves(events, H, W):
    """A SpikingJelly-style custom integration: events before / after the middle index."""
    from spikingjelly.datasets import utils as sju

    CALLS.append(len(events["t"]))
    half = len(events["t"]) // 2
    x, y, p = events["x"], events["y"], events["p"]
    return np.stack([sju.integrate_events_segment_to_frame(x, y, p, H, W, 0, half),
                     sju.integrate_events_segment_to_frame(x, y, p, H, W, half, len(x))])


@pytest.mark.peer
def test_custom_integrate_function_matches_spikingjelly(nmnist_root, tmp_path):
    if load_spikingjelly_datasets() is None:
        pytest.skip("spikingjelly not installed")
    from spikingjelly.datasets import n_mnist as sjn
    from spikingjelly.datasets.base import FrameCustomIntegrateBuilder, NeuromorphicDatasetConfig

    root = tmp_path / "root"
    root.mkdir()
    os.symlink(nmnist_root[0] / "Train", root / "Train")
    os.symlink(nmnist_root[0] / "Test", root / "Test")
    raw = tmp_path / "sj" / "events_np"
    raw.mkdir(parents=True)
    sjn.NMNIST.create_raw_from_extracted(root, raw)
    cfg = NeuromorphicDatasetConfig(root=tmp_path / "sj", train=True, data_type="frame", custom_integrate_function=two_halves)
    sj_frames_root, loader = FrameCustomIntegrateBuilder(cfg, raw, 34, 34).build()

    CALLS.clear()
    ds = NMNIST(root, custom_integrate_function=two_halves)
    assert ds.cache == root / sj_frames_root.name / "train.zarr" and sj_frames_root.name == "two_halves"
    assert ds.cache.is_dir() and len(CALLS) == 1   # the store is made with sample 0 at construction
    for i, name in enumerate(ds.names):
        want = loader(sj_frames_root / "train" / f"{name}.npz")
        got, label = ds[i]
        assert got.shape == (2, 2, 34, 34) and label == int(name[0])
        assert np.array_equal(got.astype(np.float32), want), name
    calls = len(CALLS)
    again = NMNIST(root, custom_integrate_function=two_halves)
    assert np.array_equal(again[7][0], ds[7][0]) and len(CALLS) == calls   # read from the store
    named = NMNIST(root, split="test", custom_integrate_function=two_halves, custom_integrated_frames_dir_name="halves")
    assert named.cache == root / "halves" / "test.zarr" and named[0][0].shape == (2, 2, 34, 34)
    pf = PreparedFrames(again.cache)
    assert pf.attrs["frames"] == '{"custom_integrate_function": "test_datasets_more.two_halves", "dir_name": "two_halves"}'


def test_custom_integrate_function_options(nmnist_root, tmp_path):
    root = nmnist_root[0]

    def count_all(events, H, W):
        out = np.zeros((1, 2, H, W), np.int32)
        np.add.at(out[0], (events["p"], events["y"], events["x"]), 1)
        return out

    ds = NMNIST(root, split="test", custom_integrate_function=count_all, cache=tmp_path / "c.zarr")
    assert ds[3][0].sum() == len(ds.events(3)) and ds[3][0].dtype == np.int32
    assert np.array_equal(ds[3][0][0], evio.frames(ds.events(3), T=1, by="count", sensor_size=(34, 34), dtype=np.int32)[0])
    off = NMNIST(root, split="test", custom_integrate_function=count_all, cache=False)
    assert off.cache is None and not (root / "count_all").exists() and off[2][0].sum() == len(off.events(2))
    with pytest.raises(ValueError, match="custom_integrated_frames_dir_name"):
        NMNIST(root, custom_integrate_function=lambda e, H, W: None)
    with pytest.raises(ValueError, match="not both"):
        NMNIST(root, frames=4, custom_integrate_function=count_all)
    with pytest.raises(ValueError, match=r"\[T, \.\.\., H, W\]"):
        NMNIST(root, split="test", custom_integrate_function=lambda e, H, W: np.zeros(3),
               custom_integrated_frames_dir_name="flat", cache=False)[0]


# -- transforms, Tonic, CLI ---------------------------------------------------------------------------

def test_transforms_in_tonic_order_and_tonic_toframe(nmnist_root):
    tonic = pytest.importorskip("tonic")
    root = nmnist_root[0]
    calls = []
    ds = NMNIST(root, split="test", transform=lambda e: calls.append("t") or len(e),
                target_transform=lambda y: calls.append("y") or y + 100,
                transforms=lambda e, y: (calls.append("ty") or (e, -y)))
    n, y = ds[12]
    assert calls == ["t", "y", "ty"] and y == -(ds.targets[12] + 100) and n == len(ds.events(12))
    framed = NMNIST(root, split="test", transform=tonic.transforms.ToFrame(sensor_size=NMNIST.sensor_size, n_time_bins=3))
    x, n = framed[0][0], len(framed.events(0))
    assert x.shape == (3, 2, 34, 34) and n - 1 <= x.sum() <= n   # Tonic's half-open bins may leave the last event


def test_cli_dataset_prepare_nmnist_and_esimagenet(nmnist_root, es_root, tmp_path):
    runner = CliRunner()
    out = tmp_path / "n.zarr"
    res = runner.invoke(main, ["dataset", "prepare", "nmnist", str(nmnist_root[0]), str(out), "--frames", "3",
                               "--split", "test", "--workers", "1", "-q"])
    assert res.exit_code == 0, res.output
    pf, ref = PreparedFrames(out), NMNIST(nmnist_root[0], split="test", frames={"T": 3, "by": "count"})
    assert pf.names == ref.names and pf.targets == ref.targets and pf.attrs["dataset"] == "NMNIST"
    assert all(np.array_equal(pf[i][0], ref[i][0]) for i in (0, 9, 19))
    out = tmp_path / "e.zarr"
    res = runner.invoke(main, ["dataset", "prepare", "esimagenet", str(es_root[0]), str(out), "--by", "dense",
                               "--split", "test", "--workers", "1", "-q"])
    assert res.exit_code == 0, res.output
    assert np.array_equal(PreparedFrames(out)[2][0], ESImageNet(es_root[0], split="test")[2][0])
    res = runner.invoke(main, ["dataset", "prepare", "nmnist", str(nmnist_root[0]), str(tmp_path / "x.zarr"),
                               "--by", "dense"])
    assert res.exit_code != 0 and "esimagenet only" in res.output and not (tmp_path / "x.zarr").exists()
