import asyncio
import gzip
import logging
from pathlib import Path

import pytest

from monitor.fetch import Fetcher
from monitor.sources import SourceContext, SourceError
from monitor.sources.rss import RssConfig, RssSource, parse_feed
from tests.conftest import shared
from tests.servers import Route, rss

UA = "trade-monitor-test/1.0 (+https://example.org)"
ITEMS = [
    {
        "title": "Nvidia H20 curbs",
        "link": "https://x.org/1?utm_source=rss",
        "guid": "g1",
        "description": "&lt;p&gt;Export &lt;b&gt;controls&lt;/b&gt; widen.&lt;/p&gt;",
    },
    {"title": "Soybean sales", "link": "https://x.org/2", "guid": "g2", "description": "Up."},
]


async def poll_once(url, cursor=None, timeout=5.0, max_bytes=1_000_000):
    fetcher = Fetcher(UA)
    try:
        config = RssConfig(id="feed", type="rss", url=url, timeout=timeout, max_bytes=max_bytes)
        return await RssSource(config, SourceContext(fetcher, Path("."))).poll(cursor or {})
    finally:
        await fetcher.aclose()


def test_items_become_articles_with_text_and_canonical_urls(feed_server):
    url = feed_server.add("/feed.xml", Route(rss(ITEMS)))
    result = asyncio.run(poll_once(url))
    first, second = result.articles
    assert first.title == "Nvidia H20 curbs"
    assert first.summary == "Export controls widen."
    assert first.canonical_url == "https://x.org/1"
    assert first.guid == "g1"
    assert first.published_at is not None
    assert second.title == "Soybean sales"
    assert feed_server.hits("/feed.xml")[0]["headers"]["User-Agent"] == UA


def test_etag_gives_304_which_costs_nothing(feed_server):
    url = feed_server.add("/feed.xml", Route(rss(ITEMS), etag='"v1"'))
    first = asyncio.run(poll_once(url))
    assert first.cursor["etag"] == '"v1"'
    second = asyncio.run(poll_once(url, first.cursor))
    assert second.not_modified and second.articles == []
    assert feed_server.hits("/feed.xml")[1]["headers"]["If-None-Match"] == '"v1"'


def test_last_modified_is_sent_back(feed_server):
    stamp = "Wed, 01 Jan 2025 00:00:00 GMT"
    url = feed_server.add("/feed.xml", Route(rss(ITEMS), last_modified=stamp))
    first = asyncio.run(poll_once(url))
    second = asyncio.run(poll_once(url, first.cursor))
    assert second.not_modified
    assert feed_server.hits("/feed.xml")[1]["headers"]["If-Modified-Since"] == stamp


def test_unchanged_body_without_validators_is_not_parsed_again(feed_server):
    url = feed_server.add("/feed.xml", Route(rss(ITEMS)))
    first = asyncio.run(poll_once(url))
    second = asyncio.run(poll_once(url, first.cursor))
    assert second.not_modified and second.articles == []


@pytest.mark.parametrize(
    "stored",
    [
        '"\u2603"',  # beyond Latin-1: written by a version that kept httpx's decoded text
        '"v1"\r\nX-Injected: 1',
        "",
        " ",
        '"' + "x" * 5000 + '"',
        12345,
    ],
    ids=["snowman", "newline", "empty", "blank", "too-long", "not-text"],
)
def test_a_stored_validator_that_cannot_go_back_never_fails_a_poll(feed_server, stored):
    url = feed_server.add("/feed.xml", Route(rss(ITEMS), etag='"v1"'))
    result = asyncio.run(poll_once(url, {"etag": stored, "last_modified": stored}))
    assert len(result.articles) == 2 and result.cursor["etag"] == '"v1"'
    [hit] = feed_server.hits("/feed.xml")
    assert "X-Injected" not in hit["headers"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:port/feed?key=k3y", "http://127.0.0.1/feed?key=k3y\x00"]
)
def test_a_request_that_cannot_be_built_is_a_source_error(url):
    with pytest.raises(SourceError, match="request failed: InvalidURL") as info:
        asyncio.run(poll_once(url))
    assert "k3y" not in str(info.value)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (Route(b"gone", status=404), "HTTP 404"),
        (Route(b"oops", status=500), "HTTP 500"),
        (Route(b"<html><body>Not a feed at all", content_type="text/html"), "not a feed"),
        (Route(rss(ITEMS), delay=3), "timed out after 1s"),
        (Route(rss(ITEMS), drip=0.05), "timed out after 1s"),
    ],
    ids=["404", "500", "broken", "slow-headers", "drip-feed"],
)
def test_failures_are_source_errors_with_a_short_message(feed_server, route, message):
    url = feed_server.add("/feed", route)
    with pytest.raises(SourceError, match=message) as info:
        asyncio.run(poll_once(url, timeout=1.0))
    assert "127.0.0.1" not in str(info.value)  # no URL (it may carry an API key)


def test_missing_path_is_404(feed_server):
    with pytest.raises(SourceError, match="HTTP 404"):
        asyncio.run(poll_once(feed_server.url + "/nothing-here"))


def test_byte_cap_counts_after_decompression(feed_server):
    bomb = b"<rss>" + b" " * 5_000_000 + b"</rss>"
    assert len(gzip.compress(bomb)) < 20_000
    url = feed_server.add("/bomb.xml", Route(bomb, gzip=True))
    with pytest.raises(SourceError, match="cap"):
        asyncio.run(poll_once(url, max_bytes=1_000_000))


def test_gzip_feed_is_read(feed_server):
    url = feed_server.add("/gz.xml", Route(rss(ITEMS), gzip=True))
    assert len(asyncio.run(poll_once(url)).articles) == 2


def test_redirects_are_followed_up_to_five(feed_server):
    url = feed_server.add("/final.xml", Route(rss(ITEMS)))
    for hop in range(5):
        url = feed_server.add(f"/hop{hop}", Route(redirect_to=url))
    assert len(asyncio.run(poll_once(url)).articles) == 2
    url = feed_server.add("/hop5", Route(redirect_to=url))
    with pytest.raises(SourceError, match="more than 5 redirects"):
        asyncio.run(poll_once(url))


def test_connection_refused_is_a_source_error(feed_server):
    port = feed_server.httpd.server_address[1]
    feed_server.stop()
    with pytest.raises(SourceError):
        asyncio.run(poll_once(f"http://127.0.0.1:{port}/feed"))


def test_real_feed_snapshots_parse():
    folder = shared("real-feeds")
    parsed = 0
    for path in sorted(folder.iterdir()):
        if path.suffix in (".md", ".txt"):
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        try:
            articles = parse_feed(data, "real")
        except SourceError:
            continue
        parsed += bool(articles)
        for article in articles:
            assert article.id and "<" not in article.title[:1]
    assert parsed >= 25


def test_feedparser_corpus_never_crashes_or_hangs(caplog):
    folder = shared("feedparser-tests")
    caplog.set_level(logging.ERROR)
    count = errors = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or (path.suffix in (".md", ".txt") and "LICENSE" in path.name):
            continue
        count += 1
        try:
            parse_feed(path.read_bytes(), "corpus")
        except SourceError:
            errors += 1
    assert count > 2000
    assert errors < count  # most are readable; none may raise anything but SourceError
