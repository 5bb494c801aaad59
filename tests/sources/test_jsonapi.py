"""The `json` source kind and its Federal Register preset, against real local HTTP servers.

The Federal Register fixtures follow the API's documented schema
(https://www.federalregister.gov/developers/api/v1: `count`, `total_pages`,
`next_page_url`, `results[]` with the fields the preset asks for).
"""

import asyncio
import json
import logging
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from bench.pages import NEWS_PARAGRAPHS, news_article
from monitor.config import load_config
from monitor.errors import UserError
from monitor.fetch import Fetcher
from monitor.sources import SourceContext, SourceError
from monitor.sources.jsonapi import JsonConfig, JsonSource, endpoint
from tests.conftest import ROOT, cli_command
from tests.servers import Route

UA = "trade-monitor-test/1.0 (+https://example.org)"
JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"


def fr_document(number, title, abstract="", kind="Rule", agency="Industry and Security Bureau"):
    return {
        "title": title,
        "abstract": abstract,
        "html_url": f"https://www.federalregister.gov/documents/2026/11/30/{number}/x?utm_source=a",
        "document_number": number,
        "publication_date": "2026-11-30",
        "agencies": [{"name": agency, "slug": "industry-and-security-bureau", "id": 241}],
        "type": kind,
    }


ENTITY_LIST_RULE = fr_document(
    "2026-21001",
    "Additions to the Entity List",
    "The Bureau of Industry and Security amends the Export Administration Regulations by adding"
    " 24 entities under 12 destinations to the Entity List.",
)
NOTICE = fr_document("2026-21002", "Sunshine Act Meetings", "Open meeting.", kind="Notice")


def fr_page(results, next_url=None, total_pages=1):
    body = {"count": len(results), "total_pages": total_pages, "results": results}
    if next_url:
        body["next_page_url"] = next_url
    return json.dumps(body).encode()


def json_route(data, **kw):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Route(body, content_type=JSON, **kw)


def fr_config(server, **kw):
    settings = {"agencies": ["industry-and-security-bureau"], "types": ["RULE", "NOTICE"], **kw}
    return JsonConfig(
        id="fr", type="json", preset="federal-register", base_url=server.url, **settings
    )


def path_of(config):
    parts = urlsplit(endpoint(config).url)
    return f"{parts.path}?{parts.query}"


async def poll(config, cursor=None):
    fetcher = Fetcher(UA)
    try:
        return await JsonSource(config, SourceContext(fetcher, Path("."))).poll(cursor or {})
    finally:
        await fetcher.aclose()


def api(url, items="data.items", **kw):
    return JsonConfig(
        id="api",
        type="json",
        url=url,
        items=items,
        fields=kw.pop("fields", {"title": "headline", "url": "link", "id": "id"}),
        **kw,
    )


# -- the Federal Register preset ------------------------------------------------------------


def test_preset_builds_the_documented_query(feed_server):
    config = fr_config(feed_server, terms="entity list", per_page=50)
    feed_server.add(path_of(config), json_route(fr_page([ENTITY_LIST_RULE])))
    asyncio.run(poll(config))
    [hit] = feed_server.requests
    url = urlsplit(hit["path"])
    assert url.path == "/api/v1/documents.json"
    query = parse_qs(url.query)
    assert query["conditions[agencies][]"] == ["industry-and-security-bureau"]
    assert query["conditions[type][]"] == ["RULE", "NOTICE"]
    assert query["conditions[term]"] == ["entity list"]
    assert query["order"] == ["newest"]
    assert query["per_page"] == ["50"]
    assert set(query["fields[]"]) == {
        "title",
        "abstract",
        "html_url",
        "document_number",
        "publication_date",
        "agencies",
        "type",
    }
    assert hit["headers"]["Accept"].startswith("application/json")


def test_preset_maps_documents_to_articles_with_their_type(feed_server):
    config = fr_config(feed_server)
    feed_server.add(path_of(config), json_route(fr_page([ENTITY_LIST_RULE, NOTICE])))
    result = asyncio.run(poll(config))
    rule, notice = result.articles
    assert rule.title == "Additions to the Entity List"
    assert rule.summary.startswith("Rule: The Bureau of Industry and Security amends")
    assert rule.canonical_url.endswith("/2026-21001/x")
    assert rule.guid == "2026-21001"
    assert rule.published_at.isoformat() == "2026-11-30T00:00:00+00:00"
    assert rule.authors == ("Industry and Security Bureau",)
    assert notice.summary == "Notice: Open meeting."
    assert result.window


def test_preset_follows_next_page_url(feed_server):
    config = fr_config(feed_server)
    second = feed_server.add("/api/v1/documents.json?page=2", json_route(fr_page([NOTICE])))
    feed_server.add(path_of(config), json_route(fr_page([ENTITY_LIST_RULE], second, 2)))
    result = asyncio.run(poll(config))
    assert [a.guid for a in result.articles] == ["2026-21001", "2026-21002"]


def test_preset_needs_something_to_search_for():
    with pytest.raises(ValueError, match="needs `agencies`, `types` or `terms`"):
        JsonConfig(id="fr", type="json", preset="federal-register")
    with pytest.raises(ValueError, match="the preset sets these"):
        JsonConfig(id="fr", type="json", preset="federal-register", types=["RULE"], items="x")
    with pytest.raises(ValueError, match="only with `preset"):
        JsonConfig(id="x", type="json", url="http://a.example/", items="x", agencies=["a"])
    with pytest.raises(ValueError, match="RULE"):
        JsonConfig(id="fr", type="json", preset="federal-register", types=["EXECUTIVE"])


def test_first_page_is_a_conditional_get(feed_server):
    config = fr_config(feed_server)
    feed_server.add(path_of(config), json_route(fr_page([ENTITY_LIST_RULE]), etag='"v1"'))
    first = asyncio.run(poll(config))
    second = asyncio.run(poll(config, first.cursor))
    assert second.not_modified and second.articles == []
    assert feed_server.requests[1]["headers"]["If-None-Match"] == '"v1"'


# -- any API -------------------------------------------------------------------------------


def test_fields_headers_and_html_in_any_api(feed_server):
    data = {
        "data": {
            "items": [
                {
                    "headline": "<b>Chip</b> curbs",
                    "link": "https://n.example/1",
                    "id": 7,
                    "when": 1764460800,
                    "by": "A. Writer",
                    "text": "<p>Export controls widen.</p>",
                }
            ]
        }
    }
    url = feed_server.add("/v1/news?key=abcd1234", json_route(data))
    fields = {
        "title": "headline",
        "url": "link",
        "id": "id",
        "published": "when",
        "authors": "by",
        "body": "text",
    }
    config = api(url, fields=fields, headers={"X-Api-Key": "k-secret"})
    [article] = asyncio.run(poll(config)).articles
    assert (article.title, article.body, article.guid) == (
        "Chip curbs",
        "Export controls widen.",
        "7",
    )
    assert article.authors == ("A. Writer",)
    assert article.published_at.year == 2025
    assert feed_server.requests[0]["headers"]["X-Api-Key"] == "k-secret"
    assert "k-secret" not in repr(config) and "abcd1234" not in repr(config)


def test_item_missing_a_field_is_kept_with_it_empty_one_with_nothing_is_skipped(
    feed_server, caplog
):
    data = {
        "data": {
            "items": [
                {"headline": "Only a title"},
                {"link": "https://n.example/2"},
                {"headline": {"not": "text"}, "other": 1},
                "not an object",
            ]
        }
    }
    url = feed_server.add("/news", json_route(data))
    with caplog.at_level(logging.WARNING):
        articles = asyncio.run(poll(api(url))).articles
    assert [(a.title, a.url) for a in articles] == [
        ("Only a title", ""),
        ("", "https://n.example/2"),
    ]
    assert "2 of 4 items skipped" in caplog.text


def test_page_numbers_stop_at_an_empty_page(feed_server):
    base = feed_server.url + "/news?q=x"
    feed_server.add("/news?q=x", json_route({"data": {"items": [{"headline": "one"}]}}))
    feed_server.add("/news?q=x&p=2", json_route({"data": {"items": [{"headline": "two"}]}}))
    feed_server.add("/news?q=x&p=3", json_route({"data": {"items": []}}))
    result = asyncio.run(poll(api(base, page_param="p", max_pages=10)))
    assert [a.title for a in result.articles] == ["one", "two"]
    assert len(feed_server.requests) == 3


# -- bad input -----------------------------------------------------------------------------


def test_html_instead_of_json_says_so(feed_server):
    page = b"<!doctype html><html><body>Service unavailable</body></html>"
    url = feed_server.add("/news", Route(page, content_type="text/html"))
    with pytest.raises(SourceError, match=r"not JSON: looks like HTML or XML \(text/html\)"):
        asyncio.run(poll(api(url)))


def test_broken_json_says_where(feed_server):
    url = feed_server.add("/news", Route(b'{"data": [1, 2', content_type=JSON))
    with pytest.raises(SourceError, match="not JSON: application/json: "):
        asyncio.run(poll(api(url)))


def test_an_error_object_is_reported_without_the_key(feed_server):
    error = {"errors": {"api_key": "invalid key abcd1234 for /news?key=abcd1234"}}
    url = feed_server.add("/news?key=abcd1234", json_route(error))
    with pytest.raises(SourceError, match="the API answered with an error") as caught:
        asyncio.run(poll(api(url)))
    assert "abcd1234" not in str(caught.value)


def test_no_list_where_items_should_be(feed_server):
    url = feed_server.add("/news", json_route({"data": {"items": {"headline": "one"}}}))
    with pytest.raises(SourceError, match="`items` found a dict where a list"):
        asyncio.run(poll(api(url)))
    url = feed_server.add("/other", json_route({"something": "else"}))
    with pytest.raises(SourceError, match="`items` found nothing"):
        asyncio.run(poll(api(url)))


@pytest.mark.parametrize("loop_to", ["/p1", "/p2"])
def test_a_next_page_loop_stops_without_duplicates(feed_server, loop_to):
    page = {"data": {"items": [{"headline": "one", "id": "1"}]}, "next": "/p2"}
    feed_server.add("/p1", json_route(page))
    loop = {"data": {"items": [{"headline": "two", "id": "2"}]}, "next": loop_to}
    feed_server.add("/p2", json_route(loop))
    result = asyncio.run(poll(api(feed_server.url + "/p1", next="next", max_pages=50)))
    assert [a.guid for a in result.articles] == ["1", "2"]
    assert [r["path"] for r in feed_server.requests] == ["/p1", "/p2"]


def test_the_same_page_under_new_urls_stops(feed_server):
    """An API that ignores the page number sends page 1 again: paging stops there."""
    same = json_route({"data": {"items": [{"headline": "one", "id": "1"}]}})
    for path in ("/n", "/n?page=2", "/n?page=3"):
        feed_server.add(path, same)
    result = asyncio.run(poll(api(feed_server.url + "/n", page_param="page")))
    assert [a.guid for a in result.articles] == ["1"]
    assert len(feed_server.requests) == 2


def test_ten_thousand_items_a_page_are_bounded_by_max_pages(feed_server):
    for n in range(1, 20):
        items = [{"headline": f"story {n}-{i}", "id": f"{n}-{i}"} for i in range(10_000)]
        feed_server.add(
            f"/big/{n}", json_route({"data": {"items": items}, "next": f"/big/{n + 1}"})
        )
    result = asyncio.run(poll(api(feed_server.url + "/big/1", next="next", max_pages=3)))
    assert len(result.articles) == 30_000
    assert len(feed_server.requests) == 3


def test_pages_beyond_max_bytes_are_cut_and_what_came_is_kept(feed_server, caplog):
    items = [{"headline": f"story {i}", "id": str(i)} for i in range(10_000)]
    feed_server.add("/big", json_route({"data": {"items": items}, "next": "/big2"}))
    feed_server.add("/big2", json_route({"data": {"items": items}, "next": "/big3"}))
    config = api(feed_server.url + "/big", next="next", max_bytes=600_000)  # a page is 418 kB
    with caplog.at_level(logging.WARNING):
        result = asyncio.run(poll(config))
    assert len(result.articles) == 10_000
    assert "page 2 failed" in caplog.text
    assert result.cursor == {}  # the next poll reads every page again
    with pytest.raises(SourceError, match="over the 100000-byte cap"):
        asyncio.run(poll(api(feed_server.url + "/big", max_bytes=100_000)))


def test_a_later_page_that_fails_keeps_the_earlier_ones(feed_server):
    feed_server.add("/a", json_route({"data": {"items": [{"headline": "one"}]}, "next": "/b"}))
    feed_server.add("/b", Route(b"<html>oops</html>", content_type="text/html"))
    result = asyncio.run(poll(api(feed_server.url + "/a", next="next")))
    assert [a.title for a in result.articles] == ["one"]
    assert result.cursor == {}


@pytest.mark.parametrize(
    ("key", "value"),
    [("items", "data.items["), ("next", "next_page_url ||"), ("fields", {"title": "a[?"})],
)
def test_a_jmespath_that_does_not_compile_is_a_config_error(tmp_path, key, value):
    source = {"id": "api", "type": "json", "url": "https://api.example/news", "items": "data"}
    source[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"sources": [source]}, sort_keys=False))
    with pytest.raises(UserError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert "not a valid JMESPath expression" in str(problem)
    assert f"sources[0].{key}" in str(problem)
    assert problem.line is not None


def test_bad_headers_are_config_errors():
    with pytest.raises(ValueError, match="control character"):
        api("https://api.example/", headers={"X-Key": "a\r\nInjected: 1"})
    with pytest.raises(ValueError, match="not a header name"):
        api("https://api.example/", headers={"X Key": "a"})


def test_both_next_and_page_param_is_a_config_error():
    with pytest.raises(ValueError, match="not both"):
        api("https://api.example/", next="next", page_param="page")


# -- the daemon, end to end ----------------------------------------------------------------


def test_run_once_with_the_preset_alerts_on_a_shipped_rule(tmp_path, feed_server):
    config = fr_config(feed_server)
    feed_server.add(path_of(config), json_route(fr_page([ENTITY_LIST_RULE, NOTICE])))
    source = {
        "id": "bis",
        "type": "json",
        "preset": "federal-register",
        "agencies": ["industry-and-security-bureau"],
        "types": ["RULE", "NOTICE"],
        "base_url": feed_server.url,
        "backfill": "all",
    }
    data = {
        "state": "sqlite:///state/monitor.db",
        "rules": [str(ROOT / "rules")],
        "sources": [source],
        "notifiers": [{"id": "console", "type": "console"}],
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    done = subprocess.run(
        cli_command("run", "--once", "--config", str(tmp_path / "config.yaml")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    alerts = [line for line in done.stdout.splitlines() if "Additions to the Entity List" in line]
    assert alerts and "Export controls" in alerts[0], done.stdout
    assert "Sunshine Act" not in done.stdout


def test_full_text_fetches_each_new_items_page_once(feed_server):
    page = feed_server.add(
        "/news/2025/03/chip-curbs", Route(news_article().encode(), content_type=HTML)
    )
    url = feed_server.add(
        "/api.json",
        json_route({"data": {"items": [{"headline": "Chip curbs", "link": page, "id": "a1"}]}}),
    )
    config = api(url, full_text=True, allow_private=True, backfill="all")
    result = asyncio.run(poll(config))
    (article,) = result.articles
    assert all(paragraph in article.body for paragraph in NEWS_PARAGRAPHS)
    assert article.url == page and result.cursor["known"] == [article.id]
    feed_server.routes["/api.json"].etag = None  # the same list again, with no validator
    asyncio.run(poll(config, {"known": result.cursor["known"]}))
    assert len(feed_server.hits("/news/2025/03/chip-curbs")) == 1


def test_full_text_refuses_a_loopback_link_without_allow_private(feed_server):
    page = feed_server.add(
        "/news/2025/03/chip-curbs", Route(news_article().encode(), content_type=HTML)
    )
    url = feed_server.add(
        "/api.json",
        json_route({"data": {"items": [{"headline": "Chip curbs", "link": page, "id": "a1"}]}}),
    )
    config = api(url, full_text=True, backfill="all")
    (article,) = asyncio.run(poll(config)).articles
    assert article.body == "" and feed_server.hits("/news/2025/03/chip-curbs") == []


def test_a_feed_on_another_host_has_the_30_second_floor():
    assert api("https://api.example.org/news").interval_floor() == 30
    assert api("http://127.0.0.1:8000/news").interval_floor() == 0
    assert fr_config(type("S", (), {"url": "https://mirror.example.org"})()).interval_floor() == 30
