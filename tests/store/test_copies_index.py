"""Copies found through the sketch index (store/copies.py), on both engines."""

from __future__ import annotations

import random
import time

from monitor.article import Article
from monitor.cluster import COPY_WINDOW, article_text, shingles, sketch
from monitor.stages import record_poll
from monitor.store import NewArticle
from monitor.store.copies import PER_VALUE, StoredClusters
from tests.store.test_stream import stored


def text(seed: int, count: int = 120) -> str:
    rng = random.Random(seed)
    return " ".join(f"w{rng.randrange(5000)}" for _ in range(count))


def cluster_of(store, article_id: str) -> str:
    row = store.db.execute("SELECT cluster_id FROM articles WHERE id = ?", (article_id,))
    return str(row.fetchone()[0])


def test_a_copy_with_another_headline_joins_through_the_index(store):
    first = Article("wire", title="Nvidia pauses H20 work", body=text(1), url="https://a.test/1")
    copy = Article("other", title="Chip maker halts orders", body=text(1)[:-30] + " trimmed")
    unrelated = Article("other", title="Soybean prices", body=text(2), url="https://b.test/2")
    record_poll(store, "wire", {}, [], [NewArticle(first)])
    record_poll(store, "other", {}, [], [NewArticle(copy), NewArticle(unrelated)])
    assert cluster_of(store, copy.id) == first.id
    assert cluster_of(store, unrelated.id) == unrelated.id
    rows = store.db.execute("SELECT count(*) FROM article_sketches").fetchone()[0]
    assert rows == 3 * 8


def test_a_flood_sharing_one_value_does_not_hide_the_real_copy(store):
    """A shingle common to thousands of texts: each value reads its newest rows only, and
    the article sharing most values comes first."""
    now = time.time()
    values = sketch(shingles(text(1)))
    stored(store, [("real", now - 100)] + [(f"decoy{n}", now - 50 + n / 100) for n in range(300)])
    with store.db.transaction() as db:
        clusters = StoredClusters(db)
        clusters.add_sketch("real", values, now - 100)
        for n in range(300):
            clusters.add_sketch(f"decoy{n}", [values[0], -n - 1], now - 50 + n / 100)
        found = clusters.sharing(values, now - COPY_WINDOW, 8)
    assert found[0] == ("real", "real")
    assert len(found) == 8
    assert all(article_id.startswith("decoy") for article_id, _ in found[1:])
    assert PER_VALUE < 300


def test_old_sketches_and_forgotten_articles_are_not_found_and_are_pruned(store):
    now = time.time()
    values = sketch(shingles(text(1)))
    stored(store, [("old", now - COPY_WINDOW - 10), ("recent", now - 10)])
    with store.db.transaction() as db:
        clusters = StoredClusters(db)
        clusters.add_sketch("old", values, now - COPY_WINDOW - 10)
        clusters.add_sketch("recent", values, now - 10)
        clusters.add_sketch("gone", values, now - 5)  # its article was forgotten
        assert clusters.sharing(values, now - COPY_WINDOW, 8) == [("recent", "recent")]
        clusters.prune(now - COPY_WINDOW)
    rows = store.db.execute("SELECT DISTINCT article_id FROM article_sketches ORDER BY 1")
    assert [row[0] for row in rows.fetchall()] == ["gone", "recent"]


def test_articles_stored_before_sketches_existed_get_theirs_once(store):
    """An upgraded store: the copy window's articles were stored without sketches."""
    now = time.time()
    stored(store, [("before", now - 60), ("long-ago", now - COPY_WINDOW - 60)])
    with store.db.transaction() as db:
        db.execute("UPDATE articles SET body = ?", (text(1),))
    copy = Article("other", title="Chip maker halts orders", body=text(1)[:-30] + " trimmed")
    record_poll(store, "other", {}, [], [NewArticle(copy)])
    assert cluster_of(store, copy.id) == "before"
    sketched = store.db.execute("SELECT DISTINCT article_id FROM article_sketches").fetchall()
    assert {row[0] for row in sketched} == {"before", copy.id}
    assert store.get_meta("copy_sketches") is not None
    assert StoredClusters(store.db).sketch_recent(now - COPY_WINDOW, now) == 0  # once only


def test_the_sketch_of_a_stored_article_is_its_text_s(store):
    a = Article("wire", title="Nvidia pauses H20 work", body=text(3))
    record_poll(store, "wire", {}, [], [NewArticle(a)])
    rows = store.db.execute(
        "SELECT value FROM article_sketches WHERE article_id = ?", (a.id,)
    ).fetchall()
    assert sorted(row[0] for row in rows) == sorted(sketch(shingles(article_text(a))))
