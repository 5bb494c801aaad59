"""A feed's items that the last poll read, byte for byte, are not read again (issue 10):
with one new item in fifty, reading the other 49 was most of a poll's cost. They stay in
the source's listing; an edited item is read again; a feed feedparser reads keeps no keys."""

from __future__ import annotations

import asyncio

import pytest

from monitor.cli.common import load_all
from monitor.daemon import Daemon
from monitor.sources import rss as rss_module
from monitor.sources.rss import read_feed
from monitor.store import open_store
from tests.builders import feed_source, items
from tests.servers import Route, rss
from tests.sources.test_rss import poll_once

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<entry><title>Nvidia one</title><id>urn:a1</id><link href="https://a.example/1"/>
<updated>2026-12-01T00:00:00Z</updated><summary>Nvidia.</summary></entry></feed>"""


@pytest.fixture
def polls(workspace, feed_server, monkeypatch):
    """Poll the feed once per call, as a daemon's `run --once`; returns what each read."""
    url = feed_server.add("/feed.xml", Route(b""))
    workspace.write_config([feed_source(url, backfill="all")])
    config, rules = load_all(workspace.config)
    reads = []

    def reading(*args):
        reads.append(read_feed(*args))
        return reads[-1]

    monkeypatch.setattr(rss_module, "read_feed", reading)

    def poll(body: bytes):
        feed_server.routes["/feed.xml"] = Route(body)
        asyncio.run(Daemon(config, rules, once=True).run_once())
        return reads[-1]

    return poll


def stored(workspace):
    """The source's cursor, its listing (titles) and the alerts queued."""
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:
        cursor = store.source_state("feed").cursor
        rows = store.db.execute(
            "SELECT a.title FROM listings l JOIN articles a ON a.id = l.article_id"
            " WHERE l.source_id = 'feed'"
        )
        return cursor, sorted(row[0] for row in rows), sum(store.outbox.counts().values())
    finally:
        store.close()


def test_one_new_item_is_the_only_one_read_and_the_rest_stay_listed(workspace, polls):
    old, new = items(0, 5), items(5, 1)  # made once: each item's pubDate is the time made
    first = polls(rss(old))
    assert (len(first.articles), first.unchanged) == (5, {})
    read = polls(rss(new + old))
    assert [a.title for a in read.articles] == ["Nvidia story 5"]
    assert len(read.unchanged) == 5
    cursor, listing, alerts = stored(workspace)
    assert listing == [f"Nvidia story {n}" for n in range(6)]
    assert len(cursor["items"]) == 6 and alerts == 6


def test_an_edited_item_is_read_again_and_a_dropped_one_leaves_the_listing(workspace, polls):
    feed = items(0, 4)
    polls(rss(feed))
    feed[1] = feed[1] | {"title": "Nvidia story 1, updated"}
    read = polls(rss(feed[:3]))  # item 1 edited (same guid), item 3 gone
    assert [a.title for a in read.articles] == ["Nvidia story 1, updated"]
    assert len(read.unchanged) == 2
    cursor, listing, alerts = stored(workspace)
    assert listing == ["Nvidia story 0", "Nvidia story 1", "Nvidia story 2"]  # stored title
    assert alerts == 4  # an edit of a seen item is not news, as before
    assert len(cursor["items"]) == 3


def test_nothing_read_when_only_the_channel_changed(workspace, polls):
    feed = items(0, 3)
    polls(rss(feed))
    read = polls(rss(feed, title="Renamed feed"))
    assert (read.articles, len(read.unchanged)) == ([], 3)
    _, listing, alerts = stored(workspace)
    assert len(listing) == 3 and alerts == 3


def test_a_feed_feedparser_reads_keeps_no_item_keys(workspace, polls):
    polls(ATOM)
    cursor, listing, _ = stored(workspace)
    assert "items" not in cursor and listing == ["Nvidia one"]
    read = polls(ATOM.replace(b"<title>T</title>", b"<title>T2</title>"))
    assert (len(read.articles), read.unchanged) == (1, {})


def test_item_keys_see_the_item_bytes_only():
    body = rss(items(0, 3))
    first = read_feed(body, "s")
    known = dict.fromkeys(first.keys, "stored")
    spaced = body.replace(b"</item><item>", b"</item>\n   <item>")
    assert read_feed(spaced, "s", known=known).unchanged == known  # whitespace between
    edited = body.replace(b"item number 1.", b"item number 1!")
    again = read_feed(edited, "s", known=known)
    assert [a.summary for a in again.articles] == ["Nvidia item number 1!"]
    assert len(again.unchanged) == 2
    twice = rss(items(0, 1) * 2)
    assert len(set(read_feed(twice, "s").keys)) == 1


@pytest.mark.parametrize("items_value", [[1, 2], "x", {"k": 1}, None])
def test_a_cursor_with_unreadable_items_reads_every_item(feed_server, items_value):
    url = feed_server.add("/feed.xml", Route(rss(items(0, 2))))
    result = asyncio.run(poll_once(url, {"items": items_value}))
    assert len(result.articles) == 2 and result.unchanged == {}
