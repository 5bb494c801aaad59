"""The `html` kind: a list page's item links, each new one's page fetched once for its text."""

import asyncio
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from bench.pages import COOKIE, FOOTER, NAV, NEWS_PARAGRAPHS, RELATED, SIDEBAR, news_article
from monitor.fetch import Fetcher
from monitor.sources import SourceContext, SourceError, source_types
from monitor.sources.html import MAX_ITEMS, HtmlConfig, HtmlSource
from tests.servers import Route

UA = "trade-monitor-test/1.0 (+https://example.org)"
HTML = "text/html; charset=utf-8"
STORIES = [
    ("/news/2025/03/04/us-widens-chip-curbs", "US widens chip export curbs on China"),
    ("/news/eu-steel-safeguard-extended-to-2026", "EU extends steel safeguard to 2026"),
    ("/news/press/ustr-opens-section-301-review", "USTR opens a new Section 301 review"),
]


def index_page(stories=STORIES):
    items = "".join(
        f'<li class="story"><a href="{path}">{title}</a>'
        f'<time datetime="2025-03-0{i + 1}T09:00:00Z">March {i + 1}</time></li>'
        for i, (path, title) in enumerate(stories)
    )
    return (
        f"<html><head><title>News</title></head><body><header>{NAV}</header>{COOKIE}"
        f'<main><h1>Latest news</h1><ul class="stories">{items}</ul>'
        f'<a href="/news/archive">Archive</a> <a href="/news?page=2">Next page of news stories</a>'
        f"{RELATED}</main>{SIDEBAR}{FOOTER}</body></html>"
    ).encode()


def serve(server, stories=STORIES, **route):
    for path, _ in stories:
        server.add(path, Route(news_article().encode(), content_type=HTML))
    return server.add("/news", Route(index_page(stories), content_type=HTML, **route))


async def poll(url, cursor=None, **settings):
    fetcher = Fetcher(UA)
    settings = {"allow_private": True, "timeout": 5.0, **settings}
    try:
        config = HtmlConfig(id="press", type="html", url=url, **settings)
        return await HtmlSource(config, SourceContext(fetcher, Path("."))).poll(cursor or {})
    finally:
        await fetcher.aclose()


def test_html_is_a_built_in_kind():
    assert "html" in source_types()


def test_article_links_are_found_without_selectors_and_navigation_is_left_out(feed_server):
    url = serve(feed_server)
    result = asyncio.run(poll(url, {"known": []}))
    assert [(a.url, a.title) for a in result.articles] == [
        (feed_server.url + path, title) for path, title in STORIES
    ]
    for article in result.articles:
        assert NEWS_PARAGRAPHS[0] in article.body
        assert "Accept all cookies" not in article.body
    assert result.window


def test_selectors_give_each_items_link_title_and_date(feed_server):
    url = serve(feed_server)
    result = asyncio.run(
        poll(url, {"known": []}, items="li.story", link="a", title="a", date="time")
    )
    first = result.articles[0]
    assert first.url == feed_server.url + STORIES[0][0]
    assert first.title == STORIES[0][1]
    assert first.published_at.isoformat() == "2025-03-01T09:00:00+00:00"
    assert NEWS_PARAGRAPHS[1] in first.body


def test_the_list_page_is_fetched_conditionally_and_each_link_once(feed_server):
    url = serve(feed_server, STORIES[:2], etag='"v1"')
    first = asyncio.run(poll(url, {"known": []}))
    second = asyncio.run(poll(url, first.cursor))
    assert second.not_modified and second.articles == []
    assert feed_server.hits("/news")[1]["headers"]["If-None-Match"] == '"v1"'
    url = serve(feed_server, STORIES, etag='"v2"')  # a third story on the page
    third = asyncio.run(poll(url, second.cursor))
    assert [len(feed_server.hits(path)) for path, _ in STORIES] == [1, 1, 1]
    assert NEWS_PARAGRAPHS[0] in third.articles[2].body


def test_without_full_text_items_are_title_and_link(feed_server):
    url = serve(feed_server)
    result = asyncio.run(poll(url, {"known": []}, full_text=False))
    assert [a.title for a in result.articles] == [title for _, title in STORIES]
    assert all(not feed_server.hits(path) for path, _ in STORIES)


def test_a_page_with_no_article_links_is_an_error_saying_so(feed_server):
    url = feed_server.add(
        "/news", Route(f"<html><body>{NAV}{FOOTER}</body></html>".encode(), content_type=HTML)
    )
    with pytest.raises(SourceError, match="no article links found"):
        asyncio.run(poll(url))


def test_selectors_that_match_nothing_any_more_are_an_error_naming_them(feed_server):
    url = serve(feed_server)
    with pytest.raises(SourceError, match=r"no item matches `items: div\.teaser`"):
        asyncio.run(poll(url, items="div.teaser"))
    with pytest.raises(SourceError, match="none holds a link"):
        asyncio.run(poll(url, items="time"))


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [(b"", HTML, "empty"), (b"%PDF-1.7", "application/pdf", "not HTML")],
)
def test_a_list_page_that_is_not_a_page_is_an_error(feed_server, body, content_type, message):
    url = feed_server.add("/news", Route(body, content_type=content_type))
    with pytest.raises(SourceError, match=message):
        asyncio.run(poll(url))


def test_a_list_page_of_10000_links_is_bounded(feed_server):
    links = "".join(
        f'<li><a href="/news/2025/01/story-number-{i}">Story number {i} of many</a></li>'
        for i in range(10_000)
    )
    url = feed_server.add(
        "/news", Route(f"<html><body><main><ul>{links}</ul>".encode(), content_type=HTML)
    )
    result = asyncio.run(poll(url, full_text=False))
    assert len(result.articles) == MAX_ITEMS
    assert result.articles[0].title == "Story number 0 of many"


def test_a_list_page_of_unclosed_tags_is_bounded_and_never_crashes(feed_server):
    soup = "".join(
        f'<div><p><a href="/news/2025/01/story-number-{i}">Story number {i} of many<b><table><td>'
        for i in range(10_000)
    )
    url = feed_server.add("/news", Route(f"<html><body><main>{soup}".encode(), content_type=HTML))
    result = asyncio.run(poll(url, full_text=False))
    assert 0 < len(result.articles) <= MAX_ITEMS
    assert all(len(a.title) <= 300 for a in result.articles)
    assert result.articles[0].title.startswith("Story number 0 of many")


def test_item_links_to_loopback_are_refused_without_allow_private(feed_server, caplog):
    caplog.set_level(logging.INFO, logger="monitor.sources.fulltext")
    url = serve(feed_server)  # the list page itself is the user's choice: fetched
    result = asyncio.run(poll(url, {"known": []}, allow_private=False))
    assert all(not feed_server.hits(path) for path, _ in STORIES)
    assert [a.title for a in result.articles] == [title for _, title in STORIES]
    assert all(a.body == "" for a in result.articles)
    assert "private, loopback or link-local" in caplog.text


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"items": "li[["}, "not a CSS selector"),
        ({"link": "a"}, "set items too"),
        ({"url": "file:///etc/passwd"}, "http:// or https://"),
    ],
)
def test_bad_settings_are_config_errors(settings, message):
    with pytest.raises(ValidationError, match=message):
        HtmlConfig(**{"id": "press", "type": "html", "url": "https://gov.example/news", **settings})
