"""Email over SMTP: a multipart message (plain text and HTML) per alert.

smtplib runs on a worker thread, so a slow mail server never blocks the
daemon's loop. Header values are single lines built from article text with
every line break removed, so a headline cannot inject a header.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from monitor.alerts import Alert
from monitor.notify import NotifierConfig, SendResult
from monitor.notify.render import by_rule, highlight, one_line, published, subject, why
from monitor.settings import Duration

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class EmailConfig(NotifierConfig):
    type: Literal["email"]
    host: str = ""
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = Field(alias="from", default="trade-monitor <trade-monitor@localhost>")
    to: list[str] = Field(min_length=1)
    timeout: Duration = 30.0
    ca_file: str | None = None  # a CA bundle for a relay with a private certificate authority

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address or any(c in address for c in "\r\n"):
                raise ValueError(f"expected an email address, got {address!r}")
        return value

    def missing(self) -> list[str]:
        return [] if self.host.strip() else ["host"]

    def secrets(self) -> list[str]:
        return [self.password.get_secret_value()] if self.password.get_secret_value() else []


def build_message(
    alert: Alert, sender: str, to: list[str], list_id: str, thread: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = ("Re: " if thread else "") + subject(alert)[:250]
    message["From"] = one_line(sender)
    message["To"] = ", ".join(one_line(a) for a in to)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip("> ") or None)
    message["List-Id"] = f"trade-monitor alerts <{list_id}.trade-monitor>"
    if thread:
        message["In-Reply-To"] = thread
        message["References"] = thread
    message.set_content(plain_body(alert))
    message.add_alternative(html_body(alert), subtype="html")
    return message


def plain_body(alert: Alert) -> str:
    if alert.items:
        lines = [alert.title, ""]
        for title, items in by_rule(alert).items():
            lines += [title, *(f"- {one_line(i.title)}  {i.url}".rstrip() for i in items), ""]
        return "\n".join(lines)
    lines = [one_line(alert.title), alert.url, ""]
    meta = [alert.source_id] + ([published(alert)] if alert.published_at else [])
    lines += [" · ".join(meta), ""]
    if alert.snippet:
        lines += [highlight(alert.snippet, alert.snippet_marks, "*", "*", str), ""]
    lines += ["Why it matched:", *(f"- {line}" for line in why(alert))]
    return "\n".join(lines) + "\n"


def html_body(alert: Alert) -> str:
    if alert.items:
        return bundle_html(alert)
    title = highlight(one_line(alert.title), alert.title_marks, "<b>", "</b>", html.escape)
    if alert.url.startswith(("http://", "https://")):
        title = f'<a href="{html.escape(alert.url, quote=True)}">{title}</a>'
    meta = " · ".join(
        html.escape(x) for x in [alert.severity.upper(), alert.source_id, published(alert)] if x
    )
    snippet = highlight(alert.snippet, alert.snippet_marks, "<mark><b>", "</b></mark>", html.escape)
    reasons = "".join(f"<li>{html.escape(line)}</li>" for line in why(alert))
    return (
        "<!doctype html><html><body>"
        f'<h3 style="margin:0 0 4px 0">{title}</h3>'
        f'<p style="color:#666;margin:0 0 12px 0">{meta}</p>'
        f"<p>{snippet}</p>"
        f"<p>Why it matched:</p><ul>{reasons}</ul>"
        "</body></html>"
    )


def bundle_html(alert: Alert) -> str:
    """A digest or summary: one section per rule, each headline a link."""
    sections = []
    for title, items in by_rule(alert).items():
        entries = "".join(
            f'<li><a href="{html.escape(i.url, quote=True)}">{html.escape(one_line(i.title))}</a>'
            f' <span style="color:#666">{html.escape(i.source_id)}</span></li>'
            for i in items
        )
        sections.append(f"<h3>{html.escape(title)}</h3><ul>{entries}</ul>")
    heading = f"<h2>{html.escape(alert.title)}</h2>"
    return f"<!doctype html><html><body>{heading}{''.join(sections)}</body></html>"


class EmailNotifier:
    threads = True

    def __init__(self, config: EmailConfig) -> None:
        self.id = config.id
        self.config = config

    async def send(self, alert: Alert, thread: str | None = None) -> SendResult:
        message = build_message(alert, self.config.sender, self.config.to, self.id, thread)
        try:
            await asyncio.to_thread(self._deliver, message)
        except smtplib.SMTPAuthenticationError as exc:
            return SendResult.give_up(f"login refused ({exc.smtp_code})")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            return _by_code(codes[0] if codes else 550, "recipients refused")
        except smtplib.SMTPResponseException as exc:
            return _by_code(exc.smtp_code, one_line(_text(exc.smtp_error))[:200])
        except ssl.SSLCertVerificationError as exc:
            return SendResult.later(f"TLS certificate not trusted: {exc.verify_message}")
        except (smtplib.SMTPException, OSError, TimeoutError) as exc:
            return SendResult.later(f"SMTP connection failed: {type(exc).__name__}")
        return SendResult.delivered(str(message["Message-ID"]))

    def _deliver(self, message: EmailMessage) -> None:
        c = self.config
        port = c.port or DEFAULT_PORTS[c.security]
        context = ssl.create_default_context(cafile=c.ca_file)
        smtp_class = smtplib.SMTP_SSL if c.security == "tls" else smtplib.SMTP
        kwargs = {"context": context} if c.security == "tls" else {}
        with smtp_class(c.host, port, timeout=c.timeout, **kwargs) as smtp:
            if c.security == "starttls":
                smtp.starttls(context=context)
            if c.username:
                smtp.login(c.username, c.password.get_secret_value())
            smtp.send_message(message)


def _by_code(code: int, detail: str) -> SendResult:
    """SMTP 4xx is temporary (try again), 5xx is permanent (give up)."""
    text = f"SMTP {code}: {detail}"
    return SendResult.later(text) if 400 <= code < 500 else SendResult.give_up(text)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
