"""``evio formats``: the formats evio reads and writes."""

from __future__ import annotations

import json

import click

from .. import api


@click.command(name="formats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
def formats_command(as_json):
    """List the formats evio reads and writes."""
    data = api.list_formats()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    width = max([len("format")] + [len(f["name"]) for f in data])
    click.echo(f"{'format':<{width}} {'read':<5} {'write':<6} {'suffixes':<14} description")
    for f in data:
        click.echo(f"{f['name']:<{width}} {'yes' if f['read'] else '-':<5} {'yes' if f['write'] else '-':<6} "
                   f"{' '.join(f['suffixes']):<14} {f['description']}")
