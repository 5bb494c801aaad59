"""A web page that lists news (a ministry's press room, a site without a feed) as a source.

The list page is fetched with conditional GET; its item links are found by
CSS selectors (`items`, and inside each `link`, `title`, `date`; lxml with
cssselect) or, with none given, by looking for links that read like articles
(`article_links`). Each new link's page is fetched once and its main text
extracted (monitor.sources.fulltext); the ids of the items already handed on
stay in the cursor, so a page is never fetched twice. A page on which no item
is found any more (its layout changed) is a failed poll that says so, not a
quiet source.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.etree
import lxml.html
from cssselect import GenericTranslator, SelectorError
from pydantic import SecretStr, field_validator, model_validator

from monitor.article import Article, normalise_space, parse_datetime
from monitor.sources import (
    Cursor,
    PollResult,
    SourceConfig,
    SourceContext,
    SourceError,
    fetch_for,
    network_floor,
)
from monitor.sources.fulltext import (
    PAGE_ACCEPT,
    Page,
    PageError,
    decode_html,
    fetch_pages,
    is_html,
    log_kept,
    remembered,
    to_fetch,
    word_count,
)
from monitor.sources.rss import http_url

MAX_ITEMS = 200  # items taken from one list page, in page order (a hostile page has 10,000)
MIN_WORDS = 3  # an article link's text has at least this many words (or 8 CJK characters)
NOT_CONTENT_TAGS = frozenset(
    ("nav", "header", "footer", "aside", "form", "menu", "script", "style", "noscript", "template")
)
NOT_CONTENT_ROLES = frozenset(
    ("navigation", "banner", "contentinfo", "complementary", "menu", "menubar", "search")
)
NOT_CONTENT_NAME = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|masthead|sidebar|breadcrumbs?|"
    r"cookies?|consent|share|sharing|social|related|pagination|pager|toolbar|newsletter|"
    r"subscribe|skip)(?:$|[\s_-])",
    re.IGNORECASE,
)
DATE_IN_PATH = re.compile(r"/(?:19|20)\d\d(?:[/-]\d{1,2}){1,2}(?:/|-|$)|/(?:19|20)\d{6}(?:/|-|$)")
SLUG = re.compile(r"[^/]*[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+){2,}[^/]*/?$")
NAV_PATH = re.compile(
    r"/(?:tags?|category|categories|topics?|authors?|page|search|login|signin|register|"
    r"subscribe|account|about|contact|privacy|terms|cookies?|help|feed|rss)(?:/|$)",
    re.IGNORECASE,
)
NOT_PAGE = re.compile(
    r"\.(?:jpe?g|png|gif|svg|webp|ico|css|js|json|xml|zip|gz|mp3|mp4|pdf|docx?|xlsx?)$", re.I
)


def _selector(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        GenericTranslator().css_to_xpath(value)
    except SelectorError as exc:
        raise ValueError(f"not a CSS selector: {value!r} ({exc})") from None
    return value


class HtmlConfig(SourceConfig):
    type: Literal["html"]
    url: SecretStr  # the list page; its URL may carry a key like a feed's
    items: str | None = None  # CSS selector of each item; none: article links are detected
    link: str | None = None  # inside an item: its link (default: the item if a link, else a[href])
    title: str | None = None  # inside an item: its title (default: the link's text)
    date: str | None = None  # inside an item: its date (a `datetime` attribute, or the text)
    full_text: bool = True  # fetch each new item's page for its text (off: title and link only)
    allow_private: bool = False  # item links may lead to private addresses (an intranet site)

    _http_url = field_validator("url", mode="before")(http_url)
    _css = field_validator("items", "link", "title", "date")(_selector)

    def interval_floor(self) -> float:
        return network_floor(self.url.get_secret_value())

    @model_validator(mode="after")
    def _items_first(self) -> HtmlConfig:
        if self.items is None and (self.link or self.title or self.date):
            raise ValueError("link, title and date are looked for inside each item: set items too")
        return self


@dataclass(frozen=True)
class Item:
    """One item of the list page: where it links, and what the page says of it."""

    url: str
    title: str
    published_at: datetime | None = None


class HtmlSource:
    def __init__(self, config: HtmlConfig, context: SourceContext) -> None:
        assert context.fetcher is not None
        self.id = config.id
        self.config = config
        self.fetcher = context.fetcher

    async def poll(self, cursor: Cursor) -> PollResult:
        deadline = asyncio.get_running_loop().time() + self.config.timeout * 3 + 20
        url = self.config.url.get_secret_value()
        result = await fetch_for(self.fetcher, url, self.config, cursor, PAGE_ACCEPT)
        if result.not_modified:
            return PollResult([], dict(cursor), not_modified=True)
        if not is_html(result.content_type, result.body):
            kind = result.content_type.split(";")[0].strip() or "unknown"
            raise SourceError(f"the list page is not HTML ({kind[:60]})")
        markup = decode_html(result.body, result.content_type)
        items = await asyncio.to_thread(list_items, markup, url, self.config)
        fetched = datetime.now(UTC)
        articles = [_article(item, self.id, fetched) for item in items]
        if self.config.full_text:
            articles = await self._full_text(articles, cursor, deadline)
        new_cursor = {
            "etag": result.etag,
            "last_modified": result.last_modified,
            "known": remembered(articles),
        }
        return PollResult(articles, new_cursor, window=True)

    async def _full_text(
        self, articles: list[Article], cursor: Cursor, deadline: float
    ) -> list[Article]:
        """Each new item with its page's text, and its date if the list gave none."""
        new = to_fetch(articles, cursor, self.config.backfill)
        pages = await fetch_pages(
            [a.url for a in new], self.fetcher, self.config, metadata=True, deadline=deadline
        )
        return [_with_page(a, pages.get(a.url), self.id) for a in articles]


def _with_page(article: Article, page: Page | PageError | None, source_id: str) -> Article:
    """The item with its page's text; without one, its title and link (and a line says why)."""
    if isinstance(page, PageError):
        log_kept(article, str(page), source_id, "the title kept")
    if not isinstance(page, Page):
        return article
    return replace(
        article,
        title=article.title or page.title,
        body=page.text,
        published_at=article.published_at or page.published_at,
    )


def _article(item: Item, source_id: str, fetched: datetime) -> Article:
    return Article(
        source_id=source_id,
        title=item.title,
        url=item.url,
        published_at=item.published_at,
        fetched_at=fetched,
    )


def list_items(markup: str, page_url: str, config: HtmlConfig) -> list[Item]:
    """The items of the list page, at most MAX_ITEMS; SourceError if there is none."""
    root = _parse(markup)
    if config.items:
        return _selected(root, page_url, config)
    items = article_links(root, page_url)
    if not items:
        raise SourceError(
            "no article links found on the page (has its layout changed? "
            "`items` and `link` selectors name them exactly)"
        )
    return items


def _parse(markup: str) -> Any:
    # As UTF-8 bytes with the encoding given: lxml refuses text with an XML encoding declaration.
    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:
        root = lxml.html.document_fromstring(markup.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.ParserError, ValueError):
        raise SourceError("the list page is empty") from None
    return root


def _selected(root: Any, page_url: str, config: HtmlConfig) -> list[Item]:
    assert config.items is not None
    found = root.cssselect(config.items)
    if not found:
        raise SourceError(
            f"no item matches `items: {config.items}` on the page (has its layout changed?)"
        )
    items: dict[str, Item] = {}
    for element in found:
        if len(items) >= MAX_ITEMS:
            break
        item = _item(element, page_url, config)
        if item and item.url not in items:
            items[item.url] = item
    if not items:
        raise SourceError(
            f"{len(found)} elements match `items: {config.items}`, but none holds a link "
            f"(`link: {config.link or 'a[href]'}`)"
        )
    return list(items.values())


def _item(element: Any, page_url: str, config: HtmlConfig) -> Item | None:
    if config.link is None and element.tag == "a":
        anchor = element
    else:
        anchor = _first(element, config.link or "a[href]")
    url = _resolve(page_url, anchor.get("href") if anchor is not None else None)
    if url is None:
        return None
    title_element = _first(element, config.title) if config.title else anchor
    title = _text(title_element) if title_element is not None else ""
    published = None
    if config.date and (date_element := _first(element, config.date)) is not None:
        published = parse_datetime(
            date_element.get("datetime") or date_element.get("content") or _text(date_element)
        )
    return Item(url, title or _text(element)[:300], published)


def _first(element: Any, selector: str) -> Any:
    found = element.cssselect(selector)
    return found[0] if found else None


def _text(element: Any) -> str:
    return normalise_space(element.text_content())


def _resolve(page_url: str, href: str | None) -> str | None:
    """The link as an absolute http(s) URL without its fragment; None for anything else."""
    if not href:
        return None
    try:
        url = urldefrag(urljoin(page_url, href.strip())).url
        scheme = urlsplit(url).scheme
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def article_links(root: Any, page_url: str) -> list[Item]:
    """Links of the page's main content whose URL and text look like an article's.

    Navigation is left out first (nav, header, footer, aside and elements named
    like menus, sidebars, cookie banners, related links); of the rest a link
    counts if it stays on the site, its path is deeper than the page's or has a
    date or a slug, is no tag, author or search page, and its text has several
    words. Linear in the page, however many links or unclosed tags it has.
    """
    _drop_navigation(root)
    main = root.find(".//main")
    scope = main if main is not None and _has_links(main) else root
    page = urlsplit(page_url)
    site = _site(page.hostname or "")
    depth = len([p for p in page.path.split("/") if p])
    items: dict[str, Item] = {}
    for anchor in scope.iter("a"):
        url = _resolve(page_url, anchor.get("href"))
        if url is None or url.rstrip("/") == page_url.rstrip("/") or url in items:
            continue
        title = _text(anchor) or normalise_space(anchor.get("title") or "")
        if _looks_like_article(url, site, depth) and _enough_words(title):
            items[url] = Item(url, title[:300])
            if len(items) >= MAX_ITEMS:
                break
    return list(items.values())


def _drop_navigation(root: Any) -> None:
    doomed = [element for element in root.iter(lxml.etree.Element) if _navigation(element)]
    for element in doomed:
        element.drop_tree()


def _navigation(element: Any) -> bool:
    """Whether an element is the site's navigation (an article's own header is not)."""
    if element.tag in ("header", "footer"):
        near = zip(element.iterancestors(), range(30), strict=False)
        return not any(ancestor.tag == "article" for ancestor, _ in near)
    return (
        element.tag in NOT_CONTENT_TAGS
        or element.get("role") in NOT_CONTENT_ROLES
        or bool(NOT_CONTENT_NAME.search(f"{element.get('class', '')} {element.get('id', '')}"))
    )


def _has_links(element: Any) -> bool:
    return next(element.iter("a"), None) is not None


def _site(host: str) -> str:
    return host.lower().removeprefix("www.")


def _looks_like_article(url: str, site: str, page_depth: int) -> bool:
    parts = urlsplit(url)
    host = _site(parts.hostname or "")
    if host != site and not host.endswith("." + site):
        return False
    path = parts.path
    if NOT_PAGE.search(path) or NAV_PATH.search(path):
        return False
    depth = len([p for p in path.split("/") if p])
    return depth > page_depth or bool(DATE_IN_PATH.search(path) or SLUG.search(path))


def _enough_words(text: str) -> bool:
    return word_count(text) >= MIN_WORDS + 1 or len(text.split()) >= MIN_WORDS
