"""The web page under attack, over real HTTP: markup in every field a page shows, secrets in
the config, odd methods and requests, a playground query built to be slow, a request in
flight at shutdown, and a PostgreSQL state that goes away."""

from __future__ import annotations

import html
import logging
import re
import socket
import threading

import pytest
import yaml
from markupsafe import Markup

from monitor.cli import load_all
from monitor.listener import Listener
from monitor.logs import Secrets, redact, redacted
from monitor.store import open_store
from monitor.web import WebApp, playground
from tests.builders import run_once, wait_for
from tests.conftest import NVIDIA_RULE, Workspace
from tests.servers import FeedServer, Route, SlackReply, SlackServer, rss
from tests.web.conftest import Client, serve_app
from tests.web.seed import TOKEN

XSS = '"><img src=x onerror=alert(1)>'
EVIL_RULE = f"""
id: evil
title: 'Evil {XSS} <script>alert(2)</script>'
severity: high
query: 'nvidia OR "</pre><script>alert(3)</script>"'
tests:
  match: ['Nvidia <b>bold</b> {XSS}']
"""
SECRETS = ("FEEDPASS-7c1e", "APIKEY-7c1e", "SMTPPASS-7c1e", "HOOK-7c1e", "HEADER-7c1e",
           "WEBTOKEN-7c1e", "/services/T000/B000/")  # fmt: skip


def raw(client: Client, request: bytes) -> bytes:
    """What the server sends back for these exact bytes, until it closes the connection."""
    port = int(client.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def _markup(text: str) -> str:
    """As a feed carries text: escaped once more than the HTML it stands for."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def hostile_workspace(root) -> Workspace:
    """Markup in a rule and in a feed's items, odd links, and a secret in every place the
    config has one: a feed URL's password and API key, Slack, SMTP and webhook secrets, the
    web token. A Slack-like server answers 500 echoing the path and headers it got."""
    workspace = Workspace(root)
    workspace.write_rule("evil", EVIL_RULE)
    listed = [
        ("Nvidia <img src=x onerror=alert(4)> title", "javascript:alert(5)"),
        ("Nvidia data link", "data:text/html,&lt;script&gt;alert(7)&lt;/script&gt;"),
        ("Nvidia quoted link", 'https://x.example/a"onmouseover="alert(8)'),
        ("Nvidia spaced link", " JaVaScRiPt:alert(9)"),
    ]
    entries = [{"title": _markup(_markup(title)), "link": link, "guid": f"g{i}",
                "description": _markup(_markup("Nvidia <svg onload=alert(6)>"))}
               for i, (title, link) in enumerate(listed)]  # fmt: skip
    feed, slack = FeedServer().start(), SlackServer().start()
    slack.script = [SlackReply(500, echo=True)] * 40
    try:
        url = feed.add("/feed.xml", Route(rss(entries)))
        with_password = url.replace("http://", "http://reader:FEEDPASS-7c1e@")
        broken = feed.url.replace("http://", "http://reader:FEEDPASS-7c1e@") + "/gone?k=APIKEY-7c1e"
        sources = [
            {"id": "wire", "type": "rss", "url": with_password, "backfill": "all"},
            {"id": "gone", "type": "rss", "url": broken},
        ]
        notifiers = [
            {"id": "slack", "type": "slack", "webhook_url": slack.webhook_url},
            {"id": "mail", "type": "email", "host": "127.0.0.1", "port": 9, "security": "none",
             "username": "desk", "password": "SMTPPASS-7c1e", "to": ["desk@x.org"]},
            {"id": "hook", "type": "webhook", "url": slack.url + "/services/HOOK-7c1e",
             "headers": {"Authorization": "Bearer HEADER-7c1e"}},
        ]  # fmt: skip
        workspace.write_config(sources, notifiers, {"notify": ["slack", "mail", "hook"]})
        with workspace.config.open("a") as config:
            config.write("web:\n  token: WEBTOKEN-7c1e\n")
        run_once(workspace)
    finally:
        feed.stop()
        slack.stop()
    return workspace


def test_markup_and_secrets_never_reach_a_page(tmp_path):
    with serve_app(hostile_workspace(tmp_path)) as client:
        listed = client.get("/alerts").body
        ids = re.findall(r'data-id="(\d+)"', listed)
        assert len(ids) == 4
        assert "HTTP 500: echo ***" in listed  # the server's echo, redacted when stored
        paths = ["/alerts", "/sources", "/rules", "/playground?rule=evil&days=30",
                 "/playground?query=%22%3C%2Fpre%3E%3Cscript%3E%22&text=x",
                 "/playground?rule=%3Cscript%3E", "/alerts?since=%3Cscript%3E",
                 "/%3Cscript%3Ealert(1)", *(f"/alerts/{i}" for i in ids)]  # fmt: skip
        for path in paths:
            body = client.get(path).body
            for secret in SECRETS:
                assert secret not in body, (path, secret)
            shown = body.replace('<script src="/static/playground.js" defer></script>', "")
            assert not re.search(
                r'<(script|img|b)\b|<svg (?!class="chart")|<[^<>]*\son\w+=', shown
            ), path
            assert not re.search(r'href="\s*(javascript|data):', body, re.I), path
            assert 'href="https://x.example/a"' not in body  # the quote stays in the value
        assert "Evil &#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in client.get("/rules").body
        assert "HTTP 404 Not Found" in client.get("/sources").body  # the failing feed's error


def test_head_sends_the_headers_alone(site):
    _, client = site
    got = client.get("/alerts").body.encode()
    reply = raw(client, b"HEAD /alerts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert body == b""
    assert f"Content-Length: {len(got)}".encode() in head


def test_a_method_a_path_does_not_take_is_405_with_allow(site):
    _, client = site
    for method, path, allow in [
        ("GET", "/alerts/1/retry", "POST"),
        ("PUT", "/alerts/1/retry", "POST"),
        ("DELETE", "/alerts", "GET, HEAD"),
        ("POST", "/playground", "GET, HEAD"),
    ]:
        reply = raw(client, f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                            "Content-Length: 0\r\n\r\n".encode())  # fmt: skip
        head = reply.partition(b"\r\n\r\n")[0].decode()
        assert head.startswith("HTTP/1.0 405"), (method, path)
        assert f"Allow: {allow}" in head, (method, path)


def test_hostile_query_strings_get_a_page(site):
    _, client = site
    for path in [
        "/alerts?rule=%00&source=%00x&since=%00",
        "/alerts?rule=%ff%fe&since=%c3%28",
        "/alerts?since=99999-01-01&until=0000-01-01",
        "/alerts?since=0001-01-01&until=9999-12-31&limit=-5",
        "/alerts?limit=" + "9" * 5000,
        "/playground?query=nvidia&days=" + "9" * 5000,
        "/playground?query=nvidia&days=-3",
        "/playground?query=%ff%c3&text=%ed%a0%80abc",
        "/playground?text=a&query=" + "(" * 3000 + "a" + ")" * 3000,
        "/playground?text=a&query=" + "NOT+" * 1500 + "a",
        "/playground?text=a+b&query=a+NEAR/999999999999+b",
        "/alerts/1?retried=%3Cscript%3E",
    ]:
        reply = raw(client, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert reply.startswith(b"HTTP/1.0 200"), path
    for path in ["/static/../../config.yaml", "/static/%2e%2e/%2e%2e/config.yaml",
                 "/static/..%2fconfig.yaml", "/static/__init__.py", "/alerts/9999999999999999999"]:  # fmt: skip
        assert client.get(path).status == 404, path


def test_a_playground_text_run_stops_at_its_budget(site, monkeypatch):
    """A hundred regexes that backtrack would each run to the regex timeout, on each field,
    and again for the explain tree; the run stops at its budget and says so."""
    _, client = site
    monkeypatch.setattr(playground, "BUDGET", 0.5)
    query = " OR ".join(f"/(a|aa)+b{i}/" for i in range(100))
    reply = client.get("/playground", query=query, text="a" * 3000 + "\n" + "a" * 3000)
    assert reply.status == 200
    assert "Does not match" in reply.body
    assert "Cut short: 100 regexes took too long on this text" in reply.body
    assert "/(a|aa)+b0/" in reply.body


def test_a_request_in_flight_at_shutdown_gets_503(tmp_path, caplog):
    workspace = Workspace(tmp_path)
    workspace.write_rule("nvidia", NVIDIA_RULE)
    workspace.write_config([])
    config, rules = load_all(workspace.config)
    app = WebApp(config, lambda: rules, open_store(config.state, config.base_dir))
    listener = Listener(("127.0.0.1", 0), app, "test")
    with socket.create_connection(("127.0.0.1", listener.port), timeout=30) as sock:
        sock.sendall(b"GET /alerts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")  # not ended
        assert wait_for(lambda: any("process_request" in t.name for t in threading.enumerate()))
        listener.stop()
        app.close()
        sock.sendall(b"\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.0 503")
    assert b"the page is stopping" in reply
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_page_says_at_once_that_postgres_is_away(tmp_path, postgres_server, postgres_url):
    """The daemon's store waits two minutes for a shared database; a page holding its lock
    that long would stall every other page. It answers 503 after one reconnect instead."""
    workspace = Workspace(tmp_path)
    workspace.write_rule("nvidia", NVIDIA_RULE)
    workspace.write_config([])
    config = yaml.safe_load(workspace.config.read_text())
    workspace.config.write_text(yaml.safe_dump({**config, "state": postgres_url}))
    password = postgres_url.split("@")[0].rsplit(":", 1)[1]
    with serve_app(workspace) as client:
        assert client.get("/alerts").status == 200
        postgres_server.stop()
        try:
            for path in ("/alerts", "/sources", "/alerts/1"):
                reply = client.get(path)  # within the client's 30s, where it took minutes
                assert reply.status == 503, path
                assert "the state database cannot be reached" in reply.body
                assert password not in reply.body
            assert client.get("/playground").status == 200  # no read: served as ever
        finally:
            postgres_server.start()
        assert client.get("/alerts").status == 200  # reconnected


def test_a_secret_in_a_stored_error_is_hidden_as_status_hides_it(site):
    """A source's error is stored as the poll saw it (a plugin's exception may quote its URL
    with the key); `status` prints it redacted, and so does the page."""
    workspace, client = site
    config, _ = load_all(workspace.config)
    store = open_store(config.state, config.base_dir)
    try:
        store.record_failure("feed", f"ValueError: no reply from https://api.x/?key={TOKEN}")
    finally:
        store.close()
    body = client.get("/sources").body
    assert "no reply from https://api.x/?key=***" in body
    assert TOKEN not in body
    joined = client.get("/playground", query=f'"{TOKEN}"', text=TOKEN).body  # `join`'s Markup
    assert "✓ &#34;***&#34;" in joined and TOKEN not in joined


def test_an_idle_connection_is_closed_and_frees_its_thread(tmp_path, monkeypatch):
    """300 half-sent requests held 300 threads for ever; each now ends after IDLE_TIMEOUT."""
    from monitor import listener as listener_module

    assert listener_module._QuietHandler.timeout == listener_module.IDLE_TIMEOUT <= 300
    monkeypatch.setattr(listener_module._QuietHandler, "timeout", 0.5)  # not a minute here
    app = lambda environ, start_response: []  # noqa: E731 - never reached
    listener = Listener(("127.0.0.1", 0), app, "test")
    try:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
            sock.sendall(b"GET /alerts HTTP/1.1\r\n")  # and nothing more
            assert sock.recv(65536) == b""  # closed by the server, not by our timeout
        assert wait_for(
            lambda: not any("process_request" in t.name for t in threading.enumerate()),
            timeout=5,
        )
    finally:
        listener.stop()


def test_ten_thousand_feed_urls_are_hidden_in_pages_and_logs(tmp_path):
    """Each feed's URL is a secret (it may carry a key). The page compiled one regex of
    them all: with 10,000 feeds, 10 s of a blocked event loop and 150 MB at every start."""
    workspace = Workspace(tmp_path)
    workspace.write_rule("nvidia", NVIDIA_RULE)
    urls = [f"https://feeds{n % 7}.example/f/{n}.xml?key=K{n:05d}" for n in range(10_000)]
    workspace.write_config([{"id": f"f{n}", "type": "rss", "url": url}
                            for n, url in enumerate(urls)])  # fmt: skip
    config, rules = load_all(workspace.config)
    redact(config.secrets())
    app = WebApp(config, lambda: rules, open_store(config.state, config.base_dir))
    try:
        said = f"fetching {urls[4321]} failed; also {html.escape(urls[9999])}."
        assert app.shown(said) == "fetching *** failed; also ***."
        assert app.shown(Markup(html.escape(urls[17]))) == Markup("***")
        assert redacted(f"{urls[0]}{urls[1]} and K00002") == "*** and K00002"
    finally:
        app.close()
        redact([])


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("xabcdefx", "x***x"),  # two secrets overlapping: hidden as one stretch
        ("abcd cdef", "*** ***"),
        ("abcdabcd", "***"),  # touching
        ("no secret", "no secret"),
        ("", ""),
    ],
)
def test_overlapping_secrets_are_hidden_whole(text, shown):
    assert Secrets(["abcd", "cdef", "bcde"]).hide(text) == shown
