"""Notifiers deliver one `Alert` and say how it went.

`send()` returns a `SendResult`: delivered, try again later (with a delay when
the service named one, as Slack's 429 does), or give up (with the reason):
the classification Alertmanager uses (2xx ok, 429 and 5xx retry, other 4xx
fail). A notifier never raises for a delivery failure. What bounds a send
(the `timeout` deadline, `pace`) and what hides secrets in its error text
(every `SecretStr` of its config) is the dispatcher's work, done in one place
for every kind. Built-in kinds are registered in `BUILT_IN`; each module keeps
its config model next to its code; other distributions add kinds through the
`trade_monitor.notifiers` entry points (monitor.plugins, docs/plugins.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar, Protocol, TypeVar

from pydantic import Field, SecretStr

from monitor.alerts import Alert
from monitor.plugins import Plugin, Registry, narrow
from monitor.settings import Cron, Duration, Strict

NOTIFIER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class NotifierConfig(Strict):
    id: str = Field(pattern=NOTIFIER_ID)
    type: str
    backoff: Duration = 30.0  # first wait after a failure; doubles each time ...
    backoff_max: Duration = 3600.0  # ... up to this
    deadline: Duration = 86400.0  # an alert not delivered by then goes dead
    digest: Cron | None = None  # collect every alert and send one message per period
    timeout: Duration = 15.0  # the deadline of one whole send: connect, TLS, greeting, reply
    pace: Duration = 0.0  # at least this long between two sends

    # The settings it cannot send without, each a field name or a tuple of names any one of
    # which will do; left empty (a blank text, an empty secret or list), they switch the
    # notifier off with a warning instead of failing every send.
    required: ClassVar[tuple[str | tuple[str, ...], ...]] = ()

    def missing(self) -> list[str]:
        """Required settings left empty: the notifier is switched off with a warning."""
        needs = [(need,) if isinstance(need, str) else need for need in self.required]
        return [
            " or ".join(names)
            for names in needs
            if not any(_given(getattr(self, name)) for name in names)
        ]


def _given(value: object) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | dict):
        return any(_given(item) for item in value)
    return value is not None


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    retry: bool = False
    retry_after: float | None = None  # seconds the service asked us to wait
    ref: str = ""  # the service's id for the message (Slack ts, Message-ID)

    @classmethod
    def delivered(cls, ref: str = "") -> SendResult:
        return cls(True, ref=ref)

    @classmethod
    def later(cls, error: str, retry_after: float | None = None) -> SendResult:
        return cls(False, error, retry=True, retry_after=retry_after)

    @classmethod
    def give_up(cls, error: str) -> SendResult:
        return cls(False, error)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header, in seconds or as an HTTP date, as seconds from now."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime.now(UTC)).total_seconds()


class Notifier(Protocol):
    """Sends one alert. `thread` is the service's id of an earlier message of the same
    story (Slack ts, email Message-ID), for notifiers that can reply in a thread."""

    id: str
    threads: bool  # can it reply in a thread? If not, follow-ups of a story are suppressed

    async def send(self, alert: Alert, thread: str | None = None) -> SendResult: ...


Factory = Callable[[NotifierConfig], Notifier]
NotifierPlugin = Plugin[NotifierConfig, Factory]
N = TypeVar("N", bound=NotifierConfig)


def notifier_plugin(config: type[N], notifier: Callable[[N], Notifier]) -> NotifierPlugin:
    """A notifier kind's registry entry: its config model and what builds it from one."""

    def build(settings: NotifierConfig) -> Notifier:
        return notifier(narrow(config, settings))

    return Plugin(config, build)


def built_in() -> dict[str, NotifierPlugin]:
    """The table of built-in notifier kinds: type name -> (config model, factory)."""
    from monitor.notify.apprise import AppriseConfig, AppriseNotifier
    from monitor.notify.console import ConsoleConfig, ConsoleNotifier
    from monitor.notify.email import EmailConfig, EmailNotifier
    from monitor.notify.slack import SlackConfig, SlackNotifier
    from monitor.notify.webhook import WebhookConfig, WebhookNotifier

    return {
        "console": notifier_plugin(ConsoleConfig, ConsoleNotifier),
        "slack": notifier_plugin(SlackConfig, SlackNotifier),
        "email": notifier_plugin(EmailConfig, EmailNotifier),
        "webhook": notifier_plugin(WebhookConfig, WebhookNotifier),
        "apprise": notifier_plugin(AppriseConfig, AppriseNotifier),
    }


NOTIFIERS = Registry("notifier", "trade_monitor.notifiers", NotifierConfig, built_in)


def notifier_types() -> dict[str, NotifierPlugin]:
    """Every notifier kind: the built-ins, then the plugins of other distributions."""
    return NOTIFIERS.table()


def build_notifier(config: NotifierConfig) -> Notifier:
    return notifier_types()[config.type].build(config)
