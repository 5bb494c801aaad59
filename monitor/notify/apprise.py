"""Apprise: Teams, Discord, Telegram, Matrix, ntfy and a hundred more, by URL.

Each alert goes to every URL in `urls` as a Markdown message. Apprise answers
only "all delivered" or not, so a failure is retried with backoff; the
deadline ends it. Apprise's clients block and cannot be interrupted, so they
run on the notifier's own worker thread: a stuck target holds only that
thread, and the dispatcher's `timeout` still ends the send on our side.
"""

from __future__ import annotations

import logging
from typing import Literal

import apprise
from pydantic import Field, SecretStr

from monitor.alerts import Alert
from monitor.notify import NotifierConfig, SendResult
from monitor.notify.render import by_rule, markdown_link, markdown_text, published, subject, why
from monitor.notify.worker import Worker


class AppriseConfig(NotifierConfig):
    type: Literal["apprise"]
    urls: list[SecretStr] = Field(default_factory=list)  # secret: they carry tokens
    required = ("urls",)


def markdown(alert: Alert) -> str:
    """The message in Markdown; every piece of article text escaped (render.markdown_text)."""
    if alert.items:
        lines = []
        for title, items in by_rule(alert).items():
            entries = (f"- {markdown_link(i.url, markdown_text(i.title))}" for i in items)
            lines += [f"**{markdown_text(title)}**", *entries, ""]
        return "\n".join(lines)
    lines = [markdown_link(alert.url, markdown_text(alert.title))]
    meta = " · ".join(markdown_text(x) for x in (alert.source_id, published(alert)) if x)
    lines += [meta, "", markdown_text(alert.snippet), ""]
    lines += [f"- {markdown_text(line)}" for line in why(alert)]
    return "\n".join(lines)


class AppriseNotifier:
    threads = False

    def __init__(self, config: AppriseConfig) -> None:
        self.id = config.id
        self.worker = Worker(f"apprise-{config.id}")
        self.targets = apprise.Apprise()
        for url in config.urls:
            if not self.targets.add(url.get_secret_value()):
                logging.getLogger("monitor").error(
                    "an Apprise URL was not understood", extra={"notifier": config.id}
                )

    async def send(self, alert: Alert, thread: str | None = None) -> SendResult:
        if not len(self.targets):
            return SendResult.give_up("no Apprise URL could be used")
        title, body = subject(alert), markdown(alert)
        delivered = await self.worker.run(
            lambda: self.targets.notify(
                title=title, body=body, body_format=apprise.NotifyFormat.MARKDOWN
            )
        )
        return SendResult.delivered() if delivered else SendResult.later("an Apprise target failed")
