"""From matches to alerts: one alert per (article, notifier), naming every rule that matched.

An `Alert` carries everything a notifier needs to write its message (headline,
link, snippet with highlight spans, the rules and the words that matched), so
it can be stored in the outbox as JSON and sent after a restart even if the
rules changed in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.article import Article
from monitor.match import SEVERITIES, Hit, Match

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
    id: int | None = field(default=None, compare=False)  # the outbox row, once stored

    @property
    def severity(self) -> str:
        return max((r.severity for r in self.rules), key=SEVERITIES.index, default="medium")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("id")
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


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
