"""Resumable conversion jobs: tasks -> parts on disk -> one output, on local processes or Dask.

A job splits its input into tasks (by file or by row range). Each task writes its *part* (a file, or
chunk files of a zarr store) into the job's working folder ``.<dst>.evio-job`` beside the
destination, and ``manifest.json`` there records the tasks done (each part's size and SHA-256)
with a fingerprint of the job's inputs and options. The caller assembles the parts in task order,
so the output is the same bytes whatever the engine and the order in which tasks finish.

A job that is killed or fails leaves its working folder; the same job run with ``resume=True``
(``--resume``) re-verifies the parts recorded, redoes what is missing or damaged, and finishes.
The working folder goes away once the output is in place.

Engines (``engine=``): an int N (N local processes; 1: in this process), ``"local"`` (a Dask
``LocalCluster`` of ``workers`` processes), a scheduler address ``"tcp://HOST:PORT"``, or a
``distributed.Client``. The engine only maps tasks; every engine gives the same output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from ._atomic import _pid_alive, sweep_stale, temp_sibling

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
#: Seconds between rewrites of the manifest while tasks complete (it is also written at the end and
#: on any failure); a task done but not yet recorded is redone on resume.
MANIFEST_EVERY = 0.5
_HOST = socket.gethostname()


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# -- engines ----------------------------------------------------------------------------------------

class Engine:
    """Maps ``fn(context, task)`` over tasks; :meth:`map` yields ``(index, result)`` as tasks finish."""

    #: The Dask dashboard's address, when there is one.
    dashboard_link: str | None = None
    workers: int = 1

    def map(self, fn: Callable, context, tasks: Sequence[tuple[int, object]]) -> Iterator[tuple[int, object]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ProcessEngine(Engine):
    """``workers`` local processes (1: this process, no pool); ``context`` is sent once per process."""

    def __init__(self, workers: int):
        if isinstance(workers, bool) or int(workers) < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self.workers = int(workers)

    def __repr__(self) -> str:
        return f"<ProcessEngine workers={self.workers}>"

    def map(self, fn, context, tasks):
        if self.workers == 1 or len(tasks) <= 1:
            for index, task in tasks:
                yield index, fn(context, task)
            return
        pool = ProcessPoolExecutor(min(self.workers, len(tasks)), initializer=_set_context, initargs=(context,))
        pending: dict = {}
        todo = iter(tasks)

        def submit() -> None:
            item = next(todo, None)
            if item is not None:
                pending[pool.submit(_call_with_context, fn, item[1])] = item[0]

        try:
            for _ in range(2 * self.workers):
                submit()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    result = future.result()
                    submit()
                    yield index, result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


_CONTEXT = None


def _set_context(context) -> None:
    global _CONTEXT
    _CONTEXT = context


def _call_with_context(fn, task):
    return fn(_CONTEXT, task)


class DaskEngine(Engine):
    """Tasks on a ``distributed.Client``; ``context`` is scattered once to every worker."""

    def __init__(self, client, *, owned: bool = False, cluster=None):
        self.client, self.owned, self.cluster = client, owned, cluster
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))
        try:
            self.dashboard_link = client.dashboard_link
        except Exception:  # noqa: BLE001  (no dashboard: bokeh missing, or disabled)
            self.dashboard_link = None

    def __repr__(self) -> str:
        return f"<DaskEngine {self.client.scheduler.address} workers={self.workers}>"

    def map(self, fn, context, tasks):
        distributed = dask_distributed()
        shared = self.client.scatter(context, broadcast=True, hash=False)
        futures = {self.client.submit(fn, shared, task, pure=False, priority=-index): index for index, task in tasks}
        try:
            for future in distributed.as_completed(futures):
                yield futures[future], future.result()
        finally:
            self.client.cancel(list(futures) + [shared])

    def close(self) -> None:
        if self.owned:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def dask_distributed():
    """The ``distributed`` module, or ImportError with the install hint."""
    try:
        import distributed
    except ImportError:
        raise ImportError("running on Dask needs dask.distributed: pip install 'evio-toolkit[dask]'") from None
    return distributed


@contextlib.contextmanager
def use_engine(engine=None, workers: int | None = None) -> Iterator[Engine]:
    """The :class:`Engine` that ``engine`` names, closed on exit if this opened it.

    ``engine``: None (``workers`` local processes, default all cores), an int (that many local
    processes; 1: this process), ``"local"`` or ``"dask"`` (a Dask ``LocalCluster`` of ``workers``
    single-threaded processes), ``"tcp://HOST:PORT"`` (a Dask scheduler), a ``distributed.Client``,
    or an :class:`Engine`.
    """
    if isinstance(engine, Engine):
        yield engine
        return
    if engine is None:
        engine = workers if workers is not None else default_workers()
    if isinstance(engine, int) and not isinstance(engine, bool):
        yield ProcessEngine(engine)
        return
    if isinstance(engine, str):
        distributed = dask_distributed()
        if engine in ("local", "dask"):
            n = int(workers) if workers is not None else default_workers()
            if n < 1:
                raise ValueError(f"workers must be >= 1, got {workers}")
            import dask

            # The workers' statistical profiler (a stack sample every 10 ms) competes with the tasks.
            with warnings.catch_warnings(), dask.config.set({"distributed.worker.profile.enabled": False}):
                warnings.simplefilter("ignore")
                cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                   host="127.0.0.1")
            opened = DaskEngine(distributed.Client(cluster), owned=True, cluster=cluster)
        elif "://" in engine:
            opened = DaskEngine(distributed.Client(engine), owned=True)
        else:
            raise ValueError(f"engine must be a number of workers, 'local' or a Dask scheduler address "
                             f"such as tcp://HOST:8786, got {engine!r}")
        try:
            yield opened
        finally:
            opened.close()
        return
    if type(engine).__name__ == "Client" and hasattr(engine, "submit"):
        yield DaskEngine(engine)
        return
    raise TypeError(f"engine must be an int, 'local', a scheduler address or a distributed.Client, got {engine!r}")


# -- jobs -------------------------------------------------------------------------------------------

def work_folder(dst: str | os.PathLike) -> Path:
    """The working folder of a job writing ``dst``: ``.<name>.evio-job`` beside it."""
    dst = Path(dst)
    return dst.with_name(f".{dst.name}.evio-job")


def file_digest(path: Path) -> list:
    """``[size in bytes, sha256 hex]`` of a file."""
    with open(path, "rb") as f:
        return [os.fstat(f.fileno()).st_size, hashlib.file_digest(f, "sha256").hexdigest()]


def inputs_digest(paths) -> str:
    """SHA-256 over the names, sizes and modification times of ``paths`` (files or folders' entries)."""
    digest = hashlib.sha256()
    for p in paths:
        st = os.stat(p)
        digest.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _run_task(job_context, item):
    """Worker side: ``fn(context, index, task, work)`` -> ``(files, result)``; returns the manifest record."""
    fn, work, context = job_context
    index, task = item
    work = Path(work)
    files, result = fn(context, index, task, work)
    record = {}
    for name in files:
        part = work / name
        inside = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
        record.update({p.relative_to(work).as_posix(): file_digest(p) for p in inside})
    return {"files": record, "result": result}


class Job:
    """The working folder and manifest of one job writing ``dst``.

    ``fingerprint`` (JSON-able) names the inputs and options: a leftover job with another one is
    never resumed. An unfinished job is resumed with ``resume=True``, started over with
    ``overwrite=True``, else refused. Use as a context manager: on success the working folder is
    removed; on failure it stays for a resume (unless no task was done).
    """

    def __init__(self, dst: str | os.PathLike, fingerprint: dict, *, resume: bool = False, overwrite: bool = False):
        self.dst = Path(dst)
        self.path = work_folder(self.dst)
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self.done: dict[int, dict] = {}
        self.tasks = None
        if self.path.exists():
            manifest = self._read_manifest()
            owner = manifest.get("owner") or {}
            pid = owner.get("pid")
            if owner.get("host") == _HOST and isinstance(pid, int) and pid > 0 and pid != os.getpid() \
                    and _pid_alive(pid):
                raise FileExistsError(17, f"another evio process ({pid}) is running this job; "
                                      "wait for it, or stop it and resume", str(self.path))
            if not resume:
                if not overwrite:
                    raise FileExistsError(17, f"an unfinished job left {self.path.name} beside the destination; "
                                          "pass resume=True to finish it, or pass overwrite=True to start over", str(self.dst))
                shutil.rmtree(self.path)
            elif manifest.get("fingerprint") != self.fingerprint:
                theirs = manifest.get("fingerprint") or {}
                differ = sorted(k for k in set(theirs) | set(self.fingerprint) if theirs.get(k) != self.fingerprint.get(k))
                raise ValueError(f"{self.path}: the unfinished job there had other inputs or options (differs in "
                                 f"{differ}); resume it with the same ones, or pass overwrite=True to start over")
            else:
                self.done = {int(k): v for k, v in (manifest.get("done") or {}).items()}
        if not self.path.exists():
            self.path.mkdir()
        #: Whether this run took over tasks that an earlier run did.
        self.resumed = bool(self.done)
        self._last_write = 0.0
        self._write_manifest()

    def _read_manifest(self) -> dict:
        try:
            with open(self.path / MANIFEST, "rb") as f:
                manifest = json.loads(f.read(1 << 30))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.path}: unreadable job manifest ({type(exc).__name__}: {exc}); "
                             "pass overwrite=True to start over") from None
        if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
            raise ValueError(f"{self.path}: not a job manifest of this evio version; pass overwrite=True to start over")
        return manifest

    def _write_manifest(self) -> None:
        doc = {"version": MANIFEST_VERSION, "fingerprint": self.fingerprint, "tasks": self.tasks,
               "owner": {"host": _HOST, "pid": os.getpid()},
               "done": {str(k): v for k, v in sorted(self.done.items())}}
        tmp = temp_sibling(self.path / MANIFEST)
        with open(tmp, "w") as f:
            json.dump(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path / MANIFEST)
        self._last_write = time.monotonic()

    @property
    def started(self) -> bool:
        """Whether a task is recorded as done (else the caller sets the working folder up afresh)."""
        return bool(self.done)

    def _verified(self, index: int) -> bool:
        record = self.done.get(index)
        if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
            return False
        for name, want in record["files"].items():
            part = self.path / name
            try:
                if part.stat().st_size != want[0] or file_digest(part) != want:
                    return False
            except OSError:
                return False
        return True

    def run(self, fn: Callable, context, tasks: Sequence, *, engine=None, workers: int | None = None,
            on_done: Callable[[int, object], None] | None = None) -> list:
        """Run ``fn(context, index, task, work_folder) -> (files written, relative to the working
        folder; a JSON-able result)`` for every task not done yet; return the results in task order.

        ``fn`` must be a module-level function; each part is written atomically (``zarr`` chunk
        files are; a file is written under a temporary name, then renamed). ``on_done(index,
        result)`` is called in this process for each task done, those of a resumed run first.
        """
        self.tasks = len(tasks)
        for folder in [self.path, *(p for p in self.path.iterdir() if p.is_dir())]:
            sweep_stale(folder)
        for index in sorted(self.done):
            if index >= len(tasks) or not self._verified(index):
                del self.done[index]
        results: list = [None] * len(tasks)
        for index, record in sorted(self.done.items()):
            results[index] = record.get("result")
            if on_done is not None:
                on_done(index, results[index])
        pending = [(i, (i, task)) for i, task in enumerate(tasks) if i not in self.done]
        self._write_manifest()
        try:
            with use_engine(engine, workers) as eng:
                for index, record in eng.map(_run_task, (fn, str(self.path), context), pending):
                    self.done[index] = record
                    results[index] = record["result"]
                    if time.monotonic() - self._last_write >= MANIFEST_EVERY:
                        self._write_manifest()
                    if on_done is not None:
                        on_done(index, results[index])
        finally:
            self._write_manifest()
        return results

    def __enter__(self) -> Job:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None or not self.done:
            shutil.rmtree(self.path, ignore_errors=True)
        elif self.tasks:
            warnings.warn(f"{len(self.done)} of {self.tasks} tasks done are kept in {self.path}; "
                          "run the same job again and pass resume=True to finish it", RuntimeWarning, stacklevel=2)


def write_part(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary name beside ``path``, then rename it to ``path``."""
    tmp = temp_sibling(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
