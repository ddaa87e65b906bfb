"""evio.to_dask: a lazy dask.dataframe of a store's events, one partition per time-index range."""

import json
import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest

import evio
from evio._dask import to_dask

from conftest import random_events

dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

SENSOR = (640, 480)


def pixel_counts(events, sensor=SENSOR):
    return np.bincount(events["y"].astype(np.int64) * sensor[0] + events["x"], minlength=sensor[0] * sensor[1])


@pytest.mark.parametrize("suffix", [".h5", ".zarr"])
def test_partitions_follow_the_time_index_and_hold_every_event(tmp_path, suffix):
    ev = random_events(600_000, sensor=(64, 48))
    path = tmp_path / f"rec{suffix}"
    evio.write(path, ev, (64, 48))
    df = to_dask(path, partition_events=100_000)
    assert dict(df.dtypes) == {"t": np.dtype(np.int64), "x": np.dtype(np.uint16), "y": np.dtype(np.uint16),
                               "p": np.dtype(bool)}
    assert df.known_divisions and df.npartitions >= 6
    starts = np.asarray(df.divisions[:-1])
    # every partition starts at a millisecond edge of the time index: its first event opens a new ms
    t = ev["t"] - ev["t"][0]
    assert all(k == 0 or t[k] // 1000 > t[k - 1] // 1000 for k in starts)
    sizes = np.diff(np.append(starts, len(ev)))
    assert sizes.max() < 100_000 + 20_000
    whole = df.compute()
    assert np.array_equal(whole.index.to_numpy(), np.arange(len(ev)))
    for name in "txyp":
        assert np.array_equal(whole[name].to_numpy(), ev[name])
    assert np.array_equal(df.loc[1234:1240].compute()["t"].to_numpy(), ev["t"][1234:1241])
    in_window = df[(df.t >= int(ev["t"][1000])) & (df.t < int(ev["t"][5000]))]
    assert len(in_window) == np.count_nonzero((ev["t"] >= ev["t"][1000]) & (ev["t"] < ev["t"][5000]))


def test_partition_ms_cuts_by_time(tmp_path):
    ev = random_events(300_000, sensor=(64, 48))  # 10 events per µs: 30 ms
    evio.write(tmp_path / "rec.h5", ev)
    df = to_dask(tmp_path / "rec.h5", partition_ms=5)
    starts = ev["t"][np.asarray(df.divisions[:-1])] - ev["t"][0]
    assert df.npartitions == (ev["t"][-1] - ev["t"][0]) // 5000 + 1 and np.all(np.diff(starts // 1000) == 5)
    assert len(df) == len(ev)


def test_store_without_time_index_and_empty_store(tmp_path):
    ev = random_events(50_000, sensor=(64, 48))
    evio.write(tmp_path / "noindex.zarr", ev, time_index=False)
    df = to_dask(tmp_path / "noindex.zarr", partition_events=20_000)
    assert df.divisions == (0, 20_000, 40_000, 49_999)
    assert np.array_equal(df.compute()["x"].to_numpy(), ev["x"])
    evio.write(tmp_path / "empty.h5", ev[:0], (64, 48))
    empty = to_dask(tmp_path / "empty.h5")
    assert len(empty) == 0 and list(empty.columns) == ["t", "x", "y", "p"]


def test_remote_zarr_store(tmp_path):
    pytest.importorskip("fsspec")
    ev = random_events(100_000, sensor=(64, 48))
    url = f"memory://evio-{uuid.uuid4().hex[:8]}/rec.zarr"
    evio.write(url, ev, (64, 48))
    df = to_dask(url, partition_events=30_000)
    assert df.npartitions >= 3 and np.array_equal(df.compute()["y"].to_numpy(), ev["y"])


def test_files_that_are_not_stores_are_refused(tmp_path):
    evio.write(tmp_path / "rec.aedat4", random_events(100))
    with pytest.raises(ValueError, match="to_dask reads HDF5 and zarr event stores.*evio convert"):
        to_dask(tmp_path / "rec.aedat4")
    with pytest.raises(ValueError, match="partition_events"):
        to_dask(tmp_path / "rec.aedat4", partition_events=0)
    pytest.importorskip("fsspec")
    url = f"memory://evio-{uuid.uuid4().hex[:8]}/rec.h5"
    evio.write(url, random_events(100))
    with pytest.raises(ValueError, match=f"^{url}: to_dask reads zarr stores at URLs"):
        to_dask(url)


_COUNT_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import dask, dask.dataframe, pandas
    import evio
    from evio._dask import to_dask

    path, W, H, partition_events = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

    def peak_rss_kib():
        # VmHWM: the peak of this program alone; ru_maxrss also counts the parent's memory at the
        # fork, which Linux carries over the exec (pytest's own size, here)
        try:
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def counts_of(part):
        return np.bincount(part["y"].to_numpy(np.int64) * W + part["x"].to_numpy(np.int64), minlength=W * H)

    def pixel_counts(df):
        # per-pixel counts of each partition, summed pairwise: a few W x H arrays at a time
        parts = [dask.delayed(counts_of)(p) for p in df.to_delayed()]
        while len(parts) > 1:
            parts = [dask.delayed(np.add)(*parts[k:k + 2]) if k + 1 < len(parts) else parts[k]
                     for k in range(0, len(parts), 2)]
        return parts[0]

    df = to_dask(path, partition_events=partition_events)
    # warm-up on one partition: loads the libraries (HDF5, zarr codecs, evio's kernels, dask's scheduler)
    pixel_counts(df.partitions[0]).compute(scheduler="threads", num_workers=2)
    base = peak_rss_kib()
    counts = pixel_counts(df).compute(scheduler="threads", num_workers=2)
    peak = peak_rss_kib()
    np.save(sys.argv[5], np.asarray(counts, dtype=np.int64))
    print(json.dumps({"base_kib": base, "peak_kib": peak, "partitions": df.npartitions}))
""")


def _write_store(path, n, chunk=1_000_000):
    """``n`` events written chunk by chunk (never all in memory); returns their per-pixel counts."""
    counts = np.zeros(SENSOR[0] * SENSOR[1], np.int64)
    t0 = 1_000_000
    with evio.open(path, "w", sensor_size=SENSOR) as writer:
        for k, a in enumerate(range(0, n, chunk)):
            ev = random_events(min(chunk, n - a), seed=k, sensor=SENSOR, t0=t0, rate_us=0.05)
            t0 = int(ev["t"][-1]) + 1
            writer.write(ev)
            counts += pixel_counts(ev)
    return counts


def _check_counts_and_memory(tmp_path, n, partition_events, chunks_reference):
    path = tmp_path / "big.zarr"
    _write_store(path, n)
    out = tmp_path / "counts.npy"
    run = subprocess.run([sys.executable, "-c", _COUNT_SCRIPT, str(path), str(SENSOR[0]), str(SENSOR[1]),
                          str(partition_events), str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    if chunks_reference:
        with evio.open(path) as reader:
            expected = sum(pixel_counts(c) for c in reader.chunks(4_000_000))
    else:
        expected = pixel_counts(evio.read(path))
    assert np.array_equal(np.load(out), expected)
    in_memory = n * evio.EVENT_DTYPE.itemsize
    grown = (report["peak_kib"] - report["base_kib"]) * 1024
    assert grown < in_memory, report
    return report, in_memory


def test_pixel_counts_of_5m_events_in_bounded_memory(tmp_path):
    """5 M events (65 MB in memory): the computation grows the process by well under that."""
    _check_counts_and_memory(tmp_path, 5_000_000, 250_000, chunks_reference=False)


def test_pixel_counts_of_50m_events_below_the_stores_size_in_memory(tmp_path):
    """50 M events (650 MB in memory): the whole process, libraries included, peaks below that
    (about 25 s on two cores)."""
    report, in_memory = _check_counts_and_memory(tmp_path, 50_000_000, 1 << 20, chunks_reference=True)
    assert report["peak_kib"] * 1024 < in_memory, report
