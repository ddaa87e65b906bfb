"""Resumable conversion jobs: tasks -> parts on disk -> one output, on local processes or Dask.

A job splits its input into tasks (by file or by row range). Each task writes its *part* (a file, or
chunk files of a zarr store) into the job's working folder ``.<dst>.evio-job`` beside the
destination, and ``manifest.json`` there records the tasks done (each part's size and SHA-256)
with a fingerprint of the job's inputs and options. The caller assembles the parts in task order,
so the output is the same bytes whatever the engine and the order in which tasks finish.

The destination may be a URL (``s3://bucket/out``): the working folder is then a prefix beside it
on the same file system; each task writes its files in a local scratch folder and uploads each
in one put, so workers on any machine write their parts there directly (:class:`Location`).

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
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from ._atomic import AtomicDestination, _pid_alive, sweep_stale, temp_sibling
from ._fs import filesystem, is_remote, local_path, name_of, redact, remote_error, replace_tree

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


# -- where a job keeps its parts --------------------------------------------------------------------

class Location:
    """A local folder, or a prefix of an fsspec file system (``s3://bucket/key``, ``memory://x``): the
    few operations a job needs, with plain ``os`` calls locally. Paths are relative, ``/``-separated."""

    def __init__(self, root: str | os.PathLike, storage_options: dict | None = None):
        root = local_path(root)
        self._fs, self._pid = None, os.getpid()
        if is_remote(root):
            self._fs, path = filesystem(root, storage_options)
            self.root = path.rstrip("/")
            self.url = root.rstrip("/")
            #: The file system's options, those from fsspec's configuration (``FSSPEC_*``) included:
            #: they travel with the tasks to the workers.
            self.storage_options = dict(self._fs.storage_options)
        else:
            self.root, self.url, self.storage_options = Path(root), None, None

    @property
    def local(self) -> bool:
        return self.url is None

    @property
    def fs(self):
        """The fsspec file system (None locally), made afresh in a new process (a forked worker)."""
        if self.url is not None and (self._fs is None or self._pid != os.getpid()):
            self._fs = filesystem(self.url, self.storage_options)[0]
            self._pid = os.getpid()
        return self._fs

    def __getstate__(self):
        return {**self.__dict__, "_fs": None}

    def __str__(self) -> str:
        return str(self.root) if self.local else redact(self.url)

    def full(self, rel: str = "") -> str:
        """The path of ``rel`` on the file system (a local path, or a path inside the bucket)."""
        if self.local:
            return str(self.root / rel) if rel else str(self.root)
        return f"{self.root}/{rel}" if rel else self.root

    def url_of(self, rel: str = ""):
        """``rel`` as callers name it: a local :class:`Path`, or a URL."""
        if self.local:
            return self.root / rel if rel else self.root
        return f"{self.url}/{rel}" if rel else self.url

    @contextlib.contextmanager
    def _errors(self, rel: str = ""):
        if self.local:
            yield
            return
        try:
            yield
        except Exception as exc:
            raise remote_error(self.url_of(rel), exc) from None

    def exists(self, rel: str = "") -> bool:
        if self.local:
            return os.path.lexists(self.full(rel))
        with self._errors(rel):
            self.fs.invalidate_cache(self.full(rel))
            return self.fs.exists(self.full(rel))

    def is_dir(self, rel: str = "") -> bool:
        if self.local:
            return os.path.isdir(self.full(rel))
        with self._errors(rel):
            return self.fs.isdir(self.full(rel))

    def read_bytes(self, rel: str, limit: int = 1 << 30) -> bytes:
        if self.local:
            with open(self.full(rel), "rb") as f:
                return f.read(limit)
        with self._errors(rel):
            return self.fs.cat_file(self.full(rel), start=0, end=limit)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write ``data`` atomically: locally under a temporary name then renamed, else in one put."""
        if not self.local:
            with self._errors(rel):
                self.fs.pipe_file(self.full(rel), data)
            return
        path = Path(self.full(rel))
        tmp = temp_sibling(path)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def put(self, local: Path, rel: str) -> None:
        """Move the finished local file ``local`` to ``rel``: a rename here, one put remotely."""
        if self.local:
            target = Path(self.full(rel))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(local, target)
            return
        with self._errors(rel):
            self.fs.put_file(str(local), self.full(rel))

    def digest(self, rel: str) -> list:
        """``[size in bytes, sha256 hex]`` of the file ``rel``."""
        if self.local:
            return file_digest(Path(self.full(rel)))
        with self._errors(rel), self.fs.open(self.full(rel), "rb", block_size=1 << 22) as f:
            digest, size = hashlib.sha256(), 0
            while block := f.read(1 << 22):
                digest.update(block)
                size += len(block)
        return [size, digest.hexdigest()]

    def files(self, rel: str = "") -> list[str]:
        """Every file under ``rel``, relative to it, sorted."""
        if self.local:
            top = Path(self.full(rel))
            return sorted(p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file())
        top = self.full(rel)
        with self._errors(rel):
            self.fs.invalidate_cache(top)
            return sorted(p[len(top) + 1:] for p in self.fs.find(top))

    def remove(self, rel: str = "") -> None:
        """Remove the file or folder ``rel`` (nothing when it is missing)."""
        if self.local:
            path = Path(self.full(rel))
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            return
        with self._errors(rel):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(self.full(rel), recursive=True)
            self.fs.invalidate_cache(self.full(rel))

    def zarr_store(self, rel: str):
        """A writable zarr store on the folder ``rel``."""
        if self.local:
            return self.full(rel)
        from zarr.storage import FsspecStore

        with self._errors(rel):
            return FsspecStore.from_url(self.url_of(rel), storage_options=self.storage_options, read_only=False)

    def scratch(self) -> Path:
        """A fresh local folder for one task's files: inside a local working folder, else in the
        system's temporary folder; those that killed processes of this host left there are removed."""
        parent = self.root if self.local else Path(tempfile.gettempdir())
        sweep_stale(parent)
        path = temp_sibling(parent / "evio-task")
        path.mkdir(parents=True)
        return path


# -- jobs -------------------------------------------------------------------------------------------

def work_folder(dst: str | os.PathLike):
    """The working folder of a job writing ``dst``: ``.<name>.evio-job`` beside it (a URL for a URL)."""
    dst = local_path(dst)
    if is_remote(dst):
        parent, _, name = dst.rstrip("/").rpartition("/")
        return f"{parent}/.{name}.evio-job"
    dst = Path(dst)
    return dst.with_name(f".{dst.name}.evio-job")


def file_digest(path: Path) -> list:
    """``[size in bytes, sha256 hex]`` of a file."""
    with open(path, "rb") as f:
        return [os.fstat(f.fileno()).st_size, hashlib.file_digest(f, "sha256").hexdigest()]


def inputs_digest(paths, storage_options: dict | None = None) -> str:
    """SHA-256 over the names, sizes and modification times (or ETags) of ``paths`` (files, folders or URLs)."""
    digest = hashlib.sha256()
    for p in paths:
        if is_remote(p):
            fs, inner = filesystem(p, storage_options)
            try:
                info = fs.info(inner)
            except Exception as exc:
                raise remote_error(p, exc) from None
            stamp = next((str(info[k]) for k in ("ETag", "LastModified", "mtime", "created") if info.get(k)), "")
            digest.update(f"{redact(p)}\0{info.get('size')}\0{stamp}\n".encode())
            continue
        p = local_path(p)
        st = os.stat(p)
        digest.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _run_task(job_context, item):
    """Worker side: ``fn(context, index, task, scratch)`` -> ``(files, result)`` in a local scratch
    folder holding the job's ``shared`` files; each file written is digested, then moved into the
    working folder (a rename, or one put); returns the manifest record."""
    fn, folder, context, shared = job_context
    index, task = item
    scratch = folder.scratch()
    try:
        for name, data in shared.items():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            (scratch / name).write_bytes(data)
        files, result = fn(context, index, task, scratch)
        record = {}
        for name in files:
            part = scratch / name
            inside = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for p in inside:
                rel = p.relative_to(scratch).as_posix()
                record[rel] = file_digest(p)
                folder.put(p, rel)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"files": record, "result": result}


class Job:
    """The working folder and manifest of one job writing ``dst`` (a path, or a URL: then the working
    folder is a prefix beside it on the same file system, which every worker writes its parts to).

    ``fingerprint`` (JSON-able) names the inputs and options: a leftover job with another one is
    never resumed. An unfinished job is resumed with ``resume=True``, started over with
    ``overwrite=True``, else refused. Use as a context manager: on success the working folder is
    removed; on failure it stays for a resume (unless no task was done).
    """

    def __init__(self, dst: str | os.PathLike, fingerprint: dict, *, resume: bool = False, overwrite: bool = False,
                 storage_options: dict | None = None):
        self.dst = local_path(dst) if is_remote(local_path(dst)) else Path(local_path(dst))
        self.folder = Location(work_folder(self.dst), storage_options)
        #: The working folder: a local :class:`Path`, or a URL.
        self.path = self.folder.url_of()
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self.done: dict[int, dict] = {}
        self.tasks = None
        if self.folder.exists():
            manifest = self._read_manifest()
            owner = manifest.get("owner") or {}
            pid = owner.get("pid")
            if owner.get("host") == _HOST and isinstance(pid, int) and pid > 0 and pid != os.getpid() \
                    and _pid_alive(pid):
                raise FileExistsError(17, f"another evio process ({pid}) is running this job; "
                                      "wait for it, or stop it and resume", str(self.folder))
            if not resume:
                if not overwrite:
                    raise FileExistsError(17, f"an unfinished job left {_name(self.path)} beside the destination; "
                                          "pass resume=True to finish it, or pass overwrite=True to start over",
                                          _shown(self.dst))
                self.folder.remove()
            elif manifest.get("fingerprint") != self.fingerprint:
                theirs = manifest.get("fingerprint") or {}
                differ = sorted(k for k in set(theirs) | set(self.fingerprint) if theirs.get(k) != self.fingerprint.get(k))
                raise ValueError(f"{self.folder}: the unfinished job there had other inputs or options (differs in "
                                 f"{differ}); resume it with the same ones, or pass overwrite=True to start over")
            else:
                self.done = {int(k): v for k, v in (manifest.get("done") or {}).items()}
        if self.folder.local and not self.path.exists():
            self.path.mkdir()
        #: Whether this run took over tasks that an earlier run did.
        self.resumed = bool(self.done)
        self._last_write = 0.0
        self._write_manifest()

    def _read_manifest(self) -> dict:
        try:
            manifest = json.loads(self.folder.read_bytes(MANIFEST))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.folder}: unreadable job manifest ({type(exc).__name__}: {redact(exc)}); "
                             "pass overwrite=True to start over") from None
        if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
            raise ValueError(f"{self.folder}: not a job manifest of this evio version; pass overwrite=True to start over")
        return manifest

    def _write_manifest(self) -> None:
        doc = {"version": MANIFEST_VERSION, "fingerprint": self.fingerprint, "tasks": self.tasks,
               "owner": {"host": _HOST, "pid": os.getpid()},
               "done": {str(k): v for k, v in sorted(self.done.items())}}
        self.folder.write_bytes(MANIFEST, json.dumps(doc).encode())
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
            try:
                if self.folder.digest(name) != want:
                    return False
            except OSError:
                return False
        return True

    def run(self, fn: Callable, context, tasks: Sequence, *, engine=None, workers: int | None = None,
            on_done: Callable[[int, object], None] | None = None,
            on_resumed: Callable[[int, object], None] | None = None, shared: Sequence[str] = ()) -> list:
        """Run ``fn(context, index, task, folder) -> (files written, relative to that folder; a
        JSON-able result)`` for every task not done yet; return the results in task order.

        ``fn`` must be a module-level function; it runs in a fresh local folder holding the files
        ``shared`` of the working folder (e.g. a zarr array's metadata), and writes its part there;
        each file is then moved into the working folder (a rename, or one put to object storage).
        ``on_done(index, result)`` is called in this process for each task done; for those of an
        earlier run (called first) ``on_resumed`` instead when given.
        """
        self.tasks = len(tasks)
        if self.folder.local:
            for folder in [self.path, *(p for p in self.path.iterdir() if p.is_dir())]:
                sweep_stale(folder)
        for index in sorted(self.done):
            if index >= len(tasks) or not self._verified(index):
                del self.done[index]
        results: list = [None] * len(tasks)
        for index, record in sorted(self.done.items()):
            results[index] = record.get("result")
            report = on_resumed or on_done
            if report is not None:
                report(index, results[index])
        pending = [(i, (i, task)) for i, task in enumerate(tasks) if i not in self.done]
        shared_files = {name: self.folder.read_bytes(name) for name in shared}
        self._write_manifest()
        try:
            with use_engine(engine, workers) as eng:
                for index, record in eng.map(_run_task, (fn, self.folder, context, shared_files), pending):
                    self.done[index] = record
                    results[index] = record["result"]
                    if time.monotonic() - self._last_write >= MANIFEST_EVERY:
                        self._write_manifest()
                    if on_done is not None:
                        on_done(index, results[index])
        finally:
            self._write_manifest()
        return results

    def place(self, rel: str, dst: str | os.PathLike) -> None:
        """Move the finished file or store ``rel`` of the working folder to ``dst`` (on the same file
        system), replacing a file or a store evio wrote there: locally by renames
        (:class:`~evio._atomic.AtomicDestination`), remotely by copies, a store's root ``zarr.json`` last."""
        if self.folder.local:
            dest = AtomicDestination(dst)
            dest.tmp = self.path / rel
            dest.commit()
            return
        fs, src = self.folder.fs, self.folder.full(rel)
        target = filesystem(dst, self.folder.storage_options)[1].rstrip("/")
        with self.folder._errors(rel):
            if fs.isdir(src):
                replace_tree(fs, src, target, self.folder.files(rel))
            else:
                fs.copy(src, target)
            fs.invalidate_cache(target)

    def __enter__(self) -> Job:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None or not self.done:
            with contextlib.suppress(OSError):
                self.folder.remove()
        elif self.tasks:
            warnings.warn(f"{len(self.done)} of {self.tasks} tasks done are kept in {self.folder}; "
                          "run the same job again and pass resume=True to finish it", RuntimeWarning, stacklevel=2)


def _name(path) -> str:
    return path.name if isinstance(path, Path) else name_of(path)


def _shown(path) -> str:
    return str(path) if isinstance(path, Path) else redact(path)


def write_part(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary name beside ``path`` (its folder created if missing), then
    rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
