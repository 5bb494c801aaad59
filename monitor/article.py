"""The `Article`: what every source produces and every later stage reads.

HTML is turned into plain text here, once, so matching, alerts and storage all
see the same clean text. The id is stable across polls and restarts: it comes
from the feed's guid when there is one, else the canonical URL, both within
the source (another source's item with the same link may be another story),
else a hash of the content, so the same story fetched twice is recognised as
seen. Whether an article was seen is decided by the store (`Store.unseen`).
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
        _clean_fields(self)
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


# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings, overrides and
# isolates: invisible in a title, yet they rewrite a terminal (ESC [ ...) or reverse a line.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# a lone surrogate (JSON's "\ud800") cannot be encoded, so it could not be hashed or stored
SURROGATE = re.compile("[\ud800-\udfff]")
TEXT_FIELDS = ("source_id", "title", "summary", "body", "url", "guid")


def clean_text(text: str) -> str:
    """The text without control characters; CR and CRLF become LF.

    Outside text is cleaned once, when an `Article` is made, so that no later stage
    (matching, storage, every notifier, the CLI) can be handed a terminal escape.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return CONTROL.sub("", SURROGATE.sub("\ufffd", text))


def terminal_safe(text: str) -> str:
    """Text for a terminal: each control character shown escaped (ESC as `\\x1b`).

    For printing text that may predate `clean_text` (old database rows) or never went
    through an `Article` (server error text, file names from a drop folder).
    """
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _clean_fields(article: Article) -> None:
    for name in TEXT_FIELDS:
        value = getattr(article, name)
        if CONTROL.search(value):
            object.__setattr__(article, name, clean_text(value))
    if any(CONTROL.search(author) for author in article.authors):
        object.__setattr__(article, "authors", tuple(clean_text(a) for a in article.authors))


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
RAW_TEXT_END = {  # their content is not markup: it runs to the matching end tag
    "script": re.compile(r"</script", re.IGNORECASE),
    "style": re.compile(r"</style", re.IGNORECASE),
}
TAG_NAME = re.compile(r"(/?)([a-zA-Z][^\s/>]*+)")
# the rest of a tag: to the first `>` outside quotes; possessive, so a failure never backtracks
TAG_REST = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
TAG_OPEN = re.compile(r"<[a-zA-Z/!]")
CHAR_REF = re.compile(r"&[#a-zA-Z0-9]+;")


class HtmlScanner:
    """HTML as start tags, end tags and text, in one pass that is linear in the markup.

    CPython's `html.parser` rescans to the end of its input at each `<` that does not
    close, so `"<a " * 50_000` takes minutes and one feed title stalls the daemon. Here
    each character is read a bounded number of times: a `<` with no `>` anywhere after
    it is text; a tag ends at its first `>` outside quotes, and once one quote is left
    open, at its first `>`; an unclosed comment or CDATA section is text. Subclasses
    override `start_tag`, `end_tag` and `text`.
    """

    def __init__(self, markup: str) -> None:
        self.markup = markup
        self.last_close = markup.rfind(">")
        self.quotes = True  # False once a quote was left open: tags then end at the first `>`
        self.unclosed: set[str] = set()  # `-->` or `]]>` found nowhere after some point

    def scan(self) -> None:
        markup, position = self.markup, 0
        while (start := markup.find("<", position)) >= 0:
            if start > position:
                self.text(html.unescape(markup[position:start]))
            position = self._construct(start)
        if position < len(markup):
            self.text(html.unescape(markup[position:]))

    def start_tag(self, name: str, attributes: str, self_closing: bool) -> None:
        """A start tag: `name` in lower case, `attributes` as written."""

    def end_tag(self, name: str) -> None:
        """An end tag, `name` in lower case."""

    def text(self, text: str) -> None:
        """Text between tags, character references resolved."""

    def _construct(self, start: int) -> int:
        """Handle what starts at the `<` at `start`; the position just after it."""
        markup = self.markup
        if start > self.last_close:
            return self._literal(start)
        if markup.startswith("<!--", start):
            return self._section(start, 4, "-->", keep=False)
        if markup.startswith("<![CDATA[", start):
            return self._section(start, 9, "]]>", keep=True)
        if markup.startswith(("<!", "<?"), start):  # a doctype or processing instruction
            return markup.find(">", start) + 1
        name = TAG_NAME.match(markup, start + 1)
        if name is None:
            return self._literal(start)
        end = self._tag_end(name.end())
        tag = name[2].lower()
        if name[1]:
            self.end_tag(tag)
            return end
        self.start_tag(tag, markup[name.end() : end - 1], markup[end - 2] == "/")
        if tag in RAW_TEXT_END and markup[end - 2] != "/":
            found = RAW_TEXT_END[tag].search(markup, end)
            return found.start() if found else len(markup)
        return end

    def _tag_end(self, position: int) -> int:
        """Just after the `>` that ends the tag whose name ends at `position`."""
        if self.quotes:
            if found := TAG_REST.match(self.markup, position):
                return found.end()
            self.quotes = False
        return self.markup.find(">", position) + 1

    def _section(self, start: int, opening: int, closing: str, keep: bool) -> int:
        """A comment (dropped) or CDATA section (kept as text); text itself if never closed."""
        end = -1 if closing in self.unclosed else self.markup.find(closing, start + opening)
        if end < 0:
            self.unclosed.add(closing)
            return self._literal(start)
        if keep:
            self.text(self.markup[start + opening : end])
        return end + len(closing)

    def _literal(self, start: int) -> int:
        self.text("<")
        return start + 1


class _TextExtractor(HtmlScanner):
    """Collects visible text, starting a new paragraph at each block element."""

    def __init__(self, markup: str) -> None:
        super().__init__(markup)
        self.paragraphs: list[list[str]] = [[]]
        self.skipping = 0

    def start_tag(self, name: str, attributes: str, self_closing: bool) -> None:
        if name in SKIP_TAGS and not self_closing:
            self.skipping += 1
        elif name in BLOCK_TAGS:
            self.paragraphs.append([])

    def end_tag(self, name: str) -> None:
        if name in SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif name in BLOCK_TAGS:
            self.paragraphs.append([])

    def text(self, text: str) -> None:
        if not self.skipping:
            self.paragraphs[-1].append(text)

    def visible(self) -> str:
        self.scan()
        paragraphs = (normalise_space("".join(parts)) for parts in self.paragraphs)
        return "\n\n".join(p for p in paragraphs if p)


def looks_like_html(text: str) -> bool:
    """A tag that closes (`<p>`, `</b>`, `<!-- -->`) or a character reference (`&amp;`).

    Linear: a tag closes somewhere iff the first `<` that opens one has a `>` after it.
    """
    opened = TAG_OPEN.search(text)
    return bool(opened and text.find(">", opened.end()) >= 0) or bool(CHAR_REF.search(text))


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: paragraphs separated by blank lines."""
    if not markup:
        return ""
    if not looks_like_html(markup):
        return markup.strip()
    return _TextExtractor(markup).visible()


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
