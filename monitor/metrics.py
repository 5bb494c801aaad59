"""What a running daemon tells Prometheus (/metrics) and a supervisor (/healthz).

`Metrics` holds the counters and histograms that the pipeline and the dispatcher
move as things happen, in a registry of its own (never prometheus-client's
global one, so two daemons in one process, as in tests, never mix). What lives
in the store (alerts by state, the outbox's depth and its oldest pending alert,
each source's last good poll) is read at scrape time by `Watch`, from the
listener's thread, through the store's own `call` on the daemon's event loop,
with a bounded wait: a scrape never blocks the loop, and a busy or unreachable
store makes /healthz say so instead of hanging.

Nothing here shows a secret: labels are source, rule and notifier ids, and the
health reasons name sources and say what failed, never an error text from a
server (which may quote a URL with a token).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.listener import Listener, WsgiApp, routes

if TYPE_CHECKING:
    from monitor.match import Match
    from monitor.store import SourceState, Store

log = logging.getLogger("monitor")
STORE_WAIT = 5.0  # seconds a scrape or health check waits for the store
LIVENESS_EVERY = 5.0  # seconds between the scheduler's heartbeats
STALE_BEAT = 30.0  # no heartbeat for this long: the scheduler is not running its jobs
STUCK_INTERVALS = 3  # a source whose last good poll is older than this many intervals is stuck
SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LATE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
MATCH_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0)


class Metrics:
    """The event counters and timings; thread-safe (matching runs on a thread of its own)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.polls = Counter(
            "trade_monitor_polls", "Polls of a source, failed ones included", ["source"],
            registry=registry,
        )  # fmt: skip
        self.poll_errors = Counter(
            "trade_monitor_poll_errors", "Polls of a source that failed", ["source"],
            registry=registry,
        )  # fmt: skip
        self.articles = Counter(
            "trade_monitor_articles", "New articles recorded, by source", ["source"],
            registry=registry,
        )  # fmt: skip
        self.matches = Counter(
            "trade_monitor_matches", "Rule matches on new articles, by rule", ["rule"],
            registry=registry,
        )  # fmt: skip
        self.send_seconds = Histogram(
            "trade_monitor_send_duration_seconds", "Time one send took, by notifier",
            ["notifier"], buckets=SEND_BUCKETS, registry=registry,
        )  # fmt: skip
        self.poll_lateness = Histogram(
            "trade_monitor_poll_lateness_seconds",
            "How long after its scheduled time a poll started (a busy event loop shows here)",
            buckets=LATE_BUCKETS, registry=registry,
        )  # fmt: skip
        self.polls_waiting = Gauge(
            "trade_monitor_polls_waiting",
            "Polls due and waiting for a turn (more than a few for long: the daemon is behind)",
            registry=registry,
        )
        self.skipped_runs = Counter(
            "trade_monitor_skipped_runs",
            "Scheduled runs skipped: its last run still going, or missed (the loop too busy)",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.match_seconds = Histogram(
            "trade_monitor_match_duration_seconds", "Time to match one article against the rules",
            buckets=MATCH_BUCKETS, registry=registry,
        )  # fmt: skip

    def known(self, source_ids: Iterable[str]) -> None:
        """Show every source's counters from the start, at 0 (so rate() sees the first poll)."""
        for source_id in source_ids:
            for counter in (self.polls, self.poll_errors, self.articles):
                counter.labels(source_id)

    def polled(self, source_id: str, new: int) -> None:
        self.polls.labels(source_id).inc()
        self.articles.labels(source_id).inc(new)

    def poll_failed(self, source_id: str) -> None:
        self.polls.labels(source_id).inc()
        self.poll_errors.labels(source_id).inc()

    def matched(self, matches: Sequence[Match], seconds: float) -> None:
        self.match_seconds.observe(seconds)
        for match in matches:
            self.matches.labels(match.rule.id).inc()

    def sent(self, notifier_id: str, seconds: float) -> None:
        self.send_seconds.labels(notifier_id).observe(seconds)


@dataclass(frozen=True)
class Snapshot:
    """The store's side, read in one go on the store's thread."""

    counts: dict[str, int]
    oldest_pending: float | None
    sources: list[SourceState]
    now: float


class Watch(Collector):
    """Reads the store for a scrape, and decides /healthz; called from the listener's threads."""

    def __init__(
        self,
        store: Store,
        sources: Sequence[tuple[str, float]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.store = store
        self.sources = dict(sources)  # enabled source id -> interval
        self.loop = loop
        self.started = self.beat_at = time.monotonic()

    def beat(self) -> None:
        """A scheduler job: the scheduler runs its jobs."""
        self.beat_at = time.monotonic()

    def snapshot(self) -> Snapshot:
        future = asyncio.run_coroutine_threadsafe(self.store.call(_snapshot, self.store), self.loop)
        try:
            return future.result(STORE_WAIT)
        except TimeoutError:
            future.cancel()
            raise

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to check at registration (it would read the store)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("trade_monitor_store_up", "1 if the store answered this scrape")
        try:
            snap = self.snapshot()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        alerts = GaugeMetricFamily(
            "trade_monitor_alerts", "Alerts in the outbox, by state", labels=["state"]
        )
        for state, count in sorted(snap.counts.items()):
            alerts.add_metric([state], count)
        yield alerts
        yield GaugeMetricFamily(
            "trade_monitor_outbox_pending", "Alerts waiting to be sent",
            value=snap.counts.get("pending", 0),
        )  # fmt: skip
        age = snap.now - snap.oldest_pending if snap.oldest_pending is not None else 0.0
        yield GaugeMetricFamily(
            "trade_monitor_outbox_oldest_pending_age_seconds",
            "Age of the oldest alert waiting to be sent (0 when none waits)", value=max(0.0, age),
        )  # fmt: skip
        last_ok = GaugeMetricFamily(
            "trade_monitor_source_last_success_timestamp_seconds",
            "When each enabled source was last polled without error (Unix time)",
            labels=["source"],
        )
        for source in snap.sources:
            if source.source_id in self.sources and source.last_ok_at is not None:
                last_ok.add_metric([source.source_id], source.last_ok_at)
        yield last_ok

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON body): scheduler alive, store reachable, no enabled source stuck."""
        reasons: list[str] = []
        now = time.monotonic()
        if now - self.beat_at > STALE_BEAT:
            reasons.append(f"scheduler: no heartbeat for {now - self.beat_at:.0f}s")
        try:
            snap = self.snapshot()
        except TimeoutError:
            reasons.append(f"store: no answer within {STORE_WAIT:g}s")
        except Exception as exc:  # its text may name the database's URL: only its type
            reasons.append(f"store: not reachable ({type(exc).__name__})")
        else:
            reasons += self._stuck(snap, now - self.started)
        body: dict[str, Any] = {"status": "failing" if reasons else "ok"}
        if reasons:
            body["reasons"] = reasons
        body["uptime_seconds"] = round(now - self.started, 1)
        return not reasons, body

    def _stuck(self, snap: Snapshot, uptime: float) -> list[str]:
        last_ok = {s.source_id: s.last_ok_at for s in snap.sources}
        reasons = []
        for source_id, interval in self.sources.items():
            limit = interval * STUCK_INTERVALS
            if uptime <= limit:
                continue  # the daemon has not run that long: give the source its chances
            ok_at = last_ok.get(source_id)
            if ok_at is None:
                reasons.append(f"source {source_id}: no successful poll in {uptime:.0f}s")
            elif snap.now - ok_at > limit:
                reasons.append(
                    f"source {source_id}: last successful poll {snap.now - ok_at:.0f}s ago"
                    f" (interval {interval:g}s)"
                )
        return reasons


def _snapshot(store: Store) -> Snapshot:
    counts, oldest = store.outbox.counts(), store.outbox.oldest_pending()
    return Snapshot(counts, oldest, store.source_states(), time.time())


def serve(
    address: tuple[str, int],
    where: str,
    metrics: Metrics,
    store: Store,
    sources: Sequence[tuple[str, float]],
    loop: asyncio.AbstractEventLoop,
    websub: WsgiApp | None = None,
    web: WsgiApp | None = None,
) -> tuple[Listener, Watch]:
    """Start the listener for /metrics and /healthz (and /websub/ and the web page when
    given); UserError if the address is unusable."""
    watch = Watch(store, sources, loop)
    metrics.known(source_id for source_id, _ in sources)
    metrics.registry.register(watch)  # the store's side, read at scrape time
    app = routes(make_wsgi_app(metrics.registry), watch.health, websub, web)
    listener = Listener(address, app, where)
    host = address[0]
    log.info("serving /metrics and /healthz on http://%s:%d", f"[{host}]" if ":" in host else host,
             listener.port)  # fmt: skip
    return listener, watch
