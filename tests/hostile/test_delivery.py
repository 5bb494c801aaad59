"""Hostile peers on the delivery side: drips, redirects, echoed secrets, hostile links.

Every peer is a real server on 127.0.0.1 (tests/servers.py); alerts go through
the real dispatcher and a real SQLite outbox, as in the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from monitor.errors import UserError
from monitor.notify.apprise import markdown
from monitor.notify.console import lines as console_lines
from monitor.notify.email import html_body, plain_body
from monitor.notify.slack import blocks
from monitor.notify.webhook import payload
from tests.builders import alert, dispatcher, feed_source, notifier_config, queue
from tests.conftest import ROOT, cli_command
from tests.servers import Route, SlackReply, SlackServer, rss, running

# ---- helpers -------------------------------------------------------------------------------


def row_of(store, notifier_id):
    [row] = [r for r in store.outbox.recent(100) if r.notifier_id == notifier_id]
    return row


async def until(condition, limit: float = 10.0) -> None:
    """Wait for a condition; a guard against hanging, not a timing assertion."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        await asyncio.sleep(0.02)


def healthy(server) -> object:
    return notifier_config("slack", id="healthy", webhook_url=server.webhook_url, pace="0s")


# ---- case 2: a dripping peer delays only its own notifier -----------------------------------


def stuck_config(kind: str, drip) -> object:
    common = {"id": "stuck", "timeout": "1s"}
    if kind == "email":
        return notifier_config(
            "email", host="127.0.0.1", port=drip.port, security="none", to=["a@b.c"], **common
        )
    if kind == "apprise":
        return notifier_config("apprise", urls=[f"json://127.0.0.1:{drip.port}/hook"], **common)
    if kind == "webhook":
        return notifier_config("webhook", url=drip.url + "/hook", **common)
    if kind == "slack-bot":
        return notifier_config(
            "slack", token="xoxb-1", channel="#c", base_url=drip.url + "/api/", pace="0s", **common
        )
    return notifier_config("slack", webhook_url=drip.url + "/services/T/B/x", pace="0s", **common)


@pytest.mark.parametrize("kind", ["slack-webhook", "slack-bot", "webhook", "apprise", "email"])
def test_a_dripping_peer_delays_only_its_own_notifier(
    kind, store, slack_server, http_drip, smtp_drip
):
    """Case 2: a peer that drips its reply (or SMTP greeting) a byte at a time, each byte well
    within any per-read timeout, ends in "later" at the notifier's 1 s deadline, and other
    notifiers deliver meanwhile: a second dispatch does not wait for the stuck one."""
    drip = smtp_drip if kind == "email" else http_drip
    dispatch = dispatcher(store, stuck_config(kind, drip), healthy(slack_server))
    queue(store, alert(article_id="s1", notifier_id="stuck"), alert(notifier_id="healthy"))

    async def scenario() -> bool:
        first = asyncio.create_task(dispatch.dispatch())
        await until(lambda: drip.connections == 1 and dispatch.drains["healthy"].done())
        assert len(slack_server.delivered) == 1
        await store.call(queue, store, alert(article_id="h2", notifier_id="healthy"))
        await asyncio.wait_for(dispatch.dispatch(), 5)  # skips the stuck notifier's drain
        assert len(slack_server.delivered) == 2
        return await asyncio.wait_for(first, 10)

    assert asyncio.run(scenario()) is False
    row = row_of(store, "stuck")
    assert row.status == "pending"
    assert "no answer within 1s" in row.last_error
    if kind != "apprise":  # Apprise's own client cannot be interrupted; only ours can
        asyncio.run(until(lambda: drip.hung_up == 1))  # the stuck connection was closed


def test_run_once_ends_with_a_dripping_slack_peer(workspace, feed_server, http_drip):
    """Case 2: `run --once` (the CLI) returns within the deadline with a dripping Slack peer."""
    url = feed_server.add("/feed.xml", nvidia_feed())
    slack = {"id": "slack", "type": "slack", "webhook_url": http_drip.url + "/services/T/B/x",
             "timeout": "1s"}  # fmt: skip
    workspace.write_config([feed_source(url, backfill="all")], [slack], {"notify": ["slack"]})
    done = subprocess.run(
        cli_command("run", "--once", "--config", str(workspace.config)),
        cwd=workspace.root, capture_output=True, text=True, timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "no answer within 1s" in done.stderr
    assert "Traceback" not in done.stderr


def nvidia_feed() -> Route:
    return Route(rss([{"title": "Nvidia pauses H20", "link": "https://n.example/1", "guid": "1"}]))


# ---- case 5: redirects never carry a token elsewhere, and are failures ----------------------


@pytest.mark.parametrize("kind", ["slack-webhook", "slack-bot", "webhook"])
def test_a_redirect_carries_no_credential_and_is_not_sent(kind, store):
    """Case 5: a notifier endpoint answering 301 to another server: nothing reaches that
    server (no token, no body), the alert is not marked sent, and the error names the host."""
    with running(SlackServer()) as origin, running(SlackServer()) as elsewhere:
        origin.script.append(SlackReply(301, redirect_to=elsewhere.url + "/api/chat.postMessage"))
        config = {
            "slack-webhook": lambda: notifier_config(
                "slack", id="n", webhook_url=origin.webhook_url, pace="0s"
            ),
            "slack-bot": lambda: notifier_config(
                "slack", id="n", token="xoxb-9", channel="#c", base_url=origin.api_url, pace="0s"
            ),
            "webhook": lambda: notifier_config(
                "webhook", id="n", url=origin.url + "/hook", headers={"X-Key": "k-123456"}
            ),
        }[kind]()
        queue(store, alert(notifier_id="n"))
        assert asyncio.run(dispatcher(store, config).dispatch()) is False
        assert elsewhere.requests == []
    row = row_of(store, "n")
    assert row.status == "dead"
    assert "redirected to 127.0.0.1" in row.last_error
    assert "never followed" in row.last_error


# ---- case 6: secrets echoed by a server are never stored or logged --------------------------

TOKEN, HEADER, HOOK_PATH = "xoxb-ECHOED-token-1234", "hdr-ECHOED-value-5678", "/hooks/ECHOEDPATH99"


@pytest.mark.parametrize("kind", ["slack-webhook", "slack-bot", "webhook"])
def test_an_echoed_secret_is_redacted_before_it_is_stored_or_logged(kind, store, caplog):
    """Case 6: a server whose error reply echoes the token, the webhook path or a header value:
    the outbox's last_error and the log lines do not contain it."""
    with running(SlackServer()) as server:
        server.script.append(SlackReply(400, echo=True))
        config = {
            "slack-webhook": lambda: notifier_config(
                "slack", id="n", webhook_url=server.url + HOOK_PATH, pace="0s"
            ),
            "slack-bot": lambda: notifier_config(
                "slack", id="n", token=TOKEN, channel="#c", base_url=server.api_url, pace="0s"
            ),
            "webhook": lambda: notifier_config(
                "webhook", id="n", url=server.url + HOOK_PATH, headers={"X-Api-Key": HEADER}
            ),
        }[kind]()
        queue(store, alert(notifier_id="n"))
        with caplog.at_level(logging.INFO, logger="monitor"):
            asyncio.run(dispatcher(store, config).dispatch())
    row = row_of(store, "n")
    assert row.status == "dead" and "echo" in row.last_error
    for secret in (TOKEN, HEADER, HOOK_PATH, "ECHOED"):
        assert secret not in row.last_error
        assert secret not in caplog.text
    assert "***" in row.last_error


def test_a_token_without_a_channel_is_not_printed_by_check(workspace):
    """Case 6: `check` with `token` set and `channel` empty names the problem, not the token."""
    workspace.write_config(
        [], [{"id": "s", "type": "slack", "token": TOKEN, "channel": ""}], {"notify": ["s"]}
    )
    from monitor.config import load_config

    with pytest.raises(UserError) as raised:
        load_config(workspace.config)
    problems = [p.message for p in raised.value.problems]
    assert any("needs a `channel`" in p for p in problems)
    assert not any(TOKEN in p for p in problems)


CREDENTIALS = {  # every setting of every notifier that can carry a credential
    "slack": {"webhook_url": "https://h.example/services/SECRET-WEBHOOK", "token": "SECRET-TOKEN",
              "channel": "#c"},
    "email": {"password": "SECRET-PASSWORD", "to": ["a@b.c"]},
    "webhook": {"url": "https://h.example/SECRET-URL", "secret": "SECRET-HMAC",
                "headers": {"Authorization": "SECRET-HEADER"}},
    "apprise": {"urls": ["json://h.example/SECRET-APPRISE"]},
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(CREDENTIALS))
def test_every_notifier_credential_is_a_secret_by_type(kind):
    """Guards case 6 for every kind: each credential setting (webhook `headers` values too) is a
    typed secret: masked in the repr, and found by secret_values, which redaction uses."""
    from monitor.settings import secret_values

    config = notifier_config(kind, id="n", **CREDENTIALS[kind])
    found = " ".join(secret_values(config))
    for secret in re.findall(r"SECRET-[A-Z]+", str(CREDENTIALS[kind])):
        assert secret not in repr(config)
        assert secret in found


# ---- case 12: only http and https links are ever clickable ----------------------------------

HOSTILE_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.cookie)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example/x",
]


def messages(url: str):
    single = alert(url=url)
    bundle = alert(title="Digest: 2 alerts", url="", items=(alert(url=url), alert(url=url)))
    for one in (single, bundle):
        yield "email html", html_body(one)
        yield "email plain", plain_body(one)
        yield "apprise markdown", markdown(one)
        yield "console", console_lines(one)
        yield "slack", str(blocks(one))
        data = payload(one)
        yield "webhook", str([data["url"], *(i["url"] for i in data.get("items", []))])


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_only_http_links_are_ever_clickable(url):
    """Case 12: a `javascript:`/`data:` link is dropped from every message (single alerts and
    bundles; email HTML and plain; Slack; Apprise Markdown; console; webhook JSON `url`)."""
    for where, text in messages(url):
        for marker in ("javascript", "JaVaScRiPt", "data:text", "vbscript", "evil.example"):
            assert marker not in text, where


def test_markdown_cannot_be_broken_by_a_title_or_a_url():
    """Case 12: a title with `](` and a URL with `)` give exactly one link, to the real URL."""
    md = pytest.importorskip("markdown")
    hostile = alert(
        title="Tariffs](javascript:alert(1)) [click](https://evil.example)",
        url="https://x.org/a_(b)?q=1",
        snippet="See [here](javascript:alert(2)) and ![x](https://evil.example/p.png)",
        snippet_marks=(),
    )
    for one in (hostile, alert(title="Digest", url="", items=(hostile,))):
        html = md.markdown(markdown(one))
        targets = re.findall(r'(?:href|src)="([^"]*)"', html)
        assert targets == ["https://x.org/a_%28b%29?q=1"], html
        assert "Tariffs](javascript:alert(1))" in html.replace("\\", "")


def test_the_watch_ends_a_connection_that_tls_has_taken_over():
    """Case 2: with STARTTLS or implicit TLS, ssl wraps (detaches) the socket the watch held,
    so ending it did nothing, and a peer dripping after the handshake held the email thread
    for good. The watch keeps a duplicate, which shuts the shared connection down."""
    from monitor.notify.email import Watch

    ours, peer = socket.socketpair()
    watch = Watch()
    watch.hold(ours)
    taken = socket.socket(fileno=ours.detach())  # what SSLContext.wrap_socket does
    watch.end()
    taken.settimeout(2)
    assert taken.recv(1) == b""  # the thread's blocked read returns at once
    watch.release()
    taken.close()
    peer.close()


def test_a_console_nobody_reads_delays_only_the_console(store, slack_server, monkeypatch):
    """Case 2: the console printed on the event loop, so a full stdout pipe (a stalled log
    collector) froze the daemon. Now it is a send like any other, under its deadline."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write_end, b"x" * 65536)  # fill the pipe: the next write blocks
    os.set_blocking(write_end, True)
    monkeypatch.setattr(sys, "stdout", open(write_end, "w", closefd=False))  # noqa: SIM115
    console = notifier_config("console", id="console", timeout="1s")
    dispatch = dispatcher(store, console, healthy(slack_server))
    queue(store, alert(article_id="c1", notifier_id="console"), alert(notifier_id="healthy"))

    async def scenario() -> bool:
        return await asyncio.wait_for(dispatch.dispatch(), 10)

    assert asyncio.run(scenario()) is False  # the console's send ran out of time ...
    assert len(slack_server.delivered) == 1  # ... and Slack delivered meanwhile
    assert "no answer within 1s" in row_of(store, "console").last_error
    with open(read_end, "rb", closefd=False) as reader:  # let the stuck print finish
        while reader.read1(65536 * 4) and os.get_blocking(read_end) is not None:
            break
    os.close(read_end)
    os.close(write_end)
