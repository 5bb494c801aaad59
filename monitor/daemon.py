"""The daemon: poll each source on its schedule, match, queue, deliver.

One APScheduler interval job per source (coalesced, one instance at a time,
jittered) so a slow or failing source only delays itself, plus one outbox
dispatcher job. A poll (pipeline.py) records its new articles, their matches and queued
alerts and the source's cursor in one transaction; the dispatcher then sends
what is due, each notifier on a drain of its own (a stuck peer delays only
itself). Store work runs on the store's thread and matching on a matching
thread, so nothing a source sends can stall the event loop.
SIGTERM and SIGINT stop the scheduler, let in-flight work finish (bounded),
and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobSubmissionEvent,
)
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor import __version__
from monitor.alerts import AlertPolicy
from monitor.config import Config
from monitor.dispatch import Dispatcher
from monitor.errors import Problem, UserError
from monitor.fetch import Fetcher
from monitor.listener import Listener
from monitor.match import RuleSet, load_rules
from monitor.match.loading import fingerprint
from monitor.metrics import LIVENESS_EVERY, Metrics, serve
from monitor.notify import build_notifier
from monitor.pipeline import Pipeline, longest_wait
from monitor.settings import human_duration, rough_duration
from monitor.sources import (
    Source,
    SourceConfig,
    SourceContext,
    build_source,
)
from monitor.sources.rss import RssConfig
from monitor.store import SourceState, open_store, sqlite_path
from monitor.store.shared import HEARTBEAT, DaemonRow
from monitor.web import WebApp
from monitor.websub import WebSub

log = logging.getLogger("monitor")
# The APScheduler task a job runs under (`Daemon._tracked`), for `Daemon._reschedule`.
SCHEDULED_TASK: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
    "scheduled_task", default=None
)
STOP_GRACE = 10.0
JOB_LOGGER = "apscheduler.executors.default"  # where APScheduler logs a job's failure
RULES_CHECK = 2.0  # seconds between looks at the rule files
RETENTION_EVERY = 6 * 3600.0
START_RATE = 20.0  # first polls a second after a start
BEHIND_EVERY = 3600.0  # seconds between two "falling behind" lines
CLOCK_CHECK = 30.0  # seconds between two looks at the wall clock
CLOCK_JUMP = 60.0  # the wall clock moving this much more (or less) than time passed: a jump
PUSH_TICK = 1.0  # seconds between looks at the WebSub subscriptions (renewals, silent hubs)


class Daemon:
    def __init__(self, config: Config, rules: RuleSet, once: bool = False) -> None:
        self.config, self.once = config, once
        path = sqlite_path(config.state, config.base_dir)
        self.lock = lock_state(path) if path else None  # a shared database needs no lock
        self.store = open_store(config.state, config.base_dir)
        if not self.store.shared and (released := self.store.outbox.release_all()):
            log.warning(
                "%d alerts were in flight when the last run stopped; sending again", released
            )
        # Notifiers only change with the config, that is at start: alerts for a removed one
        # go dead (and can be retried with `alerts retry`) instead of waiting forever. Not
        # on a shared database: another daemon's config may have a notifier this one lacks.
        if not self.store.shared:
            self.store.outbox.orphans_dead(n.id for n in config.notifiers)
        limits = config.defaults
        self.fetcher = Fetcher(
            limits.user_agent,
            max_concurrent=limits.max_concurrent,
            per_host=limits.per_host,
            min_gap=limits.host_gap,
        )
        context = SourceContext(self.fetcher, config.base_dir, once=once)
        self.sources = [(build_source(s, context), s) for s in config.sources if s.enabled]
        notifiers = {n.id: build_notifier(n) for n in config.enabled_notifiers}
        configs = {n.id: n for n in config.notifiers}
        policy = AlertPolicy(
            rules={rule.id: rule for rule in rules.rules},
            threads={n.id: n.threads for n in notifiers.values()},
            digests={n.id: n.digest for n in config.notifiers if n.digest},
        )
        self.metrics = Metrics()
        self.listener: Listener | None = None  # /metrics and /healthz, when `http:` is set
        self.web: WebApp | None = None  # the web page on that listener
        self.me = DaemonRow(
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}", socket.gethostname(),
            os.getpid(), __version__, rules.version, time.time(), time.time(),
        )  # fmt: skip
        self.pipeline = Pipeline(
            config, rules, self.store, notifiers, policy, owner=self.me.id, metrics=self.metrics
        )
        self.pipeline.regex_timeouts.update(self.store.get_meta("regex_timeouts") or {})
        self.refused_version = ""  # a broken rule set already reported
        self._record_rules()
        self.dispatcher = Dispatcher(self.store, notifiers, configs, self.metrics)
        self.in_flight: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self.scheduler = AsyncIOScheduler(timezone=UTC)  # started by run_forever
        logging.getLogger(JOB_LOGGER).addFilter(_not_a_stop)  # once: the same filter
        self.behind_said = float("-inf")  # when "falling behind" was last logged
        self.settings = {source.id: settings for source, settings in self.sources}
        self.websub = self._websub() if config.push and not once else None

    def _websub(self) -> WebSub:
        """Push for every enabled rss source that does not say `push: false`."""
        assert self.config.push is not None
        pushable = [
            s for s in self.settings.values() if isinstance(s, RssConfig) and s.push is not False
        ]
        return WebSub(self.config.push, self.store, self.fetcher, self.pipeline, pushable,
                      self._dispatch, self._push_changed)  # fmt: skip

    def _slow(self, settings: SourceConfig) -> float:
        """The poll interval of a source while a hub pushes its items: a safety net."""
        slow = self.config.push.slow_interval if self.config.push else 0.0
        return max(settings.interval, slow)

    def _push_changed(self, source_id: str, active: bool) -> None:
        """A subscription began (the next poll moves out to the slow interval) or ended
        (poll now, and at the source's own interval again)."""
        settings = self.settings[source_id]
        self._reschedule(source_id, time.time() + (self._slow(settings) if active else 0.0))

    async def close(self) -> None:
        if not self.once:
            with contextlib.suppress(Exception):  # a database gone at exit: the row ages out
                await self.store.call(self.store.sharing.leave, self.me.id)
        if self.listener:
            await asyncio.to_thread(self.listener.stop)
        if self.web:
            self.web.close()
        await self.fetcher.aclose()
        self.pipeline.matching.shutdown(wait=True)
        self.store.close()
        if self.lock:
            self.lock.close()

    async def run_once(self) -> int:
        """Poll every source once, deliver what is queued; 1 if anything failed (for cron,
        whose schedule this is: a failing source's backoff does not apply)."""
        self.pipeline.obey_backoff = False
        try:
            polled = await asyncio.gather(*(self.pipeline.poll(s, c) for s, c in self.sources))
            delivered = await self.dispatcher.dispatch(ignore_backoff=True)
        finally:
            await self.close()
        return 0 if all(polled) and delivered else 1

    async def run_forever(self, early: list[int] | None = None) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        on_signal = {
            signal.SIGTERM: stop.set,
            signal.SIGINT: stop.set,
            signal.SIGHUP: self._on_sighup,
        }
        previous = {n: signal.signal(n, _handing_to(loop, on)) for n, on in on_signal.items()}
        if early:  # a SIGTERM or SIGINT while it was being set up
            stop.set()
        scheduler = self.scheduler
        self.pipeline.planned = self._reschedule
        now = datetime.now(UTC)
        states = {s.source_id: s for s in await self.store.call(self.store.source_states)}
        for number, (source, settings) in enumerate(self.sources):
            interval = settings.interval
            state = states.get(source.id)
            longest = longest_wait(settings, state)
            first = first_poll(state, interval, now.timestamp(), number, longest)
            scheduler.add_job(
                self._tracked(self._poll_and_dispatch),
                "interval",
                args=[source, settings],
                seconds=interval,
                id=f"source:{source.id}",
                next_run_time=datetime.fromtimestamp(first, UTC),
                coalesce=True,
                max_instances=1,
                jitter=min(interval * 0.1, 30),
                misfire_grace_time=max(1, int(interval)),
            )
        scheduler.add_job(
            self._dispatch,
            "interval",
            id="dispatch",
            seconds=self.config.defaults.dispatch_interval,
            next_run_time=now,
            coalesce=True,
            max_instances=1,
        )
        scheduler.add_job(
            self._tracked(self._forget),
            "interval",
            id="retention",
            seconds=RETENTION_EVERY,
            next_run_time=now,
        )
        scheduler.add_job(self._check_rules, "interval", id="rules", seconds=RULES_CHECK)
        scheduler.add_job(
            self._beat, "interval", id="heartbeat", seconds=HEARTBEAT, next_run_time=now
        )
        if self.websub:
            await self.websub.load()
            scheduler.add_job(self._tracked(self.websub.tick), "interval", id="websub",
                              seconds=PUSH_TICK, coalesce=True, max_instances=1)  # fmt: skip
        if self.config.http:
            pushed = self.websub.sources if self.websub else {}
            intervals = [(source.id, self._slow(settings) if source.id in pushed
                          else settings.interval) for source, settings in self.sources]  # fmt: skip
            websub = self.websub.app(loop) if self.websub else None
            # the web page reads through a connection of its own (monitor/web/)
            self.web = WebApp(self.config, lambda: self.pipeline.rules,
                              open_store(self.config.state, self.config.base_dir))  # fmt: skip
            self.listener, watch = serve(self.config.http, str(self.config.path), self.metrics,
                                         self.store, intervals, loop, websub, self.web)  # fmt: skip
            host = self.config.http[0]
            log.info("the web page is at http://%s:%d/", f"[{host}]" if ":" in host else host,
                     self.listener.port)  # fmt: skip
            scheduler.add_job(watch.beat, "interval", id="liveness", seconds=LIVENESS_EVERY)
        scheduler.add_listener(self._started_late, EVENT_JOB_SUBMITTED)
        scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        scheduler.start()
        watching = asyncio.create_task(self._watch_clock())
        log.info(
            "running: %d sources, %d rules, notifiers: %s",
            len(self.sources),
            len(self.pipeline.rules.rules),
            ", ".join(self.pipeline.notifiers) or "none",
        )
        await stop.wait()
        log.info("stopping")
        self.stopping = True  # a poll that ends during the grace starts no new drain
        watching.cancel()
        scheduler.shutdown(wait=False)
        await self._finish_in_flight(loop.time() + STOP_GRACE)
        await self.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        log.info("stopped")
        return 0

    async def _finish_in_flight(self, deadline: float) -> None:
        """Wait for polls and sends in flight, and for any they start meanwhile, until the
        deadline; then cancel what is left (an alert still in flight is sent at next start)."""
        loop = asyncio.get_running_loop()
        while self.in_flight and loop.time() < deadline:
            await asyncio.wait(set(self.in_flight), timeout=deadline - loop.time())
        for task in self.in_flight:
            task.cancel()
        if self.in_flight:
            await asyncio.wait(set(self.in_flight), timeout=1.0)

    async def _check_rules(self) -> None:
        # off the loop: looking at the files is filesystem work, which may be slow or stuck
        version = await asyncio.to_thread(fingerprint, self.config.rule_paths)
        if version not in (self.pipeline.rules.version, self.refused_version):
            await self.reload_rules("rule files changed")

    def _on_sighup(self) -> None:
        task = asyncio.ensure_future(self.reload_rules("SIGHUP"))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def reload_rules(self, why: str) -> None:
        """Load the rules again; a broken set is refused and the old one stays in force.

        Loading and compiling 10,000 rules takes seconds, so it runs on a worker
        thread while the old rules keep matching; the swap is one assignment.
        """
        notifier_ids = {n.id for n in self.config.notifiers}
        paths, base = self.config.rule_paths, self.config.base_dir
        version = await asyncio.to_thread(fingerprint, paths)  # what is loaded, or refused
        try:
            rules = await asyncio.to_thread(load_rules, paths, notifier_ids, base)
        except Exception as exc:  # a loader bug too refuses the files, once, not every 2 s
            self.refused_version = version
            reason = exc if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            log.error("rules not reloaded (%s), the old rules stay in force:\n%s", why, reason)
            return
        self.pipeline.rules = rules
        self.pipeline.policy.rules = {rule.id: rule for rule in rules.rules}
        await self.store.call(self._record_rules)
        log.info("rules reloaded (%s): %s, %d rules in %d files", why, rules.version,
                 len(rules.rules), rules.files)  # fmt: skip

    def _record_rules(self) -> None:
        rules = self.pipeline.rules
        summary = {"version": rules.version, "files": rules.files, "rules": len(rules.rules)}
        self.store.put_meta("rules", summary | {"loaded_at": time.time()})

    async def _beat(self) -> None:
        """Tell the database this daemon is alive, with the rules it runs (for `status`)."""
        self.me = replace(self.me, rules=self.pipeline.rules.version, seen_at=time.time())
        await self.store.call(self.store.sharing.beat, self.me)

    async def _forget(self) -> None:
        """Retention; on a shared database one daemon of all runs it each period."""
        store, now = self.store, time.time()
        until = now + RETENTION_EVERY * 0.9
        if store.shared and not await store.call(
            store.sharing.take_lease, "job:retention", self.me.id, until
        ):
            return
        older_than = now - self.config.defaults.remember
        configured = [source.id for source in self.config.sources]
        forgotten = await self.store.call(self.store.forget, older_than, configured)
        if forgotten:
            log.info("forgot %d articles no source has shown for %s", forgotten,
                     human_duration(self.config.defaults.remember))  # fmt: skip

    async def _watch_clock(self) -> None:
        """APScheduler keeps its jobs' times on the wall clock: set back a day, every job
        would wait out the day. The jump is seen against the monotonic clock, and then
        every job is due again (the polls spread as at a start)."""
        wall, steady = time.time(), time.monotonic()
        while True:
            await asyncio.sleep(CLOCK_CHECK)
            jump = (time.time() - wall) - (time.monotonic() - steady)
            wall, steady = time.time(), time.monotonic()
            if abs(jump) < CLOCK_JUMP:
                continue
            log.warning(
                "the clock moved %s %s: every job is due again",
                "back" if jump < 0 else "ahead", rough_duration(abs(jump)),
            )  # fmt: skip
            for number, job in enumerate(self.scheduler.get_jobs()):
                when = datetime.fromtimestamp(wall + number / START_RATE, UTC)
                self.scheduler.modify_job(job.id, next_run_time=when)
            self.scheduler.wakeup()

    def _started_late(self, event: JobSubmissionEvent) -> None:
        """A poll's lateness: the time from when it was scheduled to when it started."""
        if event.job_id.startswith("source:") and event.scheduled_run_times:
            late = datetime.now(UTC) - max(event.scheduled_run_times)
            self.metrics.poll_lateness.observe(max(0.0, late.total_seconds()))

    def _skipped(self, event: JobEvent) -> None:
        """A run skipped (its last run still going) or missed (the loop too busy): counted
        in /metrics and said at most once an hour, where APScheduler says it every time."""
        reason = "running" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"
        self.metrics.skipped_runs.labels(reason).inc()
        now = time.monotonic()
        if now - self.behind_said >= BEHIND_EVERY:
            self.behind_said = now
            log.warning(
                "falling behind: a run of %s was skipped (%s); see"
                " trade_monitor_skipped_runs_total and trade_monitor_poll_lateness_seconds",
                event.job_id, "its last run was still going" if reason == "running"
                else "the daemon was too busy to start it in time",
            )  # fmt: skip

    def _reschedule(self, source_id: str, due: float) -> None:
        """Move the source's next poll to when its schedule says (monitor/schedule.py), once
        the poll that planned it has ended.

        Moved while the poll still runs, a time already past (a poll slower than its
        interval, as under overload) fires at once, finds the poll running and is skipped:
        the source then waited up to an interval more, and some sources fell a cycle
        behind the rest. A done callback of APScheduler's task (not of the task `_tracked`
        runs the poll in) runs after APScheduler's own, registered when it created the
        task: the job is then no longer counted as running.
        """
        if self.websub and self.websub.active(source_id):  # pushed: polled as a safety net
            due = max(due, time.time() + self._slow(self.settings[source_id]))
        task = SCHEDULED_TASK.get() or asyncio.current_task()
        if task is None:
            self._move_job(source_id, due)
        else:
            task.add_done_callback(lambda _: self._move_job(source_id, due))

    def _move_job(self, source_id: str, due: float) -> None:
        if self.stopping or not self.scheduler.running:
            return
        with contextlib.suppress(JobLookupError):
            when = datetime.fromtimestamp(max(due, time.time()), UTC)
            self.scheduler.modify_job(f"source:{source_id}", next_run_time=when)

    async def _poll_and_dispatch(self, source: Source, settings: SourceConfig) -> None:
        if await self.pipeline.poll(source, settings):
            await self._dispatch()
        if self.websub:
            await self.websub.after_poll(source.id)

    async def _dispatch(self) -> None:
        """Start the idle notifiers' drains; shutdown waits for them like for any job."""
        if self.stopping:
            return
        for drain in await self.dispatcher.start():
            self.in_flight.add(drain)
            drain.add_done_callback(self._finished)

    def _tracked(
        self, job: Callable[..., Coroutine[Any, Any, Any]]
    ) -> Callable[..., Coroutine[Any, Any, None]]:
        """Run a job in a task of our own, shielded from the scheduler.

        APScheduler cancels running jobs when it shuts down; a send whose
        answer came back must still be recorded, so shutdown waits for these
        tasks instead (up to STOP_GRACE).
        """

        async def run(*args: Any) -> None:
            SCHEDULED_TASK.set(asyncio.current_task())  # copied into the task below
            task = asyncio.create_task(job(*args))
            self.in_flight.add(task)
            task.add_done_callback(self._finished)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

        return run

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("job failed", exc_info=task.exception())


def _not_a_stop(record: logging.LogRecord) -> bool:
    """APScheduler cancels the jobs running or about to start when it shuts down, and logs
    each as a failed job with a traceback; a stop is not a failure. (A filter, as a job's
    own code never runs when it is cancelled before it starts.) Work that must finish
    goes through `Daemon._tracked`."""
    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def _handing_to(loop: asyncio.AbstractEventLoop, action: Callable[[], None]) -> Any:
    """A signal handler that hands `action` to the loop. Not `loop.add_signal_handler`:
    its wake-up pipe is shared with every thread handing work back, and under load a full
    pipe drops the signal (a SIGTERM lost: the daemon would not stop); a callback handed
    over with `call_soon_threadsafe` is queued even when the pipe is full."""

    def handle(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(action)

    return handle


def first_poll(
    state: SourceState | None, interval: float, now: float, number: int, longest: float
) -> float:
    """When a source is first polled after a start.

    A restart resumes the schedule: a source polled before is due an interval
    after its last poll, or when its backoff ends. The first polls of many
    sources are spread, START_RATE a second (1,000 sources over 50 s), never
    more than an interval late, so a start is not a burst at every host.
    """
    due = now + min(number / START_RATE, interval)
    if state is not None and state.last_poll_at is not None:
        planned = state.next_due_at or state.last_poll_at + interval
        if planned - now <= longest:  # further ahead: the clock was set back; due now
            due = max(due, planned)
    return due


LOCK_HINT = "the state folder must be writable by this user"


def lock_state(db_path: Path) -> TextIO:
    """One daemon per state file: a second would send the same alerts."""
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(db_path.with_name(db_path.name + ".lock"), "a+")  # noqa: SIM115 (held open)
    except OSError as exc:  # a read-only folder: say so, as opening the database would
        raise UserError([Problem(str(db_path), f"cannot lock: {exc}", hint=LOCK_HINT)]) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(
            [
                Problem(
                    str(db_path),
                    "another trade-monitor is running with this state file",
                    hint="stop it first, or give this config its own state: path",
                )
            ]
        ) from None
    return handle


def run(config: Config, rules: RuleSet, once: bool, early: list[int] | None = None) -> int:
    """`early`: the signals that came while the daemon was being set up (kept by cmd_run):
    one there stops the daemon as soon as it runs."""

    async def main() -> int:
        daemon = Daemon(config, rules, once=once)
        return await (daemon.run_once() if once else daemon.run_forever(early or []))

    return asyncio.run(main())
