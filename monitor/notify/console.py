"""One readable line per alert on stdout: the notifier that works with no secrets."""

from __future__ import annotations

from typing import Literal

from monitor.alerts import Alert
from monitor.article import terminal_safe
from monitor.notify import NotifierConfig, SendResult
from monitor.notify.render import one_line, rule_titles, severity_label, web_url
from monitor.notify.worker import Worker


class ConsoleConfig(NotifierConfig):
    type: Literal["console"]


class ConsoleNotifier:
    threads = False

    def __init__(self, config: ConsoleConfig) -> None:
        self.id = config.id
        # A full pipe or a stalled log collector blocks a write: never on the event loop.
        self.worker = Worker(f"console-{config.id}")

    async def send(self, alert: Alert, thread: str | None = None) -> SendResult:
        text = lines(alert)
        try:
            await self.worker.run(lambda: print(text, flush=True))
        except OSError as exc:
            return SendResult.later(f"stdout: {exc.strerror or exc}")
        return SendResult.delivered()


def lines(alert: Alert) -> str:
    """The alert's line (a bundle's lines), safe for a terminal: alerts stored before
    Article cleaned its text may carry escapes, and only web links are shown."""
    parts = [
        f"[{severity_label(alert)}]",
        *([] if alert.items else [rule_titles(alert), "|"]),
        one_line(alert.title),
        "|",
        alert.source_id,
    ]
    if url := web_url(alert.url):
        parts += ["|", url]
    text = [" ".join(parts)]
    text += [
        f"    - {one_line(item.title)} | {web_url(item.url)}".rstrip(" |") for item in alert.items
    ]
    return terminal_safe("\n".join(text))
