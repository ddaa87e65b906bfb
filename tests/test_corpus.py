"""The hostile-input corpus in ``tests/corpus``: each file decodes to what ``expected.json`` records.

Every camera-format reader meets truncations, flipped bytes and lying length fields (a packet claiming
2^31 events, a width of 99999). Each ends in events or a ``FormatError`` naming the file, never a crash,
and no read allocates more than the file justifies. Regenerate with ``tests/corpus/make_corpus.py``.
"""

import json
import tracemalloc
from pathlib import Path

import pytest

import evio

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
FORMAT_OF_PREFIX = {"aedat2": "aedat2", "aedat3": "aedat3", "aedat4": "aedat4", "evt2": "prophesee-raw",
                    "evt3": "prophesee-raw", "evt21": "prophesee-raw", "dat": "prophesee-dat", "nmnist": "nmnist"}
#: Peak bytes any read of a corpus file (< 8 KiB) may allocate through NumPy / Python.
ALLOCATION_LIMIT = 48 << 20


def _outcome(path: Path, fmt: str | None, chunk: int) -> dict:
    try:
        with evio.open(path, format=fmt) as reader:
            n = sum(len(c) for c in reader.chunks(chunk))
        return {"events": n}
    except evio.FormatError as exc:
        assert exc.path == str(path)
        assert exc.offset is None or 0 <= exc.offset <= path.stat().st_size
        return {"error": str(exc).split(":", 1)[-1].strip()[:60]}


def _skip_without_codec(name: str) -> None:
    if name.startswith("aedat4--"):
        pytest.importorskip("lz4")     # the optional codec of AEDAT 4 packets


def test_corpus_is_complete():
    files = sorted(p.name for p in CORPUS.iterdir() if "--" in p.name)
    assert files == sorted(EXPECTED)
    assert {name.split("--")[0] for name in files} == set(FORMAT_OF_PREFIX)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name):
    _skip_without_codec(name)
    path = CORPUS / name
    fmt = FORMAT_OF_PREFIX[name.split("--")[0]]
    tracemalloc.start()
    try:
        got = _outcome(path, fmt, 7)
        whole = _outcome(path, fmt, 1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == EXPECTED[name]
    assert whole == got
    assert peak < ALLOCATION_LIMIT, f"{name}: {peak} bytes allocated for a {path.stat().st_size}-byte file"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_without_format_hint(name):
    """Sniffing never turns a hostile file into a crash either."""
    _skip_without_codec(name)
    path = CORPUS / name
    try:
        with evio.open(path) as reader:
            for _ in reader.chunks(1000):
                pass
    except evio.FormatError as exc:
        assert exc.path == str(path)
