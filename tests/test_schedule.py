"""When sources are polled: backoff while failing, a restart resumes, a start is spread."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import time_machine

from monitor import daemon as daemon_module
from monitor import pipeline as pipeline_module
from monitor.cli.common import load_all
from monitor.daemon import START_RATE, Daemon, first_poll
from monitor.fetch import _max_age
from monitor.pipeline import _due, longest_wait
from monitor.schedule import (
    GAP_WEIGHT,
    SILENT_FLOOR,
    SILENT_HISTORY,
    Activity,
    Plan,
    failing,
    healthy,
    retry_at,
)
from monitor.sources import rss as rss_module
from monitor.sources.rss import RssConfig, publisher_wait, read_feed
from monitor.store import SourceState, open_store
from tests.builders import feed_source, items, run_once, start_daemon, stop, wait_for
from tests.servers import Route, rss
from tests.test_cli import cli

NOW = 1_000_000.0
BACKOFF_MAX = 6 * 3600.0


@pytest.mark.parametrize(
    ("streak", "low", "high"),
    [(1, 600, 600), (2, 600, 1200), (3, 600, 2400), (5, 600, 9600), (40, 600, BACKOFF_MAX)],
)
def test_the_wait_doubles_with_each_failure_up_to_six_hours(streak, low, high):
    waits = [retry_at(600.0, BACKOFF_MAX, streak, NOW, lambda d=d: d) - NOW for d in (0, 0.5, 1)]
    assert min(waits) == pytest.approx(low) and max(waits) == pytest.approx(high)


def test_the_wait_is_never_shorter_than_the_interval():
    assert retry_at(86400.0, BACKOFF_MAX, 3, NOW, lambda: 0.0) == NOW + 86400.0


def test_new_sources_start_spread_and_known_ones_resume_their_schedule():
    assert first_poll(None, 600.0, NOW, 0, 86400) == NOW
    assert first_poll(None, 600.0, NOW, 999, 86400) == pytest.approx(NOW + 999 / START_RATE)
    assert first_poll(None, 5.0, NOW, 999, 86400) == NOW + 5.0  # never more than an interval late
    polled = SourceState("a", {}, primed=True, last_poll_at=NOW - 100)
    assert first_poll(polled, 600.0, NOW, 0, 86400) == NOW + 500  # an interval after the last poll
    overdue = SourceState("a", {}, primed=True, last_poll_at=NOW - 6000)
    assert first_poll(overdue, 600.0, NOW, 3, 86400) == NOW + 3 / START_RATE
    failing = SourceState("a", {}, primed=True, last_poll_at=NOW - 100, next_due_at=NOW + 3000)
    assert first_poll(failing, 600.0, NOW, 0, 86400) == NOW + 3000  # the backoff outlives a restart


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
    assert "next try in" in status and "(backing off after" in status
    assert err.count("poll failed:") == 1  # one line a streak


def test_a_poll_slower_than_its_interval_is_followed_at_once_not_an_interval_later(
    workspace, feed_server
):
    """Overload in small: each poll takes 3 s against a 2 s interval. The next poll is
    planned inside the poll, already past when it ends; it must start as the poll ends,
    not be skipped as "still running" and wait for the interval's next tick (0-2 s more)."""
    url = feed_server.add("/slow.xml", Route(rss(items(0, 2)), delay=3.0))
    workspace.write_config([feed_source(url, interval="2s", timeout="20s")])
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: len(feed_server.hits("/slow.xml")) >= 5, timeout=40)
    finally:
        stop(daemon)
    starts = [hit["at"] for hit in feed_server.hits("/slow.xml")][1:]  # from the second poll
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) >= 3
    assert all(3.0 <= gap < 3.8 for gap in gaps), gaps


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


# ---- a healthy source's next poll: the interval, adaptive bounds, publisher hints ------


def test_without_bounds_a_healthy_source_keeps_its_interval():
    quiet = Activity(NOW - 7200, 3600.0, 10)
    assert healthy(600, 600, 600, quiet, 0, NOW) == Plan(NOW + 600, "every 10m")


@pytest.mark.parametrize(
    ("last_new", "usual_gap", "wait"),
    [
        (NOW, 3600.0, 120),  # news just now: the shortest interval
        (NOW - 7200, 86400.0, 1800),  # quiet for 2 h: a quarter of that
        (NOW - 86400, 1200.0, 300),  # a busy feed gone quiet: a quarter of its usual gap
        (NOW - 30 * 86400, 30 * 86400.0, 14400),  # a month quiet: the longest
        (NOW - 7200, None, 1800),  # no gap measured yet: the quiet alone
    ],
)
def test_an_adaptive_interval_follows_how_often_the_source_has_news(last_new, usual_gap, wait):
    plan = healthy(600, 120, 14400, Activity(last_new, usual_gap, 10), 0, NOW)
    assert plan.due == NOW + wait and plan.reason.startswith("adaptive: news")


def test_a_publishers_hint_is_a_floor_up_to_the_longest_interval():
    fresh = Activity(NOW, None, 1)
    assert healthy(600, 600, 600, fresh, 3600, NOW).due == NOW + 600  # bounds not widened
    plan = healthy(600, 600, 7200, fresh, 3600, NOW)
    assert plan == Plan(NOW + 3600, "the publisher asks for 1h between polls")
    assert healthy(600, 600, 1800, fresh, 3600, NOW).due == NOW + 1800
    assert healthy(600, 600, 7200, fresh, 60, NOW).due == NOW + 600  # never sooner for a hint


def test_the_usual_gap_is_a_moving_average_of_the_gaps_between_news():
    first = Activity().after(False, NOW)  # the first poll: no news yet, the clock starts
    assert first == Activity(NOW, None, 0)
    one = first.after(True, NOW + 100)
    assert one == Activity(NOW + 100, 100.0, 1)
    two = one.after(True, NOW + 500)
    assert two.usual_gap == pytest.approx(100 + GAP_WEIGHT * 300) and two.news_polls == 2
    assert two.after(False, NOW + 9000) == two  # a poll without news changes nothing


def test_silence_means_something_only_with_history_and_after_four_days():
    assert Activity(NOW, 600.0, SILENT_HISTORY - 1).silent_after() is None
    assert Activity(NOW, 600.0, SILENT_HISTORY).silent_after() == SILENT_FLOOR
    assert Activity(NOW, 86400.0, SILENT_HISTORY).silent_after() == 10 * 86400


def test_a_failing_source_says_why_it_waits():
    assert failing(600, 3600, 3, None, NOW, lambda: 1.0) == Plan(
        NOW + 2400, "backing off after 3 failed polls"
    )
    assert failing(600, 3600, 9, None, NOW, lambda: 1.0).due == NOW + 3600  # the cap
    asked = failing(600, 3600, 1, 7200, NOW, lambda: 1.0)
    assert asked == Plan(NOW + 7200, "the server asked us to wait (Retry-After)")


@pytest.mark.parametrize(
    ("head", "wait"),
    [
        (b"<rss><channel><ttl>60</ttl><item><ttl>1</ttl></item>", 3600),
        (
            b"<rss><channel><sy:updatePeriod>hourly</sy:updatePeriod>"
            b"<sy:updateFrequency>2</sy:updateFrequency><item/>",
            1800,
        ),
        (b"<rss><channel><sy:updatePeriod>daily</sy:updatePeriod><ttl>5</ttl>", 86400),
        (b"<rss><channel><item><ttl>60</ttl></item>", 0),  # an item's, not the channel's
        (b"<rss><channel><ttl>soon</ttl>", 0),
        (
            b"<rss><channel><sy:updateFrequency>0</sy:updateFrequency>"
            b"<sy:updatePeriod>weekly</sy:updatePeriod>",
            7 * 86400,
        ),
    ],
)
def test_a_feed_says_how_often_to_read_it(head, wait):
    assert publisher_wait(head) == wait


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=300", 300),
        ('max-age="60"', 60),
        ("no-cache, max-age=300", 0),
        ("max-age=soon", 0),
        ("", 0),
        ("s-maxage=99", 0),
    ],
)
def test_cache_control_max_age(header, seconds):
    assert _max_age(header) == seconds


def test_a_publishers_max_age_holds_polls_within_max_interval(workspace, feed_server):
    url = feed_server.add(
        "/feed.xml", Route(rss(items(0, 2)), headers={"Cache-Control": "max-age=3600"})
    )
    workspace.write_config([feed_source(url, interval="1s", max_interval="2h")])
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= 1, timeout=15)
        time.sleep(3)  # three intervals
        status = cli("status", "--config", str(workspace.config)).stdout
    finally:
        stop(daemon)
    assert len(feed_server.hits("/feed.xml")) == 1
    assert "next poll in 59m" in status or "next poll in 1h" in status, status
    assert "(the publisher asks for 1h between polls)" in status


def test_without_max_interval_the_publisher_cannot_slow_a_source(workspace, feed_server):
    url = feed_server.add(
        "/feed.xml", Route(rss(items(0, 2)), headers={"Cache-Control": "max-age=3600"})
    )
    workspace.write_config([feed_source(url, interval="1s")])
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= 3, timeout=15)
    finally:
        stop(daemon)


def test_the_plan_and_the_news_rate_survive_a_restart(each_store):
    store = each_store
    store.record_failure("feed", "HTTP 500")
    store.plan("feed", Plan(NOW + 60, "backing off after 1 failed poll"))
    store.plan("feed", Plan(NOW + 900, "adaptive: news 1h ago"), Activity(NOW - 3600, 1800.0, 4))
    state = store.source_state("feed")
    assert (state.next_due_at, state.due_reason) == (NOW + 900, "adaptive: news 1h ago")
    assert state.activity == Activity(NOW - 3600, 1800.0, 4)
    store.plan("feed", Plan(NOW + 1200, "backing off after 2 failed polls"))
    assert store.source_state("feed").activity == Activity(NOW - 3600, 1800.0, 4)


def test_a_clock_set_back_a_day_does_not_stop_the_polls(workspace, feed_server, monkeypatch):
    """APScheduler's times are wall-clock times: without the watch, every job would wait
    out the day. time-machine moves the wall clock only (asyncio's is monotonic)."""
    monkeypatch.setattr(daemon_module, "CLOCK_CHECK", 0.2)
    url = feed_server.add("/feed.xml", Route(rss(items(0, 2)), etag='"v1"'))
    workspace.write_config([feed_source(url, interval="1s")])
    config, rules = load_all(workspace.config)

    async def scenario() -> tuple[int, int]:
        daemon = Daemon(config, rules)
        running = asyncio.create_task(daemon.run_forever())
        while len(feed_server.hits("/feed.xml")) < 2:
            await asyncio.sleep(0.05)
        with time_machine.travel(time.time() - 86400, tick=True):
            before = len(feed_server.hits("/feed.xml"))
            await asyncio.sleep(3)
            after = len(feed_server.hits("/feed.xml"))
        os.kill(os.getpid(), signal.SIGTERM)  # run_forever's handler: a clean stop
        await running
        return before, after

    before, after = asyncio.run(scenario())
    assert after - before >= 2, (before, after)


def test_a_plan_further_ahead_than_any_plan_can_be_is_due():
    settings = feed_settings(interval=600.0)
    healthy_state = SourceState("a", {}, primed=True, last_poll_at=NOW, next_due_at=NOW + 86400)
    assert _due(healthy_state, settings, NOW)  # a day ahead of a 10-minute source: set back
    assert not _due(replace(healthy_state, next_due_at=NOW + 500), settings, NOW)
    failing = replace(healthy_state, error_streak=3)
    assert not _due(failing, settings, NOW)  # a Retry-After may hold a failing one a day
    set_back = SourceState("a", {}, primed=True, last_poll_at=NOW + 86400)
    assert first_poll(set_back, 600.0, NOW, 0, longest_wait(settings, set_back)) == NOW


def feed_settings(**values):
    return RssConfig(id="a", type="rss", url="https://x.example/feed", **values)


def test_500_failing_feeds_back_off_log_once_each_and_alert_once_each(workspace, feed_server):
    feed_server.add("/down.xml", Route(b"broken", status=500))
    sources = [
        feed_source(f"{feed_server.url}/down.xml?{i}", id=f"f{i}", interval="1m")
        for i in range(500)
    ]
    feed_server.routes.update({f"/down.xml?{i}": Route(b"broken", status=500) for i in range(500)})
    workspace.write_config(sources, None, {"alert_after": "1s", "max_concurrent": 50})
    first = cli("run", "--once", "--config", str(workspace.config))
    time.sleep(1.2)
    second = cli("run", "--once", "--config", str(workspace.config))
    third = cli("run", "--once", "--config", str(workspace.config))
    logged = first.stderr + second.stderr + third.stderr
    assert logged.count("poll failed:") == 500  # one line a source a streak
    assert logged.count("source-down alert queued") == 500
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:
        assert store.outbox.counts()["sent"] == 500  # one each, to the console
        states = store.source_states()
    finally:
        store.close()
    assert len(states) == 500 and {s.error_streak for s in states} == {3}
    assert all(s.due_reason == "backing off after 3 failed polls" for s in states)
    status = cli("status", "--config", str(workspace.config)).stdout
    assert status.count("(backing off after 3 failed polls)") == 500


def test_an_etag_that_changes_every_poll_over_the_same_items_is_cheap(workspace, feed_server):
    body = rss(items(0, 5))
    url = feed_server.add("/feed.xml", Route(body, etag='"e0"'))
    workspace.write_config([feed_source(url, backfill="all")])
    config, rules = load_all(workspace.config)
    parsed = []

    def counting_read(*args):
        parsed.append(args)
        return read_feed(*args)

    async def poll_once() -> None:
        daemon = Daemon(config, rules, once=True)
        await daemon.run_once()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rss_module, "read_feed", counting_read)
        for n in range(4):
            feed_server.routes["/feed.xml"] = Route(body, etag=f'"e{n}"')
            asyncio.run(poll_once())
    store = open_store("sqlite:///state/monitor.db", workspace.root)
    try:
        alerts = sum(store.outbox.counts().values())
    finally:
        store.close()
    assert len(feed_server.hits("/feed.xml")) == 4
    assert len(parsed) == 1  # the same bytes are not parsed again
    assert alerts == 5  # the first poll's five Nvidia items, and nothing since


def test_a_job_cut_short_at_shutdown_is_not_logged_as_a_failure(workspace, caplog):
    """APScheduler cancels running jobs when it stops and logs each with a traceback (seen
    in CI: the rules check). A job cancelled before it starts is the test of a SIGTERM
    while the program loads, in test_daemon.py."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    workspace.write_config([])
    Daemon(*load_all(workspace.config))  # a daemon quiets its scheduler's stops
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(60)

    async def main() -> None:
        scheduler = AsyncIOScheduler()
        scheduler.add_job(slow, "interval", seconds=3600, next_run_time=datetime.now(UTC))
        scheduler.start()
        await asyncio.wait_for(started.wait(), 5)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0.2)  # the cancelled job's task ends, its callback runs

    caplog.set_level("DEBUG", logger="apscheduler")
    asyncio.run(main())
    assert started.is_set()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_polls_take_turns_so_a_crowd_of_them_holds_little(workspace, feed_server, monkeypatch):
    """A start of 10,000 sources queued thousands of polls for the matching and store
    threads, each holding its feed (303 MB); now at most POLLS_AT_ONCE are under way, and
    the others wait for a turn holding nothing, shown as trade_monitor_polls_waiting."""
    monkeypatch.setattr(pipeline_module, "POLLS_AT_ONCE", 3)
    sources = []
    for n in range(12):
        path = f"/slow{n}.xml"
        feed_server.add(path, Route(rss(items(n * 10, 2)), delay=0.3))
        sources.append(feed_source(f"{feed_server.url}{path}", id=f"f{n}"))
    workspace.write_config(sources, None, {"per_host": 20, "max_concurrent": 20})
    daemon = Daemon(*load_all(workspace.config), once=True)
    registry, waiting = daemon.pipeline.metrics.registry, []

    async def watched() -> int:
        async def watch() -> None:
            while True:
                waiting.append(registry.get_sample_value("trade_monitor_polls_waiting"))
                await asyncio.sleep(0.05)

        watching = asyncio.create_task(watch())
        try:
            return await daemon.run_once()
        finally:
            watching.cancel()

    assert asyncio.run(watched()) == 0
    spans = [(hit["at"], hit["at"] + 0.3) for hit in feed_server.requests]
    at_once = max(sum(start <= at < end for start, end in spans) for at, _ in spans)
    assert len(spans) == 12 and at_once == 3  # without turns: up to 12
    assert max(waiting) >= 6 and registry.get_sample_value("trade_monitor_polls_waiting") == 0
