"""Apprise: Teams, Discord, Telegram, Matrix, ntfy and a hundred more, by URL.

Each alert goes to every URL in `urls` as a Markdown message. Apprise answers
only "all delivered" or not, so a failure is retried with backoff; the
deadline ends it.
"""

from __future__ import annotations

import logging
from typing import Literal

import apprise
from pydantic import Field, SecretStr

from monitor.alerts import Alert
from monitor.notify import NotifierConfig, SendResult
from monitor.notify.render import by_rule, one_line, published, subject, why


class AppriseConfig(NotifierConfig):
    type: Literal["apprise"]
    urls: list[SecretStr] = Field(default_factory=list)  # secret: they carry tokens

    def missing(self) -> list[str]:
        return [] if any(u.get_secret_value() for u in self.urls) else ["urls"]

    def secrets(self) -> list[str]:
        return [u.get_secret_value() for u in self.urls if u.get_secret_value()]


def markdown(alert: Alert) -> str:
    if alert.items:
        lines = []
        for title, items in by_rule(alert).items():
            lines += [f"**{title}**", *(f"- [{one_line(i.title)}]({i.url})" for i in items), ""]
        return "\n".join(lines)
    lines = [f"[{one_line(alert.title)}]({alert.url})" if alert.url else one_line(alert.title)]
    meta = " · ".join(x for x in (alert.source_id, published(alert)) if x)
    lines += [meta, "", alert.snippet, "", *(f"- {line}" for line in why(alert))]
    return "\n".join(lines)


class AppriseNotifier:
    threads = False

    def __init__(self, config: AppriseConfig) -> None:
        self.id = config.id
        self.targets = apprise.Apprise()
        for url in config.urls:
            if not self.targets.add(url.get_secret_value()):
                logging.getLogger("monitor").error(
                    "an Apprise URL was not understood", extra={"notifier": config.id}
                )

    async def send(self, alert: Alert, thread: str | None = None) -> SendResult:
        if not len(self.targets):
            return SendResult.give_up("no Apprise URL could be used")
        delivered = await self.targets.async_notify(
            title=subject(alert), body=markdown(alert), body_format=apprise.NotifyFormat.MARKDOWN
        )
        return SendResult.delivered() if delivered else SendResult.later("an Apprise target failed")
