"""The store on both engines (the `store` fixture: SQLite, then PostgreSQL)."""

import hashlib
import time

import pytest

from monitor.alerts import build_alerts
from monitor.article import Article
from monitor.match import load_rules
from monitor.stages import record_poll
from monitor.store import NewArticle


def alerting(article, tmp_path):
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.yaml").write_text("id: r\nquery: nvidia\n")
    matches = load_rules([tmp_path / "rules"]).match(article)
    return NewArticle(article, matches, build_alerts(article, matches, ["console"], ["console"]))


def test_seen_by_id_canonical_url_or_content(store, tmp_path):
    first = Article(
        "a", title="Nvidia up", body="Body", url="https://x.org/1?utm_source=a", guid="g1"
    )
    record_poll(store, "a", {}, [], [NewArticle(first)])
    same_url = Article("a", title="Nvidia up 3%", body="Edited", url="https://x.org/1?utm_medium=b")
    same_text = Article("a", title="nvidia  UP", body="body")
    new = Article("a", title="New", body="Fresh", guid="g2")
    assert store.unseen([first, same_url, same_text, new]) == [new]


def test_from_another_source_only_the_same_content_is_seen(store, tmp_path):
    first = Article("a", title="Nvidia up", body="Body", url="https://x.org/1?utm_source=a")
    record_poll(store, "a", {}, [], [NewArticle(first)])
    same_text = Article("c", title="nvidia  UP", body="body")
    same_url_and_title = Article("b", title="NVIDIA up", summary="Teaser", url="https://x.org/1")
    same_url_other_story = Article("b", title="Other", body="Other", url="https://x.org/1#x")
    assert store.unseen([same_text]) == []
    assert store.unseen([same_url_and_title]) == []
    assert store.unseen([same_url_other_story]) == [same_url_other_story]
    assert record_poll(store, "b", {}, [], [NewArticle(same_url_other_story)]) != []
    assert store.article_count() == 2


def test_a_copy_a_source_lists_stays_seen_when_its_title_is_edited(store, tmp_path):
    story = Article("a", title="Nvidia curbs", body="Text", url="https://x.org/1")
    record_poll(store, "a", {}, [story], [NewArticle(story)])
    copy = Article("b", title="Nvidia curbs", summary="Teaser", url="https://x.org/1", guid="b1")
    assert store.unseen([copy]) == []
    record_poll(store, "b", {}, [copy], [])
    edited = Article("b", title="UPDATE 1-Nvidia curbs", summary="Teaser", url=copy.url, guid="b1")
    assert store.unseen([edited]) == []
    other = Article("c", title="UPDATE 1-Nvidia curbs", summary="Spam", url=copy.url)
    assert store.unseen([other]) == [other]  # c never showed the story


def test_a_guid_reused_in_a_later_poll_is_ignored_for_the_new_link(store, tmp_path):
    old = Article("a", title="Old story", url="https://x.org/old", guid="g")
    record_poll(store, "a", {}, [old], [NewArticle(old)])
    reused = Article("a", title="New story", url="https://x.org/new", guid="g")
    [fresh] = store.unseen([reused])
    assert fresh.guid == "" and fresh.url == reused.url
    record_poll(store, "a", {}, [reused], [NewArticle(fresh)])
    assert store.unseen([reused]) == [] and store.unseen([old]) == []


def old_id(article):
    """The id the code before per-source link ids gave an article without a guid."""
    key = (
        f"url:{article.canonical_url}" if article.canonical_url else f"hash:{article.content_hash}"
    )
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def test_articles_stored_with_the_old_ids_stay_seen_and_listed(store, tmp_path):
    feed = [
        Article("a", title=f"Story {i}", body=f"Text {i}", url=f"https://x.org/{i}")
        for i in range(5)
    ]
    for article in feed:  # written as the old record_poll wrote them
        legacy = Article(article.source_id, article.title, body=article.body, url=article.url)
        object.__setattr__(legacy, "id", old_id(article))
        record_poll(store, "a", {}, [], [NewArticle(legacy)])
    assert all(old_id(a) != a.id for a in feed)
    assert store.unseen(feed) == []
    record_poll(store, "a", {}, feed, [])
    assert store.forget(time.time() + 100 * 86400) == 0
    assert store.unseen(feed) == []


def test_a_listing_outlives_retention_until_the_source_shows_other_items(store, tmp_path):
    listing = [Article("a", title=f"Story {i}", url=f"https://x.org/{i}") for i in range(20)]
    record_poll(store, "a", {}, listing, [NewArticle(a) for a in store.unseen(listing)])
    record_poll(store, "a", {"etag": "v1"}, [], [])  # a 304 keeps the listing
    later = time.time() + 10 * 86400
    assert store.forget(later) == 0
    extra = Article("a", title="Story 20", url="https://x.org/20")
    assert store.unseen([*listing, extra]) == [extra]
    record_poll(store, "a", {}, [extra], [NewArticle(extra)])  # the listing is now one item
    assert store.forget(later) == 20
    assert store.unseen([extra]) == []


def test_an_article_another_source_still_lists_is_kept(store, tmp_path):
    story = Article("a", title="Wire story", body="Same text", url="https://a.org/1")
    copy = Article("b", title="Wire story", body="Same text", url="https://b.org/9")
    record_poll(store, "a", {}, [story], [NewArticle(story)])
    record_poll(store, "b", {}, [copy], store.unseen([copy]))
    record_poll(store, "a", {}, [Article("a", title="Other", url="https://a.org/2")], [])
    assert store.forget(time.time() + 86400) == 0
    assert store.unseen([copy]) == []


def test_duplicates_within_one_batch_count_once(store, tmp_path):
    one = Article("a", title="T", body="B", guid="g")
    assert store.unseen([one, one]) == [one]


def test_record_poll_is_one_transaction_with_the_outbox_and_cursor(store, tmp_path):
    item = alerting(Article("a", title="Nvidia up", body="b", guid="g1"), tmp_path)
    recorded = record_poll(store, "a", {"etag": "v1"}, [], [item])
    assert recorded == [item]
    assert store.source_state("a").cursor == {"etag": "v1"}
    assert store.source_state("a").primed
    [row] = store.outbox.recent()
    assert row.alert.rules[0].id == "r" and row.status == "pending"
    # the same article again (a re-poll) is not recorded and queues nothing
    assert record_poll(store, "a", {"etag": "v2"}, [], [item]) == []
    assert store.outbox.counts()["pending"] == 1


def claim(store, now=None, **kw):
    return store.outbox.claim("console", 10, kw.pop("lease", 60), now or time.time(), **kw)


def test_outbox_transitions_pending_inflight_sent(store, tmp_path):
    item = alerting(Article("a", title="Nvidia up", body="b", guid="g1"), tmp_path)
    record_poll(store, "a", {}, [], [item])
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


def test_a_stale_attempt_cannot_change_an_alert(store, tmp_path):
    record_poll(store, "a", {}, [], [alerting(Article("a", title="Nvidia", guid="g"), tmp_path)])
    [first] = claim(store, lease=-1)  # its lease is already over
    [second] = claim(store)  # so the alert is claimed again
    assert not store.outbox.dead(first, "late answer of the first attempt")
    assert store.outbox.sent(second)
    assert store.outbox.counts()["sent"] == 1


def test_release_all_and_requeue_dead(store, tmp_path):
    record_poll(store, "a", {}, [], [alerting(Article("a", title="Nvidia", guid="g"), tmp_path)])
    [row] = claim(store)
    assert store.outbox.release_all() == 1  # the daemon that claimed it died
    [again] = claim(store)
    store.outbox.dead(again, "invalid_auth")
    assert store.outbox.requeue(all_dead=True) == 1
    [row] = store.outbox.recent()
    assert (row.status, row.note) == ("pending", "requeued")


def test_failure_streak_counts_and_resets(store, tmp_path):
    assert store.record_failure("feed", "HTTP 500") == 1
    assert store.record_failure("feed", "HTTP 500") == 2
    record_poll(store, "feed", {}, [], [])
    assert store.source_state("feed").error_streak == 0


def test_articles_without_text_are_not_mistaken_for_each_other(store, tmp_path):
    first = Article("a", title="", url="https://x.org/1")
    record_poll(store, "a", {}, [], [NewArticle(first)])
    second = Article("a", title="", url="https://x.org/2")
    assert first.content_hash == ""
    assert store.unseen([second]) == [second]


def test_claim_takes_the_next_due_alert_after_the_last_one_taken(store, tmp_path):
    """A drain passes the last id it took: each alert is tried once per drain, and a backlog
    of any length costs an index step per claim (a list of tried ids hit SQLite's limit)."""
    for number in range(3):
        item = alerting(Article("a", title=f"Nvidia up {number}", guid=f"g{number}"), tmp_path)
        record_poll(store, "a", {}, [], [item])
    first = store.outbox.claim("console", 1, 60, time.time())[0]
    second = store.outbox.claim("console", 1, 60, time.time(), after=first.id)[0]
    assert store.outbox.retry(second, "HTTP 500", delay=-1)  # due again at once
    third = store.outbox.claim("console", 1, 60, time.time(), after=second.id)[0]
    assert first.id < second.id < third.id
    assert store.outbox.claim("console", 1, 60, time.time(), after=third.id) == []
    assert [r.id for r in claim(store)] == [second.id]  # the next drain takes it again


class FailingPolicy:
    """Places nothing: fails as a full disk would, after the article was written."""

    def place(self, *args):
        raise OSError("disk full")


def test_a_failed_transaction_leaves_nothing_behind(store, tmp_path):
    item = alerting(Article("a", title="Nvidia up", body="b", guid="g1"), tmp_path)
    with pytest.raises(OSError, match="disk full"):
        record_poll(store, "a", {"etag": "v1"}, [], [item], FailingPolicy())
    assert store.article_count() == 0
    assert store.source_state("a").primed is False
    assert store.outbox.counts()["pending"] == 0
    assert record_poll(store, "a", {"etag": "v1"}, [], [item]) == [item]  # and works again


def test_a_servers_error_text_with_a_nul_is_kept_on_both_engines(store, tmp_path):
    """PostgreSQL's text cannot hold NUL: the retry must still be recorded, not fail."""
    record_poll(store, "a", {}, [], [alerting(Article("a", title="Nvidia", guid="g"), tmp_path)])
    [row] = claim(store)
    assert store.outbox.retry(row, "HTTP 500: bad\x00reply", delay=60)
    [kept] = store.outbox.recent()
    assert kept.status == "pending" and kept.last_error.startswith("HTTP 500: bad")
