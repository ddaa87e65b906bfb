"""Run an iterator in a background thread, a bounded number of items ahead of its consumer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

_DONE = object()


def prefetch(items: Iterable, depth: int = 2) -> Iterator:
    """Yield from ``items`` while a worker thread produces up to ``depth`` items ahead.

    Memory stays bounded by ``depth + 2`` items. An exception in the worker is re-raised in the
    consumer; closing the generator early stops the worker.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    source = iter(items)

    def work() -> None:
        try:
            for item in source:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except BaseException as exc:  # handed to the consumer
            put((False, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="evio-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        worker.join()
