"""The ``evio`` command line: convert, info, formats."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from . import api
from .errors import FormatError

#: Seconds a conversion runs before a progress bar appears.
PROGRESS_AFTER = 1.0


class _Progress:
    """A progress bar on stderr that appears only once the work has taken over ``PROGRESS_AFTER`` s."""

    def __init__(self, total: int | None, label: str, enabled: bool = True):
        self.total, self.label, self.enabled = total, label, enabled
        self.start = time.monotonic()
        self.done = 0
        self.bar = None

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is None:
            if not self.enabled or time.monotonic() - self.start < PROGRESS_AFTER:
                return
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr,
                                         show_pos=True, item_show_func=lambda _: "events")
            self.bar.__enter__()
            self.bar.update(self.done)
        else:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


class _Group(click.Group):
    """Turns expected failures into one line on stderr and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (FormatError, OSError, ValueError, ImportError) as exc:
            click.echo(f"evio: error: {_one_line(exc)}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("evio: interrupted", err=True)
            ctx.exit(130)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _parse_options(pairs: tuple[str, ...]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="-o/--option")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except ValueError:
            options[key.replace("-", "_")] = value
    return options


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="evio-toolkit", prog_name="evio")
def main():
    """Convert and inspect event-camera recordings (see `evio formats` for what is supported)."""


@main.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("--from", "src_format", metavar="FORMAT", help="Source format (default: from suffix and content).")
@click.option("--to", "--format", "dst_format", metavar="FORMAT", help="Destination format (default: from suffix).")
@click.option("--sensor-size", nargs=2, type=int, metavar="W H", help="Override the sensor size in pixels.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=1 << 20, show_default=True,
              help="Events per chunk streamed through memory.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Writer option, e.g. -o compression=gzip (repeatable).")
@click.option("-f", "--force", is_flag=True, help="Overwrite DST if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary.")
def convert(src, dst, src_format, dst_format, sensor_size, chunk_size, options, force, quiet):
    """Convert SRC into DST, streaming in bounded memory; DST appears only if all went well."""
    if dst.exists() and not force:
        raise FileExistsError(17, "destination exists (use --force to overwrite)", str(dst))
    start = time.monotonic()
    with api.open(src, format=src_format) as reader:
        total = reader.count
    progress = _Progress(total, f"{src.name} -> {dst.name}", enabled=not quiet)
    try:
        api.convert(src, dst, src_format=src_format, dst_format=dst_format, chunk_size=chunk_size,
                    sensor_size=tuple(sensor_size) if sensor_size else None, progress=progress,
                    **_parse_options(options))
    finally:
        progress.close()
    if not quiet:
        seconds = time.monotonic() - start
        rate = progress.done / seconds / 1e6 if seconds > 0 else float("inf")
        click.echo(f"{src} -> {dst}: {progress.done:,} events in {seconds:.2f} s ({rate:.1f} M events/s)")


def _fmt_t(value, unit):
    return "-" if value is None else f"{value:,} {unit}"


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--from", "format", metavar="FORMAT", help="Format (default: from suffix and content).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
def info(path, format, as_json):
    """Show format, sensor size, event count, time range and ON ratio of PATH."""
    data = api.info(path, format=format)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    unit = "µs" if data["time_unit"] == "us" else data["time_unit"]
    size = data["sensor_size"]
    size_text = f"{size[0]} x {size[1]}" if size else "unknown"
    if not size and data.get("sensor_size_inferred"):
        w, h = data["sensor_size_inferred"]
        size_text += f" (events span {w} x {h})"
    rows = [
        ("path", data["path"]),
        ("format", data["format"] + (f" ({data['version']})" if data["version"] else "")),
        ("sensor size", size_text + (" (W x H)" if size else "")),
        ("events", f"{data['event_count']:,}"),
        ("t range", "-" if data["t_min"] is None else f"{data['t_min']:,} .. {data['t_max']:,} {unit}"),
        ("duration", _fmt_t(data["duration"], unit)),
        ("ON ratio", "-" if data["on_ratio"] is None else f"{data['on_ratio']:.4f} ({data['on_count']:,} ON)"),
        ("sorted by t", "yes" if data["sorted_by_t"] else "no"),
        ("time index", "yes" if data["time_index"] else "no"),
        ("size on disk", f"{data['size_bytes']:,} B"),
    ]
    rows += [(f"meta.{k}", json.dumps(v) if not isinstance(v, str) else v) for k, v in data["meta"].items()]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


@main.command(name="formats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
def formats_command(as_json):
    """List the formats evio reads and writes."""
    data = api.formats()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{'format':<8} {'read':<5} {'write':<6} {'suffixes':<14} description")
    for f in data:
        click.echo(f"{f['name']:<8} {'yes' if f['read'] else '-':<5} {'yes' if f['write'] else '-':<6} "
                   f"{' '.join(f['suffixes']):<14} {f['description']}")


if __name__ == "__main__":
    main()
