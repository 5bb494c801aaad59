"""Sources turn what they fetched into `Article`s, and nothing else.

A source is stateless between polls: what it must remember (ETag,
Last-Modified, files already read) it returns as a `cursor`, which the daemon
stores and hands back on the next poll, so a restart resumes where it was.
Built-in kinds are registered in `built_in()`; each module holds its own
config model next to its code; other distributions add kinds through the
`trade_monitor.sources` entry points (monitor.plugins, docs/plugins.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, model_validator

from monitor.article import Article
from monitor.fetch import Fetcher, FetchError, FetchResult
from monitor.plugins import Plugin, Registry, narrow
from monitor.settings import ByteSize, Duration, Strict, parse_duration

Cursor = Mapping[str, Any]


def parse_backfill(value: Any) -> float:
    """`none` -> 0 s, `all` -> forever, a duration -> that window."""
    if isinstance(value, str) and value.strip().lower() in ("none", "all"):
        return 0.0 if value.strip().lower() == "none" else float("inf")
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(f"expected none, all or a duration such as 24h, got {value!r}") from None


Backfill = Annotated[float, BeforeValidator(parse_backfill)]
# An interval or timeout of 0 would poll without pause, or fail every poll.
Period = Annotated[Duration, Field(gt=0)]
SOURCE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class SourceDefaults(Strict):
    """The settings every source has, and the one place their built-in defaults are written.

    The config's `defaults:` extends this model, so it may change each of them.
    """

    interval: Period = 600.0
    min_interval: Period | None = None  # None: the interval (monitor/schedule.py)
    max_interval: Period | None = None  # None: the interval
    max_backoff: Period = 6 * 3600.0  # the longest wait between two tries of a failing source
    alert_after: Period = 6 * 3600.0  # failing this long raises one "source down" alert
    timeout: Period = 20.0
    max_bytes: ByteSize = 10_000_000
    backfill: Backfill = 0.0


BUILT_IN = SourceDefaults()


class SourceConfig(Strict):
    """Settings every source has; one not given takes the config's `defaults` (`with_defaults`).

    A source runs with resolved numbers, never None: a config built without a
    config file (in tests) has the built-in defaults.
    """

    id: str = Field(pattern=SOURCE_ID)
    type: str
    interval: Period = BUILT_IN.interval
    min_interval: Period | None = BUILT_IN.min_interval
    max_interval: Period | None = BUILT_IN.max_interval
    max_backoff: Period = BUILT_IN.max_backoff
    alert_after: Period = BUILT_IN.alert_after
    backfill: Backfill = BUILT_IN.backfill
    timeout: Period = BUILT_IN.timeout
    max_bytes: ByteSize = BUILT_IN.max_bytes
    enabled: bool = True

    @property
    def interval_bounds(self) -> tuple[float, float]:
        """The shortest and longest wait between two polls of a healthy source; the interval
        is always within them (monitor/schedule.py adapts between them)."""
        low = self.interval if self.min_interval is None else min(self.min_interval, self.interval)
        high = self.interval if self.max_interval is None else max(self.max_interval, self.interval)
        return low, high

    def interval_floor(self) -> float:
        """The shortest interval this kind allows; network kinds say `network_floor(url)`."""
        return 0.0

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        """`interval:` left empty (null) means not given, as before: the defaults apply."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in _DEFAULTED and v is None)}
        return data


_DEFAULTED = tuple(SourceDefaults.model_fields)
NETWORK_FLOOR = 30.0  # seconds: no host but this machine is polled more often than that


def network_floor(url: str) -> float:
    """The shortest interval for a source fetching `url`: NETWORK_FLOOR, or none for a
    server on this machine (a test server, a local proxy), which only we can overload."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost":
        return 0.0
    try:
        return 0.0 if ipaddress.ip_address(host).is_loopback else NETWORK_FLOOR
    except ValueError:
        return NETWORK_FLOOR


C = TypeVar("C", bound=SourceConfig)


def with_defaults(source: C, defaults: SourceDefaults) -> C:
    """The source with each setting it was not given taken from `defaults`."""
    fill = {
        name: getattr(defaults, name) for name in _DEFAULTED if name not in source.model_fields_set
    }
    return source.model_copy(update=fill)


class SourceError(Exception):
    """A poll failed; the message is short, safe to log, and names no secret.
    `retry_after`: seconds the server asked us to wait (a 429's or 503's Retry-After)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


async def fetch_for(
    fetcher: Fetcher, url: str, config: SourceConfig, cursor: Cursor, accept: str
) -> FetchResult:
    """A source's own GET: its timeout and size cap, the cursor's validators (conditional
    GET); a failure is the poll's SourceError, with the server's Retry-After."""
    try:
        return await fetcher.get(
            url,
            timeout=config.timeout,
            max_bytes=config.max_bytes,
            etag=cursor.get("etag"),
            last_modified=cursor.get("last_modified"),
            accept=accept,
        )
    except FetchError as exc:
        raise SourceError(str(exc), retry_after=exc.retry_after) from None


@dataclass(frozen=True)
class PollResult:
    articles: list[Article]
    cursor: dict[str, Any] = field(default_factory=dict)
    not_modified: bool = False
    # The publisher asks not to be polled again sooner (Cache-Control max-age, RSS <ttl>,
    # sy:updatePeriod), in seconds: a floor on the next poll (monitor/schedule.py).
    wait_hint: float = 0.0
    # The articles are a moving window of the latest items (a feed): if every one of them
    # is new, items may have slid out unseen. A folder of files has no such window.
    window: bool = False
    # A feed's items by their exact bytes (rss.py): each article's item key (empty, or one
    # an article), and the items the last poll read, not read again (item key -> stored
    # id). The store keeps both in the cursor, as `items`, with the source's listing.
    item_keys: list[str] = field(default_factory=list)
    unchanged: dict[str, str] = field(default_factory=dict)

    @property
    def listed(self) -> int:
        """How many items the source showed: those read and those known unchanged."""
        return len(self.articles) + len(self.unchanged)


@dataclass(frozen=True)
class SourceContext:
    """What a source may use: the shared HTTP client and the config's folder.

    `once` is true in `run --once`, where no later poll will come: a source that
    would leave work for its next poll (a file still being written) finishes it now.
    """

    fetcher: Fetcher | None
    base_dir: Path
    once: bool = False


class Source(Protocol):
    id: str

    async def poll(self, cursor: Cursor) -> PollResult: ...


Factory = Callable[[SourceConfig, SourceContext], Source]
SourcePlugin = Plugin[SourceConfig, Factory]
S = TypeVar("S", bound=SourceConfig)


def source_plugin(config: type[S], source: Callable[[S, SourceContext], Source]) -> SourcePlugin:
    """A source kind's registry entry: its config model and what builds it from one."""

    def build(settings: SourceConfig, context: SourceContext) -> Source:
        return source(narrow(config, settings), context)

    return Plugin(config, build)


def built_in() -> dict[str, SourcePlugin]:
    """The table of built-in source kinds: type name -> (config model, factory)."""
    from monitor.sources.files import FilesConfig, FilesSource
    from monitor.sources.html import HtmlConfig, HtmlSource
    from monitor.sources.jsonapi import JsonConfig, JsonSource
    from monitor.sources.rss import RssConfig, RssSource

    return {
        "rss": source_plugin(RssConfig, RssSource),
        "files": source_plugin(FilesConfig, FilesSource),
        "html": source_plugin(HtmlConfig, HtmlSource),
        "json": source_plugin(JsonConfig, JsonSource),
    }


SOURCES = Registry("source", "trade_monitor.sources", SourceConfig, built_in)


def source_types() -> dict[str, SourcePlugin]:
    """Every source kind: the built-ins, then the plugins of other distributions."""
    return SOURCES.table()


def build_source(config: SourceConfig, context: SourceContext) -> Source:
    return source_types()[config.type].build(config, context)
