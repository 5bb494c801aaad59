"""Slack: an incoming webhook, or a bot token posting with chat.postMessage.

Both go through slack-sdk's blocking clients on a worker thread (no extra
async HTTP stack), with the SDK's own retries off: the outbox decides when to
try again. Every piece of article text is escaped (`&`, `<`, `>`), so a
headline containing `<!channel>` or `<@U123>` is shown as text and notifies
no one; links are never unfurled unless the config asks.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.error
from typing import Any, Literal

from pydantic import SecretStr, model_validator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from monitor.alerts import Alert
from monitor.notify import NotifierConfig, SendResult, retry_after_seconds
from monitor.notify.render import by_rule, highlight, one_line, published, rule_titles, subject, why
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
    channel: str = ""
    base_url: str = "https://slack.com/api/"
    timeout: Duration = 15.0
    unfurl_links: bool = False
    pace: Duration = 1.0  # at least this long between two messages (Slack allows about 1/s)

    @model_validator(mode="after")
    def _token_needs_channel(self) -> SlackConfig:
        if self.token.get_secret_value() and not self.channel:
            raise ValueError("a bot `token` needs a `channel` to post to, such as '#trade-alerts'")
        return self

    def missing(self) -> list[str]:
        if self.webhook_url.get_secret_value() or self.token.get_secret_value():
            return []
        return ["webhook_url or token"]

    def secrets(self) -> list[str]:
        return [
            s.get_secret_value() for s in (self.webhook_url, self.token) if s.get_secret_value()
        ]


def escape(text: str) -> str:
    """Slack's three control characters, and broadcast words defused."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return BROADCAST.sub("@\u2060", text)


def clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def link(url: str, label: str) -> str:
    if not url.startswith(("http://", "https://")):
        return label
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")
    return f"<{safe}|{label}>"


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
        timeout = max(1, round(config.timeout))
        webhook = config.webhook_url.get_secret_value()
        token = config.token.get_secret_value()
        self.webhook = (
            WebhookClient(webhook, timeout=timeout, retry_handlers=[]) if webhook else None
        )
        self.web = (
            WebClient(token, base_url=config.base_url, timeout=timeout, retry_handlers=[])
            if token and not webhook
            else None
        )
        self.threads = self.web is not None  # incoming webhooks cannot reply in a thread
        self.last_post = float("-inf")

    async def send(self, alert: Alert, thread: str | None = None) -> SendResult:
        message = {
            "text": fallback_text(alert),
            "blocks": blocks(alert),
            "unfurl_links": self.config.unfurl_links,
            "unfurl_media": self.config.unfurl_links,
        }
        if thread and self.threads:
            message["thread_ts"] = thread
        await asyncio.sleep(self.last_post + self.config.pace - time.monotonic())
        try:
            return await asyncio.to_thread(self._post, message)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return SendResult.later(f"connection failed: {type(reason).__name__}")
        finally:
            self.last_post = time.monotonic()

    def _post(self, message: dict[str, Any]) -> SendResult:
        if self.webhook is not None:
            response = self.webhook.send_dict(message)
            return classify(response.status_code, response.body, response.headers)
        assert self.web is not None
        try:
            reply = self.web.chat_postMessage(channel=self.config.channel, **message)
        except SlackApiError as exc:
            status = exc.response.status_code
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = f"ok: false, {data.get('error', 'unknown error')}"
            return classify(status, error, exc.response.headers)
        return SendResult.delivered(str(reply.get("ts", "")))


def classify(status: int, body: str, headers: Any) -> SendResult:
    """Slack's reply as delivered, retry (429 and 5xx) or give up (other errors)."""
    detail = one_line(str(body))[:200]
    if status == 200 and detail == "ok":
        return SendResult.delivered()
    if status == 429:
        return SendResult.later(
            "rate limited (429)", retry_after_seconds(header(headers, "retry-after"))
        )
    if status >= 500:
        return SendResult.later(f"HTTP {status}: {detail}")
    return SendResult.give_up(f"HTTP {status}: {detail}")


def header(headers: Any, name: str) -> str | None:
    for key, raw in dict(headers or {}).items():
        if key.lower() == name:
            return raw[0] if isinstance(raw, list) else str(raw)
    return None
