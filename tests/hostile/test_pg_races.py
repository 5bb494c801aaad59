"""Two daemons racing on one PostgreSQL: claims, leases, restarts (these held under attack)."""

from __future__ import annotations

import pytest

from monitor.store import open_store
from tests.builders import alert, queue


@pytest.fixture
def store(each_store):  # each engine in turn
    return each_store


def test_claim_ignoring_backoff_with_infinity(store):
    queue(store, alert(notifier_id="hook"))
    assert len(store.outbox.claim("hook", 5, 600.0, float("inf"))) == 1


def test_percent_and_question_mark_in_data(store):
    store.put_meta("k?%s%%", {"v": "50% ? %s"})
    assert store.get_meta("k?%s%%") == {"v": "50% ? %s"}


def test_two_connections_claim_disjoint_rows(postgres_url, tmp_path):
    one, two = open_store(postgres_url, tmp_path), open_store(postgres_url, tmp_path)
    try:
        queue(one, *(alert(article_id=f"a{i}", notifier_id="hook") for i in range(4)))
        with one.db.transaction(serial=False):  # one holds its claim open
            rows = one.db.execute(
                "SELECT id FROM outbox WHERE status = 'pending' ORDER BY id LIMIT 2"
                + one.db.skip_locked
            ).fetchall()
            taken = two.outbox.claim("hook", 10, 600.0, 1e18)
        assert {r.id for r in taken}.isdisjoint({r[0] for r in rows}) and len(taken) == 2
    finally:
        one.close()
        two.close()


def test_lease_taken_once(postgres_url, tmp_path):
    one, two = open_store(postgres_url, tmp_path), open_store(postgres_url, tmp_path)
    try:
        import time

        until = time.time() + 60
        got = [
            one.sharing.take_lease("source:x", "a", until),
            two.sharing.take_lease("source:x", "b", until),
        ]
        assert got == [True, False]
        assert one.sharing.take_turn("n", time.time() + 5) is None
        assert two.sharing.take_turn("n", time.time() + 5) is not None
    finally:
        one.close()
        two.close()


def test_restart_then_claim_and_turn(postgres_server, postgres_url, tmp_path, caplog):
    import time

    store = open_store(postgres_url, tmp_path)
    try:
        queue(store, alert(notifier_id="hook"))
        postgres_server.restart()
        rows = store.again_if_lost(store.outbox.claim, "hook", 1, 600.0, time.time())
        assert len(rows) == 1
        held = time.time() + 5
        assert store.again_if_lost(store.sharing.take_turn, "hook", held) is None
        postgres_server.restart()
        store.again_if_lost(store.sharing.end_turn, "hook", held, time.time())
        assert store.again_if_lost(store.sharing.take_turn, "hook", time.time() + 5) is None
        assert store.again_if_lost(store.outbox.sent, rows[0], "ref")
        assert "password" not in caplog.text.lower()
    finally:
        store.close()
