"""The daemon: poll each source on its schedule, match, queue, deliver.

One APScheduler interval job per source (coalesced, one instance at a time,
jittered) so a slow or failing source only delays itself, plus one outbox
dispatcher job. A poll records its new articles, their matches and queued
alerts and the source's cursor in one transaction; the dispatcher then sends
what is due, under a lock so no alert is sent twice by two dispatches.
SIGTERM and SIGINT stop the scheduler, let in-flight work finish (bounded),
and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.alerts import build_alerts
from monitor.article import Article
from monitor.config import Config
from monitor.fetch import Fetcher
from monitor.match import RuleSet
from monitor.notify import Notifier, SendResult, build_notifier
from monitor.sources import Source, SourceConfig, SourceContext, SourceError, build_source
from monitor.store import NewArticle, OutboxRow, Store, open_store

log = logging.getLogger("monitor")
STOP_GRACE = 10.0
RETRY_BASE, RETRY_CAP = 30.0, 3600.0


@dataclass
class Pipeline:
    """What one poll and one dispatch do; the scheduler only decides when."""

    config: Config
    rules: RuleSet
    store: Store
    notifiers: dict[str, Notifier]
    dispatch_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def poll(self, source: Source, settings: SourceConfig) -> bool:
        state = self.store.source_state(source.id)
        started = time.monotonic()
        try:
            async with asyncio.timeout((settings.timeout or 20.0) * 3 + 30):
                result = await source.poll(state.cursor)
        except (SourceError, TimeoutError) as exc:
            self._failed(source.id, str(exc) or "poll timed out", settings)
            return False
        except Exception as exc:  # a source bug must not stop the daemon
            log.exception("poll crashed", extra={"source": source.id})
            self._failed(source.id, f"{type(exc).__name__}: {exc}", settings)
            return False
        fresh = self.store.unseen(result.articles)
        alert_from = _alert_window_start(state.primed, settings.backfill or 0.0)
        items = [self._evaluate(article, alert_from) for article in fresh]
        recorded = self.store.record_poll(source.id, result.cursor, len(result.articles), items)
        queued = sum(len(item.alerts) for item in recorded)
        if state.error_streak:
            log.info(
                "recovered after %d failed polls", state.error_streak, extra={"source": source.id}
            )
        if recorded or not state.primed:
            note = "" if state.primed or settings.backfill else " (first poll: recorded as seen)"
            log.info(
                "%d items, %d new, %d alerts queued in %.2fs%s",
                len(result.articles),
                len(recorded),
                queued,
                time.monotonic() - started,
                note,
                extra={"source": source.id},
            )
        return True

    def _evaluate(self, article: Article, alert_from: datetime | None) -> NewArticle:
        matches = self.rules.match(article)
        if not matches or alert_from is None or article.when < alert_from:
            return NewArticle(article, matches)
        alerts = build_alerts(article, matches, self.config.defaults.notify, self.notifiers.keys())
        return NewArticle(article, matches, alerts)

    def _failed(self, source_id: str, error: str, settings: SourceConfig) -> None:
        streak = self.store.record_failure(source_id, error)
        if streak == 1:
            log.warning(
                "poll failed: %s (retrying every %s; logged once until it recovers)",
                error,
                _human(settings.interval or 0),
                extra={"source": source_id},
            )
        else:
            log.debug(
                "poll failed again (%d in a row): %s", streak, error, extra={"source": source_id}
            )

    async def dispatch(self, ignore_backoff: bool = False) -> bool:
        """Send every due alert; False if any delivery failed."""
        async with self.dispatch_lock:
            rows = self.store.due_alerts(limit=500, now=float("inf") if ignore_backoff else None)
            by_notifier: dict[str, list[OutboxRow]] = {}
            for row in rows:
                by_notifier.setdefault(row.notifier_id, []).append(row)
            results = await asyncio.gather(
                *(self._deliver(notifier_id, batch) for notifier_id, batch in by_notifier.items())
            )
            return all(results)

    async def _deliver(self, notifier_id: str, rows: Sequence[OutboxRow]) -> bool:
        notifier = self.notifiers.get(notifier_id)
        if notifier is None:
            if notifier_id not in self.config.disabled:
                for row in rows:
                    self.store.mark_dead(row.id, f"no notifier named {notifier_id!r} in the config")
            return True
        ok = True
        for row in rows:
            try:
                result = await notifier.send(row.alert)
            except Exception as exc:  # a notifier bug must not lose the alert
                log.exception("send crashed", extra={"notifier": notifier_id, "alert": row.id})
                result = SendResult.later(f"{type(exc).__name__}")
            self._record(notifier_id, row, result)
            ok &= result.ok
        return ok

    def _record(self, notifier_id: str, row: OutboxRow, result: SendResult) -> None:
        context = {"notifier": notifier_id, "alert": row.id}
        if result.ok:
            self.store.mark_sent(row.id)
        elif result.retry:
            delay = result.retry_after or _backoff(row.attempts)
            self.store.mark_retry(row.id, result.error, delay)
            log.warning(
                "delivery failed, retrying in %s: %s", _human(delay), result.error, extra=context
            )
        else:
            self.store.mark_dead(row.id, result.error)
            log.error("delivery failed for good: %s", result.error, extra=context)


def _alert_window_start(primed: bool, backfill: float) -> datetime | None:
    """On a source's first poll only items newer than the backfill window alert."""
    if primed or backfill == float("inf"):
        return datetime.min.replace(tzinfo=UTC)
    if backfill <= 0:
        return None
    return datetime.now(UTC) - timedelta(seconds=backfill)


def _backoff(attempts: int) -> float:
    return min(RETRY_CAP, RETRY_BASE * 2**attempts) * random.uniform(0.8, 1.2)


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class Daemon:
    def __init__(self, config: Config, rules: RuleSet) -> None:
        self.config = config
        self.store = open_store(config.state, config.base_dir)
        self.fetcher = Fetcher(config.defaults.user_agent)
        context = SourceContext(self.fetcher, config.base_dir)
        self.sources = [(build_source(s, context), s) for s in config.sources if s.enabled]
        notifiers = {n.id: build_notifier(n) for n in config.enabled_notifiers}
        self.pipeline = Pipeline(config, rules, self.store, notifiers)
        self.in_flight: set[asyncio.Task[Any]] = set()

    async def close(self) -> None:
        await self.fetcher.aclose()
        self.store.close()

    async def run_once(self) -> int:
        """Poll every source once, deliver what is queued; 1 if anything failed (for cron)."""
        try:
            polled = await asyncio.gather(*(self.pipeline.poll(s, c) for s, c in self.sources))
            delivered = await self.pipeline.dispatch(ignore_backoff=True)
        finally:
            await self.close()
        return 0 if all(polled) and delivered else 1

    async def run_forever(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        for source, settings in self.sources:
            interval = settings.interval or 600.0
            scheduler.add_job(
                self._tracked(self._poll_and_dispatch),
                "interval",
                args=[source, settings],
                seconds=interval,
                id=f"source:{source.id}",
                next_run_time=now,
                coalesce=True,
                max_instances=1,
                jitter=min(interval * 0.1, 30),
                misfire_grace_time=int(interval),
            )
        scheduler.add_job(
            self._tracked(self.pipeline.dispatch),
            "interval",
            id="dispatch",
            seconds=self.config.defaults.dispatch_interval,
            next_run_time=now,
            coalesce=True,
            max_instances=1,
        )
        scheduler.start()
        log.info(
            "running: %d sources, %d rules, notifiers: %s",
            len(self.sources),
            len(self.pipeline.rules.rules),
            ", ".join(self.pipeline.notifiers) or "none",
        )
        await stop.wait()
        log.info("stopping")
        scheduler.shutdown(wait=False)
        if self.in_flight:
            _, pending = await asyncio.wait(self.in_flight, timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
        await self.close()
        log.info("stopped")
        return 0

    async def _poll_and_dispatch(self, source: Source, settings: SourceConfig) -> None:
        if await self.pipeline.poll(source, settings):
            await self.pipeline.dispatch()

    def _tracked(self, job: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """Wrap a job so shutdown can wait for it to finish its transaction."""

        async def run(*args: Any) -> None:
            task = asyncio.current_task()
            assert task is not None
            self.in_flight.add(task)
            try:
                await job(*args)
            except Exception:
                log.exception("job failed")
            finally:
                self.in_flight.discard(task)

        return run


def run(config: Config, rules: RuleSet, once: bool) -> int:
    async def main() -> int:
        daemon = Daemon(config, rules)
        return await (daemon.run_once() if once else daemon.run_forever())

    return asyncio.run(main())
