import asyncio
import ssl
import subprocess

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from monitor.notify.email import EmailConfig, EmailNotifier
from tests.builders import alert
from tests.conftest import MailBox, SmtpServer, free_port


def notifier(smtp, **extra):
    config = EmailConfig.model_validate(
        {
            "id": "mail",
            "type": "email",
            "host": smtp.host,
            "port": smtp.port,
            "security": "none",
            "from": "Trade Monitor <alerts@example.org>",
            "to": ["desk@example.org"],
            **extra,
        }
    )
    return EmailNotifier(config)


def test_multipart_message_is_delivered_with_subject_and_highlights(smtp_server):
    result = asyncio.run(notifier(smtp_server).send(alert()))
    assert result.ok
    [message] = smtp_server.mailbox.messages
    assert (
        message["Subject"]
        == "[HIGH] Fentanyl-linked tariffs, China: US doubles fentanyl duties on Chinese goods"
    )
    assert message["To"] == "desk@example.org"
    assert message["Message-ID"] == result.ref
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "https://x.org/a" in plain and "The *fentanyl* levy rises." in plain
    assert "Fentanyl-linked tariffs (high): fentanyl" in plain
    assert "<mark><b>fentanyl</b></mark>" in html and 'href="https://x.org/a"' in html


def test_header_injection_is_impossible(smtp_server):
    hostile = alert(title="Tariffs\r\nBcc: victim@example.org\r\nX-Evil: 1")
    assert asyncio.run(notifier(smtp_server).send(hostile)).ok
    [envelope] = smtp_server.mailbox.envelopes
    [message] = smtp_server.mailbox.messages
    assert envelope.rcpt_tos == ["desk@example.org"]
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "\n" not in message["Subject"]


def test_article_html_is_escaped_in_the_html_part(smtp_server):
    hostile = alert(
        title="<script>alert(1)</script>", snippet="<img src=x onerror=1>", snippet_marks=()
    )
    asyncio.run(notifier(smtp_server).send(hostile))
    html = smtp_server.mailbox.messages[0].get_body(("html",)).get_content()
    assert "<script>" not in html and "<img" not in html


def test_login(smtp_server):
    ok = notifier(smtp_server, username="desk", password="s3cret-pass")
    assert asyncio.run(ok.send(alert())).ok
    refused = asyncio.run(notifier(smtp_server, username="desk", password="wrong").send(alert()))
    assert not refused.ok and not refused.retry and "login refused" in refused.error
    assert "wrong" not in refused.error


def test_a_temporary_login_failure_is_retried_and_a_permanent_one_given_up():
    """Case 2: `454 4.7.0` to AUTH (an auth backend down) made the alert dead at once."""
    mailbox, port, replies = MailBox(), free_port(), ["454 4.7.0 Temporary authentication failure"]

    def authenticate(server, session, envelope, mechanism, data):
        return AuthResult(success=False, handled=False, message=replies[0])

    server = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=authenticate,
        auth_require_tls=False,
    )  # fmt: skip
    server.start()
    try:
        mail = notifier(SmtpServer("127.0.0.1", port, mailbox), username="desk", password="pw")
        later = asyncio.run(mail.send(alert()))
        replies[0] = "535 5.7.8 credentials invalid"
        refused = asyncio.run(mail.send(alert()))
    finally:
        server.stop()
    assert (later.ok, later.retry, later.error) == (False, True, "SMTP 454: login refused")
    assert (refused.ok, refused.retry, refused.error) == (False, False, "SMTP 535: login refused")
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("reply", "retry"), [("451 4.3.0 try later", True), ("554 5.7.1 rejected", False)]
)
def test_smtp_errors_are_classified(smtp_server, reply, retry):
    smtp_server.mailbox.reply = reply
    result = asyncio.run(notifier(smtp_server).send(alert()))
    assert (result.ok, result.retry) == (False, retry)
    assert reply.split()[0] in result.error


def test_unreachable_server_is_retried_later(smtp_server):
    result = asyncio.run(notifier(smtp_server, port=1).send(alert()))
    assert not result.ok and result.retry


def test_config_needs_recipients_and_is_off_without_host():
    with pytest.raises(ValueError, match="at least 1"):
        EmailConfig.model_validate({"id": "m", "type": "email", "host": "h", "to": []})
    assert EmailConfig.model_validate({"id": "m", "type": "email", "to": ["a@b.c"]}).missing() == [
        "host"
    ]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_encrypted_delivery_with_a_private_ca(certificate, security):
    cert, context = certificate
    mailbox = MailBox()
    port = free_port()
    tls = {"tls_context": context, "require_starttls": True} if security == "starttls" else {}
    server = Controller(
        mailbox, hostname="127.0.0.1", port=port,
        ssl_context=context if security == "tls" else None, **tls,
    )  # fmt: skip
    server.start()
    try:
        smtp = SmtpServer("127.0.0.1", port, mailbox)
        trusted = notifier(smtp, security=security, ca_file=str(cert))
        assert asyncio.run(trusted.send(alert())).ok
        assert len(mailbox.messages) == 1
        untrusted = asyncio.run(notifier(smtp, security=security).send(alert()))
        assert not untrusted.ok and untrusted.retry
        assert "certificate" in untrusted.error
        assert len(mailbox.messages) == 1
    finally:
        server.stop()


def test_an_endless_multi_line_reply_is_cut_off_at_the_cap():
    from tests.servers import DripServer, running

    endless = b"220-" + b"x" * 70 + b"\r\n"
    with running(DripServer(endless * 4000, interval=0, chunk=len(endless) * 100)) as server:
        result = asyncio.run(
            notifier(SmtpServer("127.0.0.1", server.port, MailBox())).send(alert())
        )
    assert (result.ok, result.retry) == (False, True)
    assert "replies passed 64 KB" in result.error


def test_a_deadline_on_the_greeting_closes_the_connection(smtp_drip):
    """Cancelling a send (the dispatcher's deadline) shuts its socket: the thread ends too."""
    mail = notifier(SmtpServer("127.0.0.1", smtp_drip.port, MailBox()))

    async def main():
        send = asyncio.ensure_future(mail.send(alert()))
        while smtp_drip.connections == 0:
            await asyncio.sleep(0.02)
        send.cancel()
        with pytest.raises(asyncio.CancelledError):
            await send
        return await mail.worker.run(lambda: "the worker is free again")

    assert asyncio.run(main()) == "the worker is free again"
