"""The catalogue of ready-made sources shipped with the package (catalog.yaml).

A config enables an entry by its id (`- use: federal-register-bis`), giving any
key it wants to change (`interval: 30m`, another `id`); `expand_uses` turns each
such item into the full source before the sources are validated, so every later
check (types, duplicate ids, secrets) treats it as if the user had written it
out. The catalogue is package data: read once, trusted, checked by tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from monitor.errors import Problem, did_you_mean, key_path
from monitor.yamlsrc import Document

SKIP = object()  # an item whose `use:` names no entry: reported once, not validated further


@dataclass(frozen=True)
class Entry:
    """One catalogue entry: what it covers, and the source it stands for (without `id`)."""

    id: str
    covers: str
    source: dict[str, Any]


@cache
def catalog() -> dict[str, Entry]:
    """Every entry of the shipped catalogue, in the file's order."""
    text = files("monitor.sources").joinpath("catalog.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {
        name: Entry(name, " ".join(str(value["covers"]).split()), dict(value["source"]))
        for name, value in data.items()
    }


def expand_uses(doc: Document, items: list[Any], problems: list[Problem]) -> list[Any]:
    """`items` with each `use:` replaced by its entry's source, overridden by the keys given.

    An unknown id is a problem naming the file, line and the known ids; its item becomes SKIP
    so that the other items keep their positions (and their errors their lines).
    """
    expanded: list[Any] = []
    for i, item in enumerate(items):
        if not (isinstance(item, dict) and "use" in item):
            expanded.append(item)
            continue
        entry = catalog().get(str(item["use"]))
        if entry is None:
            problems.append(_unknown(doc, ("sources", i, "use"), item["use"]))
            expanded.append(SKIP)
            continue
        given = {key: value for key, value in item.items() if key != "use"}
        expanded.append({**entry.source, "id": entry.id, **given})
    return expanded


def _unknown(doc: Document, loc: tuple[str | int, ...], name: Any) -> Problem:
    known = list(catalog())
    hint = " ".join(
        part for part in (did_you_mean(str(name), known), f"known ids: {', '.join(known)}") if part
    )
    message = f"no source `{name}` in the catalogue (`trade-monitor sources` lists them)"
    return doc.problem(loc, message, key_path(loc), hint)
