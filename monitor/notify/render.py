"""Message pieces every notifier shares: labels, subject lines, highlighted text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from monitor.alerts import Alert

Escape = Callable[[str], str]


def severity_label(alert: Alert) -> str:
    return alert.severity.upper()


def rule_titles(alert: Alert) -> str:
    return ", ".join(rule.title for rule in alert.rules)


def one_line(text: str) -> str:
    """No line breaks: header values and log lines stay one line."""
    return " ".join(text.split())


def subject(alert: Alert) -> str:
    if alert.items:
        return one_line(f"[{severity_label(alert)}] {alert.title}")
    return one_line(f"[{severity_label(alert)}] {rule_titles(alert)}: {alert.title}")


def by_rule(alert: Alert) -> dict[str, list[Alert]]:
    """A summary's or digest's alerts grouped under the title of their first rule."""
    groups: dict[str, list[Alert]] = {}
    for item in alert.items:
        groups.setdefault(item.rules[0].title if item.rules else "", []).append(item)
    return groups


def published(alert: Alert) -> str:
    if not alert.published_at:
        return ""
    return datetime.fromisoformat(alert.published_at).strftime("%Y-%m-%d %H:%M UTC")


def why(alert: Alert) -> list[str]:
    """One line per rule: its title and the words that made it match."""
    return [
        f"{rule.title} ({rule.severity}): {', '.join(rule.terms) or 'matched'}"
        for rule in alert.rules
    ]


def highlight(
    text: str, marks: Sequence[tuple[int, int]], before: str, after: str, escape: Escape
) -> str:
    """`text` escaped, with each marked span wrapped in before/after."""
    out, at = [], 0
    for start, end in sorted(marks):
        if start < at or end > len(text):
            continue
        out += [escape(text[at:start]), before, escape(text[start:end]), after]
        at = end
    out.append(escape(text[at:]))
    return "".join(out)
