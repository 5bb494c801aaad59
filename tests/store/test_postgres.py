"""What only a shared database has: several daemons at once, a server that restarts, URLs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from monitor.article import Article
from monitor.errors import UserError
from monitor.stages import NewArticle, record_poll
from monitor.store import open_store
from monitor.store.postgres import MIGRATIONS
from tests.store.test_store import alerting


@pytest.fixture
def two(postgres_url, tmp_path):
    """Two stores on one database: what two daemons see."""
    stores = [open_store(postgres_url, tmp_path) for _ in range(2)]
    yield stores
    for store in stores:
        store.close()


def test_migrations_run_once_and_a_newer_schema_is_refused(postgres_url, tmp_path):
    open_store(postgres_url, tmp_path).close()
    store = open_store(postgres_url, tmp_path)  # migrates nothing the second time
    assert store.db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
    store.db.execute("UPDATE schema_version SET version = 99")
    store.close()
    with pytest.raises(UserError, match="written by a newer trade-monitor"):
        open_store(postgres_url, tmp_path)


def test_daemons_starting_together_migrate_once(postgres_url, tmp_path):
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_store(postgres_url, tmp_path), range(4)))
    for store in stores:
        store.close()


def test_one_story_recorded_by_two_daemons_at_once_is_recorded_once(two, tmp_path):
    item = alerting(Article("wire", title="Nvidia halts H20", body="Text", guid="g"), tmp_path)
    start = threading.Barrier(2)

    def record(store):
        start.wait()
        return record_poll(store, "wire", {}, [], [item])

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(record, two))
    assert sorted(map(len, results)) == [0, 1]
    assert two[0].article_count() == 1 and two[0].outbox.counts()["pending"] == 1


def test_concurrent_claims_never_take_one_alert_twice(two, tmp_path):
    for number in range(40):
        article = Article(
            "wire", title=f"Nvidia {number}", body=f"Text {number}", guid=f"g{number}"
        )
        record_poll(two[0], "wire", {}, [], [alerting(article, tmp_path)])
    taken: list[list[int]] = [[], []]

    def drain(index):
        while rows := two[index].outbox.claim("console", 3, 60, time.time()):
            taken[index] += [row.id for row in rows]

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(drain, range(2)))
    assert len(taken[0]) + len(taken[1]) == 40
    assert not set(taken[0]) & set(taken[1])


def test_a_lease_is_held_by_one_daemon_until_it_runs_out(two):
    first, second = (store.sharing for store in two)
    now = time.time()
    assert first.take_lease("source:wire", "a", now + 60)
    assert not second.take_lease("source:wire", "b", now + 60)
    first.hold_lease("source:wire", "a", now - 1)  # done: free again
    assert second.take_lease("source:wire", "b", now + 60)
    assert not first.take_lease("source:wire", "a", now + 60)
    second.hold_lease("source:wire", "a", now - 1)  # only the holder can let it go
    assert not first.take_lease("source:wire", "a", now + 60)


def test_one_daemon_at_a_time_has_a_notifiers_turn_free_again_a_pace_after(two):
    first, second = (store.sharing for store in two)
    now = time.time()
    assert first.take_turn("slack", now + 20) is None  # sending
    assert second.take_turn("slack", now + 20) == now + 20  # waits for it
    first.end_turn("slack", now + 20, now + 0.5)  # sent: free half a second on
    assert second.take_turn("slack", now + 30) == now + 0.5
    time.sleep(max(0.0, now + 0.5 - time.time()) + 0.01)
    assert second.take_turn("slack", time.time() + 20) is None
    first.end_turn("slack", now + 20, now)  # a turn that ran out changes nothing
    assert first.take_turn("slack", time.time() + 20) is not None


def test_a_restarted_server_is_reconnected_and_nothing_is_lost(
    postgres_server, postgres_url, tmp_path, caplog
):
    store = open_store(postgres_url, tmp_path)
    first = Article("wire", title="Before", body="One", guid="g1")
    record_poll(store, "wire", {}, [], [NewArticle(first)])
    postgres_server.restart()
    second = Article("wire", title="After", body="Two", guid="g2")
    recorded = store.again_if_lost(record_poll, store, "wire", {}, [], [NewArticle(second)])
    assert recorded == [NewArticle(second)]
    assert store.article_count() == 2
    assert "lost the database" in caplog.text
    store.close()


def test_a_database_that_stays_down_is_an_error_after_the_wait(
    postgres_server, postgres_url, tmp_path, monkeypatch
):
    store = open_store(postgres_url, tmp_path)
    monkeypatch.setattr("monitor.store.store.RECONNECT_FOR", 1.0)
    postgres_server.stop()
    try:
        with pytest.raises(psycopg.OperationalError):
            store.again_if_lost(store.article_count)
    finally:
        postgres_server.start()
        store.close()


@pytest.mark.parametrize(
    "change", [("user", "nobody"), ("password", "wrong-pw"), ("database", "missing")]
)
def test_a_wrong_user_password_or_database_is_named_without_the_password(
    postgres_server, tmp_path, change
):
    url = postgres_server.url("postgres")
    password = url.split(":")[2].split("@")[0]
    if change[0] == "user":
        url = url.replace("//monitor:", "//nobody:")
    elif change[0] == "password":
        url = url.replace(password, "wrong-pw")
    else:
        url = url.rsplit("/", 1)[0] + "/missing"
    with pytest.raises(UserError) as caught:
        open_store(url, tmp_path)
    text = str(caught.value) + repr(caught.value.problems)
    assert password not in text and "wrong-pw" not in text
    assert ":***@" in text and "cannot use the state database" in text
    assert {"user": "nobody", "password": "password", "database": "missing"}[change[0]] in text
