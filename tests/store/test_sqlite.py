import hashlib
import sqlite3
import time

import pytest

from monitor.alerts import build_alerts
from monitor.article import Article
from monitor.match import load_rules
from monitor.store import NewArticle, open_store
from monitor.store.schema import MIGRATIONS


def store_at(tmp_path):
    return open_store("sqlite:///state/t.db", tmp_path)


def alerting(article, tmp_path):
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.yaml").write_text("id: r\nquery: nvidia\n")
    matches = load_rules([tmp_path / "rules"]).match(article)
    return NewArticle(article, matches, build_alerts(article, matches, ["console"], ["console"]))


def test_wal_busy_timeout_and_schema_version(tmp_path):
    store = store_at(tmp_path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == 10000
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    store.close()
    store_at(tmp_path).close()  # reopening migrates nothing and fails on nothing


def test_seen_by_id_canonical_url_or_content(tmp_path):
    store = store_at(tmp_path)
    first = Article(
        "a", title="Nvidia up", body="Body", url="https://x.org/1?utm_source=a", guid="g1"
    )
    store.record_poll("a", {}, [], [NewArticle(first)])
    same_url = Article("a", title="Nvidia up 3%", body="Edited", url="https://x.org/1?utm_medium=b")
    same_text = Article("a", title="nvidia  UP", body="body")
    new = Article("a", title="New", body="Fresh", guid="g2")
    assert store.unseen([first, same_url, same_text, new]) == [new]


def test_from_another_source_only_the_same_content_is_seen(tmp_path):
    store = store_at(tmp_path)
    first = Article("a", title="Nvidia up", body="Body", url="https://x.org/1?utm_source=a")
    store.record_poll("a", {}, [], [NewArticle(first)])
    same_text = Article("c", title="nvidia  UP", body="body")
    same_url_and_title = Article("b", title="NVIDIA up", summary="Teaser", url="https://x.org/1")
    same_url_other_story = Article("b", title="Other", body="Other", url="https://x.org/1#x")
    assert store.unseen([same_text]) == []
    assert store.unseen([same_url_and_title]) == []
    assert store.unseen([same_url_other_story]) == [same_url_other_story]
    assert store.record_poll("b", {}, [], [NewArticle(same_url_other_story)]) != []
    assert store.article_count() == 2


def test_a_copy_a_source_lists_stays_seen_when_its_title_is_edited(tmp_path):
    store = store_at(tmp_path)
    story = Article("a", title="Nvidia curbs", body="Text", url="https://x.org/1")
    store.record_poll("a", {}, [story], [NewArticle(story)])
    copy = Article("b", title="Nvidia curbs", summary="Teaser", url="https://x.org/1", guid="b1")
    assert store.unseen([copy]) == []
    store.record_poll("b", {}, [copy], [])
    edited = Article("b", title="UPDATE 1-Nvidia curbs", summary="Teaser", url=copy.url, guid="b1")
    assert store.unseen([edited]) == []
    other = Article("c", title="UPDATE 1-Nvidia curbs", summary="Spam", url=copy.url)
    assert store.unseen([other]) == [other]  # c never showed the story


def test_a_guid_reused_in_a_later_poll_is_ignored_for_the_new_link(tmp_path):
    store = store_at(tmp_path)
    old = Article("a", title="Old story", url="https://x.org/old", guid="g")
    store.record_poll("a", {}, [old], [NewArticle(old)])
    reused = Article("a", title="New story", url="https://x.org/new", guid="g")
    [fresh] = store.unseen([reused])
    assert fresh.guid == "" and fresh.url == reused.url
    store.record_poll("a", {}, [reused], [NewArticle(fresh)])
    assert store.unseen([reused]) == [] and store.unseen([old]) == []


def old_id(article):
    """The id the code before per-source link ids gave an article without a guid."""
    key = (
        f"url:{article.canonical_url}" if article.canonical_url else f"hash:{article.content_hash}"
    )
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def test_articles_stored_with_the_old_ids_stay_seen_and_listed(tmp_path):
    store = store_at(tmp_path)
    feed = [
        Article("a", title=f"Story {i}", body=f"Text {i}", url=f"https://x.org/{i}")
        for i in range(5)
    ]
    for article in feed:  # written as the old record_poll wrote them
        legacy = Article(article.source_id, article.title, body=article.body, url=article.url)
        object.__setattr__(legacy, "id", old_id(article))
        store.record_poll("a", {}, [], [NewArticle(legacy)])
    assert all(old_id(a) != a.id for a in feed)
    assert store.unseen(feed) == []
    store.record_poll("a", {}, feed, [])
    assert store.forget(time.time() + 100 * 86400) == 0
    assert store.unseen(feed) == []


def test_a_listing_outlives_retention_until_the_source_shows_other_items(tmp_path):
    store = store_at(tmp_path)
    listing = [Article("a", title=f"Story {i}", url=f"https://x.org/{i}") for i in range(20)]
    store.record_poll("a", {}, listing, [NewArticle(a) for a in store.unseen(listing)])
    store.record_poll("a", {"etag": "v1"}, [], [])  # a 304 keeps the listing
    later = time.time() + 10 * 86400
    assert store.forget(later) == 0
    extra = Article("a", title="Story 20", url="https://x.org/20")
    assert store.unseen([*listing, extra]) == [extra]
    store.record_poll("a", {}, [extra], [NewArticle(extra)])  # the listing is now one item
    assert store.forget(later) == 20
    assert store.unseen([extra]) == []


def test_an_article_another_source_still_lists_is_kept(tmp_path):
    store = store_at(tmp_path)
    story = Article("a", title="Wire story", body="Same text", url="https://a.org/1")
    copy = Article("b", title="Wire story", body="Same text", url="https://b.org/9")
    store.record_poll("a", {}, [story], [NewArticle(story)])
    store.record_poll("b", {}, [copy], store.unseen([copy]))
    store.record_poll("a", {}, [Article("a", title="Other", url="https://a.org/2")], [])
    assert store.forget(time.time() + 86400) == 0
    assert store.unseen([copy]) == []


def test_the_upgrade_lists_what_each_source_showed_last(tmp_path):
    path = tmp_path / "state" / "t.db"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        db.executescript(script)
    row = "INSERT INTO articles (id, source_id, guid, url, canonical_url, content_hash, title,"
    row += " summary, body, authors, published_at, fetched_at, first_seen_at, alerted,"
    row += " last_seen_at) VALUES (?, ?, '', '', '', '', 't', '', '', '[]', NULL, 0, 0, 0, ?)"
    db.executemany(
        row, [("x1", "a", 100.0), ("x2", "a", 200.0), ("x3", "a", 200.0), ("y", "b", 50.0)]
    )
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()
    store = store_at(tmp_path)
    listed = store.db.execute("SELECT source_id, article_id FROM listings ORDER BY 2").fetchall()
    assert [tuple(r) for r in listed] == [("a", "x2"), ("a", "x3"), ("b", "y")]
    assert store.forget(1000.0) == 1


def test_duplicates_within_one_batch_count_once(tmp_path):
    store = store_at(tmp_path)
    one = Article("a", title="T", body="B", guid="g")
    assert store.unseen([one, one]) == [one]


def test_record_poll_is_one_transaction_with_the_outbox_and_cursor(tmp_path):
    store = store_at(tmp_path)
    item = alerting(Article("a", title="Nvidia up", body="b", guid="g1"), tmp_path)
    recorded = store.record_poll("a", {"etag": "v1"}, [], [item])
    assert recorded == [item]
    assert store.source_state("a").cursor == {"etag": "v1"}
    assert store.source_state("a").primed
    [row] = store.outbox.recent()
    assert row.alert.rules[0].id == "r" and row.status == "pending"
    # the same article again (a re-poll) is not recorded and queues nothing
    assert store.record_poll("a", {"etag": "v2"}, [], [item]) == []
    assert store.outbox.counts()["pending"] == 1


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    store = store_at(tmp_path)
    item = alerting(Article("a", title="Nvidia up", body="b", guid="g1"), tmp_path)
    store.db.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        store.record_poll("a", {"etag": "v1"}, [], [item])
    assert store.article_count() == 0
    assert store.source_state("a").primed is False


def claim(store, now=None, **kw):
    return store.outbox.claim("console", 10, kw.pop("lease", 60), now or time.time(), **kw)


def test_outbox_transitions_pending_inflight_sent(tmp_path):
    store = store_at(tmp_path)
    item = alerting(Article("a", title="Nvidia up", body="b", guid="g1"), tmp_path)
    store.record_poll("a", {}, [], [item])
    [row] = claim(store)
    assert row.status == "inflight" and row.attempt_id
    assert claim(store) == []  # in flight: nobody else takes it
    assert store.outbox.retry(row, "HTTP 500", delay=60)
    assert claim(store) == []  # backing off
    [later] = claim(store, now=float("inf"))
    assert later.attempts == 1 and later.last_error == "HTTP 500"
    assert later.attempt_id != row.attempt_id
    assert store.outbox.sent(later, "ts-1")
    [done] = store.outbox.recent()
    assert (done.status, done.ref, done.attempts) == ("sent", "ts-1", 2)


def test_a_stale_attempt_cannot_change_an_alert(tmp_path):
    store = store_at(tmp_path)
    store.record_poll("a", {}, [], [alerting(Article("a", title="Nvidia", guid="g"), tmp_path)])
    [first] = claim(store, lease=-1)  # its lease is already over
    [second] = claim(store)  # so the alert is claimed again
    assert not store.outbox.dead(first, "late answer of the first attempt")
    assert store.outbox.sent(second)
    assert store.outbox.counts()["sent"] == 1


def test_release_all_and_requeue_dead(tmp_path):
    store = store_at(tmp_path)
    store.record_poll("a", {}, [], [alerting(Article("a", title="Nvidia", guid="g"), tmp_path)])
    [row] = claim(store)
    assert store.outbox.release_all() == 1  # the daemon that claimed it died
    [again] = claim(store)
    store.outbox.dead(again, "invalid_auth")
    assert store.outbox.requeue(all_dead=True) == 1
    [row] = store.outbox.recent()
    assert (row.status, row.note) == ("pending", "requeued")


def test_failure_streak_counts_and_resets(tmp_path):
    store = store_at(tmp_path)
    assert store.record_failure("feed", "HTTP 500") == 1
    assert store.record_failure("feed", "HTTP 500") == 2
    store.record_poll("feed", {}, [], [])
    assert store.source_state("feed").error_streak == 0


def test_articles_without_text_are_not_mistaken_for_each_other(tmp_path):
    store = store_at(tmp_path)
    first = Article("a", title="", url="https://x.org/1")
    store.record_poll("a", {}, [], [NewArticle(first)])
    second = Article("a", title="", url="https://x.org/2")
    assert first.content_hash == ""
    assert store.unseen([second]) == [second]


def test_claim_takes_the_next_due_alert_after_the_last_one_taken(tmp_path):
    """A drain passes the last id it took: each alert is tried once per drain, and a backlog
    of any length costs an index step per claim (a list of tried ids hit SQLite's limit)."""
    store = store_at(tmp_path)
    for number in range(3):
        item = alerting(Article("a", title=f"Nvidia up {number}", guid=f"g{number}"), tmp_path)
        store.record_poll("a", {}, [], [item])
    first = store.outbox.claim("console", 1, 60, time.time())[0]
    second = store.outbox.claim("console", 1, 60, time.time(), after=first.id)[0]
    assert store.outbox.retry(second, "HTTP 500", delay=-1)  # due again at once
    third = store.outbox.claim("console", 1, 60, time.time(), after=second.id)[0]
    assert first.id < second.id < third.id
    assert store.outbox.claim("console", 1, 60, time.time(), after=third.id) == []
    assert [r.id for r in claim(store)] == [second.id]  # the next drain takes it again
