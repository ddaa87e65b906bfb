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

    def __init__(self, total: int | None, label: str, enabled: bool = True, unit: str = "events"):
        self.total, self.label, self.enabled, self.unit = total, label, enabled, unit
        self.start = time.monotonic()
        self.done = 0
        self.bar = None

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is None:
            if not self.enabled or time.monotonic() - self.start < PROGRESS_AFTER:
                return
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr,
                                         show_pos=True, item_show_func=lambda _: self.unit)
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
@click.argument("dst", type=click.Path())
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
    """Convert SRC into DST, streaming in bounded memory; DST appears only if all went well.

    Sample collections (I2E parquet shards, zarr sample stores) convert to each other: DST ending in
    .zarr is a sample store, .parquet one shard file, and an existing folder or a path ending in /
    (or any path with --to i2e-parquet) gets Hub-layout shards DST/<config>/<split>-0000k-of-0000n.parquet
    (-o config_name=... -o split=... -o rows_per_shard=...).
    """
    write_options = _parse_options(options)
    start = time.monotonic()
    with api.open(src, format=src_format) as reader:
        total = reader.count
        kind = getattr(reader, "kind", "events")
        meta = dict(reader.meta)
    if kind == "samples":
        _, targets = api.sample_targets(dst, dst_format, split=write_options.get("split") or meta.get("split"),
                                        config_name=write_options.get("config_name") or meta.get("config"))
    else:
        targets = [Path(dst)]
    clash = [str(t) for t in targets if t.exists()]
    if clash and not force:
        raise FileExistsError(17, "destination exists (use --force to overwrite)", ", ".join(clash))
    unit = "samples" if kind == "samples" else "events"
    progress = _Progress(total, f"{src.name} -> {Path(dst).name}", enabled=not quiet, unit=unit)
    try:
        api.convert(src, dst, src_format=src_format, dst_format=dst_format, chunk_size=chunk_size,
                    sensor_size=tuple(sensor_size) if sensor_size else None, progress=progress,
                    **write_options)
    finally:
        progress.close()
    if not quiet:
        seconds = time.monotonic() - start
        if kind == "samples":
            rate = progress.done / seconds if seconds > 0 else float("inf")
            click.echo(f"{src} -> {dst}: {progress.done:,} samples in {seconds:.2f} s ({rate:,.0f} samples/s)")
        else:
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
    if data.get("kind") == "samples":
        _print_rows(_sample_rows(data))
        return
    if data.get("kind") == "folder":
        _print_rows(_folder_rows(data))
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
    rows += _representation_rows(data.get("representations"))
    shown = {"path", "format", "version", "sensor_size", "sensor_size_inferred", "event_count", "t_min", "t_max",
             "duration", "time_unit", "on_count", "on_ratio", "sorted_by_t", "time_index", "size_bytes", "meta",
             "representations"}
    rows += [(k, json.dumps(v)) for k, v in data.items() if k not in shown]
    rows += [(f"meta.{k}", json.dumps(v) if not isinstance(v, str) else v) for k, v in data["meta"].items()]
    _print_rows(rows)


def _representation_rows(rep: dict | None) -> list[tuple[str, str]]:
    """Sizes of the dense, packed and sparse forms (the I2E paper's comparison)."""
    if not rep:
        return []
    est = " (estimated)" if rep.get("sparse_estimated") else ""
    return [
        ("dense bool", f"{rep['dense_bool']:,} B"),
        ("packed npy", f"{rep['packed_npy']:,} B"),
        ("sparse uint8", f"{rep['sparse_uint8']:,} B{est}"),
    ]


def _print_rows(rows) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


def _folder_rows(data: dict) -> list[tuple[str, str]]:
    """Table rows of ``evio info`` for a folder of files."""
    formats = ", ".join(f"{n} {name}" for name, n in sorted(data["formats"].items())) or "-"
    rows = [
        ("path", data["path"]),
        ("files", f"{data['files']:,} ({formats})"),
        ("samples", f"{data['sample_count']:,}"),
        ("events", f"{data['event_count']:,}"),
        ("size on disk", f"{data['size_bytes']:,} B"),
    ]
    rows += _representation_rows(data.get("representations"))
    if data["skipped"]:
        rows.append(("skipped", f"{data['skipped']:,} unreadable"))
        rows += [("", example) for example in data["skipped_examples"]]
    return rows


def _sample_rows(data: dict) -> list[tuple[str, str]]:
    """Table rows of ``evio info`` for a sample collection."""
    shape = "-" if data["T"] is None else f"T={data['T']}, C={data['C']}, H={data['H']}, W={data['W']}"
    rate = "-"
    if data["event_rate"] is not None:
        rate = f"{100 * data['event_rate']:.2f}% ({data['event_count']:,} events"
        rate += f" in the first {data['event_rate_samples']:,} samples)" if "event_rate_note" in data else ")"
    rows = [
        ("path", data["path"]),
        ("format", data["format"] + (f" ({data['version']})" if data["version"] else "")),
        ("config", data["config"] or "-"),
        ("split", data["split"] or "-"),
        ("samples", f"{data['sample_count']:,}"),
        ("classes", "-" if data.get("classes") is None else f"{data['classes']:,}"),
        ("sample shape", shape + (" (channel 0 = ON)" if data.get("channels") == "on_off" else "")),
        ("event rate", rate),
    ]
    rows += _representation_rows(data.get("representations"))
    rows.append(("size on disk", f"{data['size_bytes']:,} B"))
    rows += [(f"meta.{k}", json.dumps(v) if not isinstance(v, str) else v) for k, v in data["meta"].items()
             if k != "class_names"]
    if "event_rate_note" in data:
        rows.append(("note", data["event_rate_note"]))
    return rows


@main.command(name="formats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
def formats_command(as_json):
    """List the formats evio reads and writes."""
    data = api.formats()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    width = max([len("format")] + [len(f["name"]) for f in data])
    click.echo(f"{'format':<{width}} {'read':<5} {'write':<6} {'suffixes':<14} description")
    for f in data:
        click.echo(f"{f['name']:<{width}} {'yes' if f['read'] else '-':<5} {'yes' if f['write'] else '-':<6} "
                   f"{' '.join(f['suffixes']):<14} {f['description']}")


from .cli_datasets import dataset as _dataset_group  # noqa: E402
from .cli_render import render as _render_command  # noqa: E402

main.add_command(_dataset_group)
main.add_command(_render_command)
from .cli_i2e import i2e_command as _i2e_command  # noqa: E402

main.add_command(_i2e_command)


if __name__ == "__main__":
    main()
