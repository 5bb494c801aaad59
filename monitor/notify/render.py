"""Message pieces every notifier shares: labels, subject lines, highlighted text, links.

The link rule lives here and nowhere else: only an absolute `http://` or
`https://` URL is ever a link (`web_url`). Any other link an article carries
(`javascript:`, `data:`, `vbscript:`, a scheme-relative `//host`) is dropped
from every message and from the webhook's `url`: the headline stays, as plain
text. Article text that goes into Markdown is escaped, so no headline or
snippet can open a link, an image or a heading of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import urlsplit

from monitor.alerts import Alert

Escape = Callable[[str], str]
WEB_SCHEMES = ("http://", "https://")
# Characters that could end or change a link in Markdown, HTML or Slack's <url|label> syntax,
# percent-encoded (the same address); every control character and space too.
LINK_UNSAFE = {ord(c): f"%{ord(c):02X}" for c in " \"'<>()|\\`"} | {
    c: f"%{c:02X}" for c in (*range(0x20), 0x7F)
}
# Markdown that could open a link, an image, code, emphasis, a quote or a heading; `<` (raw
# HTML, which Markdown passes through) as an entity.
MARKDOWN_SPECIAL = {ord(c): "\\" + c for c in "\\`*_[]()!>#"} | {ord("<"): "&lt;"}


def web_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL with a host, else "": what may be a link."""
    if not url[:8].lower().startswith(WEB_SCHEMES):
        return ""
    try:
        return url if urlsplit(url).netloc else ""
    except ValueError:  # such as a broken [IPv6] host
        return ""


def link_target(url: str) -> str:
    """A web URL made safe to put inside any markup (unsafe characters percent-encoded)."""
    return web_url(url).translate(LINK_UNSAFE)


def markdown_text(text: str) -> str:
    """Article text as literal Markdown, on one line: no markup of its own takes effect."""
    return one_line(text).translate(MARKDOWN_SPECIAL)


def markdown_link(url: str, label: str) -> str:
    """`[label](url)` for a web URL, else the label alone; `label` is already escaped."""
    target = link_target(url)
    return f"[{label}]({target})" if target else label


def severity_label(alert: Alert) -> str:
    return alert.severity.upper()


def rule_titles(alert: Alert) -> str:
    return ", ".join(rule.title for rule in alert.rules)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
