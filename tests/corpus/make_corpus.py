"""Regenerate the hostile-input corpus of the camera-format readers (``tests/corpus/*``).

Each file is small (< 8 KiB) and named ``<format>--<case>.<suffix>``; ``expected.json`` records what
evio makes of it (an event count, or the start of the ``FormatError`` message). Run from the repository
root: ``python tests/corpus/make_corpus.py``; review the diff of ``expected.json`` before committing.
A file found by a fuzzer that once crashed belongs here too, under a name that says what it does.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import evio  # noqa: E402

SEED_EVENTS = 40


def _real_events(width: int, height: int, n: int = SEED_EVENTS) -> np.ndarray:
    """The first ``n`` events of the real EVT3 fixture that fit the sensor, times rebased to 0."""
    ev = np.load(HERE.parents[1] / "fixtures" / "evt3_sample.npy")
    ev = evio.as_events(ev[(ev["x"] < width) & (ev["y"] < height)][:n]).copy()
    ev["t"] -= ev["t"].min()
    return ev


def _written(fmt: str, suffix: str, events: np.ndarray, tmp: Path, **options) -> bytes:
    path = tmp / f"seed{suffix}"
    evio.write(path, events, format=fmt, **options)
    data = path.read_bytes()
    path.unlink()
    return data


def _header_end(data: bytes, marker: bytes) -> int:
    return data.index(marker) + len(marker)


def _flips(data: bytes, start: int, count: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = bytearray(data)
    for pos in rng.integers(start, len(buf), count):
        buf[int(pos)] ^= int(rng.integers(1, 256))
    return bytes(buf)


def _aedat3_packet(etype: int, size: int, capacity: int, number: int, valid: int, body: bytes) -> bytes:
    return struct.pack("<hhiiiiii", etype, 1, size, 4, 0, capacity, number, valid) + body


def cases(tmp: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    ev128 = _real_events(128, 128)
    ev346 = _real_events(346, 260)
    ev_hd = _real_events(1280, 720)

    a2 = _written("aedat2", ".aedat", ev128, tmp)
    body = _header_end(a2, b"#End Of ASCII Header\r\n")
    out["aedat2--valid.aedat"] = a2
    out["aedat2--cut-in-header.aedat"] = a2[: body // 2]
    out["aedat2--cut-mid-event.aedat"] = a2[: body + 8 * 7 + 3]
    out["aedat2--flipped-body.aedat"] = _flips(a2, body, 12, 1)
    out["aedat2--header-never-ends.aedat"] = b"#!AER-DAT2.0\r\n" + b"# x\r\n" * 600
    out["aedat2--davis346-flipped.aedat"] = _flips(_written("aedat2", ".aedat", ev346, tmp, chip="davis346"),
                                                   200, 20, 2)

    a3 = _written("aedat3", ".aedat", ev128, tmp)
    body = _header_end(a3, b"#!END-HEADER\r\n")
    head = a3[:body]
    out["aedat3--valid.aedat"] = a3
    out["aedat3--cut-in-packet-header.aedat"] = a3[: body + 13]
    out["aedat3--cut-mid-event.aedat"] = a3[: body + 28 + 8 * 5 + 2]
    out["aedat3--flipped-packet-header.aedat"] = _flips(a3, body, 6, 3)[: body + 28 + 8 * SEED_EVENTS]
    out["aedat3--capacity-2-31.aedat"] = head + _aedat3_packet(1, 8, 2**31 - 1, 2**31 - 1, 2**31 - 1, bytes(64))
    out["aedat3--event-size-0.aedat"] = head + _aedat3_packet(1, 0, 5, 5, 5, bytes(40))
    out["aedat3--event-size-negative.aedat"] = head + _aedat3_packet(1, -8, 4, 4, 4, bytes(32))
    out["aedat3--number-over-capacity.aedat"] = head + _aedat3_packet(1, 8, 1, 9, 9, bytes(8))
    out["aedat3--unknown-type-skipped.aedat"] = head + _aedat3_packet(77, 8, 3, 3, 3, bytes(24)) + a3[body:]

    a4 = _written("aedat4", ".aedat4", ev346, tmp, sensor_size=(346, 260))
    first = 18 + struct.unpack_from("<I", a4, 14)[0]
    out["aedat4--valid.aedat4"] = a4
    out["aedat4--cut-in-ioheader.aedat4"] = a4[: first - 5]
    out["aedat4--cut-in-packet.aedat4"] = a4[: first + 20]
    for name, offset, value in (("ioheader-size-2-31", 14, 2**31 - 1), ("packet-size-2-31", first + 4, 2**31 - 1),
                                ("packet-size-negative", first + 4, -16), ("stream-id-unknown", first, 9999)):
        buf = bytearray(a4)
        struct.pack_into("<i", buf, offset, value)
        out[f"aedat4--{name}.aedat4"] = bytes(buf)
    out["aedat4--flipped-packet.aedat4"] = _flips(a4, first, 10, 4)

    for version in ("evt2", "evt3"):
        raw = _written("prophesee-raw", ".raw", ev_hd, tmp, encoding=version, sensor_size=(1280, 720))
        body = _header_end(raw, b"% end\n")
        out[f"{version}--valid.raw"] = raw
        out[f"{version}--cut-in-header.raw"] = raw[: body // 2]
        out[f"{version}--odd-byte-count.raw"] = raw[:-1]
        out[f"{version}--flipped-words.raw"] = _flips(raw, body, 24, 5)
        out[f"{version}--geometry-too-large.raw"] = raw.replace(b"width=1280", b"width=99999").replace(
            b"1280x720", b"99999x720")
    out["evt3--vector-without-base.raw"] = b"% evt 3.0\n% format EVT3;height=720;width=1280\n% end\n" + \
        np.array([0x4FFF, 0x5FFF, 0x4FFF], "<u2").tobytes()
    out["evt3--time-low-only.raw"] = b"% evt 3.0\n% end\n" + np.full(64, 0x6FFF, "<u2").tobytes()
    out["evt21--stream.raw"] = b"% evt 2.1\n% format EVT21;height=720;width=1280\n% end\n" + np.array(
        [0x8000_0000_0000_0001, 0x1080_0040_FFFF_FFFF, 0x0000_0000_0000_0000], "<u8").tobytes()
    out["evt21--truncated-word.raw"] = out["evt21--stream.raw"][:-3]

    dat = _written("prophesee-dat", ".dat", _real_events(304, 240), tmp, sensor_size=(304, 240))
    body = len(dat) - 8 * SEED_EVENTS
    out["dat--valid.dat"] = dat
    out["dat--trailing-partial-record.dat"] = dat[:-3]
    out["dat--event-size-7.dat"] = dat[: body - 2] + b"\x0c\x07" + dat[body:]
    out["dat--flipped-records.dat"] = _flips(dat, body, 16, 6)
    out["dat--height-70000.dat"] = dat.replace(b"% Height 240", b"% Height 70000")

    nm = _written("nmnist", ".bin", _real_events(34, 34), tmp)
    out["nmnist--valid.bin"] = nm
    out["nmnist--length-not-multiple-of-5.bin"] = nm[:-2]
    out["nmnist--flipped.bin"] = _flips(nm, 0, 12, 7)
    out["nmnist--overflow-markers-only.bin"] = bytes([0, 240, 0, 0, 0]) * 30
    return out


def outcome(path: Path, fmt: str) -> dict:
    """What evio makes of ``path`` read as ``fmt`` in chunks of 7 events: a count, or an error message."""
    try:
        with evio.open(path, format=fmt) as reader:
            n = sum(len(chunk) for chunk in reader.chunks(7))
        return {"events": n}
    except evio.FormatError as exc:
        return {"error": str(exc).split(":", 1)[-1].strip()[:60]}


FORMAT_OF_PREFIX = {"aedat2": "aedat2", "aedat3": "aedat3", "aedat4": "aedat4", "evt2": "prophesee-raw",
                    "evt3": "prophesee-raw", "evt21": "prophesee-raw", "dat": "prophesee-dat", "nmnist": "nmnist"}


def main() -> None:
    for old in HERE.iterdir():
        if "--" in old.name:
            old.unlink()
    scratch = HERE / ".scratch"
    scratch.mkdir(exist_ok=True)
    try:
        made = cases(scratch)
    finally:
        for f in scratch.iterdir():
            f.unlink()
        scratch.rmdir()
    expected = {}
    for name, data in sorted(made.items()):
        assert len(data) < 8192, name
        path = HERE / name
        path.write_bytes(data)
        expected[name] = outcome(path, FORMAT_OF_PREFIX[name.split("--")[0]])
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"{len(made)} files, {sum(map(len, made.values()))} bytes")


if __name__ == "__main__":
    main()
