"""Breaking things on purpose: SIGTERM mid-send, and kill -9 at random moments."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time

from monitor.store import open_store
from tests.builders import start_daemon, stop, wait_for
from tests.conftest import cli_command
from tests.servers import Route, SlackReply, rss

SLACK = {"backoff": "200ms", "backoff_max": "1s", "pace": "0s"}


def config(workspace, feed_url, slack_server):
    workspace.write_config(
        [{"id": "feed", "type": "rss", "url": feed_url, "interval": "500ms", "backfill": "all"}],
        [{"id": "slack", "type": "slack", "webhook_url": slack_server.webhook_url, **SLACK}],
        {"notify": ["slack"], "dispatch_interval": "500ms"},
    )


def item(i):
    return {"title": f"Nvidia story {i}", "link": f"https://news.example/{i}", "guid": f"g{i}"}


def delivered_links(slack_server):
    return [
        r["payload"]["blocks"][0]["text"]["text"].split("|")[0].strip("*<")
        for r in slack_server.delivered
    ]


def test_sigterm_lets_a_send_in_flight_finish_and_records_it(workspace, feed_server, slack_server):
    config(workspace, feed_server.add("/feed.xml", Route(rss([item(1)]))), slack_server)
    slack_server.script.append(SlackReply(delay=3))
    daemon = start_daemon(workspace)
    assert wait_for(lambda: slack_server.received == 1)
    code, seconds, _, err = stop(daemon)
    assert code == 0, err
    assert seconds < 10
    assert len(slack_server.delivered) == 1
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    assert store.outbox.counts()["sent"] == 1
    store.close()
    again = start_daemon(workspace)
    time.sleep(2)
    stop(again)
    assert len(slack_server.delivered) == 1


def test_a_second_daemon_on_the_same_state_is_refused(workspace, feed_server, slack_server):
    config(workspace, feed_server.add("/feed.xml", Route(rss([]))), slack_server)
    first = start_daemon(workspace)
    assert wait_for(lambda: feed_server.hits("/feed.xml"))
    # (not start_daemon(...).args: that starts a third daemon, which outlived the test once
    # the first let go of the lock)
    second = subprocess.run(cli_command("run", "--config", str(workspace.config)),
                            capture_output=True, text=True, timeout=30, cwd=workspace.root)  # fmt: skip
    stop(first)
    assert second.returncode == 2
    assert "another trade-monitor is running" in second.stderr


def test_kill_9_at_random_moments_loses_nothing(workspace, feed_server, slack_server):
    rng = random.Random(20261128)
    items: list[dict[str, str]] = []
    feed_server.add("/feed.xml", Route(rss(items)))
    config(workspace, feed_server.url + "/feed.xml", slack_server)
    slack_server.chaos = rng
    publishing = threading.Event()

    def publish():
        i = 0
        while not publishing.is_set():
            items.append(item(i))
            feed_server.routes["/feed.xml"] = Route(rss(list(items)))
            i += 1
            time.sleep(0.25)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    kills = 0
    deadline = time.monotonic() + 90
    while kills < 12 and time.monotonic() < deadline:
        daemon = start_daemon(workspace)
        time.sleep(rng.uniform(0.6, 2.5))
        daemon.send_signal(signal.SIGKILL)
        daemon.communicate(timeout=10)
        kills += 1
    publishing.set()
    publisher.join()
    slack_server.chaos = None
    final = start_daemon(workspace, "--once")
    final.communicate(timeout=60)
    assert final.returncode == 0

    expected = {f"https://news.example/{i}" for i in range(len(items))}
    links = delivered_links(slack_server)
    assert kills >= 10
    assert len(items) > 20
    assert set(links) == expected, "every matched alert was delivered"
    assert len(links) - len(set(links)) <= kills, "at most one duplicate per kill"
