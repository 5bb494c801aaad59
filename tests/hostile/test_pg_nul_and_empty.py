"""Hostile input on the PostgreSQL engine (issue 12). Each test is parametrized over both
engines: it passes on SQLite and should pass on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from monitor.dispatch import Dispatcher
from monitor.notify import SendResult
from tests.builders import alert, notifier_config, queue


@pytest.fixture
def store(each_store):  # each engine in turn
    return each_store


class NulReply:
    """A notifier whose server's error text holds a NUL (a 4xx/5xx body is any bytes)."""

    id, threads = "hook", True

    def __init__(self, result):
        self.result, self.sends = result, 0

    async def send(self, alert, thread=None):
        self.sends += 1
        return self.result


@pytest.mark.parametrize(
    "result",
    [SendResult.give_up("HTTP 400: bad\x00request"), SendResult.later("HTTP 500: oops\x00")],
    ids=["refused", "retry"],
)
def test_error_text_with_nul_is_recorded(store, result):
    config = notifier_config("webhook", id="hook", url="https://h.example/hook", pace="0s")
    queue(store, alert(notifier_id="hook"))
    hook = NulReply(result)
    asyncio.run(Dispatcher(store, {"hook": hook}, {"hook": config}).dispatch())
    [row] = store.outbox.recent()
    assert row.status in ("dead", "pending"), row.status  # PG: stays 'inflight', dispatch raised


def test_record_failure_with_nul_in_error(store):
    # a source's error text (a server's reply, a parser's message) may hold a NUL
    assert store.record_failure("wire", "HTTP 500: \x00") == 1


def test_orphans_dead_with_no_notifiers(store):
    assert store.outbox.orphans_dead([]) == 0


def test_forget_with_no_configured_sources(store):
    assert store.forget(0.0, []) == 0


def test_a_delivered_send_whose_ref_holds_nul_is_marked_sent_not_sent_again(store):
    """Slack's Web API reply is JSON: `"ts": "1\\u0000"` decodes to a NUL (slack.py:208).
    On PostgreSQL the 'sent' mark raises DataError, the row stays in flight, and once its
    lease runs out the next dispatch sends the same alert again, forever."""
    config = notifier_config("webhook", id="hook", url="https://h.example/hook", pace="0s")
    queue(store, alert(notifier_id="hook"))
    hook = NulReply(SendResult.delivered("1700000000.0001\x00"))
    dispatcher = Dispatcher(store, {"hook": hook}, {"hook": config})
    for _ in range(2):
        asyncio.run(dispatcher.dispatch())
        # the lease of an in-flight row runs out (a daemon's claim frees it)
        store.db.execute("UPDATE outbox SET lease_until = 0 WHERE status = 'inflight'")
    [row] = store.outbox.recent()
    assert (row.status, hook.sends) == ("sent", 1)
