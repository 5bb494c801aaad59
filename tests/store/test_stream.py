"""Passes over the whole store read in batches (issue 10 point 7), on both engines."""

from __future__ import annotations

import json

ROW = (
    "INSERT INTO articles (id, source_id, guid, url, canonical_url, content_hash, title,"
    " summary, body, authors, published_at, fetched_at, first_seen_at, alerted,"
    " cluster_id, story_key, simhash, last_seen_at)"
    " VALUES (?, 'wire', ?, ?, '', ?, ?, 's', 'b', ?, NULL, ?, ?, 0, ?, '', 0, ?)"
)


def stored(store, rows):
    with store.db.transaction() as db:
        db.executemany(
            ROW,
            [
                (id_, id_, f"https://example.com/{id_}", f"h-{id_}", f"title {id_}",
                 json.dumps(["Ann"]), when, when, id_, when)
                for id_, when in rows
            ],
        )  # fmt: skip


def test_the_stream_yields_every_article_once_in_order_across_batches(store):
    # Runs of equal first_seen_at straddle the batch boundaries (batch of 3), inserted
    # out of order: the keyset (first_seen_at, id) must neither skip nor repeat any.
    rows = [("e", 200.0), ("b", 100.0), ("d", 100.0), ("a", 100.0), ("c", 100.0)]
    rows += [("g", 200.0), ("f", 200.0), ("h", 300.0), ("j", 300.0), ("i", 300.0)]
    rows += [("old", 50.0), ("k", 400.0)]
    stored(store, rows)
    expected = [f"title {i}" for i in "abcdefghijk"]
    for batch in (1, 2, 3, 4, 5, 11, 500):
        titles = [a.title for a in store.articles_since(100.0, batch=batch)]
        assert titles == expected, batch
    assert store.count_articles_since(100.0) == 11
    first = next(iter(store.articles_since(100.0, batch=2)))
    assert (first.url, first.authors, first.source_id) == (
        "https://example.com/a",
        ("Ann",),
        "wire",
    )
    assert list(store.articles_since(1000.0, batch=3)) == []
    assert store.count_articles_since(1000.0) == 0


def test_articles_stored_during_the_stream_after_its_position_are_reached(store):
    stored(store, [("a", 10.0), ("b", 10.0), ("c", 20.0)])
    stream = store.articles_since(0.0, batch=2)
    assert [next(stream).title, next(stream).title] == ["title a", "title b"]
    stored(store, [("d", 30.0)])
    assert [a.title for a in stream] == ["title c", "title d"]
