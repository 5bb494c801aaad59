"""Hostile inputs against article identity, retention and conditional GET (cases 7, 9, 10, 11).

Real feed server on 127.0.0.1, the real daemon (`run --once`), a real SQLite file.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from monitor.article import Article
from monitor.cli import load_all
from monitor.daemon import Daemon
from monitor.stages import record_poll
from monitor.store import NewArticle, open_store
from tests.servers import Route, rss

DAY = 86400.0


def items(start: int, count: int) -> list[dict[str, str]]:
    return [
        {
            "title": f"Nvidia story {i}",
            "link": f"https://news.example/{i}",
            "guid": f"g{i}",
            "description": f"Nvidia item number {i}.",
        }
        for i in range(start, start + count)
    ]


def feed_source(url: str) -> dict[str, str]:
    return {"id": "feed", "type": "rss", "url": url, "interval": "1s", "timeout": "5s"}


def run_once(workspace) -> int:
    config, rules = load_all(workspace.config)
    return asyncio.run(Daemon(config, rules).run_once())


@pytest.mark.parametrize(
    ("validator", "value"),
    [
        ("etag", '"café"'),  # Latin-1 bytes on the wire
        ("etag", 'W/"caf\xc3\xa9"'),  # UTF-8 bytes on the wire
        ("last_modified", "Mon, 06 Jan 2025 10:00:00 GMT\xa0"),
    ],
)
def test_a_non_ascii_validator_is_sent_back_as_it_came(workspace, feed_server, validator, value):
    """Case 7: a non-ASCII ETag (or Last-Modified) kills the feed for good.

    Every poll, across restarts, succeeds, and the validator goes back byte for
    byte, so the server can answer 304.
    """
    url = feed_server.add("/feed.xml", Route(rss(items(0, 3)), **{validator: value}))
    workspace.write_config([feed_source(url)])
    assert [run_once(workspace) for _ in range(3)] == [0, 0, 0]
    header = {"etag": "If-None-Match", "last_modified": "If-Modified-Since"}[validator]
    assert [hit["headers"].get(header) for hit in feed_server.hits("/feed.xml")] == [
        None,
        value,
        value,
    ]


def test_one_guid_for_two_links_in_one_poll_keeps_both(tmp_path, caplog):
    """Case 9: two items with the same guid in one poll: the second was dropped silently.

    The guid is ignored for the second item (as for a guid reused across
    polls), both are recorded and stay seen, and one line says why.
    """
    caplog.set_level(logging.INFO)
    store = open_store("sqlite:///state/t.db", tmp_path)
    first = Article("feed", title="Nvidia beats", url="https://x.org/nvidia", guid="same")
    second = Article("feed", title="Soybean sales up", url="https://x.org/soy", guid="same")
    fresh = store.unseen([first, second])
    assert [a.url for a in fresh] == [first.url, second.url]
    recorded = record_poll(store, "feed", {}, [first, second], [NewArticle(a) for a in fresh])
    assert len(recorded) == 2
    assert store.unseen([first, second]) == []
    assert store.forget(time.time() + 100 * DAY) == 0  # both are in the feed's listing
    ignored = [r for r in caplog.records if "guid" in r.getMessage()]
    assert len(ignored) == 1
    assert "'same'" in ignored[0].getMessage() and ignored[0].source == "feed"
    store.close()


@pytest.mark.parametrize("quiet_poll", [True, False], ids=["304-for-months", "clock-jump"])
def test_a_quiet_feed_is_not_forgotten_while_it_still_lists_its_items(
    workspace, feed_server, quiet_poll
):
    """Case 10: a feed that answers 304 longer than `remember` re-alerted every item.

    So did a clock jump of more than 90 days. Retention runs 100 days later;
    the feed then changes, adding one item: exactly one new article and one alert.
    """
    url = feed_server.add("/feed.xml", Route(rss(items(0, 20)), etag='"v1"'))
    workspace.write_config([feed_source(url)])
    assert run_once(workspace) == 0
    if quiet_poll:
        assert run_once(workspace) == 0  # a 304
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:
        # 100 days on, `remember` is 90d; the daemon names the configured sources
        store.forget(time.time() + 100 * DAY - 90 * DAY, ["feed"])
    finally:
        store.close()
    feed_server.routes["/feed.xml"] = Route(rss(items(0, 21)), etag='"v2"')
    assert run_once(workspace) == 0
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:
        assert store.source_state("feed").new_count == 1
        assert sum(store.outbox.counts().values()) == 1
    finally:
        store.close()


def test_another_source_cannot_silence_a_story_by_reusing_its_link(tmp_path, caplog):
    """Case 11: an unrelated item whose URL canonicalises to a story's URL made the story seen.

    From another source only the same content is the same article: the same
    text, or the same canonical URL with the same title. Real copies stay seen.
    """
    caplog.set_level(logging.INFO)
    store = open_store("sqlite:///state/t.db", tmp_path)
    link = "https://news.example/nvidia-curbs"
    junk = Article("junk", title="Win a free phone", url=link + "?utm_source=spam")
    record_poll(store, "junk", {}, [junk], [NewArticle(junk)])
    real = Article("wire", title="Nvidia export curbs widen", body="Commerce said.", url=link)
    assert store.unseen([real]) == [real]
    assert record_poll(store, "wire", {}, [real], [NewArticle(real)]) == [NewArticle(real)]
    assert store.unseen([real]) == []
    [line] = [r.getMessage() for r in caplog.records if "different content" in r.getMessage()]
    assert "junk" in line
    same_link_same_title = Article(
        "copies", title="NVIDIA export  curbs widen", summary="A teaser.", url=link + "#top"
    )
    same_text = Article(
        "copies", title="Nvidia export curbs widen", body="Commerce said.", url="https://b.example/"
    )
    assert store.unseen([same_link_same_title, same_text]) == []
    store.close()


def test_a_file_cannot_claim_another_sources_name_to_silence_it(workspace, feed_server):
    """Case 11: a JSON record in a drop folder naming `"source": "feed"` and a feed's guid took
    that feed's identity: the feed's real story was then 'seen' and never alerted."""
    drop = workspace.articles()
    (drop / "claim.json").write_text('[{"source": "feed", "id": "g0", "title": "Harmless"}]')
    url = feed_server.add("/feed.xml", Route(rss(items(0, 1))))
    workspace.write_config(
        [
            {"id": "drop", "type": "files", "path": str(drop), "settle": "0s", "backfill": "all"},
            {**feed_source(url), "backfill": "all"},
        ]
    )
    assert run_once(workspace) == 0
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:
        sources = dict(store.db.execute("SELECT title, source_id FROM articles").fetchall())
        alerted = [row.alert.title for row in store.outbox.recent(10)]
    finally:
        store.close()
    assert sources == {"Harmless": "drop", "Nvidia story 0": "feed"}
    assert alerted == ["Nvidia story 0"]


def test_a_source_gone_from_the_config_is_forgotten_with_its_listing(tmp_path):
    """Listings kept retention from forgetting forever; a source removed from the config and
    not polled for `remember` is forgotten itself, so its articles age out like any other.
    A configured source is never forgotten, however long since its last poll."""
    store = open_store("sqlite:///state/t.db", tmp_path)
    for source in ("kept", "gone"):
        article = Article(source, title=f"Nvidia {source}", guid=f"{source}-1")
        record_poll(store, source, {"etag": "x"}, [article], [NewArticle(article)])
    later = time.time() + DAY
    assert store.forget(later, ["kept"]) == 1  # the removed source's article
    assert store.source_state("gone").primed is False  # added back, it starts afresh
    assert store.source_state("kept").primed and store.article_count() == 1
    store.close()
