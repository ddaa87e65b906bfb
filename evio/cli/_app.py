"""The ``evio`` group: one-line errors, exit statuses, signals, warnings, and the progress bar."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
import warnings
from pathlib import Path

import click

#: Exit statuses: 1 for a failure, 2 for a usage error (bad flag or argument), 128 + signal number
#: when interrupted (SIGINT, Ctrl-C) or terminated (SIGTERM: ``timeout``, ``docker stop``, SLURM).
EXIT_ERROR, EXIT_USAGE = 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM

#: Seconds a conversion runs before a progress bar appears.
PROGRESS_AFTER = 1.0

#: Python spellings in library messages -> the command line's (applied in order).
_CLI_SPELLINGS = tuple((re.compile(pattern), cli) for pattern, cli in (
    (r"pass format='([\w.-]+)', or --from \1 on the command line", r"pass --from \1"),
    (r"pass format=\.\.\. or --from FORMAT", "pass --from FORMAT"),
    (r"read it with format='([\w.-]+)'", r"read it with --from \1"),
    (r"\bformat='([\w.-]+)'", r"--to \1"),
    (r"\bor pass format=\.\.\.", "or pass --to FORMAT"),
    (r"\bchip='([\w-]+)'", r"-o chip=\1"),
    (r"\bsensor_size=\(W, H\)", "--sensor-size W H"),
    (r"read one with split=NAME", "convert one with -o split=NAME"),
    (r"\bpass overwrite=True\b", "use --force"),
    (r"\bpass resume=True\b", "use --resume"),
))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: every writer discards its
    temporary output."""


class Progress:
    """A progress bar on stderr that appears only once the work has taken over ``PROGRESS_AFTER`` s.

    ``rate``: show the throughput (``unit``/s since the start) beside the count and the ETA. Work an
    earlier run did (a resumed job) is reported with :meth:`resumed`: it counts as done but not in
    the throughput or the ETA."""

    def __init__(self, total: int | None, label: str, enabled: bool = True, unit: str = "events",
                 rate: bool = False):
        self.total, self.label, self.enabled, self.unit, self.rate = total, label, enabled, unit, rate
        self.start = time.monotonic()
        self.done = 0
        #: Of ``done``, what an earlier run did.
        self.earlier = 0
        self.bar = None

    def _per_second(self) -> float:
        return (self.done - self.earlier) / max(time.monotonic() - self.start, 1e-9)

    def _describe(self, _item) -> str:
        if not self.rate:
            return self.unit
        return f"{self._per_second():,.0f} {self.unit}/s"

    def resumed(self, n: int) -> None:
        """``n`` more done by an earlier run."""
        self.earlier += n
        self(n)

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is None:
            if not self.enabled or time.monotonic() - self.start < PROGRESS_AFTER:
                return
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr,
                                         show_pos=True, item_show_func=self._describe)
            self.bar.__enter__()
            self._time_this_run()
            self.bar.update(self.done)
        else:
            self._time_this_run()
            self.bar.update(n)

    def _time_this_run(self) -> None:
        """Make the bar's ETA (click: elapsed since its start / position) count this run's work only."""
        if self.earlier and self.done > self.earlier:
            seconds_each = (time.monotonic() - self.start) / (self.done - self.earlier)
            self.bar.start = time.time() - seconds_each * self.done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


class EvioGroup(click.Group):
    """Every failure is one line on stderr: ``evio: error: …`` and status 1, a usage error status 2,
    Ctrl-C ``evio: interrupted`` and 130, SIGTERM ``evio: terminated`` and 143; a closed pipe ends
    the command quietly; warnings print as ``evio: warning: …``."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            _silence_stdout()
            _fail(None, EXIT_ERROR)
        except Terminated:
            _fail("terminated", EXIT_TERMINATED)
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED)
        except (OSError, ValueError, ImportError) as exc:
            _fail(f"error: {one_line(exc)}", EXIT_ERROR)
        except Exception as exc:  # a bug: still one line, with the exception's type
            _fail(f"error: {type(exc).__name__}: {one_line(exc)}", EXIT_ERROR)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        status = EXIT_ERROR
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)   # see evio/__init__.py
        try:
            with _sigterm_raises(), _warnings_as_lines():
                try:
                    rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                    status = rv if isinstance(rv, int) else 0
                    sys.stdout.flush()
                except click.exceptions.NoArgsIsHelpError as exc:
                    exc.show()
                    status = exc.exit_code
                except click.UsageError as exc:
                    status = _print_line(f"error: {one_line_text(exc.format_message())}", EXIT_USAGE)
                except click.ClickException as exc:
                    status = _print_line(f"error: {one_line_text(exc.format_message())}", EXIT_ERROR)
                except _Failure as exc:
                    status = _print_line(*exc.args)
                except (click.Abort, KeyboardInterrupt) as exc:
                    if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):
                        status = _print_line("terminated", EXIT_TERMINATED)
                    else:
                        status = _print_line("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            _silence_stdout()
            status = EXIT_ERROR
        except Terminated:  # a SIGTERM while reporting
            status = EXIT_TERMINATED
        except KeyboardInterrupt:
            status = EXIT_INTERRUPTED
        # The command is over: what the interpreter's teardown warns about (e.g. a zarr coroutine that
        # an interrupt left unawaited) is nothing a user can act on.
        warnings.filterwarnings("ignore")
        sys.exit(status)


class _Failure(Exception):
    """``(line or None, status)`` of a failure inside a command, reported by :meth:`EvioGroup.main`."""


def _fail(line: str | None, status: int):
    raise _Failure(line, status)


def _print_line(line: str | None, status: int) -> int:
    if line is not None:
        try:
            click.echo(f"evio: {line}", err=True)
        except OSError:
            pass
    return status


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, in the command line's spelling."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return one_line_text(text)


def one_line_text(text: str) -> str:
    text = " ".join(text.split())
    for python, cli in _CLI_SPELLINGS:
        text = python.sub(cli, text)
    return text


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush of a closed pipe is quiet
    (as the Python documentation of SIGPIPE recommends)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM raises :class:`Terminated` in the main thread (once: a second one during the clean-up
    is ignored), so atomic writers discard their temporary output as on Ctrl-C."""
    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _warnings_as_lines():
    """evio's warnings print as one line ``evio: warning: …`` (no file name, no source line); other
    libraries' warnings (deprecation notices and the like, meant for developers) are not shown."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

    def show(message, category, filename, lineno, file=None, line=None):
        if not (category.__module__.startswith("evio") or str(filename).startswith(package_dir)):
            return
        try:
            click.echo(f"evio: warning: {one_line_text(str(message))}", err=True)
        except OSError:
            pass

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def parse_options(pairs: tuple[str, ...], reserved: dict[str, str] | None = None) -> dict:
    """``-o KEY=VALUE`` pairs -> keyword options (VALUE parsed as JSON where it is JSON).
    ``reserved``: keys that a flag sets instead (key -> flag), refused with a usage error."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="'-o'")
        key = key.replace("-", "_")
        if reserved and key in reserved:
            flag = reserved[key]
            raise click.BadParameter(f"{key} is not a writer option" + (f"; use {flag}" if flag else ""),
                                     param_hint="'-o'")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


class PathOrURL(click.ParamType):
    """A local path (a :class:`~pathlib.Path`; ``file://`` URLs too) or an fsspec URL (a string, e.g.
    ``s3://bucket/key``; the file system's options come from the environment). ``exists``: a local
    path must exist."""

    name = "path"

    def __init__(self, exists: bool = False):
        self.exists = exists

    def convert(self, value, param, ctx):
        from .. import _fs

        if isinstance(value, Path):
            return value
        value = _fs.local_path(str(value))
        if _fs.is_remote(value):
            return value
        return Path(click.Path(exists=self.exists).convert(str(value), param, ctx))


def shown(path) -> str:
    """A path or URL as a message names it (credentials in a URL redacted)."""
    from .. import _fs

    return _fs.redact(path) if isinstance(path, str) else str(path)


def name_of(path) -> str:
    """The last component of a path or URL."""
    from .. import _fs

    return _fs.name_of(path) if isinstance(path, str) else path.name


def refuse_existing(paths, what: str = "destination exists (use --force to overwrite)") -> None:
    """``FileExistsError`` naming those of ``paths`` (local paths or URLs) that exist (the commands'
    default without --force)."""
    from .. import _fs

    clash = [shown(p) for p in paths if (_fs.exists(p) if isinstance(p, str) else p.exists())]
    if clash:
        raise FileExistsError(17, what, ", ".join(clash))


@click.group(cls=EvioGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="evio-toolkit", prog_name="evio")
def main():
    """Convert and inspect event-camera recordings (see `evio formats` for what is supported).

    On failure every command prints one line, `evio: error: …`, and exits with status 1 (2 for a
    usage error: a bad flag or argument); Ctrl-C exits with 130 and SIGTERM with 143, leaving no
    partial output."""


def job_options(command):
    """``--workers``, ``--dask`` and ``--resume``: the options of the commands that run jobs (:mod:`evio.jobs`)."""
    from ..jobs import default_workers

    options = [
        click.option("--workers", type=click.IntRange(min=1), default=default_workers(), show_default="all cores",
                     help="Local worker processes (1: none); with --dask local, the cluster's workers."),
        click.option("--dask", "dask", metavar="local|tcp://HOST:PORT",
                     help="Run the tasks on Dask: a LocalCluster, or the scheduler at that address "
                          "(needs evio-toolkit[dask])."),
        click.option("--resume", is_flag=True,
                     help="Finish the unfinished job that a killed or failed run of this command left."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextlib.contextmanager
def cli_engine(workers: int, dask: str | None, quiet: bool = False):
    """The engine of ``--workers``/``--dask``; on Dask, its dashboard link is printed once (stderr)."""
    from ..jobs import use_engine

    with use_engine(dask if dask else workers, workers=workers) as engine:
        if engine.dashboard_link and not quiet:
            click.echo(f"evio: Dask dashboard: {engine.dashboard_link}", err=True)
        yield engine
