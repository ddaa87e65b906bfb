"""evio.tonic: Tonic datasets over I2E shards and recordings, transforms backed by evio, on-the-fly I2E.

Miniature shard folders go through Tonic's Compose, caches and a PyTorch DataLoader (fork and spawn);
``ToFrames`` is checked against ``tonic.transforms.ToFrame`` on the real recordings in ``fixtures/``.
"""
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import evio

tonic = pytest.importorskip("tonic")
torch = pytest.importorskip("torch")
pytest.importorskip("pyarrow")

from evio.tonic import datasets as D  # noqa: E402
from evio.tonic import transforms as T  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent
STEPS, H, W = 8, 16, 12   # H != W: a swapped axis shows


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    rng = np.random.default_rng(12)
    dense = rng.random((14, STEPS, 2, H, W)) < 0.08
    labels = rng.integers(0, 3, len(dense))
    root = tmp_path_factory.mktemp("i2e")
    evio.datasets.write_i2e_shards(dense, labels, root, "I2E-CIFAR10", "train", rows_per_shard=8,
                                   row_group_size=4, class_names=["cat", "dog", "emu"])
    evio.datasets.write_i2e_shards(dense[:3], labels[:3], root, "I2E-CIFAR10", "validation")
    return root, dense, labels


def test_import_without_tonic_names_the_extra():
    code = ("import sys; import evio; evio.frames; evio.datasets.I2EShards\n"
            "assert 'tonic' not in sys.modules, 'import evio imported tonic'\n"
            "sys.modules['tonic'] = None\n"
            "try:\n    import evio.tonic\nexcept ImportError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'evio-toolkit[tonic]'" in done.stdout


def test_i2e_dataset_is_a_tonic_dataset_with_the_shard_contents(shards):
    root, dense, labels = shards
    ds = D.I2E(root)
    assert isinstance(ds, tonic.dataset.Dataset) and len(ds) == len(dense)
    assert ds.sensor_size == (W, H, 2) and ds.classes == ["cat", "dog", "emu"]
    assert ds.dtype == np.dtype(tonic.io.events_struct) and ds.ordering == ("x", "y", "t", "p")
    assert np.array_equal(ds.targets, labels)
    for i in range(len(ds)):
        events, label = ds[i]
        assert events.dtype == ds.dtype and label == labels[i]
        assert np.array_equal(evio.to_dense(events, (W, H), STEPS, channels="on_off"), dense[i])
    on = ds[0][0][ds[0][0]["p"]]
    assert np.array_equal(np.sort(on["x"] + W * (on["y"] + H * on["t"].astype(np.int64))),
                          np.flatnonzero(dense[0][:, 0].reshape(-1)))     # p = True is I2E channel 0 (ON)
    frames = D.I2E(root, as_events=False, frame_dtype=np.float32)
    assert frames[5][0].dtype == np.float32 and np.array_equal(frames[5][0], dense[5])
    assert len(D.I2E(root, split="validation")) == 3


def test_tonic_to_frame_reads_the_events_as_tonic_does(shards):
    root, dense, _ = shards
    ds = D.I2E(root, transform=tonic.transforms.ToFrame(sensor_size=(W, H, 2), time_window=1, start_time=0,
                                                        end_time=STEPS))
    for i in (0, 7):
        frames, _ = ds[i]
        assert frames.shape == (STEPS, 2, H, W)
        assert np.array_equal(frames, dense[i][:, ::-1])   # Tonic: channel = p, so ON is channel 1


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_compose_disk_cache_dataloader_gives_the_shard_contents(shards, tmp_path, context):
    root, dense, labels = shards
    transform = tonic.transforms.Compose([
        tonic.transforms.CropTime(min=0, max=STEPS - 1),
        T.ToDense((W, H), STEPS, channels="on_off"),
        T.Pack(),
    ])
    cached = tonic.DiskCachedDataset(D.I2E(root, transform=transform), cache_path=str(tmp_path / "cache"),
                                     transform=T.Unpack(np.float32))
    loader = torch.utils.data.DataLoader(cached, batch_size=4, num_workers=2, multiprocessing_context=context,
                                         persistent_workers=True)
    for _ in range(2):   # filling the cache, then reading it
        got = list(loader)
        assert torch.equal(torch.cat([x for x, _ in got]), torch.from_numpy(dense.astype(np.float32)))
        assert torch.equal(torch.cat([y for _, y in got]), torch.from_numpy(labels))
    assert len(list((tmp_path / "cache").glob("*.hdf5"))) == len(dense)
    with h5py.File(tmp_path / "cache" / "0_0.hdf5") as f:   # the cache holds packed cells, 8x smaller than bool
        assert f["data/0"].dtype == np.uint8 and f["data/0"].shape == T.Pack()(dense[0]).shape


@pytest.mark.parametrize("as_events", [False, True])
def test_batched_fetch_gives_what_single_items_give(shards, as_events):
    root, dense, labels = shards
    ds = D.I2E(root, as_events=as_events, frame_dtype=np.float32)
    order = [5, 0, 13, 5, 2]
    batch = ds.__getitems__(order)
    assert [t for _, t in batch] == [labels[i] for i in order]
    for (sample, _), i in zip(batch, order):
        single = ds[i][0]
        assert sample.dtype == single.dtype and np.array_equal(sample, single)
    if not as_events:
        x, y = torch.utils.data.default_collate(batch)
        assert x.data_ptr() == batch.samples.ctypes.data        # the decoded batch, not a stacked copy
        assert torch.equal(x, torch.from_numpy(dense[order].astype(np.float32)))
        flipped = D.I2E(root, as_events=False, frame_dtype=np.float32, transform=lambda f: f[:, ::-1].copy(),
                        target_transform=lambda t: t + 10)
        got = flipped.__getitems__(order)
        assert np.array_equal(np.stack([s for s, _ in got]), dense[order][:, :, ::-1])
        assert [t for _, t in got] == [labels[i] + 10 for i in order]


def test_sliced_and_memory_cached_datasets(shards):
    root, dense, labels = shards
    ds = D.I2E(root)
    sliced = tonic.SlicedDataset(ds, tonic.slicers.SliceByEventCount(event_count=40), metadata_path=None)
    assert len(sliced) == sum(len(ds[i][0]) // 40 for i in range(len(ds)))
    assert np.array_equal(sliced[1][0], ds[0][0][40:80]) and sliced[1][1] == labels[0]
    memory = tonic.MemoryCachedDataset(ds, transform=T.ToDense((W, H), STEPS, channels="on_off"))
    for i in (3, 3, 4):
        assert np.array_equal(memory[i][0], dense[i]) and memory[i][1] == labels[i]


def _recording(name):
    if name.endswith(".aedat4"):
        pytest.importorskip("lz4")
    return evio.read(FIXTURES / name), tuple(evio.info(FIXTURES / name)["sensor_size"])


#: event_count and its overlap as fractions of the events, time_window and its overlap of the duration
TO_FRAME_CASES = [
    dict(n_time_bins=5), dict(n_time_bins=4, overlap=0.25), dict(n_event_bins=7), dict(n_event_bins=3, overlap=0.5),
    dict(event_count=0.2), dict(event_count=0.3, overlap=0.1, include_incomplete=True),
    dict(time_window=0.1), dict(time_window=0.25, overlap=0.05, include_incomplete=True),
    dict(time_window=0.3, start_time=0.1, end_time=0.8, include_incomplete=True),
]


@pytest.mark.parametrize("name", ["tonic_sample.aedat4", "evt3_sample.raw", "tonic_sample_nmnist.bin"])
@pytest.mark.parametrize("options", TO_FRAME_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_to_frames_equals_tonic_to_frame_on_recordings(name, options):
    events, (w, h) = _recording(name)
    t0, span = int(events["t"][0]), int(events["t"][-1] - events["t"][0])
    if "event_count" in options:
        options = {**options, "event_count": int(options["event_count"] * len(events)),
                   "overlap": int(options.get("overlap", 0) * len(events))}
    if "time_window" in options:
        options = {**options, "time_window": int(options["time_window"] * span),
                   "overlap": int(options.get("overlap", 0) * span)}
        for key in ("start_time", "end_time"):
            if key in options:
                options[key] = t0 + int(options[key] * span)
    for dtype in (tonic.io.events_struct, tonic.datasets.CIFAR10DVS.dtype):
        if np.dtype(dtype)["x"].itemsize == 2 and np.dtype(dtype)["x"].kind == "i" and w > 32767:
            continue
        ev = T.to_tonic(events, dtype)
        expected = tonic.transforms.ToFrame(sensor_size=(w, h, 2), **options)(ev.copy())
        got = T.ToFrames((w, h, 2), **options)(ev)
        assert got.dtype == np.int16 and got.shape == expected.shape and got.shape[0] > 1
        assert np.array_equal(got, expected)
    merged = T.to_tonic(events)
    merged["p"] = False
    expected = tonic.transforms.ToFrame(sensor_size=(w, h, 1), **options)(merged.copy())
    assert np.array_equal(T.ToFrames((w, h, 1), **options)(merged), expected)


def test_to_frames_refuses_no_or_two_modes_and_empty_input_keeps_its_shape():
    with pytest.raises(ValueError, match="exactly one"):
        T.ToFrames((4, 3, 2))
    with pytest.raises(ValueError, match="exactly one"):
        T.ToFrames((4, 3, 2), n_time_bins=2, time_window=10)
    empty = np.zeros(0, tonic.io.events_struct)
    assert T.ToFrames((4, 3, 2), n_event_bins=5)(empty).shape == (5, 2, 3, 4)


def test_i2e_pack_unpack_and_to_tonic():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    dense = T.I2E()(image)
    assert np.array_equal(dense, evio.i2e(image))
    events = T.I2E(output="events")(image)
    assert events.dtype == np.dtype(tonic.io.events_struct)
    assert np.array_equal(T.ToDense((W, H), 8, channels="on_off")(events), dense)
    packed = T.I2E(output="packed")(image)
    assert packed.dtype == np.uint8 and np.array_equal(T.Unpack()(packed), dense)
    assert np.array_equal(T.Unpack(np.float32)(T.Pack()(dense)), dense.astype(np.float32))
    batch = np.stack([T.Pack()(dense), T.Pack()(~dense)])
    assert np.array_equal(T.Unpack()(torch.from_numpy(batch)), np.stack([dense, ~dense]))
    with pytest.raises(ValueError, match="mode"):
        T.I2E(mode="training")
    wide = np.zeros(1, evio.EVENT_DTYPE)
    wide["x"] = 40_000
    with pytest.raises(ValueError, match="'x'.*40000"):
        T.to_tonic(wide)


# -- recordings: CIFAR10-DVS, DVS128 Gesture and a folder of event files ------------------------------------

@pytest.fixture(scope="module")
def recording_events():
    events, _ = _recording("tonic_sample.aedat4")
    out = np.empty(len(events), evio.EVENT_DTYPE)
    out["t"] = events["t"] - events["t"][0] + 1_000_000
    out["x"] = events["x"].astype(np.int64) * 128 // 320
    out["y"] = events["y"].astype(np.int64) * 128 // 240
    out["p"] = events["p"]
    return out


def _same_events(tonic_events, evio_events):
    return all(np.array_equal(tonic_events[f], evio_events[f]) for f in "txyp")


def test_cifar10dvs_and_dvs128gesture_give_tonic_dtypes(tmp_path, recording_events):
    from evio.datasets.cifar10dvs import CLASSES

    for k, cls in enumerate(CLASSES[:3]):
        for i in range(2):
            path = tmp_path / "cifar" / cls / f"cifar10_{cls}_{i}.aedat"
            path.parent.mkdir(parents=True, exist_ok=True)
            evio.write(path, recording_events[(2 * k + i) * 500:(2 * k + i + 1) * 500], format="aedat2", chip="dvs128")
    cifar = D.CIFAR10DVS(tmp_path / "cifar", transform=T.ToFrames((128, 128, 2), n_event_bins=2))
    plain = evio.datasets.CIFAR10DVS(tmp_path / "cifar")
    assert cifar.dtype == tonic.datasets.CIFAR10DVS.dtype and cifar.sensor_size == (128, 128, 2)
    assert len(cifar) == 6 and cifar.targets == [0, 0, 1, 1, 2, 2] and cifar.classes[0] == "airplane"
    assert np.array_equal(cifar[3][0], tonic.transforms.ToFrame((128, 128, 2), n_event_bins=2)(
        T.to_tonic(plain[3][0], cifar.dtype)))
    raw = D.CIFAR10DVS(tmp_path / "cifar", split="test", train_ratio=0.5)
    assert raw[0][0].dtype == cifar.dtype and _same_events(raw[0][0], plain.events(1))

    folder = tmp_path / "gesture" / "DvsGesture"
    folder.mkdir(parents=True)
    evio.write(folder / "user01_led.aedat", recording_events, sensor_size=(128, 128), format="aedat3")
    t0 = int(recording_events["t"][0])
    (folder / "user01_led_labels.csv").write_text(
        f"class,startTime_usec,endTime_usec\n3,{t0},{t0 + 100_000}\n11,{t0 + 50_000},{t0 + 300_000}\n")
    (folder / "trials_to_train.txt").write_text("user01_led.aedat\n")
    gesture = D.DVS128Gesture(tmp_path / "gesture")
    reference = evio.datasets.DVS128Gesture(tmp_path / "gesture")
    assert gesture.dtype == tonic.datasets.DVSGesture.dtype and gesture.targets == [2, 10]
    assert len(gesture.classes) == 11 and gesture.sensor_size == (128, 128, 2)
    for i in range(2):
        assert gesture[i][0].dtype == gesture.dtype and _same_events(gesture[i][0], reference.events(i))


def test_event_folder_labels_by_parent_or_callable(tmp_path, recording_events):
    parts = {"b_class/one.npy": recording_events[:300], "a_class/two.h5": recording_events[300:700],
             "a_class/deep/three.h5": recording_events[700:800]}
    for rel, ev in parts.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        evio.write(tmp_path / rel, ev, sensor_size=None if rel.endswith(".npy") else (128, 128))
    (tmp_path / "a_class" / "notes.txt").write_text("not events")
    ds = D.EventFolder(tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in ds.files]
    assert names == ["a_class/deep/three.h5", "a_class/two.h5", "b_class/one.npy"]
    assert ds.classes == ["a_class", "a_class/deep", "b_class"] and ds.targets == [1, 0, 2]
    assert ds.sensor_size == (128, 128, 2)
    for i, name in enumerate(names):
        assert ds[i][0].dtype == np.dtype(tonic.io.events_struct) and _same_events(ds[i][0], parts[name])
    by_name = D.EventFolder(tmp_path, "*/*.npy", label_from=lambda p: len(p.stem))
    assert by_name.targets == [3] and by_name[0][1] == 3 and by_name.sensor_size is None
    with pytest.raises(FileNotFoundError, match="no evio-readable"):
        D.EventFolder(tmp_path, "*.txt")
    with pytest.raises(ValueError, match="label_from"):
        D.EventFolder(tmp_path, label_from="folder")


# -- on-the-fly I2E augmentation in DataLoader workers ------------------------------------------------------

class RandomFlipImage:
    """An image augmentation drawing from torch's generator, as torchvision's do."""

    def __call__(self, image):
        return image[:, ::-1].copy() if torch.rand(()) < 0.5 else image


def _on_the_fly(images, num_workers, seed):
    ds = D.Images(images, labels=np.arange(len(images)) % 3,
                  transform=tonic.transforms.Compose([RandomFlipImage(), T.I2E(preset="cifar10", mode="train")]))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=num_workers,
                                         multiprocessing_context="fork" if num_workers else None)
    torch.manual_seed(seed)
    return [(x.clone(), y.clone()) for x, y in loader]


def test_on_the_fly_i2e_is_reproducible_and_differs_across_workers():
    rng = np.random.default_rng(8)
    images = np.repeat(rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8), 8, axis=0)
    for workers in (0, 2):
        first, again = _on_the_fly(images, workers, 0), _on_the_fly(images, workers, 0)
        assert first[0][0].shape == (2, 8, 2, 128, 128)
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
        other = _on_the_fly(images, workers, 1)
        assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other))
        samples = torch.cat([x for x, _ in first])
        assert len({bytes(np.packbits(s.numpy())) for s in samples}) > len(samples) // 2
    # batches 0, 2 come from worker 0 and 1, 3 from worker 1: the two workers draw differently
    assert not torch.equal(first[0][0], first[1][0]) and not torch.equal(first[2][0], first[3][0])


def test_images_from_an_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(4)
    arrays = {}
    for rel in ("dog/b.png", "cat/x/a.png", "cat/c.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        arrays[rel] = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
        Image.fromarray(arrays[rel]).save(tmp_path / rel)
    ds = D.Images(tmp_path, transform=T.I2E(ratio=0.1))
    assert ds.classes == ["cat", "dog"] and ds.targets == [0, 0, 1]
    assert [p.relative_to(tmp_path).as_posix() for p in ds.images] == ["cat/c.png", "cat/x/a.png", "dog/b.png"]
    assert np.array_equal(ds[1][0], evio.i2e(arrays["cat/x/a.png"], 0.1)) and ds[2][1] == 1
