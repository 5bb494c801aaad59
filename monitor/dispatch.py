"""The dispatcher: takes due alerts from the outbox and hands them to their notifiers.

Each notifier is drained on a task of its own, and no lock is held across
sends: a dispatch starts a drain for every notifier that has none running and
skips the others, so a slow or stuck Slack never delays email. An alert is
claimed (in flight, with a lease), sent, and then marked by what the notifier
answered: sent; retried later (after the service's Retry-After, clamped, or an
exponential backoff with jitter up to the notifier's cap); or dead, with the
reason, when the service refused it for good or the notifier's deadline
(default 24h) passed.

Every send is bounded here, for every kind of notifier: it waits `pace` after
the notifier's previous send, and then has `timeout` seconds in all (connect,
TLS, greeting, reply), enforced from the event loop whatever the peer does.
A send that runs out of time ends its notifier's drain, so a stuck peer costs
one `timeout` per dispatch. Error text from a server is redacted with every
secret of the notifier's config before it is stored or logged. Nothing here
blocks the event loop: store work runs on the store's thread.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

from monitor.alerts import Alert
from monitor.logs import Secrets
from monitor.metrics import Metrics
from monitor.notify import Notifier, NotifierConfig, SendResult
from monitor.notify.render import clip, one_line
from monitor.settings import secret_values
from monitor.store import OutboxRow, Store

log = logging.getLogger("monitor")
LEASE = 600.0
RETRY_AFTER_LIMITS = (1.0, 3600.0)
TURN_MARGIN = 5.0  # a shared channel's turn outlasts the send's deadline by this much
ERROR_CHARS = 300  # of a server's error text, kept in the outbox and the log


class Dispatcher:
    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        configs: Mapping[str, NotifierConfig],
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.notifiers = notifiers
        self.configs = configs
        self.secrets = {nid: Secrets(secret_values(configs[nid])) for nid in notifiers}
        self.drains: dict[str, asyncio.Task[bool]] = {}
        self.next_send: dict[str, float] = {}  # monotonic time each notifier may send again

    async def dispatch(self, ignore_backoff: bool = False) -> bool:
        """Drain every notifier that is not draining already; False if a delivery failed.

        `ignore_backoff` (for `run --once`, whose next run is cron's business)
        tries every pending alert once, whatever its next attempt time.
        """
        return all(await asyncio.gather(*await self.start(ignore_backoff)))

    async def start(self, ignore_backoff: bool = False) -> list[asyncio.Task[bool]]:
        """Bundle what is due, then start a drain for every notifier that has none running.

        The daemon's scheduled dispatch returns here, without waiting for the
        drains: a stuck peer holds its own drain, never the schedule.
        """
        await self.store.call(self.bundle_due, time.time())
        return [
            self._start_drain(notifier_id, ignore_backoff)
            for notifier_id in self.notifiers
            if notifier_id not in self.drains or self.drains[notifier_id].done()
        ]

    def _start_drain(self, notifier_id: str, ignore_backoff: bool) -> asyncio.Task[bool]:
        task = asyncio.create_task(self._drain(notifier_id, ignore_backoff))
        self.drains[notifier_id] = task
        return task

    def bundle_due(self, now: float) -> None:
        """Turn held alerts into one summary (an hour after the first) or digest (at its time)."""
        for notifier_id, note, oldest in self.store.outbox.held_groups():
            kind, _, value = note.partition(":")
            if kind == "cap" and now - oldest >= 3600:
                self.store.outbox.bundle_held(notifier_id, note, "summary", summary_heading)
            elif kind == "digest" and digest_due(value, oldest, now):
                self.store.outbox.bundle_held(notifier_id, note, "digest", digest_heading)

    async def _drain(self, notifier_id: str, ignore_backoff: bool) -> bool:
        """Send this notifier's due alerts one by one (each claimed just before its send, so
        none is left in flight when the drain stops early).

        On a shared database the notifier's turn is taken first and the alert claimed
        in it, under a lease as short as the send's deadline: an alert held by a daemon
        that died is sent by another within a minute.
        """
        notifier, outbox = self.notifiers[notifier_id], self.store.outbox
        config = self.configs[notifier_id]
        shared = self.store.shared and config.pace > 0
        lease = config.timeout + TURN_MARGIN + 20 if self.store.shared else LEASE
        last, ok = 0, True
        while True:
            held_until = await self._take_turn(notifier_id, config) if shared else None
            now = float("inf") if ignore_backoff else time.time()
            rows = await self.store.call(outbox.claim, notifier_id, 1, lease, now, after=last)
            if not rows:
                await self._end_turn(notifier_id, held_until, 0.0)
                return ok
            last = rows[0].id
            result, stalled = await self._attempt(notifier, rows[0], held_until)
            ok &= await self._settle(notifier_id, rows[0], result)
            if stalled:
                return False  # its peer is stuck: the rest wait for the next dispatch

    async def _attempt(
        self, notifier: Notifier, row: OutboxRow, held_until: float | None
    ) -> tuple[SendResult, bool]:
        """One send, paced and under the notifier's deadline; (result, ran out of time).
        `held_until`: the shared turn this send was given, if it was given one."""
        config = self.configs[notifier.id]
        thread = await self.store.call(self.store.outbox.parent_ref, row)
        if held_until is None:
            await asyncio.sleep(self.next_send.get(notifier.id, 0.0) - time.monotonic())
        deadline = asyncio.timeout(config.timeout)
        started = time.monotonic()
        try:
            async with deadline:
                return await notifier.send(row.alert, thread=thread), False
        except Exception as exc:
            if isinstance(exc, TimeoutError) and deadline.expired():
                return SendResult.later(f"no answer within {config.timeout:g}s"), True
            trace = "".join(traceback.format_exception(exc))  # a notifier bug: the alert waits
            log.error("send crashed: %s", self.secrets[notifier.id].hide(trace),
                      extra={"notifier": notifier.id, "alert": row.id})  # fmt: skip
            return SendResult.later(type(exc).__name__), False
        finally:
            self.metrics.sent(notifier.id, time.monotonic() - started)
            self.next_send[notifier.id] = time.monotonic() + config.pace
            await self._end_turn(notifier.id, held_until, config.pace)

    async def _end_turn(self, notifier_id: str, held_until: float | None, pace: float) -> None:
        if held_until is not None:
            free_at = time.time() + pace
            await self.store.call(self.store.sharing.end_turn, notifier_id, held_until, free_at)

    async def _take_turn(self, notifier_id: str, config: NotifierConfig) -> float:
        """Wait for this notifier's turn on a shared database: one daemon sends at a time,
        `pace` after the last send of any ended. Returns until when the turn is held (the
        send's deadline, and a margin), to give it back after the send."""
        while True:
            held_until = time.time() + config.timeout + TURN_MARGIN
            free_at = await self.store.call(self.store.sharing.take_turn, notifier_id, held_until)
            if free_at is None:
                return held_until
            await asyncio.sleep(min(max(free_at - time.time(), 0.02), config.pace))

    async def _settle(self, notifier_id: str, row: OutboxRow, result: SendResult) -> bool:
        """Record what the send came to; the error text redacted before it is kept anywhere."""
        context = {"notifier": notifier_id, "alert": row.id}
        outbox = self.store.outbox
        if result.ok:
            await self.store.call(outbox.sent, row, result.ref)
            return True
        error = clip(one_line(self.secrets[notifier_id].hide(result.error)), ERROR_CHARS)
        if not result.retry:
            await self.store.call(outbox.dead, row, error)
            log.error("delivery failed for good: %s", error, extra=context)
            return False
        config = self.configs[notifier_id]
        delay = retry_delay(result, row.attempts, config)
        if time.time() + delay > row.created_at + config.deadline:
            await self.store.call(
                outbox.dead, row, f"not delivered within {config.deadline:g}s: {error}"
            )
            log.error("delivery deadline passed: %s", error, extra=context)
        else:
            await self.store.call(outbox.retry, row, error, delay)
            log.warning("delivery failed, retrying in %.0fs: %s", delay, error, extra=context)
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
