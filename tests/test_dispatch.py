"""The dispatcher with real notifiers, a real SQLite outbox and real local servers."""

from __future__ import annotations

import asyncio

import pytest

from monitor.dispatch import ERROR_CHARS, Dispatcher
from monitor.logs import Secrets
from monitor.notify.render import clip
from tests.builders import alert, dispatcher, notifier_config, queue
from tests.servers import SlackReply, SlackServer, running


@pytest.mark.parametrize(
    ("count", "pace"), [(5, 1.0), (100, 0.05)], ids=["real-1-per-s", "burst-100"]
)
def test_pacing_never_trips_a_server_that_enforces_its_rate(store, count, pace):
    with running(SlackServer(min_interval=pace)) as server:
        slack = notifier_config("slack", id="slack", webhook_url=server.webhook_url, pace=pace)
        queue(store, *(alert(article_id=f"a{i}", notifier_id="slack") for i in range(count)))
        assert asyncio.run(dispatcher(store, slack).dispatch())
        assert server.rate_limited == 0
        assert len(server.delivered) == count


def test_a_failure_does_not_stop_the_drain_but_a_stall_does(store, slack_server):
    """A refused alert is recorded and the next one sent; only a send that ran out of time
    ends the drain (its peer is stuck), leaving the rest pending, none in flight."""
    slack_server.script.append(SlackReply(404, error="no_service"))
    slack = notifier_config("slack", id="slack", webhook_url=slack_server.webhook_url, pace="0s")
    queue(
        store,
        alert(article_id="a1", notifier_id="slack"),
        alert(article_id="a2", notifier_id="slack"),
    )
    assert asyncio.run(dispatcher(store, slack).dispatch()) is False
    assert store.outbox.counts()["dead"] == store.outbox.counts()["sent"] == 1

    slack_server.script.append(SlackReply(delay=2))
    slow = notifier_config("slack", id="slow", webhook_url=slack_server.webhook_url, pace="0s",
                           timeout="500ms")  # fmt: skip
    queue(
        store,
        alert(article_id="b1", notifier_id="slow"),
        alert(article_id="b2", notifier_id="slow"),
    )
    assert asyncio.run(dispatcher(store, slow).dispatch()) is False
    counts = store.outbox.counts()
    assert (counts["pending"], counts["inflight"]) == (2, 0)


def test_a_crashing_notifier_keeps_its_alert_and_logs_no_secret(store, caplog):
    class Broken:
        id, threads = "hook", True

        async def send(self, alert, thread=None):
            raise RuntimeError("failed at https://h.example/hooks/SECRET-PATH-123")

    config = notifier_config("webhook", id="hook", url="https://h.example/hooks/SECRET-PATH-123")
    queue(store, alert(notifier_id="hook"))
    assert asyncio.run(Dispatcher(store, {"hook": Broken()}, {"hook": config}).dispatch()) is False
    [row] = store.outbox.recent()
    assert row.status == "pending" and row.last_error == "RuntimeError"
    assert "send crashed" in caplog.text and "RuntimeError" in caplog.text
    assert "SECRET-PATH" not in caplog.text


def test_hide_and_clip():
    secrets = Secrets(["xoxb-1234", "/hooks/abcd"])
    assert secrets.hide("token xoxb-1234 at /hooks/abcd") == "token *** at ***"
    assert len(clip("x" * 1000, ERROR_CHARS)) == ERROR_CHARS == 300
