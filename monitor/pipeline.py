"""One poll of one source: fetch, drop what was seen, match, record with the alerts.

The daemon runs a `Pipeline.poll` per source on its schedule. Store work runs on
the store's thread and matching on a matching thread of its own, in chunks, so
nothing a source sends stalls the event loop or the other sources' polls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor import schedule
from monitor.alerts import Alert, AlertPolicy, build_alerts, health_alert
from monitor.article import Article
from monitor.config import Config
from monitor.fetch import RETRY_AFTER_MAX
from monitor.match import RuleSet
from monitor.metrics import Metrics
from monitor.notify import Notifier
from monitor.schedule import Activity
from monitor.settings import human_duration, rough_duration
from monitor.sources import PollResult, Source, SourceConfig, SourceError
from monitor.stages import NewArticle, record_articles, record_poll
from monitor.store import SourceState, Store

log = logging.getLogger("monitor")
GAP_MIN_ITEMS = 5  # a feed this short is often wholly new; no warning below it
CHUNK = 200  # new articles matched (and recorded) in one go before others get a turn
LEASE_SPAN = 15.0  # seconds a poll's lease lasts unless renewed (every third of that)
LEASE_SHARE = 0.9  # of a source's interval, in which no other daemon polls it again
# Polls under way at once, from fetch to record. The rest wait for a turn holding nothing:
# unbounded, a start of 10,000 sources had thousands of polls queued for the matching and
# store threads, each holding its feed and articles (303 MB at the peak, 252 after).
POLLS_AT_ONCE = 64


@dataclass
class Pipeline:
    """What one poll does: fetch, drop what was seen, match, and record with the alerts."""

    config: Config
    rules: RuleSet
    store: Store
    notifiers: dict[str, Notifier]
    policy: AlertPolicy
    owner: str = ""  # this daemon, as the leases of a shared database name it
    obey_backoff: bool = True  # False for `run --once`: when it runs is cron's business
    # Regex timeouts by rule id, since the state file was made: run-time counts, kept here
    # rather than in the rule set, which every reload replaces.
    regex_timeouts: Counter[str] = field(default_factory=Counter)
    matching: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="match")
    )
    metrics: Metrics = field(default_factory=Metrics)
    # Told each source's next poll (the daemon moves the source's job to it).
    planned: Callable[[str, float], None] = lambda source_id, due: None
    turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(POLLS_AT_ONCE))

    async def poll(self, source: Source, settings: SourceConfig) -> bool:
        """Poll once; on a shared database only if no daemon polled it within 90% of its
        interval. The lease is held in short spans renewed while the poll runs, so a
        daemon killed mid-poll leaves the source to the others within LEASE_SPAN."""
        store = self.store
        if not store.shared:
            return await self._poll(source, settings)
        lease, started = f"source:{source.id}", time.time()
        if not await store.call(store.sharing.take_lease, lease, self.owner, started + LEASE_SPAN):
            return True  # another daemon polls it, or just did
        keeping = asyncio.create_task(self._keep_lease(lease))
        try:
            return await self._poll(source, settings)
        finally:
            keeping.cancel()
            next_due = started + settings.interval * LEASE_SHARE
            await store.call(store.sharing.hold_lease, lease, self.owner, next_due)

    async def _keep_lease(self, lease: str) -> None:
        store = self.store
        while True:
            await asyncio.sleep(LEASE_SPAN / 3)
            await store.call(store.sharing.hold_lease, lease, self.owner, time.time() + LEASE_SPAN)

    async def _poll(self, source: Source, settings: SourceConfig) -> bool:
        """A poll in its turn (POLLS_AT_ONCE); `polls_waiting` shows a daemon behind."""
        self.metrics.polls_waiting.inc()
        try:
            await self.turns.acquire()
        finally:
            self.metrics.polls_waiting.dec()
        try:
            return await self._poll_in_turn(source, settings)
        finally:
            self.turns.release()

    async def _poll_in_turn(self, source: Source, settings: SourceConfig) -> bool:
        store = self.store
        state = await store.call(store.source_state, source.id)
        if self.obey_backoff and not _due(state, settings, time.time()):
            self.planned(source.id, state.next_due_at or 0.0)  # not yet (another daemon polled)
            return True
        started, started_at = time.monotonic(), time.time()
        try:
            async with asyncio.timeout(settings.timeout * 3 + 30):
                result = await source.poll(state.cursor)
        except (SourceError, TimeoutError) as exc:
            wait = exc.retry_after if isinstance(exc, SourceError) else None
            await self._failed(source.id, str(exc) or "poll timed out", settings, started_at, wait)
            return False
        except Exception as exc:  # a source bug must not stop the daemon
            log.exception("poll crashed", extra={"source": source.id})
            await self._failed(source.id, f"{type(exc).__name__}: {exc}", settings, started_at)
            return False
        fresh = await store.call(store.unseen, result.articles)
        alert_from = _alert_window_start(state.primed, settings.backfill)
        timeouts_before = self.regex_timeouts.total()
        items = await self._match(fresh, alert_from)
        recorded = await self._record(source.id, result, items)
        self.metrics.polled(source.id, len(recorded))
        if self.regex_timeouts.total() != timeouts_before:
            await store.call(store.put_meta, "regex_timeouts", dict(self.regex_timeouts))
        queued = sum(len(item.alerts) for item in recorded)
        if (
            state.primed
            and result.window
            and result.listed >= GAP_MIN_ITEMS
            and len(fresh) == result.listed
        ):
            _warn_gap(source.id, result.articles, settings)
        if state.error_streak:
            log.info(
                "recovered after %d failed polls", state.error_streak, extra={"source": source.id}
            )
            await self._health_recovered(source.id, state.error_streak)
        await self._plan(source.id, settings, state, result, bool(recorded), started_at)
        if recorded or not state.primed:
            note = "" if state.primed or settings.backfill else " (first poll: recorded as seen)"
            log.info(
                "%d items, %d new, %d alerts queued in %.2fs%s",
                result.listed,
                len(recorded),
                queued,
                time.monotonic() - started,
                note,
                extra={"source": source.id},
            )
        return True

    async def pushed(self, source_id: str, settings: SourceConfig, articles: list[Article]) -> int:
        """Record a hub's delivery (monitor/websub.py) as a poll's articles are: drop what was
        seen, match, record, queue; the source's cursor and schedule stay the polls'. Returns
        how many articles were new."""
        store = self.store
        state = await store.call(store.source_state, source_id)
        fresh = await store.call(store.unseen, articles)
        items = await self._match(fresh, _alert_window_start(state.primed, settings.backfill))
        recorded = await store.call(record_articles, store, items, self.policy)
        self.metrics.articles.labels(source_id).inc(len(recorded))
        queued = sum(len(item.alerts) for item in recorded)
        log.info("pushed: %d items, %d new, %d alerts queued", len(articles), len(recorded),
                 queued, extra={"source": source_id})  # fmt: skip
        return len(recorded)

    async def _match(self, fresh: list[Article], alert_from: datetime | None) -> list[NewArticle]:
        """Match on the matching thread, a chunk at a time.

        Off the loop, so thousands of new items never stall it; in chunks, so
        another source's poll waits for one chunk, not for the whole feed. One
        thread, because the rule set's caches are not shared between threads.
        """
        loop = asyncio.get_running_loop()
        items: list[NewArticle] = []
        for start in range(0, len(fresh), CHUNK):
            chunk = fresh[start : start + CHUNK]
            items += await loop.run_in_executor(
                self.matching, self._evaluate_all, chunk, alert_from
            )
        return items

    async def _record(
        self, source_id: str, result: PollResult, items: list[NewArticle]
    ) -> list[NewArticle]:
        """Record a chunk at a time, so other store work gets a turn between chunks.

        The last chunk goes with the source's cursor: until then a crash only
        means the next poll finds some of these articles seen already.
        """
        store, last = self.store, max(0, len(items) - CHUNK)
        recorded: list[NewArticle] = []
        for start in range(0, last, CHUNK):
            recorded += await store.call(
                record_articles, store, items[start : min(start + CHUNK, last)], self.policy
            )
        return recorded + await store.call(
            record_poll, store, source_id, result.cursor, result.articles, items[last:],
            self.policy, len(recorded), keys=result.item_keys, unchanged=result.unchanged,
        )  # fmt: skip

    def _evaluate_all(self, chunk: list[Article], alert_from: datetime | None) -> list[NewArticle]:
        return [self._evaluate(article, alert_from) for article in chunk]

    def _evaluate(self, article: Article, alert_from: datetime | None) -> NewArticle:
        started = time.perf_counter()
        matches = self.rules.match(article, timeouts=self.regex_timeouts)
        self.metrics.matched(matches, time.perf_counter() - started)
        if not matches or alert_from is None or article.when < alert_from:
            return NewArticle(article, matches)
        alerts = build_alerts(article, matches, self.config.defaults.notify, self.notifiers.keys())
        return NewArticle(article, matches, alerts)

    async def _plan(
        self,
        source_id: str,
        settings: SourceConfig,
        state: SourceState,
        result: PollResult,
        recorded: bool,
        started_at: float,
    ) -> None:
        """The next poll after a good one, from how often the source has news (and what its
        publisher asks); and its silence, if it has none far beyond its usual rate."""
        before = state.activity
        activity = before.after(state.primed and recorded, started_at)
        low, high = settings.interval_bounds
        plan = schedule.healthy(settings.interval, low, high, activity, result.wait_hint,
                                started_at)  # fmt: skip
        await self.store.call(self.store.plan, source_id, plan, activity)
        self.planned(source_id, plan.due)
        limit = before.silent_after()
        if activity.last_new_at != before.last_new_at:  # news
            if limit is not None and before.quiet(started_at) >= limit:
                await self._health_heard(source_id)
        elif limit is not None and activity.quiet(started_at) >= limit:
            await self._health_silent(source_id, activity, limit)

    async def _failed(
        self,
        source_id: str,
        error: str,
        settings: SourceConfig,
        started_at: float,
        retry_after: float | None = None,
    ) -> None:
        """Count the failure and back off; never sooner than the server asked (Retry-After)."""
        self.metrics.poll_failed(source_id)
        streak = await self.store.call(self.store.record_failure, source_id, error)
        plan = schedule.failing(
            settings.interval, settings.max_backoff, streak, retry_after, started_at
        )
        await self.store.call(self.store.plan, source_id, plan)
        self.planned(source_id, plan.due)
        wait = human_duration(max(0, round(plan.due - time.time())))  # a long poll: maybe now
        if streak == 1:
            log.warning(
                "poll failed: %s (trying again in %s, and less often while it fails;"
                " logged once until it recovers)",
                error,
                wait,
                extra={"source": source_id},
            )
        else:
            log.debug(
                "poll failed again (%d in a row), next try in %s: %s",
                streak, wait, error, extra={"source": source_id},
            )  # fmt: skip
        await self._health_down(source_id, error, streak, settings.alert_after)

    def _health_targets(self) -> list[str]:
        enabled = self.notifiers.keys()
        return [n for n in self.config.defaults.health_notifiers if n in enabled]

    async def _health_down(self, source_id: str, error: str, streak: int, after: float) -> None:
        """Failing longer than `alert_after`: one "source down" message per streak (the
        store notes the streak and whether it was told, across restarts and daemons)."""
        targets = self._health_targets()
        if not targets:
            return
        error = error[:300]

        def alerts(since: float, now: float) -> list[Alert]:
            down = rough_duration(now - since)
            title = f"Source {source_id} down for {down}: {error}"
            text = (
                f"Every poll since {_iso(since)} failed ({streak} in a row); the last said:"
                f" {error}. A message follows when it polls fine again."
            )
            return [health_alert(n, source_id, "down", since, title, text) for n in targets]

        store = self.store
        if await store.call(store.source_down, source_id, streak, after, alerts):
            log.warning(
                "failing for %s or more: source-down alert queued for %s",
                human_duration(after), ", ".join(targets), extra={"source": source_id},
            )  # fmt: skip

    async def _health_recovered(self, source_id: str, streak: int) -> None:
        """The "recovered" message, if its streak's "source down" alert was queued."""
        targets = self._health_targets()

        def alerts(since: float, now: float) -> list[Alert]:
            title = f"Source {source_id} recovered after {rough_duration(now - since)} down"
            text = f"Polled fine again after {streak} failed polls since {_iso(since)}."
            return [health_alert(n, source_id, "recovered", since, title, text) for n in targets]

        await self.store.call(self.store.source_recovered, source_id, alerts)

    async def _health_silent(self, source_id: str, activity: Activity, limit: float) -> None:
        """No news far beyond the source's usual rate (a feed frozen by a cache, a moved
        page): one message per silence."""
        targets = self._health_targets()
        usual = rough_duration(activity.usual_gap or 0)

        def alerts(since: float, now: float) -> list[Alert]:
            title = f"Source {source_id} silent for {rough_duration(now - since)}"
            text = (
                f"Its polls succeed, but nothing new since {_iso(since)}; it usually has news"
                f" every {usual}. A message follows when it has news again."
            )
            return [health_alert(n, source_id, "silent", since, title, text) for n in targets]

        if not targets:
            return
        since = activity.last_new_at or time.time()
        if await self.store.call(self.store.source_silent, source_id, since, alerts):
            log.warning(
                "no news for %s (usually every %s): source-silent alert queued for %s",
                rough_duration(time.time() - since), usual, ", ".join(targets),
                extra={"source": source_id},
            )  # fmt: skip

    async def _health_heard(self, source_id: str) -> None:
        """News again after a silence that was told."""
        targets = self._health_targets()

        def alerts(since: float, now: float) -> list[Alert]:
            title = f"Source {source_id} has news again after {rough_duration(now - since)}"
            text = f"New items again; the last before them came {_iso(since)}."
            return [health_alert(n, source_id, "recovered", since, title, text) for n in targets]

        await self.store.call(self.store.source_heard, source_id, alerts)


def _due(state: SourceState, settings: SourceConfig, now: float) -> bool:
    """Whether the source's next poll is due: a timer a moment early is on time, and a plan
    further ahead than any plan can be (the clock was set back) is due now."""
    if state.next_due_at is None:
        return True
    early = min(1.0, settings.interval / 10)
    ahead = state.next_due_at - now
    return ahead <= early or ahead > longest_wait(settings, state)


def longest_wait(settings: SourceConfig, state: SourceState | None) -> float:
    """The furthest ahead a plan of this source can be in its state (monitor/schedule.py):
    a healthy source's longest interval; a failing one's backoff or a server's Retry-After."""
    failing = state is not None and state.error_streak > 0
    longest = max(settings.max_backoff, RETRY_AFTER_MAX) if failing else settings.interval_bounds[1]
    return longest + 60.0


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _warn_gap(source_id: str, articles: Sequence[Article], settings: SourceConfig) -> None:
    """Every item is new: the feed's window may have moved past items we never saw."""
    dates = sorted(a.published_at.timestamp() for a in articles if a.published_at)
    interval = settings.interval
    span = dates[-1] - dates[0] if len(dates) >= 2 else 0.0
    suggested = max(30.0, span / 2) if 0 < span < interval else interval / 2
    log.warning(
        "every one of the %d items was new: items may have been missed since the last poll;"
        " the feed holds about %s of news, so poll every %s or more often (now every %s)",
        len(articles), human_duration(span) if span else "an unknown span",
        human_duration(round(suggested)), human_duration(interval), extra={"source": source_id},
    )  # fmt: skip


def _alert_window_start(primed: bool, backfill: float) -> datetime | None:
    """On a source's first poll only items newer than the backfill window alert."""
    if primed or backfill == float("inf"):
        return datetime.min.replace(tzinfo=UTC)
    if backfill <= 0:
        return None
    return datetime.now(UTC) - timedelta(seconds=backfill)
