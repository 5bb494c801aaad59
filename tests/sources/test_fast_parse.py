"""The fast parse path (monitor.sources.feeds) makes the Articles feedparser makes.

Every file of ../shared/testdata/real-feeds/ and of feedparser's own corpus the
fast path accepts is parsed both ways; the Articles must be equal on every field.
"""

from __future__ import annotations

import gzip
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.article import Article
from monitor.sources import SourceError, rss
from monitor.sources.feeds import Unsupported, fast_entries

SHARED = Path(__file__).resolve().parents[3] / "shared" / "testdata"
REAL = SHARED / "real-feeds"
CORPUS = SHARED / "feedparser-tests"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _slow(data: bytes, content_type: str = "") -> list[Article] | str:
    try:
        entries = rss._feedparser_entries(data, content_type)
    except SourceError as exc:
        return f"error: {exc}"
    return [a for a in (rss._article(e, "s", WHEN) for e in entries) if a]


def _fast(data: bytes, content_type: str = "") -> list[Article] | None:
    try:
        entries = fast_entries(data, content_type)
    except Unsupported:
        return None
    return [a for a in (rss._article(e, "s", WHEN) for e in entries) if a]


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".md", ".txt"))


def _bodies(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _compare(paths: list[Path], content_type: str = "") -> tuple[int, list[str]]:
    taken, differ = 0, []
    for path in paths:
        data = _bodies(path)
        fast = _fast(data, content_type)
        if fast is None:
            continue
        taken += 1
        if fast != _slow(data, content_type):
            differ.append(path.name)
    return taken, differ


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/testdata/real-feeds is absent")
def test_real_feeds_parse_the_same_both_ways() -> None:
    taken, differ = _compare(_files(REAL))
    assert differ == []
    assert taken >= 11  # the plain RSS 2.0 feeds: the fast path must take them


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/testdata/real-feeds is absent")
@pytest.mark.parametrize(
    "content_type", ["application/rss+xml", "application/xml; charset=utf-8", "text/xml"]
)
def test_real_feeds_with_a_content_type(content_type: str) -> None:
    assert _compare(_files(REAL), content_type)[1] == []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/testdata/feedparser-tests is absent")
def test_feedparser_corpus_parses_the_same_both_ways() -> None:
    taken, differ = _compare(_files(CORPUS))
    assert differ == []
    assert taken > 100


RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>t</title>
<item><title>Tariffs &amp; chips</title><link>https://example.com/a?x=1&amp;y=2</link>
<guid isPermaLink="false">id-1</guid><pubDate>Tue, 03 Jun 2025 10:00:00 GMT</pubDate>
<description>&lt;p&gt;Summary&lt;/p&gt;</description></item>
</channel></rss>"""


def test_a_plain_feed_takes_the_fast_path() -> None:
    fast = _fast(RSS)
    assert fast is not None and fast == _slow(RSS)
    assert fast[0].title == "Tariffs & chips" and fast[0].guid == "id-1"
    assert fast[0].published_at == datetime(2025, 6, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "data",
    [
        RSS.replace(b"</channel></rss>", b""),  # truncated: not well-formed
        RSS.replace(b"<title>t</title>", b"<title>t</title><bad>&nbsp;</bad>"),  # undefined entity
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e "x">]>'
        + RSS.split(b"?>", 1)[1].replace(b"Summary", b"&e;"),  # a DTD
        RSS.replace(b'encoding="utf-8"', b'encoding="iso-8859-1"'),
        RSS.replace(b"<item>", b"<item><Title>x</Title>"),  # feedparser folds case
        RSS.replace(b'version="2.0"', b'version="0.91"'),
        b"\n" + RSS,  # a newline before the declaration
        b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>x</title></entry></feed>",
    ],
)
def test_the_fallback_is_taken_and_equals_todays_result(data: bytes) -> None:
    with pytest.raises(Unsupported):
        fast_entries(data)
    got = [replace(a, fetched_at=WHEN) for a in _parse(data)]
    assert got == _slow(data) or isinstance(_slow(data), str)


def _parse(data: bytes) -> list[Article]:
    try:
        return rss.parse_feed(data, "s")
    except SourceError:
        return []


def test_a_bug_in_the_fast_path_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> list[object]:
        raise RuntimeError("bug")

    monkeypatch.setattr(rss, "keyed_entries", broken)
    got = [replace(a, fetched_at=WHEN) for a in rss.parse_feed(RSS, "s")]
    assert got == _slow(RSS)
