"""From matches to alerts: one alert per (article, notifier), naming every rule that matched.

An `Alert` carries everything a notifier needs to write its message (headline,
link, snippet with highlight spans, the rules and the words that matched), so
it can be stored in the outbox as JSON and sent after a restart even if the
rules changed in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC
from typing import Any, Protocol

from monitor.article import Article
from monitor.match import SEVERITIES, Hit, Match, Rule

SNIPPET_CHARS = 320


@dataclass(frozen=True)
class AlertRule:
    id: str
    title: str
    severity: str
    terms: tuple[str, ...]  # the distinct words that matched: "why it matched"
    mention: str | None = None  # who the rule asks Slack to notify


@dataclass(frozen=True)
class Alert:
    article_id: str
    notifier_id: str
    source_id: str
    title: str
    url: str
    published_at: str | None  # ISO 8601 UTC
    rules: tuple[AlertRule, ...]
    snippet: str
    snippet_marks: tuple[tuple[int, int], ...]  # spans of `snippet` to highlight
    title_marks: tuple[tuple[int, int], ...] = ()
    authors: tuple[str, ...] = ()
    items: tuple[Alert, ...] = ()  # a summary or digest: the alerts it carries
    id: int | None = field(default=None, compare=False)  # the outbox row, once stored

    @property
    def severity(self) -> str:
        return max((r.severity for r in self.rules), key=SEVERITIES.index, default="medium")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("id")
        data["items"] = [item.to_json() for item in self.items]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], alert_id: int | None = None) -> Alert:
        rules = tuple(AlertRule(**{**r, "terms": tuple(r["terms"])}) for r in data["rules"])
        return cls(
            **{
                **data,
                "rules": rules,
                "snippet_marks": tuple(map(tuple, data["snippet_marks"])),
                "title_marks": tuple(map(tuple, data.get("title_marks", ()))),
                "authors": tuple(data.get("authors", ())),
                "items": tuple(cls.from_json(item) for item in data.get("items", ())),
            },
            id=alert_id,
        )


def build_alerts(
    article: Article,
    matches: Sequence[Match],
    default_notify: Sequence[str],
    enabled: Iterable[str],
) -> list[Alert]:
    """One alert per enabled notifier that at least one matching rule routes to."""
    enabled = set(enabled)
    by_notifier: dict[str, list[Match]] = {}
    for match in matches:
        for notifier in match.rule.notify if match.rule.notify is not None else default_notify:
            if notifier in enabled:
                by_notifier.setdefault(notifier, []).append(match)
    hits = sorted({hit for m in matches for hit in m.hits})
    snippet, marks = make_snippet(article, hits)
    title_marks = tuple((h.start, h.end) for h in hits if h.field == "title")
    published = article.published_at.astimezone(UTC).isoformat() if article.published_at else None
    return [
        Alert(
            article_id=article.id,
            notifier_id=notifier,
            source_id=article.source_id,
            title=article.title or "(no headline)",
            url=article.canonical_url or article.url,
            published_at=published,
            rules=tuple(_alert_rule(m) for m in _most_severe_first(routed)),
            snippet=snippet,
            snippet_marks=marks,
            title_marks=title_marks,
            authors=article.authors,
        )
        for notifier, routed in by_notifier.items()
    ]


def _most_severe_first(matches: list[Match]) -> list[Match]:
    return sorted(matches, key=lambda m: -SEVERITIES.index(m.rule.severity))


def _alert_rule(match: Match) -> AlertRule:
    terms = dict.fromkeys(h.text.casefold() for h in match.hits if h.text)
    rule = match.rule
    return AlertRule(rule.id, rule.title, rule.severity, tuple(terms), rule.mention)


def make_snippet(article: Article, hits: Sequence[Hit]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of the body (or summary) around its first hit, with the hits inside it marked."""
    field_name = next((h.field for h in hits if h.field in ("body", "summary")), None)
    field_name = field_name or ("summary" if article.summary else "body")
    text = getattr(article, field_name)
    spans = [(h.start, h.end) for h in hits if h.field == field_name]
    if not text:
        return "", ()
    first = spans[0][0] if spans else 0
    start = max(0, first - SNIPPET_CHARS // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > first else end
    window = text[start:end]
    prefix = "…" if start else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start
    marks = tuple((s + shift, e + shift) for s, e in spans if s >= start and e <= end)
    return prefix + " ".join(window.split("\n")) + suffix, marks


def bundle(kind: str, heading: str, notifier_id: str, alerts: Sequence[Alert]) -> Alert:
    """One message carrying many alerts: an hourly summary or a digest."""
    rules = {rule.id: rule for alert in alerts for rule in alert.rules}
    return Alert(
        article_id=f"{kind}:{alerts[0].article_id}:{len(alerts)}",
        notifier_id=notifier_id,
        source_id=kind,
        title=heading,
        url="",
        published_at=None,
        rules=tuple(rules.values()),
        snippet="",
        snippet_marks=(),
        items=tuple(alerts),
    )


HEALTH_RULE = "source-health"  # the rule id a source's down and recovered messages carry


def health_alert(
    notifier_id: str, source_id: str, kind: str, since: float, title: str, text: str
) -> Alert:
    """A "source down" or "recovered" message for the outbox: no article, no link.

    `kind` is "down", "silent" or "recovered"; its id names the source and the streak (`since`,
    when its first failed poll was), so the outbox holds at most one of each per streak.
    """
    severity = "info" if kind == "recovered" else "high"
    return Alert(
        article_id=f"health:{source_id}:{kind}:{since:.0f}",
        notifier_id=notifier_id,
        source_id=source_id,
        title=title,
        url="",
        published_at=None,
        rules=(AlertRule(HEALTH_RULE, "Source health", severity, ()),),
        snippet=text,
        snippet_marks=(),
    )


# ---- the policy: threads, cooldowns, caps and digests -------------------------


@dataclass(frozen=True)
class Placement:
    """Where a new alert goes: straight to the queue, a thread, a summary, or nowhere."""

    status: str = "pending"  # pending | suppressed | held
    parent_id: int | None = None  # the story's top-level alert this one follows
    note: str | None = None  # why it was suppressed, or which summary/digest holds it


@dataclass(frozen=True)
class PriorAlert:
    id: int
    rule_ids: frozenset[str]
    created_at: float
    parent_id: int | None


class History(Protocol):
    def cluster_alerts(self, cluster_id: str, notifier_id: str) -> list[PriorAlert]: ...

    def top_level_count(self, rule_id: str, notifier_id: str, since: float) -> int: ...


@dataclass
class AlertPolicy:
    """Per rule and notifier, a story cluster gets one top-level alert.

    Later articles of the story follow it: in its thread where the notifier can
    thread, suppressed where it cannot, suppressed too inside a rule's
    `cooldown`. A top-level alert over its rules' `max_per_hour` is held for
    the hourly summary; one for a digest notifier or rule is held for the digest.
    """

    rules: Mapping[str, Rule]  # the live rule set, swapped together with the matcher's
    threads: Mapping[str, bool]  # notifier id -> can it reply in a thread?
    digests: Mapping[str, str] = field(default_factory=dict)  # notifier id -> cron

    def place(self, alert: Alert, cluster_id: str, history: History, now: float) -> Placement:
        rule_ids = {rule.id for rule in alert.rules}
        prior = history.cluster_alerts(cluster_id, alert.notifier_id)
        told = set().union(*(p.rule_ids for p in prior))
        if prior and rule_ids <= told:
            return self._follow_up(alert, rule_ids, prior, now)
        return self._top_level(alert, rule_ids, history, now)

    def _follow_up(
        self, alert: Alert, rule_ids: set[str], prior: list[PriorAlert], now: float
    ) -> Placement:
        top = next(p for p in prior if p.parent_id is None)
        cooldown = max((self.rules[r].cooldown or 0 for r in rule_ids), default=0)
        if cooldown and now - max(p.created_at for p in prior) < cooldown:
            return Placement("suppressed", top.id, f"cooldown: same story as #{top.id}")
        if self.threads.get(alert.notifier_id):
            return Placement("pending", top.id)
        return Placement("suppressed", top.id, f"same story as #{top.id}; no thread to reply in")

    def _top_level(
        self, alert: Alert, rule_ids: set[str], history: History, now: float
    ) -> Placement:
        rules = [self.rules[r] for r in sorted(rule_ids)]
        digest = self.digests.get(alert.notifier_id)
        if digest is None and all(rule.digest for rule in rules):
            digest = rules[0].digest
        if digest:
            return Placement("held", note=f"digest:{digest}")
        if all(
            rule.max_per_hour
            and history.top_level_count(rule.id, alert.notifier_id, now - 3600) >= rule.max_per_hour
            for rule in rules
        ):
            return Placement("held", note=f"cap:{rules[0].id}")
        return Placement()
