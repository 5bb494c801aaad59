"""`json`: a JSON API as a source, read with JMESPath; and the Federal Register preset.

Most agencies and wires that have no feed have a JSON API. Rather than a module
per API, one kind takes JMESPath expressions (a well-kept, specified query
language, so users do not learn one of ours): `items` finds the list of items in
a response, `fields` finds each article field in an item, and `next` (or a page
number in `page_param`) finds the next page. Every expression is compiled when
the config is loaded, so a typo is a config error naming its key, not a failed
poll at 3 a.m.

Pages are fetched one after another through the shared Fetcher: the first with
a conditional GET (an unchanged first page costs a 304 and ends the poll), at
most `max_pages` of them, all together within `max_bytes` and twice `timeout`,
and never the same URL twice (an API whose `next` points back is not followed
round in circles). A later page that fails ends the paging but keeps what the
earlier pages gave; the cursor is then not advanced, so the next poll reads
every page again.

`preset: federal-register` writes the URL, items and fields of the Federal
Register's documented API (https://www.federalregister.gov/developers/api/v1)
from `agencies`, `types` and `terms`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import jmespath
import jmespath.exceptions
from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.article import Article, html_to_text, parse_datetime
from monitor.fetch import FetchError
from monitor.logs import Secrets
from monitor.settings import Strict, secret_values
from monitor.sources import (
    Cursor,
    PollResult,
    SourceConfig,
    SourceContext,
    SourceError,
    network_floor,
)
from monitor.sources.fulltext import new_with_full_text, remembered
from monitor.sources.rss import http_url

log = logging.getLogger(__name__)
JSON_ACCEPT = "application/json, text/json;q=0.9, */*;q=0.1"
HTTP_URL = re.compile(r"https?://[^\s/]+\S*")
MAX_PAGES = 100  # the highest `max_pages` a config may set
FEDERAL_REGISTER = "https://www.federalregister.gov"
FR_TYPES = ("RULE", "PRORULE", "NOTICE", "PRESDOCU")
FR_FIELDS = (
    "title",
    "abstract",
    "html_url",
    "document_number",
    "publication_date",
    "agencies",
    "type",
)


def compile_path(value: Any) -> str:
    """A JMESPath expression that compiles, as given; ValueError saying what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a JMESPath expression such as results[] or data.items")
    try:
        jmespath.compile(value)
    except jmespath.exceptions.JMESPathError as exc:
        reason = " ".join(str(exc).split())
        raise ValueError(f"not a valid JMESPath expression: {reason}") from None
    return value


class JsonFields(Strict):
    """Where each article field is in an item: a JMESPath expression each, all optional."""

    title: str | None = None
    summary: str | None = None
    body: str | None = None
    url: str | None = None
    id: str | None = None
    published: str | None = None
    authors: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _compiles(cls, value: Any) -> Any:
        return None if value is None else compile_path(value)


# The Federal Register's document fields as article fields. The document type ("Rule",
# "Proposed Rule", "Notice", "Presidential Document") opens the summary, so rules see it.
FR_MAPPING = JsonFields(
    title="title",
    summary="join(': ', [type, abstract][?@])",
    url="html_url",
    id="document_number",
    published="publication_date",
    authors="agencies[].name",
)


class JsonConfig(SourceConfig):
    type: Literal["json"]
    url: SecretStr | None = None  # may carry an API key: hidden wherever secrets are
    headers: dict[str, SecretStr] = {}  # an `X-Api-Key` is a secret too
    items: str | None = None
    fields: JsonFields = JsonFields()
    next: str | None = None
    page_param: str | None = None
    max_pages: int = Field(5, ge=1, le=MAX_PAGES)
    preset: Literal["federal-register"] | None = None
    agencies: list[str] = []
    types: list[Literal["RULE", "PRORULE", "NOTICE", "PRESDOCU"]] = []
    terms: str | None = None
    base_url: str = FEDERAL_REGISTER
    per_page: int = Field(20, ge=1, le=1000)
    full_text: bool = False  # fetch each new item's page for its main text (fulltext.py)
    allow_private: bool = False  # item links may lead to private addresses (an intranet API)

    def interval_floor(self) -> float:
        return network_floor(self.url.get_secret_value() if self.url else self.base_url)

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: object) -> object:
        return None if value is None else http_url(value)

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: object) -> str:
        return http_url(value).rstrip("/")

    @field_validator("items", "next", mode="before")
    @classmethod
    def _paths(cls, value: Any) -> Any:
        return None if value is None else compile_path(value)

    @field_validator("headers")
    @classmethod
    def _one_line(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, header in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"not a header name: {name!r}")
            if re.search(r"[\x00-\x1f\x7f]", header.get_secret_value()):
                raise ValueError(f"the value of header {name} holds a control character")
        return value

    @field_validator("agencies")
    @classmethod
    def _slugs(cls, value: list[str]) -> list[str]:
        for slug in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", slug):
                raise ValueError(
                    f"expected agency slugs such as industry-and-security-bureau, got {slug!r}"
                )
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        """The preset writes url, items, fields and next; without it, url and items are needed."""
        given = self.model_fields_set
        preset_keys = {"agencies", "types", "terms", "base_url", "per_page"}
        if self.preset is None:
            if stray := sorted(given & preset_keys):
                raise ValueError(f"{', '.join(stray)}: only with `preset: federal-register`")
            if self.url is None or self.items is None:
                raise ValueError("a json source needs `url` and `items` (or a `preset`)")
        else:
            if own := sorted(given & {"url", "items", "fields", "next", "page_param"}):
                raise ValueError(f"{', '.join(own)}: the preset sets these; leave them out")
            if not (self.agencies or self.types or self.terms):
                raise ValueError(
                    "the federal-register preset needs `agencies`, `types` or `terms`"
                    " (without them it would read every document the government publishes)"
                )
        if self.next is not None and self.page_param is not None:
            raise ValueError("give `next` or `page_param`, not both")
        return self


def federal_register_url(config: JsonConfig) -> str:
    """The documented documents search: newest first, only the fields the preset reads."""
    query: list[tuple[str, str | int]] = [("conditions[agencies][]", a) for a in config.agencies]
    query += [("conditions[type][]", t) for t in config.types]
    if config.terms:
        query.append(("conditions[term]", config.terms))
    query += [("order", "newest"), ("per_page", config.per_page)]
    query += [("fields[]", f) for f in FR_FIELDS]
    return f"{config.base_url}/api/v1/documents.json?{urlencode(query)}"


@dataclass(frozen=True)
class Endpoint:
    """What a poll reads: the source's own settings, or those its preset writes."""

    url: str
    items: str
    fields: JsonFields
    next: str | None


def endpoint(config: JsonConfig) -> Endpoint:
    if config.preset == "federal-register":
        return Endpoint(federal_register_url(config), "results", FR_MAPPING, "next_page_url")
    assert config.url is not None, "checked by JsonConfig._complete"
    assert config.items is not None, "checked by JsonConfig._complete"
    return Endpoint(config.url.get_secret_value(), config.items, config.fields, config.next)


@dataclass(frozen=True)
class Page:
    """One page fetched: its items, and where the next one is (None: no more)."""

    items: list[Any]
    next_url: str | None


class JsonSource:
    def __init__(self, config: JsonConfig, context: SourceContext) -> None:
        assert context.fetcher is not None, "a json source needs the HTTP client"
        self.id = config.id
        self.config = config
        self.fetcher = context.fetcher
        where = endpoint(config)
        self.url = where.url
        self.headers = {k: v.get_secret_value() for k, v in config.headers.items()}
        self.secrets = Secrets(_secrets(config))
        self.items = jmespath.compile(where.items)
        self.next = jmespath.compile(where.next) if where.next else None
        self.fields = {
            name: jmespath.compile(path)
            for name, path in where.fields.model_dump().items()
            if path is not None
        }

    async def poll(self, cursor: Cursor) -> PollResult:
        # All pages within twice the timeout: well inside the pipeline's guard of three times.
        deadline = asyncio.get_running_loop().time() + self.config.timeout * 2
        try:
            first = await self.fetcher.get(
                self.url,
                timeout=self.config.timeout,
                max_bytes=self.config.max_bytes,
                etag=cursor.get("etag"),
                last_modified=cursor.get("last_modified"),
                accept=JSON_ACCEPT,
                headers=self.headers,
            )
        except FetchError as exc:
            raise SourceError(self._safe(str(exc)), retry_after=exc.retry_after) from None
        if first.not_modified:
            return PollResult([], dict(cursor), not_modified=True)
        digest = hashlib.sha256(first.body).hexdigest()
        new_cursor: dict[str, Any] = {"etag": first.etag, "last_modified": first.last_modified}
        new_cursor["body"] = digest
        if digest == cursor.get("body"):
            return PollResult([], new_cursor, not_modified=True)
        page = await asyncio.to_thread(self._page, first.body, first.content_type, self.url, 1)
        items = list(page.items)
        complete = await self._more(page, first.body, items, deadline)
        articles = await asyncio.to_thread(self._articles, items)
        if self.config.full_text:
            until = deadline + self.config.timeout
            articles = await new_with_full_text(articles, cursor, self.fetcher, self.config, until)
            new_cursor["known"] = remembered(articles)
        # A later page failed: no validators, so that the next poll reads every page again.
        return PollResult(articles, new_cursor if complete else {}, window=True)

    async def _more(self, page: Page, body: bytes, items: list[Any], deadline: float) -> bool:
        """The items of the pages after the first, added to `items`: at most `max_pages` in all,
        within `max_bytes` and twice `timeout`, no URL or body twice. False if a page failed."""
        loop = asyncio.get_running_loop()
        urls, bodies = {self.url}, {hashlib.sha256(body).digest()}
        used = len(body)
        for number in range(2, self.config.max_pages + 1):
            url = self._next_url(page, number)
            if url is None or url in urls or not page.items:
                return True  # the last page, or a page seen already (a loop)
            remaining = deadline - loop.time()
            if remaining < 1 or used >= self.config.max_bytes:
                self._warn(f"stopped before page {number}: out of time or of max_bytes")
                return True
            urls.add(url)
            try:
                result = await self.fetcher.get(
                    url,
                    timeout=min(self.config.timeout, remaining),
                    max_bytes=self.config.max_bytes - used,
                    accept=JSON_ACCEPT,
                    headers=self.headers,
                )
                if (seen := hashlib.sha256(result.body).digest()) in bodies:
                    return True  # the same page again under another URL
                bodies.add(seen)
                used += len(result.body)
                page = await asyncio.to_thread(
                    self._page, result.body, result.content_type, url, number
                )
            except (FetchError, SourceError) as exc:
                self._warn(f"page {number} failed, the pages before it are kept: {exc}")
                return False
            items.extend(page.items)
        return True

    def _next_url(self, page: Page, number: int) -> str | None:
        """The URL of page `number`: the `next` link, or the URL with `page_param` set."""
        if self.config.page_param:
            parts = urlsplit(self.url)
            query = parse_qsl(parts.query, keep_blank_values=True)
            query = [(k, v) for k, v in query if k != self.config.page_param]
            query.append((self.config.page_param, str(number)))
            return urlunsplit(parts._replace(query=urlencode(query)))
        return page.next_url

    def _page(self, body: bytes, content_type: str, url: str, number: int) -> Page:
        """A page's items and next link; SourceError if it is not JSON or holds no list."""
        where = "" if number == 1 else f"page {number}: "
        document = _load(body, content_type, where)
        try:
            found = self.items.search(document)
        except jmespath.exceptions.JMESPathError as exc:
            raise SourceError(f"{where}`items` failed: {_short(exc)}") from None
        if not isinstance(found, list):
            raise SourceError(where + self._safe(_no_list(document, found)))
        return Page(found, self._link(document, url))

    def _link(self, document: Any, url: str) -> str | None:
        if self.next is None:
            return None
        try:
            link = self.next.search(document)
        except jmespath.exceptions.JMESPathError:
            return None
        if not isinstance(link, str) or not link.strip():
            return None
        absolute = urljoin(url, link.strip())
        return absolute if HTTP_URL.fullmatch(absolute) else None

    def _articles(self, items: list[Any]) -> list[Article]:
        fetched = datetime.now(UTC)
        articles, skipped, ids = [], 0, set()
        for item in items:
            article = self._article(item, fetched)
            if article is None or article.id in ids:
                skipped += article is None
                continue
            ids.add(article.id)
            articles.append(article)
        if skipped:
            self._warn(f"{skipped} of {len(items)} items skipped: no title, summary, body or url")
        return articles

    def _article(self, item: Any, fetched: datetime) -> Article | None:
        """An item as an Article; a field missing or of the wrong kind is empty, and an item
        with no title, summary, body or url at all is None (skipped)."""
        if not isinstance(item, dict):
            return None
        text = {name: _text(self._field(name, item)) for name in ("title", "summary", "body")}
        text = {name: html_to_text(value) for name, value in text.items()}
        url = _text(self._field("url", item))
        if not (any(text.values()) or url):
            return None
        return Article(
            source_id=self.id,
            title=text["title"],
            summary=text["summary"],
            body=text["body"],
            url=url,
            guid=_text(self._field("id", item)),
            authors=_authors(self._field("authors", item)),
            published_at=_date(self._field("published", item)),
            fetched_at=fetched,
        )

    def _field(self, name: str, item: Any) -> Any:
        expression = self.fields.get(name)
        if expression is None:
            return None
        try:
            return expression.search(item)
        except jmespath.exceptions.JMESPathError:
            return None  # e.g. join() over a null: the field is missing in this item

    def _safe(self, message: str) -> str:
        """`message` with the URL and header values blanked: an API's error may echo its key."""
        return self.secrets.hide(message)

    def _warn(self, message: str) -> None:
        log.warning("%s", self._safe(message), extra={"source": self.id})


def _secrets(config: JsonConfig) -> list[str]:
    """What an error must not show: the secrets (URL, headers) and each value in the URL's
    query (`?key=...`)."""
    found = secret_values(config)
    if config.url is not None:
        query = urlsplit(config.url.get_secret_value()).query
        found += [value for _, value in parse_qsl(query) if len(value) >= 4]
    return found


def _load(body: bytes, content_type: str, where: str) -> Any:
    """The JSON document, or a SourceError that says what came instead (an HTML error page)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise SourceError(f"{where}not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5000-digit number
        mime = content_type.partition(";")[0].strip() or "no content type"
        if body.lstrip()[:1] == b"<":
            reason = f"looks like HTML or XML ({mime}): an error or login page?"
        else:
            reason = f"{mime}: {_short(exc)}"
        raise SourceError(f"{where}not JSON: {reason}") from None


def _no_list(document: Any, found: Any) -> str:
    """Why `items` found no list: the API's own error if it gave one."""
    if isinstance(document, dict):
        for key in ("errors", "error"):
            if document.get(key):
                return f"the API answered with an error: {_short(document[key])}"
    kind = "nothing" if found is None else f"a {type(found).__name__}"
    return f"`items` found {kind} where a list of items should be"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def _authors(value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    return tuple(text for v in values if (text := _text(v).strip()))


def _date(value: Any) -> datetime | None:
    """An ISO 8601 or RFC 2822 date, or seconds since 1970; None if unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_datetime(value)
