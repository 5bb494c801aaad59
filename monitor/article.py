"""The `Article`: what every source produces and every later stage reads.

HTML is turned into plain text here, once, so matching, alerts and storage all
see the same clean text. The id is stable across polls and restarts: it comes
from the feed's guid when there is one, else the canonical URL, both within
the source (another source's item with the same link may be another story),
else a hash of the content, so the same story fetched twice is recognised as
seen. Whether an article was seen is decided by the store (`SqliteStore.unseen`).
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok|ocid|cmpid|smid|"
    r"taid|sref|ref_src|ref_url|igshid|yclid|__twitter_impression)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Article:
    """One news item, as plain text, from one source."""

    source_id: str
    title: str
    summary: str = ""
    body: str = ""
    url: str = ""
    guid: str = ""
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    canonical_url: str = field(init=False)
    content_hash: str = field(init=False)
    id: str = field(init=False)

    def __post_init__(self) -> None:
        canonical = canonical_url(self.url)
        content = "\n".join(
            (normalise_space(self.title), normalise_space(self.body or self.summary))
        )
        # No text, no content identity: link-only items must not all look like one article.
        digest = (
            hashlib.sha256(content.casefold().encode()).hexdigest()[:32] if content.strip() else ""
        )
        if self.guid:
            key = f"guid:{self.source_id}:{self.guid}"
        elif canonical:
            key = f"url:{self.source_id}:{canonical}"
        else:
            key = f"hash:{digest or self.fetched_at.isoformat()}"
        object.__setattr__(self, "canonical_url", canonical)
        object.__setattr__(self, "content_hash", digest)
        object.__setattr__(self, "id", hashlib.sha256(key.encode()).hexdigest()[:20])

    @property
    def when(self) -> datetime:
        """The publication time, or when we fetched it if the source gave none."""
        return self.published_at or self.fetched_at


def normalise_space(text: str) -> str:
    return " ".join(text.split())


def canonical_url(url: str) -> str:
    """The URL with tracking parameters, fragments and default ports removed.

    Two links that differ only in `utm_source` point to the same story.
    """
    url = url.strip()
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url
    if scheme not in ("http", "https") or not host:
        return url
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = sorted((k, v) for k, v in query if not TRACKING_PARAMS.match(k))
    return urlunsplit((scheme, host, parts.path or "/", urlencode(query), ""))


BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 "
    "h4 h5 h6 header hr li main nav ol p pre section table tr ul".split()
)
SKIP_TAGS = frozenset(
    ["script", "style", "noscript", "template", "head", "svg", "iframe", "object"]
)


class _TextExtractor(HTMLParser):
    """Collects visible text, starting a new paragraph at each block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[list[str]] = [[]]
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_TAGS:
            self.skipping += 1
        elif tag in BLOCK_TAGS:
            self.paragraphs.append([])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCK_TAGS:
            self.paragraphs.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCK_TAGS:
            self.paragraphs.append([])

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.paragraphs[-1].append(data)

    def text(self) -> str:
        paragraphs = (normalise_space("".join(parts)) for parts in self.paragraphs)
        return "\n\n".join(p for p in paragraphs if p)


HTML_HINT = re.compile(r"<[a-zA-Z/!][^>]*>|&[#a-zA-Z0-9]+;")


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: paragraphs separated by blank lines."""
    if not markup:
        return ""
    if not HTML_HINT.search(markup):
        return markup.strip()
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # html.parser is lenient; this guards the rare assertion
        return normalise_space(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    return parser.text()


def parse_datetime(value: object) -> datetime | None:
    """ISO 8601 or RFC 2822 text (or a datetime) as an aware UTC datetime; None if unreadable.

    Never raises: a date from outside that cannot be read, or that falls outside
    what a datetime can hold once in UTC (year 9999 at -14:00), is no date at all,
    and the article counts as undated rather than being lost. Text of more than
    200 characters is no date and is not parsed (linear time on any input).
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip() and len(value) <= 200:
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
    else:
        return None
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
