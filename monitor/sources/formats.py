"""Article files: one reader per format, chosen by the file's extension.

Used by the `files` source and by `trade-monitor match`. A reader raises
`SourceError` with a message a user can act on when nothing in the file can be
read; a file of many records (a JSON list, JSON lines) keeps its good records
and notes each bad one, so one broken line never loses the others. A malformed
file never crashes the caller.
"""

from __future__ import annotations

import codecs
import email
import email.message
import email.policy
import email.utils
import html
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.article import Article, HtmlScanner, html_to_text, parse_datetime
from monitor.sources import BUILT_IN, SourceError
from monitor.sources.fulltext import BOMS, CHARSET, ENCODING_ALIASES, decode_html
from monitor.sources.newswire import is_newswire, parse_text
from monitor.sources.rss import parse_feed


@dataclass(frozen=True)
class Parsed:
    """The articles of one file, and a note for each record left out (a bad line or item)."""

    articles: list[Article]
    skipped: list[str] = field(default_factory=list)


Reader = Callable[[bytes, str, datetime], Parsed]
ONE_ARTICLE_PER_FILE = frozenset({".txt", ".html", ".htm", ".eml"})


def read_txt(data: bytes, source_id: str, modified: datetime) -> Parsed:
    story = parse_text(_decode(data), year_hint=modified.year)
    if not (story.title or story.body):
        return Parsed([])
    article = Article(
        source_id=source_id,
        title=story.title,
        body=story.body,
        authors=story.authors,
        published_at=story.published_at,
    )
    return Parsed([article])


def read_json(data: bytes, source_id: str, modified: datetime) -> Parsed:
    value = _load_json(_decode(data), "")
    parsed = Parsed([])
    for number, record in enumerate(value if isinstance(value, list) else [value], 1):
        try:
            parsed.articles.append(article_from_record(record, source_id, number))
        except SourceError as exc:
            parsed.skipped.append(str(exc))
    return parsed


def read_jsonl(data: bytes, source_id: str, modified: datetime) -> Parsed:
    parsed = Parsed([])
    for number, line in enumerate(_decode(data).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = _load_json(line, f"line {number}: ")
            parsed.articles.append(article_from_record(record, source_id, number, "line"))
        except SourceError as exc:
            parsed.skipped.append(str(exc))
    return parsed


def read_json_lines(lines: Iterable[str], source_id: str) -> Iterator[Article]:
    """Articles from JSON lines (stdin for `match -`, where a record may name its `source`, to
    try a rule's `sources:`); SourceError at the first bad line."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            record = _load_json(line, f"line {number}: ")
            yield article_from_record(record, source_id, number, "line", own_source=True)


def _load_json(text: str, where: str) -> Any:
    """json.loads, with every way it can fail (deep nesting, huge numbers) as a SourceError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at = "" if where else f" at line {exc.lineno} column {exc.colno}"
        raise SourceError(f"{where}invalid JSON{at}: {exc.msg}") from None
    except RecursionError:
        raise SourceError(f"{where}invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise SourceError(f"{where}invalid JSON: {exc}") from None


def article_from_record(
    record: Any, source_id: str, number: int = 1, what: str = "item", own_source: bool = False
) -> Article:
    """A JSON object with `title`, `summary`, `body`, `url`, `published`, ... as an Article.

    SourceError, naming the record ("item 3" or "line 3"), if it is not one. Only where
    the user writes the record (`match -`, rule tests, labelled cases: `own_source`) may it
    name its `source`: a file in a drop folder claiming another source's name could
    silence that source's stories and slip past rules' `sources:`.
    """
    where = f"{what} {number}"
    if not isinstance(record, dict):
        raise SourceError(f"{where}: expected a JSON object, got {type(record).__name__}")
    text = {k: record.get(k) for k in ("title", "summary", "body", "url", "id")}
    for key, value in text.items():
        if value is not None and not isinstance(value, str | int):
            raise SourceError(f"{where}: `{key}` must be a string")
    authors = record.get("authors") or record.get("author") or ()
    if isinstance(authors, str):
        authors = (authors,)
    elif isinstance(authors, list | tuple) and all(isinstance(a, str | int) for a in authors):
        authors = tuple(str(a) for a in authors)
    else:
        raise SourceError(f"{where}: `authors` must be a string or a list of strings")
    published = record.get("published") or record.get("published_at") or record.get("date")
    return Article(
        source_id=str((own_source and record.get("source")) or source_id),
        title=html_to_text(str(text["title"] or "")),
        summary=html_to_text(str(text["summary"] or "")),
        body=html_to_text(str(text["body"] or record.get("text") or "")),
        url=str(text["url"] or record.get("link") or ""),
        guid=str(text["id"] or ""),
        authors=authors,
        published_at=parse_datetime(published),
    )


ATTRIBUTE = re.compile(r"""([^\s/>"'=]+)(?:\s*=\s*(?:"([^"]*+)"|'([^']*+)'|([^\s>]*)))?""")


class _PageMeta(HtmlScanner):
    """The title, canonical link, author and publication time of a saved web page.

    Read by the same one-pass scanner as article text: CPython 3.11's HTMLParser
    takes minutes on a page of unclosed tags.
    """

    def __init__(self, markup: str) -> None:
        super().__init__(markup)
        self.meta: dict[str, str] = {}
        self.in_title = False
        self.title_parts: list[str] = []

    def start_tag(self, name: str, attributes: str, self_closing: bool) -> None:
        values = {
            m[1].lower(): html.unescape(m[2] or m[3] or m[4] or "")
            for m in ATTRIBUTE.finditer(attributes)
        }
        if name == "title":
            self.in_title = True
        elif name == "meta":
            key = (values.get("property") or values.get("name") or "").lower()
            if key and "content" in values:
                self.meta.setdefault(key, values["content"])
        elif name == "link" and "canonical" in values.get("rel", "").lower().split():
            self.meta.setdefault("canonical", values.get("href", ""))

    def end_tag(self, name: str) -> None:
        if name == "title":
            self.in_title = False

    def text(self, text: str) -> None:
        if self.in_title:
            self.title_parts.append(text)


def read_html(data: bytes, source_id: str, modified: datetime) -> Parsed:
    markup = _decode(data, markup=True)
    page = _PageMeta(markup)
    page.scan()
    meta = page.meta
    title = meta.get("og:title") or " ".join("".join(page.title_parts).split())
    body = html_to_text(markup.split("<body", 1)[-1] if "<body" in markup else markup)
    if title and body.startswith(title):
        body = body[len(title) :].lstrip()
    author = meta.get("author") or meta.get("article:author") or ""
    article = Article(
        source_id=source_id,
        title=title,
        summary=meta.get("description") or meta.get("og:description") or "",
        body=body,
        url=meta.get("canonical") or meta.get("og:url") or "",
        authors=(author,) if author else (),
        published_at=parse_datetime(meta.get("article:published_time")),
    )
    return Parsed([article])


EML_HEADER_CHARS = 2_000  # a header's value is cut to this many characters
EML_PARAMETERS = 10  # and a Content-Type or Content-Disposition to its first parameters
EML_DEPTH = 8  # MIME parts nested deeper make the message unreadable


class _Part(email.message.Message):
    """A MIME part that knows how deep it is nested.

    The stdlib parser checks every line against the boundary of every enclosing
    part, so its time grows with lines times depth; refusing parts nested deeper
    than EML_DEPTH keeps that linear.
    """

    depth = 0

    def attach(self, payload: email.message.Message) -> None:  # type: ignore[override]
        if isinstance(payload, _Part):
            payload.depth = self.depth + 1
            if payload.depth > EML_DEPTH:
                raise SourceError(f"MIME parts nested more than {EML_DEPTH} deep")
        super().attach(payload)


class _BoundedHeaders(email.policy.Compat32):
    """Parsing keeps each header as plain text cut to EML_HEADER_CHARS (at a space).

    policy.default parses headers into objects in time and memory that grow faster
    than their length (1 MB of encoded words or parameters takes minutes and gigabytes);
    compat32 keeps them as text, and only the few headers read are decoded, once cut.
    """

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        if len(value) > EML_HEADER_CHARS:  # cut at a space, not inside an encoded word
            value = value[:EML_HEADER_CHARS]
            value = value[: value.rfind(" ")] if " " in value else value
        if name.lower() in ("content-type", "content-disposition"):
            value = ";".join(value.split(";", EML_PARAMETERS)[:EML_PARAMETERS])
        return name, value


_EML_POLICY = _BoundedHeaders(message_factory=_Part)


def read_eml(data: bytes, source_id: str, modified: datetime) -> Parsed:
    """The subject, sender, date, id and text body of an email, in time linear in its size."""
    message = email.message_from_bytes(data, policy=_EML_POLICY)
    content = _eml_body(message)
    subject = " ".join(_eml_header(message, "subject").split())
    sender = email.utils.parseaddr(_eml_header(message, "from"))
    published = parse_datetime(_eml_header(message, "date"))
    guid = _eml_header(message, "message-id").strip()
    if is_newswire(content):
        story = parse_text(content, year_hint=(published or modified).year)
        title, body, authors = story.title or subject, story.body, story.authors
        published = story.published_at or published
    else:
        title, body, authors = subject, content.strip(), ((sender[0] or sender[1]),)
    authors = tuple(a for a in authors if a)
    article = Article(
        source_id, title, body=body, guid=guid, authors=authors, published_at=published
    )
    return Parsed([article])


def _eml_header(message: email.message.Message, name: str) -> str:
    """One header, its encoded words decoded; "" if absent. Its value is already cut short."""
    value = message.get(name)
    if value is None:
        return ""
    return str(email.policy.default.header_factory(name, str(value)))


def _eml_body(message: email.message.Message) -> str:
    """The text of the first plain-text part, else of the first HTML part; "" if none."""
    parts = list(_text_parts(message))
    part = next((p for p in parts if p.get_content_subtype() == "plain"), None)
    if part is None and (part := next(iter(parts), None)) is None:
        return ""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        text = payload.decode(part.get_content_charset() or "ascii", errors="replace")
    except LookupError:  # a charset Python does not know
        text = _decode(payload)
    return html_to_text(text) if part.get_content_subtype() == "html" else text


def _text_parts(part: email.message.Message) -> Iterator[email.message.Message]:
    """The plain and HTML parts that are not attachments, in order, as get_body sees them:
    inside multiparts, but not inside an attached or forwarded message."""
    if part.get_content_disposition() == "attachment":
        return
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for child in part.get_payload():
            if isinstance(child, email.message.Message):  # always, in a multipart
                yield from _text_parts(child)
    elif part.get_content_type() in ("text/plain", "text/html"):
        yield part


def read_xml(data: bytes, source_id: str, modified: datetime) -> Parsed:
    return Parsed(parse_feed(data, source_id))


READERS: dict[str, Reader] = {
    ".txt": read_txt,
    ".json": read_json,
    ".jsonl": read_jsonl,
    ".html": read_html,
    ".htm": read_html,
    ".eml": read_eml,
    ".xml": read_xml,
    ".rss": read_xml,
    ".atom": read_xml,
}


def read_path(path: Path, source_id: str, max_bytes: int = BUILT_IN.max_bytes) -> list[Article]:
    """The articles in one file; SourceError if it cannot be read or any record is bad.

    For `trade-monitor match`, where the user named the file: a bad record is an
    error to fix. The `files` source reads with `parse_file` and keeps the good ones.
    """
    if path.suffix.lower() not in READERS:
        raise SourceError(f"{path.name}: unsupported file type (expected {', '.join(READERS)})")
    try:
        stat = path.stat()
        if stat.st_size > max_bytes:
            raise SourceError(f"{path.name}: {stat.st_size} bytes is over the {max_bytes} cap")
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path.name}: cannot read: {exc.strerror or exc}") from None
    try:
        parsed = parse_file(path.name, data, source_id, stat.st_mtime)
    except SourceError as exc:
        raise SourceError(f"{path.name}: {exc}") from None
    if parsed.skipped:
        more = f" (and {len(parsed.skipped) - 1} more)" if len(parsed.skipped) > 1 else ""
        raise SourceError(f"{path.name}: {parsed.skipped[0]}{more}")
    return parsed.articles


def parse_file(name: str, data: bytes, source_id: str, mtime: float) -> Parsed:
    """The articles in a file's bytes, read by its name's extension; SourceError if none can be."""
    reader = READERS[Path(name).suffix.lower()]
    try:
        modified = datetime.fromtimestamp(mtime, UTC)
    except (OverflowError, OSError, ValueError):  # an absurd mtime is no reason to fail
        modified = datetime.now(UTC)
    try:
        return reader(data, source_id, modified)
    except SourceError:
        raise
    except Exception as exc:  # a reader bug must not take the daemon down
        raise SourceError(f"unreadable ({type(exc).__name__}: {exc})") from None


# Legacy encodings of Chinese, Japanese and Korean (Python's codec names), detected when a
# file is not UTF-8: their bytes also decode as cp1252, into mojibake that matches no rule.
CJK_CODECS = frozenset({
    "gb18030", "gbk", "gb2312", "hz", "big5", "big5hkscs", "cp950", "cp932", "shift_jis",
    "shift_jis_2004", "shift_jisx0213", "euc_jp", "euc_jis_2004", "euc_jisx0213", "iso2022_jp",
    "iso2022_jp_2", "euc_kr", "cp949", "johab", "iso2022_kr",
})  # fmt: skip


def _decode(data: bytes, markup: bool = False) -> str:
    """A file's text: UTF-8 (with or without BOM), a UTF-16 BOM, an HTML file's own
    `<meta charset>`, a detected CJK encoding (GBK, Shift_JIS, EUC-KR, Big5), else
    cp1252, the usual legacy encoding of English text, else Latin-1 (never fails).

    Detection (charset-normalizer, through trafilatura as for pages) is trusted only
    for CJK encodings: on short Western text it guesses among single-byte code pages
    (cp1250 for café), where cp1252 is right far more often.
    """
    for bom, bom_codec in BOMS:
        if data.startswith(bom):
            return data.decode(bom_codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if markup and CHARSET.search(data[:4096]):
        return decode_html(data)  # the label, read as browsers read it
    detected = _detected_cjk_codec(data)
    for encoding in (*([detected] if detected else []), "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _detected_cjk_codec(data: bytes) -> str | None:
    """The detector's best guess if it is a CJK encoding (read as browsers read its label)."""
    from trafilatura.utils import detect_encoding  # 0.4 s to import: only for legacy files

    # UTF-16 without a BOM is a detector's guess on short text, never what a file is
    guess = next((g for g in detect_encoding(data) if not g.lower().startswith("utf")), None)
    if guess is None:
        return None
    label = ENCODING_ALIASES.get(guess.lower(), guess)
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        return None
    return codec if codec.replace("-", "_") in CJK_CODECS else None
