"""Sources and destinations given as fsspec URLs (``s3://bucket/key``, ``memory://``, ``file://``).

A zarr event store is read in place, chunk by chunk, through :class:`zarr.storage.FsspecStore`;
any other file or folder is downloaded to a temporary folder, read there and removed on close.
Writes go to a local temporary folder first and are uploaded on success: a single file in one put,
a folder under a temporary prefix that is then copied into place, ``zarr.json`` files last.
Credentials come from ``storage_options`` or fsspec's usual sources (environment, profile files);
every URL in a message passes through :func:`redact` first.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import uuid
import weakref
from pathlib import Path

from ._atomic import _HOST

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")  # two letters at least: C://x is a Windows path
_ANY_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_QUERY_VALUE_RE = re.compile(r"([?&][^=&#]+)=[^&#]*")
CLOUD_HINT = "pip install 'evio-toolkit[cloud]'"


def is_url(path) -> bool:
    """Whether ``path`` is a URL string (``scheme://...``); ``Path`` objects and plain paths are not."""
    return isinstance(path, str) and bool(_URL_RE.match(path))


def local_path(path):
    """``path`` itself, or the local :class:`Path` of a ``file://`` URL; other URLs unchanged."""
    if is_url(path) and path.lower().startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(path).path))
    return path


def is_remote(path) -> bool:
    """A URL that is not ``file://``."""
    return is_url(path) and not path.lower().startswith("file://")


def redact(text, *urls: str) -> str:
    """``text`` with the user, password and query values of every URL in it replaced by ``***``, and
    those of ``urls`` wherever they appear (libraries quote parts of a URL in their messages)."""
    text = str(text)
    for url in urls:
        for secret in _secrets(url):
            text = text.replace(secret, "***")

    def clean(match: re.Match) -> str:
        url = match.group(0)
        scheme, rest = url.split("://", 1)
        host, sep, tail = rest.partition("/")
        if "@" in host:
            host = "***@" + host.rsplit("@", 1)[1]
        return f"{scheme}://{host}{sep}{_QUERY_VALUE_RE.sub(lambda m: m.group(1) + '=***', tail)}"

    return _ANY_URL_RE.sub(clean, text)


def _secrets(url: str) -> list[str]:
    """The user info and query values of ``url``, longest first."""
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0]
    found = [host.rsplit("@", 1)[0]] if "@" in host else []
    found += [v for v in re.findall(r"[?&][^=&#]+=([^&#]*)", rest) if v]
    return sorted(found, key=len, reverse=True)


def name_of(url: str) -> str:
    """The last component of a URL's path (``s3://b/data/rec.zarr/`` -> ``rec.zarr``)."""
    path = url.split("://", 1)[1].split("?", 1)[0].rstrip("/")
    return path.rsplit("/", 1)[-1] or "root"


def fsspec_module():
    """The ``fsspec`` package, or ImportError naming the extra."""
    try:
        import fsspec
    except ImportError:
        raise ImportError(f"URLs as sources and destinations need fsspec: {CLOUD_HINT}") from None
    return fsspec


def filesystem(url: str, storage_options: dict | None = None):
    """``(fs, path)``: the fsspec filesystem of ``url`` and the path inside it."""
    fsspec = fsspec_module()
    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except ImportError as exc:
        raise ImportError(f"{redact(url)}: {redact(exc, url)} ({CLOUD_HINT})") from None
    except ValueError as exc:
        raise ValueError(f"{redact(url)}: {redact(exc, url)}") from None


def remote_error(url: str, exc: BaseException) -> BaseException:
    """``exc`` as raised by fsspec for ``url``, with every URL redacted: FileNotFoundError and
    PermissionError keep their type, anything else becomes an OSError."""
    text = redact(f"{type(exc).__name__}: {exc}", url)
    if isinstance(exc, FileNotFoundError):
        return FileNotFoundError(errno.ENOENT, "no such file or folder", redact(url))
    if isinstance(exc, PermissionError):
        return PermissionError(errno.EACCES, f"access denied ({text})", redact(url))
    return OSError(f"{redact(url)}: {text}")


def naming_url(exc: Exception, local: Path, url: str) -> Exception:
    """``exc``, with the downloaded copy ``local`` of ``url`` named by the (redacted) URL instead."""
    from .errors import FormatError

    here, shown = str(local), redact(url)

    def swap(text):
        return None if text is None else str(text).replace(here, shown)

    if here not in str(exc) and here not in str(getattr(exc, "path", None) or ""):
        return exc
    if isinstance(exc, FormatError):
        return FormatError(swap(exc.reason), swap(exc.path), exc.offset)
    if isinstance(exc, OSError) and exc.errno is not None and exc.filename is not None:
        return type(exc)(exc.errno, exc.strerror, swap(os.fspath(exc.filename)))
    try:
        return type(exc)(swap(str(exc)))
    except Exception:
        return exc


def _info(fs, path: str) -> dict | None:
    try:
        return fs.info(path)
    except FileNotFoundError:
        return None


def exists(url: str, storage_options: dict | None = None) -> bool:
    fs, path = filesystem(url, storage_options)
    try:
        return _info(fs, path) is not None
    except Exception as exc:
        raise remote_error(url, exc) from None


def zarr_layout(url: str, storage_options: dict | None = None) -> str | None:
    """The ``evio_layout`` of the zarr store at ``url`` ("" for a zarr store evio did not write),
    or None when ``url`` holds no ``zarr.json``."""
    fs, path = filesystem(url, storage_options)
    try:
        raw = fs.cat_file(f"{path.rstrip('/')}/zarr.json")
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise remote_error(url, exc) from None
    try:
        attrs = json.loads(raw[: 1 << 20]).get("attributes") or {}
    except (ValueError, AttributeError):
        return ""
    layout = attrs.get("evio_layout") if isinstance(attrs, dict) else None
    return layout if isinstance(layout, str) else ""


def zarr_store(url: str, storage_options: dict | None = None, *, read_only: bool = True):
    """A :class:`zarr.storage.FsspecStore` on ``url`` (fetches chunks on demand)."""
    fsspec_module()
    from zarr.storage import FsspecStore

    try:
        return FsspecStore.from_url(url, storage_options=storage_options, read_only=read_only)
    except ImportError as exc:
        raise ImportError(f"{redact(url)}: {exc} ({CLOUD_HINT})") from None


class Download:
    """A local copy of the file or folder at ``url`` in a temporary folder, removed by :meth:`remove`
    (or when this object is garbage collected)."""

    def __init__(self, url: str, storage_options: dict | None = None):
        fs, path = filesystem(url, storage_options)
        try:
            info = _info(fs, path)
        except Exception as exc:
            raise remote_error(url, exc) from None
        if info is None:
            raise FileNotFoundError(errno.ENOENT, "no such file or folder", redact(url))
        self.folder = tempfile.mkdtemp(prefix="evio-download-")
        self._finalizer = weakref.finalize(self, _remove_folder, self.folder, os.getpid())
        self.path = Path(self.folder) / name_of(url)
        try:
            if info["type"] == "directory":
                fs.get(path.rstrip("/") + "/", str(self.path) + "/", recursive=True)
                self.path.mkdir(exist_ok=True)
            else:
                fs.get_file(path, str(self.path))
        except BaseException as exc:
            self.remove()
            if isinstance(exc, Exception):
                raise remote_error(url, exc) from None
            raise

    def remove(self) -> None:
        if self._finalizer is not None:
            self._finalizer()

    def __getstate__(self):
        return {"folder": self.folder, "path": self.path, "_finalizer": None}


def _remove_folder(folder: str, owner_pid: int) -> None:
    """Remove ``folder`` in the process that made it (not in a forked worker that inherited it)."""
    if os.getpid() == owner_pid:
        shutil.rmtree(folder, ignore_errors=True)


def check_destination(url: str, storage_options: dict | None = None) -> None:
    """Fail early when ``url`` must not be replaced: a folder (prefix) that is not a store evio wrote,
    or a bucket that does not exist."""
    fs, path = filesystem(url, storage_options)
    try:
        info = _info(fs, path)
        if info is None:
            root = path.strip("/").split("/", 1)[0]
            if "s3" in _protocols(fs) and not fs.exists(root):
                raise FileNotFoundError(errno.ENOENT, "destination bucket does not exist", redact(url))
            return
        if info["type"] == "directory" and not zarr_layout(url, storage_options):
            raise FileExistsError(errno.EEXIST, "destination is a folder that evio did not write; evio replaces "
                                  "only files and its own stores (remove it yourself, or choose another path)",
                                  redact(url))
    except OSError:
        raise
    except Exception as exc:
        raise remote_error(url, exc) from None


def _protocols(fs) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def upload(local: Path, url: str, storage_options: dict | None = None) -> None:
    """Put the finished file or folder ``local`` at ``url``.

    A file goes up in one put (an object appears only once complete). A folder goes under a hidden
    temporary prefix beside ``url`` and is then copied into place: other files first, ``zarr.json``
    files deepest first, the root ``zarr.json`` last, after the old one was removed, so no reader sees
    the old metadata over new chunks; old objects the new folder does not have are removed last. The
    temporary prefix is removed whatever happens.
    """
    fs, path = filesystem(url, storage_options)
    path = path.rstrip("/")
    try:
        if local.is_file():
            fs.put_file(str(local), path)
            return
        files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
        parent, _, name = path.rpartition("/")
        tmp = f"{parent}/.{name}.evio-tmp-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            if files:
                fs.put([str(local / rel) for rel in files], [f"{tmp}/{rel}" for rel in files])
            replace_tree(fs, tmp, path, files)
        finally:
            try:
                fs.rm(tmp, recursive=True)
            except Exception:
                pass
    except Exception as exc:
        raise remote_error(url, exc) from None


def replace_tree(fs, src: str, path: str, files: list[str]) -> None:
    """Copy the objects ``files`` (relative to the prefix ``src`` of ``fs``) to the prefix ``path`` of the
    same file system, replacing what is there as :func:`upload` does: other files first, ``zarr.json``
    files deepest first, the root ``zarr.json`` last (the old one removed first), old objects the new
    tree lacks removed last. ``src`` is left as it is."""
    data = [rel for rel in files if rel.rpartition("/")[2] != "zarr.json"]
    metadata = sorted(set(files) - set(data), key=lambda rel: (-rel.count("/"), rel))
    fs.invalidate_cache(path)
    info, old = _info(fs, path), set()
    if info is not None and info["type"] == "directory":
        old = {p[len(path) + 1:] for p in fs.find(path)}
        if "zarr.json" in old:
            fs.rm_file(f"{path}/zarr.json")
    if data:
        fs.copy([f"{src}/{rel}" for rel in data], [f"{path}/{rel}" for rel in data])
    for rel in metadata:  # deepest first, the root's last
        fs.copy(f"{src}/{rel}", f"{path}/{rel}")
    stale = sorted(old - set(files))
    if stale:
        fs.rm([f"{path}/{rel}" for rel in stale])


class RemoteWriter:
    """A writer of a local temporary output that is uploaded to ``url`` when it closes without error.
    Everything else (``write``, ``write_samples``, attributes) goes to the local writer."""

    def __init__(self, make_writer, url: str, storage_options: dict | None = None):
        check_destination(url, storage_options)
        self.url, self._storage_options = url, storage_options
        self._folder = tempfile.mkdtemp(prefix="evio-upload-")
        self._finalizer = weakref.finalize(self, _remove_folder, self._folder, os.getpid())
        self.local_path = Path(self._folder) / name_of(url)
        try:
            self._writer = make_writer(self.local_path)
        except BaseException:
            self._finalizer()
            raise
        self._closed = False

    @property
    def path(self) -> str:
        return redact(self.url)

    def __getattr__(self, name):
        return getattr(self.__dict__["_writer"], name)

    def close(self) -> None:
        """Finish the local output, upload it, remove the temporary folder."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
            upload(self.local_path, self.url, self._storage_options)
        finally:
            self._finalizer()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.abort()
        finally:
            self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def size(url: str, storage_options: dict | None = None) -> int:
    """Bytes of the object at ``url``, or of every object below it."""
    fs, path = filesystem(url, storage_options)
    try:
        return int(fs.du(path, total=True))
    except Exception as exc:
        raise remote_error(url, exc) from None
