import threading
import time

import pytest

from evio._prefetch import prefetch


def test_yields_everything_in_order():
    assert list(prefetch(range(1000), depth=3)) == list(range(1000))
    assert list(prefetch([])) == []


def test_worker_error_reaches_the_consumer():
    def items():
        yield 1
        raise OSError("read failed")

    got = []
    with pytest.raises(OSError, match="read failed"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1]


def test_early_stop_ends_the_worker_and_closes_the_source():
    closed = threading.Event()

    def items():
        try:
            for i in range(10**9):
                yield i
        finally:
            closed.set()

    gen = prefetch(items(), depth=2)
    assert next(gen) == 0
    gen.close()
    assert closed.wait(2)
    time.sleep(0.05)
    assert not any(t.name == "evio-prefetch" for t in threading.enumerate())
