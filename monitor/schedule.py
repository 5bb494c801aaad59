"""When a source is polled next, and why: the schedule kept per source in the store.

Every poll ends in a `Plan` (the next poll's time and the reason, which
`status` shows), stored with the source's state so a restart resumes it:

- failing: the wait doubles from the interval up to `max_backoff` (6 h), drawn
  with full jitter but never sooner than the interval, so sources that failed
  together (one host down) come back spread out; never sooner than a server's
  Retry-After either;
- healthy: the interval, or, when `min_interval` / `max_interval` let it
  adapt, a quarter of the feed's expected gap between new items,

      next = clamp(min(usual_gap, quiet) / 4, min_interval, max_interval)

  where `quiet` is the time since a poll last found something new and
  `usual_gap` the moving average of the times between such polls. A feed that
  just had news is polled at `min_interval`; one quiet for a while slows down,
  never beyond a quarter of its usual gap (so a busy feed gone quiet is not
  left alone) nor beyond `max_interval`; one new item brings it straight back;
- a publisher's hint (Cache-Control max-age, RSS `<ttl>`, `sy:updatePeriod`)
  is a floor on a healthy source's next poll, up to `max_interval`: within the
  bounds the user set, we are polite.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from monitor.settings import rough_duration

GAP_WEIGHT = 0.25  # the weight of the newest gap in the moving average of gaps
ADAPT_SHARE = 4  # poll four times in the expected gap between new items
SILENT_FACTOR = 10  # silent for ten usual gaps...
SILENT_FLOOR = 4 * 86400.0  # ...and at least four days (a long weekend is not an outage)
SILENT_HISTORY = 8  # polls with news behind a source before its silence means anything


@dataclass(frozen=True)
class Plan:
    """The next poll of a source and why it is then; `due` is a Unix time."""

    due: float
    reason: str


@dataclass(frozen=True)
class Activity:
    """How often a source has news: what adapts its interval and tells its silence."""

    last_new_at: float | None = None  # when a poll last found new items
    usual_gap: float | None = None  # the moving average of the times between such polls
    news_polls: int = 0  # how many polls found new items (capped)

    def after(self, found_new: bool, now: float) -> Activity:
        """This activity after a successful poll at `now`."""
        if not found_new:
            return self if self.last_new_at is not None else Activity(now)
        if self.last_new_at is None:
            return Activity(now, None, 1)
        gap = now - self.last_new_at
        usual = gap
        if self.usual_gap is not None:
            usual = self.usual_gap + GAP_WEIGHT * (gap - self.usual_gap)
        return Activity(now, usual, min(self.news_polls + 1, 1000))

    def quiet(self, now: float) -> float:
        return 0.0 if self.last_new_at is None else max(0.0, now - self.last_new_at)

    def silent_after(self) -> float | None:
        """How long without news means something is wrong; None: too little history."""
        if self.usual_gap is None or self.news_polls < SILENT_HISTORY:
            return None
        return max(SILENT_FACTOR * self.usual_gap, SILENT_FLOOR)


def healthy(
    interval: float,
    shortest: float,
    longest: float,
    activity: Activity,
    hint: float,
    now: float,
) -> Plan:
    """The next poll after a good one."""
    wait, reason = interval, f"every {rough_duration(interval)}"
    if shortest < longest and activity.last_new_at is not None:
        expected = activity.quiet(now)
        if activity.usual_gap is not None:
            expected = min(expected, activity.usual_gap)
        wait = min(max(expected / ADAPT_SHARE, shortest), longest)
        reason = f"adaptive: news {_ago(activity.quiet(now))}"
        if activity.usual_gap is not None:
            reason += f", usually every {rough_duration(activity.usual_gap)}"
    if hint > wait and wait < longest:
        wait = min(hint, longest)
        reason = f"the publisher asks for {rough_duration(hint)} between polls"
    return Plan(now + wait, reason)


def failing(
    interval: float,
    max_backoff: float,
    streak: int,
    retry_after: float | None,
    now: float,
    draw: Callable[[], float] = random.random,
) -> Plan:
    """The next try after `streak` failures in a row (and a server's Retry-After, if any)."""
    due = retry_at(interval, max_backoff, streak, now, draw)
    reason = f"backing off after {streak} failed poll{'s' if streak > 1 else ''}"
    if retry_after is not None and now + retry_after > due:
        due, reason = now + retry_after, "the server asked us to wait (Retry-After)"
    return Plan(due, reason)


def retry_at(
    interval: float,
    max_backoff: float,
    streak: int,
    now: float,
    draw: Callable[[], float] = random.random,
) -> float:
    """When to poll a failing source again: full jitter over a ceiling that doubles with
    each failure from the interval to `max_backoff`; never sooner than the interval."""
    ceiling = min(max_backoff, interval * 2.0 ** min(streak - 1, 40))
    return now + max(interval, ceiling * draw())


def _ago(seconds: float) -> str:
    return "just now" if seconds < 1 else f"{rough_duration(seconds)} ago"
