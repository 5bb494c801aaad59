"""Full text: an item's own page, fetched once, its main text extracted by trafilatura.

A feed's summary is often one sentence; rules written for the story's body
then miss it. With `full_text: true` each new item's page is fetched through
the shared Fetcher (per-host limits, the source's byte cap and timeout, and
never a private address unless the source has `allow_private: true`: the link
comes from content, not from the user) and its main text becomes the
article's body. trafilatura was chosen over readability-lxml on the pages of
bench/extract.py (it keeps less boilerplate and returns nothing, rather than
the menu, for a page that is only navigation).

The feed's text is kept, and one line says why, whenever the page gives
nothing better: the fetch fails, it is not HTML (a PDF, an image), or the text
found is shorter than the feed's or mostly short lines (a menu). The article
keeps its link (`Article.url`) and its identity; only `body` changes.

Only new items are fetched. The pipeline decides what is new in the store
after `poll()` returns, so a source keeps the ids of the items it has already
handed on in its cursor (`known`, the newest KNOWN_LIMIT) and fetches pages
only for the others, at most MAX_PAGES a poll, within the poll's deadline.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from monitor.article import Article, normalise_space, parse_datetime
from monitor.fetch import Fetcher, FetchError
from monitor.sources import Cursor

log = logging.getLogger(__name__)

PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_PAGES = 50  # pages fetched in one poll; the other new items keep the feed's text
KNOWN_LIMIT = 1000  # item ids kept in the cursor: a feed's newest 1,000 items are ever fetched
SHORT_LINE_WORDS = 5  # a line of fewer words is a menu entry, a byline or a heading
MAX_SHORT_SHARE = 0.5  # text mostly in short lines is navigation, not an article

# What browsers read these labels as (the WHATWG Encoding standard): a page labelled GB2312
# is really GBK/GB18030, one labelled Shift_JIS is Windows-31J, one labelled Latin-1 is cp1252.
ENCODING_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "euc-kr": "cp949",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
}
CHARSET = re.compile(rb"""<meta[^>]{0,500}?charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]{1,40})""", re.I)
HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9_:.-]{1,40})""", re.I)
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class FullTextConfig(Protocol):
    """What a source's config must have to fetch full text (rss, html and json have it)."""

    id: str
    timeout: float
    max_bytes: int
    backfill: float
    allow_private: bool


class PageError(Exception):
    """An item's page gave no text; the message is short, safe to log, and names no URL."""


@dataclass(frozen=True)
class Page:
    """What an item's page gave: its main text, and, when asked for, title and date."""

    text: str
    title: str = ""
    published_at: datetime | None = None


async def with_full_text(
    articles: Sequence[Article],
    fetcher: Fetcher,
    config: FullTextConfig,
    *,
    deadline: float | None = None,
) -> list[Article]:
    """The articles, each with its page's main text as body where the page gave a better one.

    Call it with the new items only. At most MAX_PAGES pages are fetched, at
    once as the Fetcher's per-host limits allow; `deadline` (the event loop's
    clock) stops the rest, which keep the feed's text, so a slow site cannot
    make the poll overrun its own guard.
    """
    pages = await fetch_pages([a.url for a in articles], fetcher, config, deadline=deadline)
    return [_with_page(a, pages.get(a.url), config.id) for a in articles]


async def new_with_full_text(
    articles: list[Article],
    cursor: Cursor,
    fetcher: Fetcher,
    config: FullTextConfig,
    deadline: float,
) -> list[Article]:
    """The articles, the new ones (not in the cursor's `known`) with their pages' text.

    Fetched in the source's poll, before the pipeline's seen check, because only
    the cursor knows what the source handed on before; `deadline` keeps the
    whole poll inside the pipeline's guard (three timeouts and 30 s).
    """
    new = to_fetch(articles, cursor, config.backfill)
    if not new:
        return articles
    fuller = {a.id: a for a in await with_full_text(new, fetcher, config, deadline=deadline)}
    return [fuller.get(a.id, a) for a in articles]


async def fetch_pages(
    urls: Iterable[str],
    fetcher: Fetcher,
    config: FullTextConfig,
    *,
    metadata: bool = False,
    deadline: float | None = None,
) -> dict[str, Page | PageError]:
    """Each URL's page (or why there is none), at most MAX_PAGES of them, before `deadline`."""
    wanted = list(dict.fromkeys(u for u in urls if u))
    if len(wanted) > MAX_PAGES:
        log.info(
            "%d new items: only the first %d pages are fetched, the rest keep the feed's text",
            len(wanted),
            MAX_PAGES,
            extra={"source": config.id},
        )
    tasks = {
        url: asyncio.create_task(fetch_page(url, fetcher, config, metadata=metadata))
        for url in wanted[:MAX_PAGES]
    }
    if not tasks:
        return {}
    timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
    _, pending = await asyncio.wait(tasks.values(), timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if pending:
        log.info(
            "%d pages not fetched before the poll's deadline: they keep the feed's text",
            len(pending),
            extra={"source": config.id},
        )
    return {url: _outcome(task) for url, task in tasks.items() if task not in pending}


def _outcome(task: asyncio.Task[Page]) -> Page | PageError:
    error = task.exception()
    if error is None:
        return task.result()
    if isinstance(error, PageError):
        return error
    return PageError(f"extraction failed: {type(error).__name__}")


async def fetch_page(
    url: str, fetcher: Fetcher, config: FullTextConfig, *, metadata: bool = False
) -> Page:
    """One item's page and its main text; PageError saying why there is none."""
    try:
        result = await fetcher.get(
            url,
            timeout=config.timeout,
            max_bytes=config.max_bytes,
            accept=PAGE_ACCEPT,
            public_only=not config.allow_private,
        )
    except FetchError as exc:
        raise PageError(str(exc)) from None
    if not is_html(result.content_type, result.body):
        kind = result.content_type.split(";")[0].strip() or "unknown"
        raise PageError(f"not an HTML page ({kind[:60]})")
    markup = decode_html(result.body, result.content_type)
    # Extraction takes tens of milliseconds of CPU a page: off the event loop.
    return await asyncio.to_thread(extract_page, markup, url, metadata)


def is_html(content_type: str, body: bytes) -> bool:
    """An HTML content type, or none at all and a body that starts like HTML."""
    kind = content_type.split(";")[0].strip().lower()
    if kind:
        return kind in HTML_TYPES
    start = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<!--"))


def decode_html(body: bytes, content_type: str = "") -> str:
    """The page as text: the header's charset, else a BOM, else `<meta charset>`, else the bytes.

    Labels are read as browsers read them (GB2312 as GB18030, Shift_JIS as
    Windows-31J). Without any declaration the bytes decide: UTF-8 if they are
    valid UTF-8, else charset-normalizer's guess; never a blind cp1252.
    """
    for bom, bom_codec in BOMS:
        if body.startswith(bom):
            return body.decode(bom_codec, errors="replace")
    declared = HEADER_CHARSET.search(content_type)
    label: str | None = declared.group(1) if declared else None
    if _codec(label) is None and (meta := CHARSET.search(body[:4096])):
        label = meta.group(1).decode("ascii")
    codec = _codec(label)
    if codec is None:
        from trafilatura.utils import detect_encoding  # 0.4 s to import: only when needed

        guesses = detect_encoding(body)
        codec = next((c for g in guesses if (c := _codec(g))), "utf-8")
    return body.decode(codec, errors="replace")


def _codec(label: str | None) -> str | None:
    """Python's codec for an encoding label, or None if there is no such encoding."""
    if not label:
        return None
    label = label.strip().lower()
    label = ENCODING_ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A page that says UTF-16 in its own bytes cannot be UTF-16 (it would not be readable).
    return "utf-8" if name.startswith("utf-16") else name


def extract_page(markup: str, url: str, metadata: bool = False) -> Page:
    """The page's main text (and title and date, if `metadata`); PageError if it has none."""
    import trafilatura  # 0.4 s to import: only for sources that use it

    try:
        document: Any = trafilatura.bare_extraction(
            markup,
            url=url,
            with_metadata=metadata,
            include_comments=False,
            include_tables=True,
        )
    except (ValueError, TypeError) as exc:
        raise PageError(f"extraction failed: {type(exc).__name__}") from None
    if document is None or not (document.text or "").strip():
        raise PageError("no main text found on the page")
    text = "\n\n".join(
        p for p in (normalise_space(line) for line in document.text.split("\n")) if p
    )
    if mostly_short_lines(text):
        raise PageError("the page's text is mostly short lines (navigation, not an article)")
    title = normalise_space(document.title or "") if metadata else ""
    published = parse_datetime(document.date) if metadata and document.date else None
    return Page(text, title, published)


def mostly_short_lines(text: str) -> bool:
    """Whether most of the text is in lines of a few words: a menu or a list of links."""
    counts = [word_count(line) for line in text.split("\n") if line.strip()]
    total = sum(counts)
    return total == 0 or sum(n for n in counts if n < SHORT_LINE_WORDS) / total > MAX_SHORT_SHARE


def word_count(text: str) -> int:
    """Words, counting two characters of a script written without spaces (CJK) as one."""
    wide = sum(1 for c in text if c >= "\u3000")
    return len(text.split()) + wide // 2


def _with_page(article: Article, page: Page | PageError | None, source_id: str) -> Article:
    if page is None:
        return article  # not fetched (over MAX_PAGES, or past the deadline): logged already
    feed_text = max(article.body, article.summary, key=len)
    if isinstance(page, PageError):
        reason = str(page)
    elif len(page.text) < len(feed_text):
        reason = "the page's text is shorter than the feed's (boilerplate or a teaser)"
    else:
        return replace(article, body=page.text)
    log_kept(article, reason, source_id, "the feed's text kept")
    return article


def log_kept(article: Article, reason: str, source_id: str, kept: str) -> None:
    """One line for an item whose page gave no text: its host (never the whole URL) and why."""
    log.info(
        "full text of an item on %s not used, %s: %s",
        _host(article.url),
        kept,
        reason,
        extra={"source": source_id},
    )


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def known_ids(cursor: Cursor) -> set[str] | None:
    """The ids of the items already handed on, or None on a source's first poll with full text."""
    known = cursor.get("known")
    if not isinstance(known, list):
        return None
    return {k for k in known if isinstance(k, str)}


def to_fetch(articles: Sequence[Article], cursor: Cursor, backfill: float) -> list[Article]:
    """The items whose pages should be fetched: those among the newest KNOWN_LIMIT not known.

    On the first poll of a source without backfill nothing is fetched: the
    pipeline records those items as seen without alerting, so their text is
    not needed.
    """
    known = known_ids(cursor)
    if known is None and backfill <= 0:
        return []
    known = known or set()
    return [a for a in articles[:KNOWN_LIMIT] if a.id not in known and _web(a.url)]


def remembered(articles: Sequence[Article]) -> list[str]:
    """The cursor's `known` after this poll: the ids of the newest KNOWN_LIMIT items."""
    return list(dict.fromkeys(a.id for a in articles[:KNOWN_LIMIT]))


def _web(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))
