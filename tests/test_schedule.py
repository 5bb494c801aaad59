"""When sources are polled: backoff while failing, a restart resumes, a start is spread."""

from __future__ import annotations

import time

import pytest

from monitor.daemon import START_RATE, first_poll
from monitor.pipeline import BACKOFF_MAX, retry_at
from monitor.store import SourceState, open_store
from tests.builders import feed_source, run_once, start_daemon, stop, wait_for
from tests.servers import Route
from tests.test_cli import cli

NOW = 1_000_000.0


@pytest.mark.parametrize(
    ("streak", "low", "high"),
    [(1, 600, 600), (2, 600, 1200), (3, 1200, 2400), (5, 4800, 9600), (40, 10800, BACKOFF_MAX)],
)
def test_the_wait_doubles_with_each_failure_up_to_six_hours(streak, low, high):
    waits = [retry_at(600.0, streak, NOW, lambda d=d: d) - NOW for d in (0.0, 0.5, 1.0)]
    assert min(waits) == pytest.approx(low) and max(waits) == pytest.approx(high)


def test_the_wait_is_never_shorter_than_the_interval():
    assert retry_at(86400.0, 3, NOW, lambda: 0.0) == NOW + 86400.0


def test_new_sources_start_spread_and_known_ones_resume_their_schedule():
    assert first_poll(None, 600.0, NOW, 0) == NOW
    assert first_poll(None, 600.0, NOW, 999) == pytest.approx(NOW + 999 / START_RATE)
    assert first_poll(None, 5.0, NOW, 999) == NOW + 5.0  # never more than an interval late
    polled = SourceState("a", {}, primed=True, last_poll_at=NOW - 100)
    assert first_poll(polled, 600.0, NOW, 0) == NOW + 500  # an interval after the last poll
    overdue = SourceState("a", {}, primed=True, last_poll_at=NOW - 6000)
    assert first_poll(overdue, 600.0, NOW, 3) == NOW + 3 / START_RATE
    failing = SourceState("a", {}, primed=True, last_poll_at=NOW - 100, next_due_at=NOW + 3000)
    assert first_poll(failing, 600.0, NOW, 0) == NOW + 3000  # the backoff outlives a restart


def test_a_failing_source_is_polled_less_and_less_often(workspace, feed_server):
    url = feed_server.add("/feed.xml", Route(b"down", status=500))
    workspace.write_config([feed_source(url, interval="1s")])
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= 3, timeout=15)
        status = cli("status", "--config", str(workspace.config)).stdout
        first_hits = len(feed_server.hits("/feed.xml"))
        time.sleep(6)  # six intervals
    finally:
        _, _, _, err = stop(daemon)
    later_hits = len(feed_server.hits("/feed.xml")) - first_hits
    assert later_hits <= 3, later_hits  # every second without the backoff: 6
    assert "backing off, next try in" in status
    assert err.count("poll failed:") == 1  # one line a streak


def test_a_429s_retry_after_holds_the_source_across_a_restart(workspace, feed_server):
    url = feed_server.add(
        "/feed.xml", Route(b"slow down", status=429, headers={"Retry-After": "3600"})
    )
    workspace.write_config([feed_source(url, interval="1s")])
    run_once(workspace)
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:
        due = store.source_state("feed").next_due_at
    finally:
        store.close()
    assert due is not None and due >= time.time() + 3500
    asked = len(feed_server.hits("/feed.xml"))
    daemon = start_daemon(workspace)
    try:
        time.sleep(4)  # four intervals: none polls the feed before the hour is up
    finally:
        stop(daemon)
    assert len(feed_server.hits("/feed.xml")) == asked
