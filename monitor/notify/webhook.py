"""A JSON POST of each alert to any URL, optionally signed with HMAC-SHA256.

The body follows the `trade-monitor.alert/1` schema documented in
docs/delivery.md. With a `secret`, the request carries
`X-Trade-Monitor-Timestamp` and `X-Trade-Monitor-Signature: sha256=<hex>`,
the HMAC of `<timestamp>.<body>`, so the receiver can check who sent it and
refuse replays. `X-Trade-Monitor-Delivery` is stable across retries, so a
receiver can drop the rare duplicate that at-least-once delivery allows.
The POST goes through monitor.notify.http: redirects are never followed
(the headers and signature stay with `url`'s host), replies are capped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, SecretStr

from monitor.alerts import Alert
from monitor.notify import NotifierConfig, SendResult
from monitor.notify.http import classify, no_answer, post
from monitor.notify.render import web_url

SCHEMA = "trade-monitor.alert/1"


HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field name
FIELD_VALUE = re.compile(r"[\x21-\x7e \t]*")  # visible ASCII, spaces and tabs


def _header_name(name: str) -> str:
    """A header name must be an HTTP token, or every send fails (and is retried for a day)."""
    if not HTTP_TOKEN.fullmatch(name):
        raise ValueError(
            f"a header name may hold only letters, digits and !#$%&'*+-.^_`|~ (got {name!r})"
        )
    return name


def _header_value(value: SecretStr) -> SecretStr:
    """A header value must be sendable: no line break, no control or non-ASCII character.
    The message never shows the value: it is a secret."""
    if not FIELD_VALUE.fullmatch(value.get_secret_value()):
        raise ValueError(
            "a header value may hold only visible ASCII, spaces and tabs "
            "(got a line break, a control or a non-ASCII character)"
        )
    return value


class WebhookConfig(NotifierConfig):
    type: Literal["webhook"]
    url: SecretStr = SecretStr("")  # secret: such URLs often carry a token
    secret: SecretStr = SecretStr("")
    headers: dict[  # secret: such headers carry API keys
        Annotated[str, AfterValidator(_header_name)],
        Annotated[SecretStr, AfterValidator(_header_value)],
    ] = {}
    required = ("url",)


def payload(alert: Alert, thread: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "kind": "bundle" if alert.items else "alert",
        "id": delivery_id(alert),
        "severity": alert.severity,
        "title": alert.title,
        "url": web_url(alert.url),  # "" for anything but an http(s) link
        "source": alert.source_id,
        "published_at": alert.published_at,
        "authors": list(alert.authors),
        "rules": [
            {"id": r.id, "title": r.title, "severity": r.severity, "terms": list(r.terms)}
            for r in alert.rules
        ],
        "snippet": alert.snippet,
        "highlights": [list(span) for span in alert.snippet_marks],
        "in_reply_to": thread,
    }
    if alert.items:
        data["items"] = [payload(item) for item in alert.items]
    return data


def delivery_id(alert: Alert) -> str:
    return f"{alert.notifier_id}:{alert.article_id}"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier:
    threads = True  # follow-ups carry `in_reply_to`, the delivery id of the story's first alert

    def __init__(self, config: WebhookConfig) -> None:
        self.id = config.id
        self.config = config

    async def send(self, alert: Alert, thread: str | None = None) -> SendResult:
        body = json.dumps(payload(alert, thread), ensure_ascii=False).encode()
        headers = {
            **{name: value.get_secret_value() for name, value in self.config.headers.items()},
            "Content-Type": "application/json",
            "X-Trade-Monitor-Delivery": delivery_id(alert),
        }
        if secret := self.config.secret.get_secret_value():
            timestamp = str(int(time.time()))
            headers["X-Trade-Monitor-Timestamp"] = timestamp
            headers["X-Trade-Monitor-Signature"] = signature(secret, timestamp, body)
        try:
            reply = await post(
                self.config.url.get_secret_value(), body, headers, self.config.timeout
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return no_answer(exc)
        return classify(reply, "url", lambda _: SendResult.delivered(delivery_id(alert)))
