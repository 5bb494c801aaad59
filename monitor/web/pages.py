"""What each page shows, read from the store and the rules; the templates only lay it out.

Text from outside (headlines, snippets, server errors) reaches the templates as
plain strings, or as (text, marked) segments for highlights: Jinja2 escapes all
of it, so nothing here builds HTML.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.match import SEVERITIES
from monitor.match.ruletests import run_rule_tests
from monitor.settings import rough_duration
from monitor.store import views
from monitor.store.database import Database
from monitor.store.outbox import STATUSES
from monitor.store.sources import SourceState, source_states
from monitor.store.views import AlertFilter

if TYPE_CHECKING:
    from monitor.web import WebApp

SOURCE_DAYS = 14
RULE_DAYS = 30
LIMITS = (50, 100, 200)
Segments = list[tuple[str, bool]]


def segments(text: str, spans: Sequence[tuple[int, int]]) -> Segments:
    """`text` cut into (piece, highlighted) at the spans; overlapping spans are merged."""
    out: Segments = []
    at = 0
    for start, end in sorted(spans):
        start, end = max(start, at), min(end, len(text))
        if start >= end:
            continue
        out += [(text[at:start], False), (text[start:end], True)]
        at = end
    out.append((text[at:], False))
    return [piece for piece in out if piece[0]]


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def relative(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    delta = timestamp - time.time()
    return f"in {rough_duration(delta)}" if delta > 0 else f"{rough_duration(-delta)} ago"


def link(url: str) -> str:
    """An article's link, if it is http(s): a feed's `javascript:` link must not run."""
    return url if url.lower().startswith(("http://", "https://")) else "#"


FILTERS = {"when": when, "relative": relative, "link": link}


@dataclass(frozen=True)
class Chart:
    """A small bar chart as inline SVG numbers: one bar a day, the tallest full height."""

    counts: list[int]
    width: int = 4
    height: int = 24

    @property
    def bars(self) -> list[tuple[int, int, int]]:
        """(x, bar height, count) of each day."""
        top = max(self.counts, default=0) or 1
        return [
            (i * (self.width + 1), round(self.height * n / top), n)
            for i, n in enumerate(self.counts)
        ]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def span(self) -> int:
        return len(self.counts) * (self.width + 1)


# ---- alerts -----------------------------------------------------------------------


def alerts_page(app: WebApp, query: dict[str, str]) -> dict[str, Any]:
    wanted, problems = alert_filter(query)
    found = app.read(views.alerts, wanted)
    return {
        "alerts": [alert_card(a) for a in found],
        "wanted": wanted,
        "form": query,
        "problems": problems,
        "choices": {
            "rule": [r.id for r in app.rules().rules],
            "source": [s.id for s in app.config.sources],
            "severity": list(SEVERITIES),
            "state": list(STATUSES),
            "limit": [str(n) for n in LIMITS],
        },
    }


def alert_filter(query: dict[str, str]) -> tuple[AlertFilter, list[str]]:
    """The filter the query string asks for, and what in it could not be used."""
    problems: list[str] = []
    dates: dict[str, float | None] = {"since": None, "until": None}
    for key in dates:
        text = query.get(key, "").strip()
        if not text:
            continue
        try:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
        except ValueError:
            problems.append(f"{key}: expected a date as 2025-03-04, got {text[:40]!r}")
            continue
        dates[key] = day + (views.DAY if key == "until" else 0)  # `until` includes its day
    limit = query.get("limit", "")
    state = query.get("state", "")
    if state and state not in STATUSES:
        problems.append(f"state: one of {', '.join(STATUSES)}")
        state = ""
    wanted = AlertFilter(
        rule=query.get("rule", "")[:200],
        source=query.get("source", "")[:200],
        severity=query.get("severity", "") if query.get("severity") in SEVERITIES else "",
        state=state,
        since=dates["since"],
        until=dates["until"],
        limit=int(limit) if limit in {str(n) for n in LIMITS} else LIMITS[0],
    )
    return wanted, problems


def alert_card(view: views.AlertView) -> dict[str, Any]:
    alert = view.alert
    return {
        "view": view,
        "alert": alert,
        "title": segments(alert.title, alert.title_marks),
        "snippet": segments(alert.snippet, alert.snippet_marks),
    }


def alert_page(app: WebApp, outbox_id: int) -> dict[str, Any] | None:
    view = app.read(views.alert, outbox_id)
    if view is None:
        return None
    thread = app.read(views.story, view.cluster_id)
    return {"card": alert_card(view), "thread": thread}


def retry_delivery(db: Database, outbox_id: int, delivery: int) -> bool:
    """Requeue `delivery` if it is a dead delivery of the alert on this page."""
    view = views.alert(db, outbox_id)
    if view is None or delivery not in {d.id for d in view.deliveries}:
        return False
    return views.retry_dead(db, delivery)


# ---- sources and rules ------------------------------------------------------------


def sources_page(app: WebApp) -> dict[str, Any]:
    now = time.time()
    states = {s.source_id: s for s in app.read(source_states)}
    per_day = app.read(views.items_per_day, now, SOURCE_DAYS)
    silent = app.read(views.silences)
    rows = []
    for source in app.config.sources:
        state = states.get(source.id)
        rows.append({
            "id": source.id,
            "kind": source.type,
            "state": state,
            "chart": Chart(per_day.get(source.id, [0] * SOURCE_DAYS)),
            "silent_since": silent.get(source.id),
            "gap": _gap(state, now),
        })  # fmt: skip
    return {"sources": rows, "days": SOURCE_DAYS}


def _gap(state: SourceState | None, now: float) -> str:
    """A warning when news has not come for far longer than this source's usual gap, as the
    daemon judges a silence (Activity.silent_after)."""
    if state is None or state.activity.usual_gap is None:
        return ""
    limit, quiet = state.activity.silent_after(), state.activity.quiet(now)
    if limit is None or quiet < limit:
        return ""
    usual = rough_duration(state.activity.usual_gap)
    return f"no news for {rough_duration(quiet)}; usually every {usual}"


def rules_page(app: WebApp) -> dict[str, Any]:
    rules = app.rules()
    per_day = app.read(views.matches_per_day, time.time(), RULE_DAYS)
    failed: dict[str, list[str]] = {}
    for problem in run_rule_tests(rules).failures:
        failed.setdefault(problem.key.split(":", 1)[0], []).append(problem.message)
    rows = []
    for rule in rules.rules:
        cases = [("match", _case_text(c)) for c in rule.tests.match]
        cases += [("no_match", _case_text(c)) for c in rule.tests.no_match]
        rows.append({
            "rule": rule,
            "chart": Chart(per_day.get(rule.id, [0] * RULE_DAYS), width=3),
            "tests": cases,
            "failed": failed.get(rule.id, []),
            "recent": app.read(views.recent_matches, rule.id),
        })  # fmt: skip
    return {"rules": rows, "days": RULE_DAYS}


def _case_text(case: str | dict[str, Any]) -> str:
    """A rule test as one line: the text, or an article's fields joined."""
    if isinstance(case, str):
        return case
    return " / ".join(str(v) for v in case.values() if v)
