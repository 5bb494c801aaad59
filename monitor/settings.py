"""Pydantic building blocks for the YAML edge: durations, byte sizes, strict models.

Only config and rule files are validated with pydantic; everything past the
edge is plain dataclasses and numbers (seconds, bytes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Annotated, Any, get_args
from urllib.parse import quote, urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
UNIT_BYTES = {"b": 1, "kb": 1000, "kib": 1024, "mb": 10**6, "mib": 2**20, "gb": 10**9, "gib": 2**30}


MAX_DURATION = 10 * 366 * 86400.0  # ten years: longer is a typo, and overflows dates and timers
MAX_SIZE = 2**30  # 1 GiB: a feed or file is held in memory whole


def parse_duration(value: Any) -> float:
    """'30s', '10m', '2h', '1d' or a number of seconds -> seconds, at most ten years."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m, 2h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as 30s, 10m, 2h or 1d, got {value!r}")
        seconds = float(match.group(1)) * UNIT_SECONDS[(match.group(2) or "s").lower()]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if not seconds <= MAX_DURATION:  # also refuses .nan and .inf
        raise ValueError(f"a duration can be at most ten years (3660d), got {value!r}")
    return seconds


def rough_duration(seconds: float) -> str:
    """A duration in its largest whole unit, rounded down: 7300 -> 2h, 95 -> 1m, 3 -> 3s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def human_duration(seconds: float) -> str:
    """Seconds as the config writes them: 90 -> 90s, 600 -> 10m, 7200 -> 2h."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def parse_size(value: Any) -> int:
    """'10MB', '512KiB' or a number of bytes -> bytes, at most 1 GiB."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512KB or 10MB")
    if isinstance(value, int):
        size: float = value
    else:
        match = SIZE.match(str(value))
        if not match:
            raise ValueError(f"expected a size such as 512KB or 10MB, got {value!r}")
        size = float(match.group(1)) * UNIT_BYTES[(match.group(2) or "b").lower()]
    if not 0 <= size <= MAX_SIZE:  # before int(): a 400-digit size is float infinity
        raise ValueError(f"a size must be between 0 and 1GiB, got {value!r}")
    return int(size)


Duration = Annotated[float, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]


class Strict(BaseModel):
    """A model that refuses unknown keys, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def parse_cron(value: Any) -> str:
    """A five-field crontab expression, such as "0 8 * * 1-5" (times in UTC)."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(str(value), timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"expected a cron expression such as '0 8 * * 1-5': {exc}") from None
    return str(value)


Cron = Annotated[str, BeforeValidator(parse_cron)]


def secret_fields(model: type[BaseModel]) -> list[str]:
    """The names of a model's secret settings: those typed `SecretStr` (or a list or map of
    them)."""
    return [name for name, info in model.model_fields.items() if _is_secret(info.annotation)]


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_is_secret(a) for a in get_args(annotation))


def secret_values(value: Any) -> list[str]:
    """Every `SecretStr` value in a model, however nested: what redaction must hide.

    Secrets are found by their type, so a new secret field of any plugin is
    redacted without a list of its own. A URL-shaped secret (a webhook URL)
    yields its path, query and password too, since an error text may carry
    only a piece of it.
    """
    found = dict.fromkeys(piece for secret in _secrets_in(value) for piece in _pieces(secret))
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def _secrets_in(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets_in(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets_in(item)


def _pieces(secret: str) -> Iterator[str]:
    for piece in _parts(secret):
        # as a server may echo it back: JSON-escaped slashes, or percent-encoded
        yield from (piece, piece.replace("/", "\\/"), quote(piece, safe=""))


def _parts(secret: str) -> Iterator[str]:
    yield secret
    yield from secret.splitlines()  # a config excerpt shows a multi-line secret line by line
    for escaped in (json.dumps(secret), yaml.safe_dump(secret, default_style='"', width=1e9)):
        yield escaped.strip()[1:-1]  # or escaped, in a quoted YAML string
    try:
        parts = urlsplit(secret)
    except ValueError:
        return
    if parts.scheme and parts.netloc:
        pieces = [parts.path, parts.query, parts.password or ""]
        if parts.scheme not in ("http", "https"):  # tgram://<bot token>/...: the "host" is secret
            pieces += [parts.netloc, parts.username or ""]
        yield from (p for p in pieces if len(p) >= 8)
