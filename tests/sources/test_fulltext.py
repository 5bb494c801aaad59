"""`full_text: true`: each new item's page fetched once, its main text the article's body."""

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.pages import (
    CHINESE,
    JAPANESE,
    NEWS_PARAGRAPHS,
    chinese_article,
    japanese_article,
    navigation_page,
    news_article,
    samples,
)
from monitor import fetch
from monitor.article import Article
from monitor.fetch import Fetcher, FetchError
from monitor.sources import SourceContext
from monitor.sources.fulltext import PageError, decode_html, extract_page, with_full_text
from monitor.sources.rss import RssConfig, RssSource
from tests.servers import Route, rss

UA = "trade-monitor-test/1.0 (+https://example.org)"
HTML = "text/html; charset=utf-8"
SUMMARY = "Commerce widens chip curbs."


def feed(server, links):
    items = [
        {"title": f"Story {i}", "link": link, "guid": f"g{i}", "description": SUMMARY}
        for i, link in enumerate(links)
    ]
    return server.add("/feed.xml", Route(rss(items)))


async def poll(url, cursor, **settings):
    fetcher = Fetcher(UA)
    try:
        config = RssConfig(id="feed", type="rss", url=url, full_text=True, **settings)
        return await RssSource(config, SourceContext(fetcher, Path("."))).poll(cursor)
    finally:
        await fetcher.aclose()


def private(**settings):
    return {"allow_private": True, "timeout": 5.0, **settings}


def test_new_items_get_their_pages_main_text_and_keep_their_link(feed_server):
    page = feed_server.add(
        "/news/2025/03/chip-curbs", Route(news_article().encode(), content_type=HTML)
    )
    url = feed(feed_server, [page])
    (article,) = asyncio.run(poll(url, {"known": []}, **private())).articles
    for paragraph in NEWS_PARAGRAPHS:
        assert paragraph in article.body
    for junk in ("Accept all cookies", "Celebrity chef", "Shipping rates", "Copyright 2025"):
        assert junk not in article.body
    assert article.summary == SUMMARY
    assert article.url == page
    assert article.guid == "g0"


def test_each_page_is_fetched_once_only_for_new_items(feed_server):
    pages = [
        feed_server.add(f"/a{i}", Route(news_article().encode(), content_type=HTML))
        for i in range(3)
    ]
    url = feed(feed_server, pages[:2])
    first = asyncio.run(poll(url, {"known": []}, **private()))
    assert len(first.cursor["known"]) == 2
    url = feed(feed_server, pages)  # a third item appears
    second = asyncio.run(poll(url, first.cursor, **private()))
    assert [len(feed_server.hits(f"/a{i}")) for i in range(3)] == [1, 1, 1]
    assert NEWS_PARAGRAPHS[0] in second.articles[2].body
    assert second.articles[0].body == ""  # known: handed on before, not fetched again
    unchanged = asyncio.run(poll(url, second.cursor, **private()))
    assert unchanged.not_modified and unchanged.cursor["known"] == second.cursor["known"]


def test_a_first_poll_without_backfill_fetches_no_page(feed_server):
    page = feed_server.add("/a", Route(news_article().encode(), content_type=HTML))
    result = asyncio.run(poll(feed(feed_server, [page]), {}, **private()))
    assert feed_server.hits("/a") == []
    assert result.cursor["known"] == [result.articles[0].id]
    asyncio.run(poll(feed(feed_server, [page]), {}, **private(backfill="24h")))
    assert len(feed_server.hits("/a")) == 1


def test_an_item_link_to_loopback_is_refused_without_allow_private(feed_server, caplog):
    caplog.set_level(logging.INFO, logger="monitor.sources.fulltext")
    page = feed_server.add("/a", Route(news_article().encode(), content_type=HTML))
    (article,) = asyncio.run(poll(feed(feed_server, [page]), {"known": []})).articles
    assert feed_server.hits("/a") == []  # never reached
    assert article.body == "" and article.summary == SUMMARY
    assert "private, loopback or link-local" in caplog.text
    assert page not in caplog.text  # the host only, never the whole link


def test_a_redirect_to_a_private_address_is_refused(feed_server, monkeypatch):
    """Every hop is checked. Only loopback may be used here, so the first hop's 127.0.0.1
    passes as public (as a public site would), and the redirect to 127.0.0.1 must not."""
    target = feed_server.add("/internal", Route(b"secret", content_type=HTML))
    start = feed_server.add("/outside", Route(redirect_to=target))
    checked = []

    def public_once(address):
        checked.append(address)
        return len(checked) == 1

    monkeypatch.setattr(fetch, "_public", public_once)

    async def get():
        fetcher = Fetcher(UA)
        try:
            return await fetcher.get(start, timeout=5, max_bytes=1000, public_only=True)
        finally:
            await fetcher.aclose()

    with pytest.raises(FetchError, match="private"):
        asyncio.run(get())
    assert len(feed_server.hits("/outside")) == 1
    assert feed_server.hits("/internal") == []


def test_a_50_mb_page_is_capped_and_the_feed_text_kept(feed_server, caplog):
    caplog.set_level(logging.INFO, logger="monitor.sources.fulltext")
    huge = b"<html><body><p>" + b"tariff " * (50 * 1024 * 1024 // 7) + b"</p></body></html>"
    page = feed_server.add("/huge", Route(huge, content_type=HTML))
    result = asyncio.run(
        poll(feed(feed_server, [page]), {"known": []}, **private(max_bytes=1_000_000))
    )
    assert result.articles[0].body == "" and result.articles[0].summary == SUMMARY
    assert "byte cap" in caplog.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
    ],
)
def test_a_pdf_or_an_image_is_refused_and_the_feed_text_kept(
    feed_server, caplog, body, content_type
):
    caplog.set_level(logging.INFO, logger="monitor.sources.fulltext")
    page = feed_server.add("/file", Route(body, content_type=content_type))
    (article,) = asyncio.run(poll(feed(feed_server, [page]), {"known": []}, **private())).articles
    assert article.body == "" and article.summary == SUMMARY
    assert f"not an HTML page ({content_type})" in caplog.text


@pytest.mark.parametrize(
    ("page", "encoding", "sentences"),
    [(chinese_article(), "gb2312", CHINESE[1:]), (japanese_article(), "shift_jis", JAPANESE)],
)
def test_cjk_pages_without_a_charset_header_are_decoded_right(
    feed_server, page, encoding, sentences
):
    url = feed_server.add("/cjk", Route(page.encode(encoding), content_type="text/html"))
    (article,) = asyncio.run(poll(feed(feed_server, [url]), {"known": []}, **private())).articles
    for sentence in sentences:
        assert sentence in article.body


@pytest.mark.parametrize(("text", "encoding"), [(CHINESE, "gb2312"), (JAPANESE, "shift_jis")])
def test_without_any_declaration_the_bytes_decide_never_cp1252(text, encoding):
    body = ("<html><body>" + "".join(f"<p>{p}</p>" for p in text) + "</body></html>").encode(
        encoding
    )
    assert text[0] in decode_html(body, "text/html")


def test_labels_are_read_as_browsers_read_them():
    # GB2312 pages use GBK characters; a Shift_JIS page Windows-31J's (NEC row 13: ①)
    assert decode_html("<meta charset=gb2312>镕".encode("gbk")).endswith("镕")
    assert decode_html("<meta charset=shift_jis>①".encode("cp932")).endswith("①")
    assert decode_html("<p>café</p>".encode(), "text/html; charset=bogus") == "<p>café</p>"


def test_a_page_that_is_mostly_navigation_keeps_the_feed_text(feed_server, caplog):
    caplog.set_level(logging.INFO, logger="monitor.sources.fulltext")
    page = feed_server.add("/nav", Route(navigation_page().encode(), content_type=HTML))
    (article,) = asyncio.run(poll(feed(feed_server, [page]), {"known": []}, **private())).articles
    assert article.body == ""
    assert "feed's text kept" in caplog.text


def test_a_page_shorter_than_the_feed_text_keeps_the_feed_text(feed_server):
    teaser = "<html><body><article><p>Subscribe to read this story about chips.</p></article></body></html>"
    page = feed_server.add("/teaser", Route(teaser.encode(), content_type=HTML))
    items = [
        {"title": "Chips", "link": page, "guid": "g", "description": " ".join(NEWS_PARAGRAPHS)}
    ]
    url = feed_server.add("/long.xml", Route(rss(items)))
    (article,) = asyncio.run(poll(url, {"known": []}, **private())).articles
    assert article.body == "" and article.summary.startswith("The Commerce Department")


@dataclass
class JsonLike:
    """The settings with_full_text reads, as another kind's config (json) has them."""

    id: str = "json"
    timeout: float = 5.0
    max_bytes: int = 1_000_000
    allow_private: bool = True


def test_the_shared_helper_stops_at_the_deadline(feed_server):
    slow = feed_server.add("/slow", Route(news_article().encode(), content_type=HTML, delay=3))
    fast_page = feed_server.add("/fast", Route(news_article().encode(), content_type=HTML))
    articles = [
        Article("json", "Slow", summary="s", url=slow),
        Article("json", "Fast", url=fast_page),
    ]

    async def run():
        fetcher = Fetcher(UA)
        try:
            deadline = asyncio.get_running_loop().time() + 1.0
            return await with_full_text(articles, fetcher, JsonLike(), deadline=deadline)
        finally:
            await fetcher.aclose()

    started = time.monotonic()
    slow_article, fast_article = asyncio.run(run())
    assert time.monotonic() - started < 2.9  # did not wait for the slow page
    assert slow_article.body == "" and slow_article.summary == "s"
    assert NEWS_PARAGRAPHS[0] in fast_article.body


@pytest.mark.parametrize("sample", samples(), ids=lambda s: s.name)
def test_extraction_keeps_the_article_and_drops_the_boilerplate(sample):
    """The pages of bench/extract.py: what trafilatura must keep and leave out."""
    if not sample.body:
        with pytest.raises(PageError, match=r"no main text|mostly short lines"):
            extract_page(sample.html, "https://news.example/x")
        return
    text = extract_page(sample.html, "https://news.example/x").text
    for sentence in sample.body:
        assert sentence in text
    for junk in sample.junk:
        assert junk not in text


def test_hostile_markup_never_crashes_extraction():
    """Either text or a PageError (which the source logs), never anything else."""
    for markup in ("", "<", "<html>" * 10_000, "<p>" + "<b>" * 5000 + "text", "\x00\x01<p>a</p>"):
        try:
            page = extract_page(markup, "https://news.example/x")
        except PageError:
            continue
        assert page.text
