"""The dispatcher: takes due alerts from the outbox and hands them to their notifiers.

Each notifier is drained on its own, so a slow or failing Slack never delays
email. An alert is claimed (in flight, with a lease), sent, and then marked by
what the notifier answered: sent; retried later (after the service's
Retry-After, clamped, or an exponential backoff with jitter up to the
notifier's cap); or dead, with the reason, when the service refused it for
good or the notifier's deadline (default 24h) passed. Nothing here blocks the
event loop: store work runs on the store's thread.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

from monitor.alerts import Alert
from monitor.notify import Notifier, NotifierConfig, SendResult
from monitor.store import OutboxRow, Store

log = logging.getLogger("monitor")
BATCH = 20
LEASE = 600.0
RETRY_AFTER_LIMITS = (1.0, 3600.0)


class Dispatcher:
    def __init__(
        self, store: Store, notifiers: Mapping[str, Notifier], configs: Mapping[str, NotifierConfig]
    ) -> None:
        self.store = store
        self.notifiers = notifiers
        self.configs = configs
        self.lock = asyncio.Lock()

    async def dispatch(self, ignore_backoff: bool = False) -> bool:
        """Send every due alert; False if any delivery failed.

        `ignore_backoff` (for `run --once`, whose next run is cron's business)
        tries every pending alert once, whatever its next attempt time.
        """
        async with self.lock:
            await self.store.call(self.bundle_due, time.time())
            results = await asyncio.gather(
                *(self._drain(notifier_id, ignore_backoff) for notifier_id in self.notifiers)
            )
            return all(results)

    def bundle_due(self, now: float) -> None:
        """Turn held alerts into one summary (an hour after the first) or digest (at its time)."""
        for notifier_id, note, oldest in self.store.outbox.held_groups():
            kind, _, value = note.partition(":")
            if kind == "cap" and now - oldest >= 3600:
                self.store.outbox.bundle_held(notifier_id, note, "summary", summary_heading)
            elif kind == "digest" and digest_due(value, oldest, now):
                self.store.outbox.bundle_held(notifier_id, note, "digest", digest_heading)

    async def _drain(self, notifier_id: str, ignore_backoff: bool) -> bool:
        notifier, outbox = self.notifiers[notifier_id], self.store.outbox
        tried: set[int] = set()
        ok = True
        while True:
            now = float("inf") if ignore_backoff else time.time()
            rows = await self.store.call(outbox.claim, notifier_id, BATCH, LEASE, now, skip=tried)
            if not rows:
                return ok
            for row in rows:
                tried.add(row.id)
                ok &= await self._send(notifier, row)

    async def _send(self, notifier: Notifier, row: OutboxRow) -> bool:
        context = {"notifier": notifier.id, "alert": row.id}
        outbox = self.store.outbox
        try:
            thread = await self.store.call(outbox.parent_ref, row)
            result = await notifier.send(row.alert, thread=thread)
        except Exception as exc:  # a notifier bug must not lose the alert
            log.exception("send crashed", extra=context)
            result = SendResult.later(type(exc).__name__)
        if result.ok:
            await self.store.call(outbox.sent, row, result.ref)
            return True
        if not result.retry:
            await self.store.call(outbox.dead, row, result.error)
            log.error("delivery failed for good: %s", result.error, extra=context)
            return False
        config = self.configs[notifier.id]
        delay = retry_delay(result, row.attempts, config)
        if time.time() + delay > row.created_at + config.deadline:
            error = f"not delivered within {config.deadline:g}s: {result.error}"
            await self.store.call(outbox.dead, row, error)
            log.error("delivery deadline passed: %s", result.error, extra=context)
        else:
            await self.store.call(outbox.retry, row, result.error, delay)
            log.warning(
                "delivery failed, retrying in %.0fs: %s", delay, result.error, extra=context
            )
        return False


def summary_heading(alerts: list[Alert]) -> str:
    title = alerts[0].rules[0].title
    return f"{len(alerts)} more matches for {title} in the last hour"


def digest_heading(alerts: list[Alert]) -> str:
    return f"Digest: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"


def digest_due(cron: str, oldest: float, now: float) -> bool:
    trigger = CronTrigger.from_crontab(cron, timezone=UTC)
    fire = trigger.get_next_fire_time(None, datetime.fromtimestamp(oldest, UTC))
    return fire is not None and fire.timestamp() <= now


def retry_delay(result: SendResult, attempts: int, config: NotifierConfig) -> float:
    """The service's Retry-After (clamped), else exponential backoff with full jitter."""
    if result.retry_after is not None:
        low, high = RETRY_AFTER_LIMITS
        return min(high, max(low, result.retry_after))
    ceiling = min(config.backoff_max, config.backoff * 2**attempts)
    return random.uniform(ceiling / 2, ceiling)
