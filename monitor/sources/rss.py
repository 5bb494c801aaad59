"""RSS 0.9x/1.0/2.0 and Atom feeds, fetched by our own client, parsed by feedparser.

Plain RSS 2.0 is read by the fast path of monitor.sources.feeds (lxml, the same
entries as feedparser's); whatever it is not sure of goes to feedparser.

feedparser only ever sees bytes we fetched: never a URL or a path, so it
cannot make requests of its own. An unchanged body (a 304, or the same bytes
as last time) is not parsed again; parsing is the expensive part.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import feedparser
from pydantic import SecretStr, field_validator

from monitor.article import Article, html_to_text
from monitor.sources import (
    Cursor,
    PollResult,
    SourceConfig,
    SourceContext,
    SourceError,
    fetch_for,
    network_floor,
)
from monitor.sources.feeds import Unsupported, keyed_entries
from monitor.sources.fulltext import new_with_full_text, remembered

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


def http_url(value: object) -> str:
    """A source's own URL: http:// or https:// only (a pydantic `before` validator)."""
    value = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    if not re.fullmatch(r"https?://[^\s/]+\S*", value):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


class RssConfig(SourceConfig):
    type: Literal["rss"]
    url: SecretStr  # a feed's URL may carry an API key: hidden wherever secrets are
    full_text: bool = False  # fetch each new item's page for its main text (fulltext.py)
    allow_private: bool = False  # item links may lead to private addresses (an intranet feed)
    push: bool | None = None  # WebSub push when the feed has a hub; None: on when `push:` is set

    _http_url = field_validator("url", mode="before")(http_url)

    def interval_floor(self) -> float:
        return network_floor(self.url.get_secret_value())


class RssSource:
    def __init__(self, config: RssConfig, context: SourceContext) -> None:
        assert context.fetcher is not None
        self.id = config.id
        self.config = config
        self.fetcher = context.fetcher

    async def poll(self, cursor: Cursor) -> PollResult:
        deadline = asyncio.get_running_loop().time() + self.config.timeout * 3 + 20
        result = await fetch_for(
            self.fetcher, self.config.url.get_secret_value(), self.config, cursor, FEED_ACCEPT
        )
        if result.not_modified:
            wait = max(result.max_age, float(cursor.get("feed_wait") or 0))
            return PollResult([], dict(cursor), not_modified=True, wait_hint=wait)
        digest = hashlib.sha256(result.body).hexdigest()
        feed_wait = publisher_wait(result.body)
        new_cursor: dict[str, Any] = {"etag": result.etag, "last_modified": result.last_modified}
        new_cursor |= {"body": digest} | ({"feed_wait": feed_wait} if feed_wait else {})
        new_cursor |= find_hub(result.body, result.links, self.config.url.get_secret_value())
        if self.config.full_text and "known" in cursor:
            new_cursor["known"] = cursor["known"]
        wait = max(result.max_age, feed_wait)
        if digest == cursor.get("body"):
            return PollResult([], new_cursor, not_modified=True, wait_hint=wait)
        # Parsing a large feed takes seconds of CPU: off the event loop. The items of the last
        # poll are not read again, but with full text, whose `known` needs every item's id.
        known = {} if self.config.full_text else _item_ids(cursor.get("items"))
        read = await asyncio.to_thread(read_feed, result.body, self.id, result.content_type, known)
        articles = read.articles
        if self.config.full_text:
            articles = await new_with_full_text(
                articles, cursor, self.fetcher, self.config, deadline
            )
            new_cursor["known"] = remembered(articles)
        return PollResult(articles, new_cursor, window=True, wait_hint=wait,
                          item_keys=read.keys, unchanged=read.unchanged)  # fmt: skip


def _item_ids(value: object) -> dict[str, str]:
    """The cursor's `items` (item key -> stored id, written by the store with the listing);
    anything else, as after an upgrade, is no items."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


_FIRST_ITEM = re.compile(rb"<(?:\w+:)?(?:item|entry)[\s>]")
_TTL = re.compile(rb"<ttl>\s*(\d{1,7})\s*</ttl>")
_PERIOD = re.compile(rb"<(?:\w+:)?updatePeriod>\s*(hourly|daily|weekly|monthly|yearly)\s*<")
_FREQUENCY = re.compile(rb"<(?:\w+:)?updateFrequency>\s*(\d{1,6})\s*<")
PERIODS = {b"hourly": 3600, b"daily": 86400, b"weekly": 7 * 86400, b"monthly": 30 * 86400,
           b"yearly": 365 * 86400}  # fmt: skip


def publisher_wait(body: bytes) -> float:
    """The least time the feed asks readers to leave between fetches, in seconds: RSS
    `<ttl>` (minutes), or syndication's `updatePeriod` / `updateFrequency`; read from the
    channel's head (before its first item), where both belong."""
    head = body[:65536]
    if first := _FIRST_ITEM.search(head):
        head = head[: first.start()]
    wait = 0.0
    if ttl := _TTL.search(head):
        wait = int(ttl.group(1)) * 60.0
    if period := _PERIOD.search(head):
        frequency = _FREQUENCY.search(head)
        times = max(1, int(frequency.group(1))) if frequency else 1
        wait = max(wait, PERIODS[period.group(1)] / times)
    return wait


_LINK_TAG = re.compile(rb"<(?:\w+:)?link\b([^>]{0,2000})>")
_ATTR = re.compile(rb"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def find_hub(body: bytes, links: dict[str, str], feed_url: str) -> dict[str, str]:
    """The feed's WebSub hub and topic as cursor keys (`hub`, `topic`), or {} if it has none.

    The HTTP Link header wins over `<link rel="hub">` / `<atom:link rel="hub">` in the
    feed's head; the topic is rel=self if given, else the feed's URL.
    """
    hub, topic = links.get("hub"), links.get("self")
    head = body[:65536]
    if first := _FIRST_ITEM.search(head):
        head = head[: first.start()]
    for tag in _LINK_TAG.finditer(head):
        attrs = {
            m.group(1).lower(): m.group(2) or m.group(3) or b"" for m in _ATTR.finditer(tag[1])
        }
        rels = attrs.get(b"rel", b"").lower().split()
        href = html.unescape(attrs.get(b"href", b"").decode("utf-8", "replace")).strip()
        if b"hub" in rels and not hub:
            hub = href
        if b"self" in rels and not topic:
            topic = href
    if not hub or not re.fullmatch(r"https?://[^\s/]+\S*", hub):
        return {}
    valid = topic and re.fullmatch(r"https?://[^\s/]+\S*", topic)
    return {"hub": hub, "topic": topic if topic and valid else feed_url}


def parse_feed(data: bytes, source_id: str, content_type: str = "") -> list[Article]:
    """Every entry of a feed document as an Article; SourceError if it is not a feed."""
    return read_feed(data, source_id, content_type).articles


@dataclass(frozen=True)
class FeedItems:
    """A feed read against the items of the last poll (`known`: item key -> stored id)."""

    articles: list[Article]  # the items not known, each read
    keys: list[str]  # each article's item key; empty when feedparser read the feed
    unchanged: dict[str, str]  # the known items' keys and stored ids, not read again


def read_feed(
    data: bytes, source_id: str, content_type: str = "", known: Mapping[str, str] | None = None
) -> FeedItems:
    """The feed's items; those the fast path finds byte for byte in `known` are not read
    again. SourceError if it is not a feed."""
    known = known or {}
    fetched = datetime.now(UTC)
    keyed: list[tuple[str, dict[str, Any] | None]] | None
    try:
        keyed = keyed_entries(data, content_type, known)
    except Unsupported:  # not plain RSS 2.0, or not sure to read it as feedparser would
        keyed = None
    except Exception:  # a bug of the fast path must not lose a feed feedparser can read
        keyed = None
    if keyed is None:
        entries = _feedparser_entries(data, content_type)
        articles = [a for a in (_article(e, source_id, fetched) for e in entries) if a]
        return FeedItems(articles, [], {})
    articles, keys, unchanged = [], [], {}
    for key, entry in keyed:
        if entry is None:
            unchanged[key] = known[key]
        elif article := _article(entry, source_id, fetched):
            articles.append(article)
            keys.append(key)
    return FeedItems(articles, keys, unchanged)


def _feedparser_entries(data: bytes, content_type: str) -> list[Any]:
    headers = {"content-type": content_type} if content_type else {}
    try:
        # No sanitizing or URI resolving: both run feedparser's own HTML parser, quadratic on
        # an escaped `&lt;!--` run (500 KB took 42 s); html_to_text keeps the text, linearly.
        parsed = feedparser.parse(
            data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser is forgiving, but a hostile body can still trip it
        raise SourceError(f"unreadable feed: {type(exc).__name__}") from None
    if not parsed.entries:
        if parsed.get("bozo") and not parsed.get("feed"):
            reason = parsed.get("bozo_exception")
            raise SourceError(f"not a feed: {str(reason)[:200] or type(reason).__name__}")
        return []
    return list(parsed.entries)


def _article(entry: Any, source_id: str, fetched: datetime) -> Article | None:
    title = html_to_text(str(entry.get("title", "")))
    summary = html_to_text(str(entry.get("summary", "")))
    contents = entry.get("content") or []
    body = "\n\n".join(html_to_text(str(c.get("value", ""))) for c in contents if c.get("value"))
    if summary and body.startswith(summary):
        summary = ""
    link = str(entry.get("link", "") or "")
    if not (title or summary or body or link):
        return None
    authors = tuple(
        str(a.get("name"))
        for a in entry.get("authors", [])
        if isinstance(a, dict) and a.get("name")
    ) or ((str(entry["author"]),) if entry.get("author") else ())
    return Article(
        source_id=source_id,
        title=title,
        summary=summary,
        body=body,
        url=link,
        guid=str(entry.get("id", "") or ""),
        authors=authors,
        published_at=_entry_time(entry),
        fetched_at=fetched,
    )


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None
