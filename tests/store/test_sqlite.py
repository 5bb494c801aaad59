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
    same_url = Article("b", title="Other", body="Other", url="https://x.org/1?utm_medium=b")
    same_text = Article("c", title="nvidia  UP", body="body")
    new = Article("a", title="New", body="Fresh", guid="g2")
    assert store.unseen([first, same_url, same_text, new]) == [new]


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
