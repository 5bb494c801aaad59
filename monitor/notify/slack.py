"""Slack: an incoming webhook, or a bot token posting with chat.postMessage.

Both are one JSON POST through monitor.notify.http (httpx, redirects never
followed, replies capped); the outbox decides when to try again. Every piece
of article text is escaped (`&`, `<`, `>`), so a headline containing
`<!channel>` or `<@U123>` is shown as text and notifies no one; links are
never unfurled unless the config asks.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr, ValidationInfo, field_validator

from monitor.alerts import Alert
from monitor.notify import NotifierConfig, SendResult, render
from monitor.notify.http import Reply, classify, no_answer, post
from monitor.notify.render import (
    by_rule,
    highlight,
    link_target,
    one_line,
    published,
    rule_titles,
    subject,
    why,
)
from monitor.settings import Duration

SECTION_LIMIT = 3000  # Slack's limit for one section's text
MAX_BLOCKS = 50
# Budgets per part keep a whole message well under Slack's 12,000 characters.
HEADLINE_CHARS, META_CHARS, SNIPPET_CHARS, REASON_CHARS = 600, 600, 2500, 1500
SEVERITY_ICONS = {
    "info": ":information_source:",
    "low": ":large_blue_circle:",
    "medium": ":large_orange_circle:",
    "high": ":red_circle:",
    "critical": ":rotating_light:",
}
BROADCAST = re.compile(r"@(?=(channel|here|everyone)\b)", re.IGNORECASE)


class SlackConfig(NotifierConfig):
    type: Literal["slack"]
    webhook_url: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    channel: str = Field("", validate_default=True)
    base_url: str = "https://slack.com/api/"
    unfurl_links: bool = False
    pace: Duration = 1.0  # at least this long between two messages (Slack allows about 1/s)
    required = (("webhook_url", "token"),)

    @field_validator("channel")
    @classmethod
    def _token_needs_channel(cls, channel: str, info: ValidationInfo) -> str:
        """Checked on `channel`, not the whole model: the error then shows the channel, never
        the token next to it."""
        token = info.data.get("token")
        if not channel and isinstance(token, SecretStr) and token.get_secret_value():
            raise ValueError("a bot `token` needs a `channel` to post to, such as '#trade-alerts'")
        return channel


def escape(text: str) -> str:
    """Slack's three control characters, and broadcast words defused."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return BROADCAST.sub("@\u2060", text)


def clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return render.clip(text, limit)


def link(url: str, label: str) -> str:
    """Slack's `<url|label>` for a web URL (render.link_target); the label alone otherwise."""
    target = link_target(url)
    return f"<{target}|{label}>" if target else label


def blocks(alert: Alert) -> list[dict[str, Any]]:
    return bundle_blocks(alert) if alert.items else alert_blocks(alert)


def bundle_blocks(alert: Alert) -> list[dict[str, Any]]:
    """A summary or digest: the heading, then a section per rule listing its headlines."""
    result: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(f"*{escape(alert.title)}*")}}
    ]
    budget = 10000
    for title, items in by_rule(alert).items():
        lines = [f"*{escape(title)}*"]
        for item in items:
            lines.append(f"• {link(item.url, clip(escape(one_line(item.title)), 300))}")
        text = clip("\n".join(lines), min(SECTION_LIMIT, budget))
        budget -= len(text)
        if budget <= 0 or len(result) >= MAX_BLOCKS - 1:
            result.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "… and more"}]}
            )
            break
        result.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return result


def alert_blocks(alert: Alert) -> list[dict[str, Any]]:
    icon = SEVERITY_ICONS.get(alert.severity, "")
    headline = highlight(one_line(alert.title), alert.title_marks, "", "", escape)
    meta = [
        f"{icon} *{alert.severity.upper()}*",
        escape(rule_titles(alert)),
        escape(alert.source_id),
    ]
    if when := published(alert):
        meta.append(when)
    headline = f"*{link(alert.url, clip(headline, HEADLINE_CHARS))}*"
    result: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": clip(" · ".join(meta), META_CHARS)}],
        },
    ]
    if alert.snippet:
        snippet = highlight(alert.snippet, alert.snippet_marks, "*", "*", escape)
        section = {"type": "mrkdwn", "text": clip(snippet, SNIPPET_CHARS)}
        result.append({"type": "section", "text": section})
    reasons = clip("Matched: " + "\n".join(escape(line) for line in why(alert)), REASON_CHARS)
    result.append({"type": "context", "elements": [{"type": "mrkdwn", "text": reasons}]})
    return result


def mentions(alert: Alert) -> str:
    """Who the rules (never the article) ask to notify: `<!here>`, `<@U123>`, ..."""
    found = dict.fromkeys(mention_syntax(r.mention) for r in alert.rules if r.mention)
    return " ".join(found)


def mention_syntax(name: str) -> str:
    if name in ("here", "channel", "everyone"):
        return f"<!{name}>"
    return f"<!subteam^{name}>" if name.startswith("S") else f"<@{name}>"


def fallback_text(alert: Alert) -> str:
    text = clip(escape(subject(alert)), 2000)
    return f"{mentions(alert)} {text}" if mentions(alert) else text


class SlackNotifier:
    def __init__(self, config: SlackConfig) -> None:
        self.id = config.id
        self.config = config
        self.webhook = config.webhook_url.get_secret_value()
        # Incoming webhooks cannot reply in a thread; a bot token can.
        self.threads = not self.webhook and bool(config.token.get_secret_value())

    async def send(self, alert: Alert, thread: str | None = None) -> SendResult:
        message: dict[str, Any] = {
            "text": fallback_text(alert),
            "blocks": blocks(alert),
            "unfurl_links": self.config.unfurl_links,
            "unfurl_media": self.config.unfurl_links,
        }
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.webhook:
            url = self.webhook
        else:
            url = self.config.base_url + "chat.postMessage"
            headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
            message["channel"] = self.config.channel
            if thread:
                message["thread_ts"] = thread
        body = json.dumps(message, ensure_ascii=False).encode()
        try:
            reply = await post(url, body, headers, self.config.timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return no_answer(exc)
        return classify_hook(reply) if self.webhook else classify_api(reply)


def classify_hook(reply: Reply) -> SendResult:
    """An incoming webhook's text reply: "ok", or an error word such as `no_service`."""
    return classify(reply, "webhook_url", said_ok)


def said_ok(reply: Reply) -> SendResult:
    if reply.text.strip() == "ok":
        return SendResult.delivered()
    return SendResult.give_up(f"HTTP {reply.status}: {one_line(reply.text)}")


def classify_api(reply: Reply) -> SendResult:
    """The Web API's JSON reply: `ok` with the message's `ts`, or `ok: false` and an `error`
    word (`channel_not_found`, `invalid_auth`, ...), which no retry will change."""
    try:
        data = json.loads(reply.text)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        data = None
    if not isinstance(data, dict):
        return classify(reply, "base_url", not_json)
    word = f"ok: false, {data.get('error', 'unknown error')}"
    if data.get("ok") is True:
        ts = str(data.get("ts", ""))
        return classify(reply, "base_url", lambda _: SendResult.delivered(ts), word)
    failed = SendResult.give_up(f"HTTP {reply.status}: {one_line(word)}")
    return classify(reply, "base_url", lambda _: failed, word)


def not_json(reply: Reply) -> SendResult:
    return SendResult.give_up(f"HTTP {reply.status}: not Slack's JSON: {one_line(reply.text)}")
