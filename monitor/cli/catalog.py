"""`sources`: the catalogue of ready-made sources a config can enable with `use:`."""

from __future__ import annotations

import argparse
import textwrap

from monitor.cli.common import echo
from monitor.sources.catalog import Entry, catalog


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sources = commands.add_parser(
        "sources", help="list the catalogue of ready-made sources (enable one with `use: ID`)"
    )
    sources.set_defaults(command=cmd_sources)


def cmd_sources(args: argparse.Namespace) -> int:
    entries = list(catalog().values())
    width = max(len(entry.id) for entry in entries)
    for entry in entries:
        echo(f"{entry.id:<{width}}  {_what(entry)}")
        indent = " " * (width + 2)
        echo(textwrap.fill(entry.covers, 100, initial_indent=indent, subsequent_indent=indent))
    echo()
    echo("Enable one in config.yaml:  sources: [{use: ID}], with any key to change (interval).")
    return 0


def _what(entry: Entry) -> str:
    """The entry's kind, preset and suggested interval, in a few words."""
    source = entry.source
    kind = str(source.get("type"))
    if preset := source.get("preset"):
        kind += f" ({preset})"
    interval = source.get("interval")
    return f"{kind}, every {interval}" if interval else kind
