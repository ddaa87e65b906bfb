"""``evio info PATH``: what a file, store, sample collection, frame store or folder holds."""

from __future__ import annotations

import json

import click

from .. import api


def _fmt_t(value, unit):
    return "-" if value is None else f"{value:,} {unit}"


@click.command()
@click.argument("path", type=click.Path())  # a str: a URL (s3://…) keeps its //
@click.option("--from", "format", metavar="FORMAT", help="Format (default: from suffix and content).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
def info(path, format, as_json):
    """Show format, sensor size, event count, time range and ON ratio of PATH (for a sample
    collection, frame store or folder: what it holds)."""
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
    if data.get("kind") == "frames":
        _print_rows(_frame_rows(data))
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
    rows += _stream_rows(data)
    shown = {"path", "format", "version", "sensor_size", "sensor_size_inferred", "event_count", "t_min", "t_max",
             "duration", "time_unit", "on_count", "on_ratio", "sorted_by_t", "time_index", "size_bytes", "meta",
             "representations", "streams", "stream"}
    rows += [(k, json.dumps(v)) for k, v in data.items() if k not in shown]
    rows += [(f"meta.{k}", json.dumps(v) if not isinstance(v, str) else v) for k, v in data["meta"].items()]
    _print_rows(rows)


def _stream_rows(data: dict) -> list[tuple[str, str]]:
    """One row per stream of a multi-stream file (AEDAT 4): id, type, name, size, packets, bytes."""
    streams = data.get("streams")
    if not isinstance(streams, dict):
        return []
    rows = []
    for sid, s in streams.items():
        size = s.get("sensor_size")
        parts = [f"{s.get('type') or '?'} {s.get('name')!r}"]
        parts += [f"{size[0]} x {size[1]}"] if size else []
        parts += [f"{s.get('packets', 0):,} packets", f"{s.get('bytes', 0):,} B"]
        if data.get("stream") is not None and str(data["stream"]) == sid:
            parts.append("read")
        rows.append(("streams" if not rows else "", f"{sid}: " + ", ".join(parts)))
    if "stream" in data and data["stream"] is None:
        rows.append(("", "no event stream: the file holds no events to read"))
    return rows


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


def _frame_rows(data: dict) -> list[tuple[str, str]]:
    """Table rows of ``evio info`` for a frame store of ``evio dataset prepare``."""
    n = data["sample_count"]
    complete = "yes" if data["complete"] else f"no ({data['samples_written']:,} of {n:,} samples written)"
    return [
        ("path", data["path"]),
        ("format", f"{data['format']} ({data['version']}), frames of evio dataset prepare"),
        ("dataset", data["dataset"] or "-"),
        ("split", data["split"] or "-"),
        ("samples", f"{n:,}"),
        ("classes", f"{data['classes']:,}"),
        ("frame shape", f"T={data['T']}, C={data['C']}, H={data['H']}, W={data['W']} ({data['dtype']})"),
        ("frames", _options_text(data["frame_options"])),
        ("options", _options_text(data["dataset_options"])),
        ("complete", complete),
        ("size on disk", f"{data['size_bytes']:,} B"),
        ("read with", "evio.datasets.PreparedFrames(path)"),
    ]


def _options_text(options) -> str:
    if not isinstance(options, dict):
        return "-" if options is None else str(options)
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in options.items()) or "-"

