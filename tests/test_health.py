"""Source health as alerts: one "source down" per failure streak, one "recovered" after it.

End to end with a real feed server, a real Slack-like server and a real SQLite file;
each `run --once` is a fresh start, so a repeat across restarts would show. The store's
part (one of each per streak, across daemons) runs on both engines.
"""

from __future__ import annotations

import json
import time

import pytest

from monitor.alerts import HEALTH_RULE, health_alert
from monitor.config import load_config
from monitor.errors import UserError
from monitor.schedule import SILENT_HISTORY, Activity, Plan
from monitor.store import open_store
from tests.builders import feed_source, items, run_once
from tests.servers import Route, rss


def slack_texts(slack_server):
    return [r["payload"]["text"] for r in slack_server.delivered]


def test_a_source_down_past_alert_after_alerts_once_and_once_recovered(
    workspace, feed_server, slack_server
):
    feed_server.add("/down.xml", Route(b"busy", status=503))
    workspace.write_config(
        [feed_source(feed_server.url + "/down.xml", id="ustr")],
        [
            {"id": "slack", "type": "slack", "webhook_url": slack_server.webhook_url},
            {"id": "console", "type": "console"},
        ],
        {"notify": ["console"], "health_notify": ["slack"], "alert_after": "2s"},
    )
    assert run_once(workspace) == 1
    assert slack_server.delivered == []  # failing, but not for 2s yet
    time.sleep(2.2)
    assert run_once(workspace) == 1
    [down] = slack_texts(slack_server)
    assert "Source ustr down for 2s: HTTP 503" in down
    assert "http://" not in json.dumps(slack_server.delivered[0]["payload"])  # no link, no URL
    for _ in range(2):  # restarts while it still fails: no second alert
        assert run_once(workspace) == 1
    assert len(slack_server.delivered) == 1
    feed_server.routes["/down.xml"] = Route(rss(items(0, 1)))
    assert run_once(workspace) == 0
    assert len(slack_server.delivered) == 2
    assert "Source ustr recovered after" in slack_texts(slack_server)[1]
    assert run_once(workspace) == 0
    assert len(slack_server.delivered) == 2
    # a new streak is a new story: it alerts again once it is old enough
    feed_server.routes["/down.xml"] = Route(b"busy", status=503)
    assert run_once(workspace) == 1
    time.sleep(2.2)
    assert run_once(workspace) == 1
    assert run_once(workspace) == 1
    assert len(slack_server.delivered) == 3
    assert "Source ustr down for 2s" in slack_texts(slack_server)[2]


def test_a_short_failure_sends_neither_message(workspace, feed_server, slack_server):
    feed_server.add("/flaky.xml", Route(b"busy", status=503))
    workspace.write_config(
        [feed_source(feed_server.url + "/flaky.xml")],
        [{"id": "slack", "type": "slack", "webhook_url": slack_server.webhook_url}],
        {"notify": ["slack"], "alert_after": "1h"},
    )
    assert run_once(workspace) == 1
    assert run_once(workspace) == 1
    feed_server.routes["/flaky.xml"] = Route(rss(items(0, 1)))  # first poll: recorded as seen
    assert run_once(workspace) == 0
    assert slack_server.delivered == []


def down(notifier, since):
    return [health_alert(notifier, "ustr", "down", since, "Source ustr down", "")]


def up(notifier, since):
    return [health_alert(notifier, "ustr", "recovered", since, "Source ustr recovered", "")]


def test_the_store_queues_one_down_and_one_recovered_per_streak(each_store):
    """As two daemons on one database would call it: each call is its own transaction."""
    store = each_store
    queue_down = lambda since, now: down("slack", since)  # noqa: E731
    queue_up = lambda since, now: up("slack", since)  # noqa: E731
    store.record_failure("ustr", "HTTP 503")
    assert store.source_down("ustr", 1, 0.2, queue_down) == 0  # the streak begins
    assert store.source_down("ustr", 2, 0.2, queue_down) == 0
    time.sleep(0.3)
    assert store.source_down("ustr", 3, 0.2, queue_down) == 1
    assert store.source_down("ustr", 4, 0.2, queue_down) == 0  # told already
    assert store.source_down("ustr", 5, 0.2, queue_down) == 0
    assert store.source_recovered("ustr", queue_up) == 1
    assert store.source_recovered("ustr", queue_up) == 0  # another daemon: told already
    rows = store.outbox.recent(10)
    assert len(rows) == 2 and {r.notifier_id for r in rows} == {"slack"}
    assert store.outbox.counts()["pending"] == 2
    assert store.get_meta("health:ustr") is None


def test_a_streak_never_told_ends_without_a_recovered_message(each_store):
    store = each_store
    queue_down = lambda since, now: down("slack", since)  # noqa: E731
    assert store.source_down("ustr", 1, 3600, queue_down) == 0
    assert store.source_recovered("ustr", lambda since, now: up("slack", since)) == 0
    assert store.outbox.counts().get("pending", 0) == 0


def test_health_alerts_carry_no_link_and_a_rule_of_their_own():
    alert = health_alert("slack", "ustr", "down", 1_700_000_000.4, "Source ustr down", "text")
    assert alert.url == "" and alert.rules[0].id == HEALTH_RULE and alert.severity == "high"
    assert alert.article_id == "health:ustr:down:1700000000"


def write(tmp_path, defaults):
    path = tmp_path / "config.yaml"
    path.write_text(f"defaults: {defaults}\nnotifiers: [{{id: console, type: console}}]\n")
    return path


@pytest.mark.parametrize("bad", ["0s", "-1h", "soon", "0"])
def test_a_bad_alert_after_is_a_config_error(tmp_path, bad):
    with pytest.raises(UserError) as info:
        load_config(write(tmp_path, f"{{alert_after: '{bad}'}}"))
    [problem] = info.value.problems
    assert problem.key == "defaults.alert_after"


def test_health_notify_must_name_a_notifier_and_defaults_to_notify(tmp_path):
    with pytest.raises(UserError) as info:
        load_config(write(tmp_path, "{health_notify: [consol]}"))
    [problem] = info.value.problems
    assert problem.key == "defaults.health_notify[0]"
    config = load_config(write(tmp_path, "{alert_after: 90m}"))
    assert config.defaults.alert_after == 5400
    assert config.defaults.health_notifiers == ["console"]
    config = load_config(write(tmp_path, "{health_notify: []}"))
    assert config.defaults.health_notifiers == []


def test_a_source_silent_far_beyond_its_usual_rate_alerts_once_and_once_heard(
    workspace, feed_server, slack_server
):
    feed_server.add("/feed.xml", Route(rss(items(0, 2)), etag='"v1"'))
    workspace.write_config(
        [feed_source(feed_server.url + "/feed.xml", id="bis")],
        [
            {"id": "slack", "type": "slack", "webhook_url": slack_server.webhook_url},
            {"id": "console", "type": "console"},
        ],
        {"notify": ["console"], "health_notify": ["slack"]},
    )
    assert run_once(workspace) == 0  # the first poll
    five_days_ago = time.time() - 5 * 86400
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:  # news every 10 minutes, until five days ago
        store.plan("bis", Plan(time.time(), "due"), Activity(five_days_ago, 600.0, 50))
    finally:
        store.close()
    for _ in range(3):  # polls that work but find nothing new: one message, not three
        assert run_once(workspace) == 0
    [silent] = slack_texts(slack_server)
    assert "Source bis silent for 5d" in silent
    assert "usually has news every 10m" in json.dumps(slack_server.delivered[0]["payload"])
    feed_server.routes["/feed.xml"] = Route(rss(items(0, 3)), etag='"v2"')
    assert run_once(workspace) == 0
    assert len(slack_server.delivered) == 2
    assert "Source bis has news again after 5d" in slack_texts(slack_server)[1]
    assert run_once(workspace) == 0
    assert len(slack_server.delivered) == 2


def test_the_store_tells_each_silence_once(each_store):
    store = each_store
    queue = lambda since, now: [health_alert("slack", "bis", "silent", since, "t", "")]  # noqa: E731
    assert store.source_silent("bis", 1000.0, queue) == 1
    assert store.source_silent("bis", 1000.0, queue) == 0  # told already, across daemons
    assert store.source_heard("bis", queue) == 1
    assert store.source_heard("bis", queue) == 0
    assert Activity(1000.0, 600.0, SILENT_HISTORY - 1).silent_after() is None
