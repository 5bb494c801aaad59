"""Email over SMTP: a multipart message (plain text and HTML) per alert.

smtplib runs on the notifier's own worker thread, so a slow mail server never
blocks the daemon's loop or another notifier. When the dispatcher's deadline
passes, the send's socket is shut down (`Watch`), so a server that drips its
greeting or a reply ends the stuck thread too; at most REPLY_CAP bytes of
replies are read per connection. Header values are single lines built from
article text with every line break removed, so a headline cannot inject a
header.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from monitor.alerts import Alert
from monitor.notify import NotifierConfig, SendResult
from monitor.notify.http import REPLY_CAP
from monitor.notify.render import (
    by_rule,
    highlight,
    link_target,
    one_line,
    published,
    subject,
    web_url,
    why,
)
from monitor.notify.worker import Worker
from monitor.settings import Duration

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class EmailConfig(NotifierConfig):
    type: Literal["email"]
    host: str = ""
    required = ("host",)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = Field(alias="from", default="trade-monitor <trade-monitor@localhost>")
    to: list[str] = Field(min_length=1)
    timeout: Duration = 30.0  # the whole send: connect, TLS, greeting, login, the message
    ca_file: str | None = None  # a CA bundle for a relay with a private certificate authority

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "@" not in address or any(c in address for c in "\r\n"):
                raise ValueError(f"expected an email address, got {address!r}")
        return value


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
            lines += [title, *(f"- {one_line(i.title)}  {web_url(i.url)}".rstrip() for i in items)]
            lines.append("")
        return "\n".join(lines)
    lines = [one_line(alert.title), web_url(alert.url), ""]
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
    title = html_link(alert.url, title)
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


def html_link(url: str, label: str) -> str:
    """`<a href>` around `label` (already HTML) for a web URL; the label alone otherwise."""
    target = link_target(url)
    return f'<a href="{html.escape(target, quote=True)}">{label}</a>' if target else label


def bundle_html(alert: Alert) -> str:
    """A digest or summary: one section per rule, each headline a link."""
    sections = []
    for title, items in by_rule(alert).items():
        entries = "".join(
            f"<li>{html_link(i.url, html.escape(one_line(i.title)))}"
            f' <span style="color:#666">{html.escape(i.source_id)}</span></li>'
            for i in items
        )
        sections.append(f"<h3>{html.escape(title)}</h3><ul>{entries}</ul>")
    heading = f"<h2>{html.escape(alert.title)}</h2>"
    return f"<!doctype html><html><body>{heading}{''.join(sections)}</body></html>"


class Watch:
    """Lets the event loop end an SMTP exchange stuck on the worker thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.ended = False

    def hold(self, sock: socket.socket) -> None:
        """Called with the socket as soon as it is connected, before anything is read.

        Keeps a duplicate: TLS (STARTTLS, or implicit TLS) detaches the socket it wraps,
        but a duplicate still shuts down the one connection they share.
        """
        with self.lock:
            if self.ended:
                sock.close()
                raise TimeoutError("the send's deadline passed")
            self.sock = sock.dup()

    def end(self) -> None:
        """Shut the connection down: the thread's blocked read returns and its send fails."""
        with self.lock:
            self.ended = True
            if self.sock is not None:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)

    def release(self) -> None:
        """The exchange is over: close the duplicate."""
        with self.lock:
            if self.sock is not None:
                self.sock.close()
                self.sock = None


class Session(smtplib.SMTP):
    """smtplib.SMTP built without a host and then `connect`ed, so that its socket is in
    the `Watch` before the greeting is read; implicit TLS wraps that socket as
    smtplib.SMTP_SSL does. Replies are read through a `CappedReader`."""

    def __init__(self, watch: Watch, timeout: float, tls: ssl.SSLContext | None) -> None:
        self.watch, self.tls = watch, tls
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host  # what STARTTLS checks the certificate against, as SMTP(host) sets
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self.watch.hold(sock)
        return self.tls.wrap_socket(sock, server_hostname=host) if self.tls else sock

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = CappedReader(self.sock.makefile("rb"))
        return super().getreply()


class CappedReader:
    """A socket file that refuses to read more than REPLY_CAP bytes in all: a server
    cannot send an endless multi-line reply."""

    def __init__(self, file: Any) -> None:
        self.file, self.left = file, REPLY_CAP

    def readline(self, limit: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError(f"the server's replies passed {REPLY_CAP // 1024} KB")
        line: bytes = self.file.readline(min(limit, self.left) if limit >= 0 else self.left)
        self.left -= len(line)
        return line

    def close(self) -> None:
        self.file.close()


class EmailNotifier:
    threads = True

    def __init__(self, config: EmailConfig) -> None:
        self.id = config.id
        self.config = config
        self.worker = Worker(f"email-{config.id}")

    async def send(self, alert: Alert, thread: str | None = None) -> SendResult:
        message = build_message(alert, self.config.sender, self.config.to, self.id, thread)
        watch = Watch()
        try:
            await self.worker.run(lambda: self._deliver(message, watch))
        except asyncio.CancelledError:  # the deadline passed (or the daemon stops)
            watch.end()
            raise
        except smtplib.SMTPAuthenticationError as exc:  # the code only: the text may echo
            return _by_code(exc.smtp_code, "login refused")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            return _by_code(codes[0] if codes else 550, "recipients refused")
        except smtplib.SMTPResponseException as exc:
            return _by_code(exc.smtp_code, one_line(_text(exc.smtp_error)))
        except ssl.SSLCertVerificationError as exc:
            return SendResult.later(f"TLS certificate not trusted: {exc.verify_message}")
        except smtplib.SMTPServerDisconnected as exc:  # smtplib's words, such as the cap's
            return SendResult.later(f"SMTP connection failed: {one_line(str(exc))}")
        except (smtplib.SMTPException, OSError, TimeoutError) as exc:
            return SendResult.later(f"SMTP connection failed: {type(exc).__name__}")
        return SendResult.delivered(str(message["Message-ID"]))

    def _deliver(self, message: EmailMessage, watch: Watch) -> None:
        c = self.config
        context = ssl.create_default_context(cafile=c.ca_file)
        try:
            with Session(watch, c.timeout, context if c.security == "tls" else None) as smtp:
                code, greeting = smtp.connect(c.host, c.port or DEFAULT_PORTS[c.security])
                if code != 220:
                    raise smtplib.SMTPConnectError(code, greeting)
                if c.security == "starttls":
                    smtp.starttls(context=context)
                if c.username:
                    smtp.login(c.username, c.password.get_secret_value())
                smtp.send_message(message)
        finally:
            watch.release()


def _by_code(code: int, detail: str) -> SendResult:
    """SMTP 4xx is temporary (try again), 5xx is permanent (give up)."""
    text = f"SMTP {code}: {detail}"
    return SendResult.later(text) if 400 <= code < 500 else SendResult.give_up(text)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
