"""WebSub push (monitor/websub.py) end to end: a small hub of our own on 127.0.0.1 and the
real daemon as a process, with its `http:` listener as the callback."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import yaml

from monitor.config import load_config
from monitor.errors import UserError
from monitor.sources.rss import find_hub
from monitor.websub import link_self, signature_ok
from tests.builders import feed_source, items, start_daemon, stop, wait_for
from tests.conftest import free_port
from tests.servers import LocalServer, Route, rss


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        hub: Hub = self.server.app  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        hub.requests.append(form)
        self.send_response(hub.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if hub.confirm and hub.answer == 202:
            threading.Thread(target=hub.verify, args=(form,), daemon=True).start()


class Hub(LocalServer):
    """Accepts subscriptions, checks them with a challenge at the callback (unless `confirm`
    is off), and delivers signed feed bodies on demand (`publish`)."""

    handler_class = _HubHandler

    def __init__(self, lease: int | None = None, confirm: bool = True) -> None:
        self.requests: list[dict[str, str]] = []
        self.confirmed: list[dict[str, str]] = []  # subscriptions whose check echoed the challenge
        self.lease, self.confirm, self.answer = lease, confirm, 202
        super().__init__()

    def verify(self, form: dict[str, str], topic: str | None = None) -> int:
        challenge = f"c{time.monotonic_ns()}"
        query = {"hub.mode": form["hub.mode"], "hub.topic": topic or form["hub.topic"],
                 "hub.challenge": challenge}  # fmt: skip
        if self.lease:
            query["hub.lease_seconds"] = str(self.lease)
        url = f"{form['hub.callback']}?{urllib.parse.urlencode(query)}"
        status, body = _call(url)
        if status == 200 and body == challenge.encode():
            self.confirmed.append(form)
        return status

    def publish(self, body: bytes, secret: str | None = None, callback: str | None = None,
                topic: str | None = None, algorithm: str = "sha256") -> int:  # fmt: skip
        """POST a delivery to the last confirmed subscription's callback, signed with its
        secret (or `secret`), with a Link rel=self of its topic (or `topic`)."""
        sub = self.confirmed[-1]
        key = (secret or sub["hub.secret"]).encode()
        signature = hmac.new(key, body, algorithm).hexdigest()
        headers = {
            "Content-Type": "application/rss+xml",
            "X-Hub-Signature": f"{algorithm}={signature}",
            "Link": f'<{self.url}/hub>; rel="hub", <{topic or sub["hub.topic"]}>; rel="self"',
        }
        request = urllib.request.Request(
            callback or sub["hub.callback"], data=body, headers=headers, method="POST"
        )
        return _call(request)[0]


def _call(request: Any) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def hub():
    server = Hub().start()
    yield server
    server.stop()


def push_workspace(workspace, feed_server, slack_server, hub, port, settings=None, **source):
    """A feed naming `hub` (Link header), polled every second; push on; alerts to Slack."""
    url = feed_server.url + "/feed.xml"
    link = f'<{hub.url}/hub>; rel="hub", <{url}>; rel="self"'
    feed_server.add("/feed.xml", Route(rss(items(0, 1)), headers={"Link": link}))
    notifier = {"id": "slack", "type": "slack", "webhook_url": slack_server.webhook_url}
    workspace.write_config([feed_source(url, **source)], [notifier], {"notify": ["slack"]})
    data = yaml.safe_load(workspace.config.read_text())
    data["http"] = f"127.0.0.1:{port}"
    data["push"] = {"callback": f"http://127.0.0.1:{port}/websub", "lease": "1h",
                    "slow_interval": "1h", **(settings or {})}  # fmt: skip
    workspace.config.write_text(yaml.safe_dump(data))
    return url


def story(i: int, word: str = "Nvidia") -> bytes:
    return rss(items(i, 1, word=word))


def test_a_pushed_item_is_alerted_and_bad_pushes_are_refused(
    workspace, feed_server, slack_server, hub
):
    port = free_port()
    push_workspace(workspace, feed_server, slack_server, hub, port)
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: hub.confirmed)
        form = hub.confirmed[0]
        assert form["hub.callback"] == f"http://127.0.0.1:{port}/websub/feed"
        assert form["hub.topic"] == feed_server.url + "/feed.xml"
        assert len(form["hub.secret"]) >= 32 and form["hub.lease_seconds"] == "3600"
        polls = len(feed_server.hits("/feed.xml"))

        sent = time.monotonic()
        assert hub.publish(story(1)) == 202
        assert wait_for(lambda: len(slack_server.delivered) == 1, timeout=10)
        latency = time.monotonic() - sent
        assert "Nvidia story 1" in str(slack_server.delivered[0]["payload"])
        assert hub.publish(story(1)) == 202  # the same item again: seen, never a second alert
        assert hub.publish(story(2), algorithm="sha1") == 202  # sha1 is allowed too
        assert wait_for(lambda: len(slack_server.delivered) == 2, timeout=10)

        assert hub.publish(story(3), secret="not-the-secret") == 202  # acknowledged, dropped
        assert hub.publish(story(4), topic="http://elsewhere.example/feed") == 404
        assert hub.publish(story(5), callback=f"http://127.0.0.1:{port}/websub/other") == 404
        assert hub.verify(form, topic="http://elsewhere.example/feed") == 404  # not our topic
        assert hub.verify({**form, "hub.mode": "unsubscribe"}) == 404  # never asked for
        time.sleep(1.5)
        assert len(slack_server.delivered) == 2
        assert len(feed_server.hits("/feed.xml")) <= polls + 1  # subscribed: the slow interval
    finally:
        code, _, _, err = stop(daemon)
    assert code == 0, err
    assert latency < 5.0
    assert "signature ignored, nothing matched" in err
    assert err.count("not subscribed to refused") == 2
    assert "a request for a topic we are not subscribed to refused ('other')" in err
    assert "Traceback" not in err
    assert form["hub.secret"] not in err


def test_the_subscription_survives_a_restart(workspace, feed_server, slack_server, hub):
    port = free_port()
    push_workspace(workspace, feed_server, slack_server, hub, port)
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: hub.confirmed)
    finally:
        stop(daemon)
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: _listening(port))
        assert hub.publish(story(7)) == 202  # the old secret: the lease still runs
        assert wait_for(lambda: len(slack_server.delivered) == 1, timeout=10)
        time.sleep(1.0)
        assert len(hub.requests) == 1  # no new subscription was needed
    finally:
        code, _, _, err = stop(daemon)
    assert code == 0, err
    assert "push subscription kept from the last run" in err


def test_the_lease_is_renewed_before_it_ends(workspace, feed_server, slack_server):
    hub = Hub(lease=8).start()
    try:
        port = free_port()
        push_workspace(workspace, feed_server, slack_server, hub, port)
        daemon = start_daemon(workspace)
        try:
            assert wait_for(lambda: hub.confirmed)
            first = time.monotonic()
            assert wait_for(lambda: len(hub.confirmed) >= 2, timeout=15)
            renewed = time.monotonic() - first
            assert hub.publish(story(9)) == 202
            assert wait_for(lambda: len(slack_server.delivered) == 1, timeout=10)
        finally:
            code, _, _, err = stop(daemon)
    finally:
        hub.stop()
    assert code == 0, err
    assert 6.0 < renewed < 8.0  # at 80% of the 8 s granted (checked every second): in time
    assert hub.confirmed[1]["hub.callback"] == hub.confirmed[0]["hub.callback"]
    assert "lease ended" not in err


def test_a_refused_renewal_is_logged_once_and_polling_resumes_when_the_lease_ends(
    workspace, feed_server, slack_server
):
    hub = Hub(lease=6).start()
    try:
        port = free_port()
        push_workspace(workspace, feed_server, slack_server, hub, port)
        daemon = start_daemon(workspace)
        try:
            assert wait_for(lambda: hub.confirmed)
            hub.answer = 400  # from now on the hub refuses: the renewal fails
            assert wait_for(lambda: len(hub.requests) == 2, timeout=10)
            polls = len(feed_server.hits("/feed.xml"))
            assert polls <= 3  # subscribed: polled at the slow interval
            # the lease ends about 6 s after the check: polled every second again
            assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= polls + 3, timeout=10)
        finally:
            code, _, _, err = stop(daemon)
    finally:
        hub.stop()
    assert code == 0, err
    assert err.count("refused the subscription (HTTP 400)") == 1  # not at every tick
    assert "the lease ended without renewal" in err
    assert len(hub.requests) == 2  # nor at every poll after it


def test_a_hub_that_never_confirms_leaves_the_source_polled(workspace, feed_server, slack_server):
    hub = Hub(confirm=False).start()
    try:
        port = free_port()
        push_workspace(workspace, feed_server, slack_server, hub, port,
                       settings={"confirm_within": "1s"})  # fmt: skip
        daemon = start_daemon(workspace)
        try:
            assert wait_for(lambda: hub.requests)
            time.sleep(2.5)  # given up on
            polls = len(feed_server.hits("/feed.xml"))
            assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= polls + 2, timeout=6)
        finally:
            code, _, _, err = stop(daemon)
    finally:
        hub.stop()
    assert code == 0, err
    assert err.count("never confirmed") == 1
    assert len(hub.requests) == 1  # not asked again at every poll


def test_a_hub_that_refuses_is_logged_and_polling_goes_on(
    workspace, feed_server, slack_server, hub
):
    hub.answer = 400
    port = free_port()
    push_workspace(workspace, feed_server, slack_server, hub, port)
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: hub.requests)
        polls = len(feed_server.hits("/feed.xml"))
        assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= polls + 2, timeout=6)
    finally:
        code, _, _, err = stop(daemon)
    assert code == 0, err
    assert err.count("refused the subscription (HTTP 400)") == 1


def test_push_false_never_subscribes(workspace, feed_server, slack_server, hub):
    port = free_port()
    push_workspace(workspace, feed_server, slack_server, hub, port, push=False)
    daemon = start_daemon(workspace)
    try:
        assert wait_for(lambda: len(feed_server.hits("/feed.xml")) >= 3)
    finally:
        stop(daemon)
    assert hub.requests == []


def _listening(port: int) -> bool:
    try:
        return _call(f"http://127.0.0.1:{port}/healthz")[0] in (200, 503)
    except OSError:
        return False


# ---- the pieces -------------------------------------------------------------------


def test_push_needs_http(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("sources: []\npush:\n  callback: https://monitor.example.org/websub\n")
    with pytest.raises(UserError, match="push: needs http:"):
        load_config(path)


def test_push_callback_must_be_a_url(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("http: 9464\npush:\n  callback: monitor.example.org\n")
    with pytest.raises(UserError, match=r"push\.callback"):
        load_config(path)


def test_the_hub_is_found_in_the_link_header_or_the_feed():
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><link rel="hub" href="https://h.example/'
            b'?a=1&amp;b=2"/><link rel="self" href="https://f.example/atom"/><entry>'
            b'<link rel="hub" href="https://not-this.example/"/></entry></feed>')  # fmt: skip
    assert find_hub(atom, {}, "https://f.example/x") == {
        "hub": "https://h.example/?a=1&b=2", "topic": "https://f.example/atom"
    }  # fmt: skip
    rss2 = b'<rss><channel><atom:link rel="hub" href="https://h.example/"/></channel></rss>'
    assert find_hub(rss2, {}, "https://f.example/x")["topic"] == "https://f.example/x"
    assert find_hub(b"<rss/>", {"hub": "https://l.example/"}, "https://f")["hub"] == (
        "https://l.example/"
    )
    assert find_hub(b"<rss/>", {}, "https://f.example/x") == {}
    assert find_hub(b'<feed><link rel="hub" href="javascript:x"/></feed>', {}, "https://f") == {}


def test_signatures():
    body = b"<rss/>"
    good = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature_ok("s3cret", body, f"sha256={good}")
    assert signature_ok("s3cret", body, f"SHA1={hmac.new(b's3cret', body, 'sha1').hexdigest()}")
    assert not signature_ok("other", body, f"sha256={good}")
    assert not signature_ok("s3cret", body + b" ", f"sha256={good}")
    assert not signature_ok("s3cret", body, "md5=abc")
    assert not signature_ok("s3cret", body, "")
    assert not signature_ok("s3cret", body, "sha256=")


def test_link_self():
    assert link_self('<https://h/>; rel="hub", <https://f/x>; rel="self"') == "https://f/x"
    assert link_self("") is None
    assert link_self("garbage;;;<") is None


def test_hostile_pushes_are_refused_and_the_daemon_lives_on(
    workspace, feed_server, slack_server, hub
):
    port = free_port()
    push_workspace(workspace, feed_server, slack_server, hub, port, max_bytes="2KB")
    daemon = start_daemon(workspace)
    callback = f"http://127.0.0.1:{port}/websub/feed"
    try:
        assert wait_for(lambda: hub.confirmed)
        assert hub.publish(rss(items(0, 30))) == 413  # over the source's max_bytes
        assert hub.publish(b"\x00not a feed at all") == 400
        unsigned = urllib.request.Request(callback, data=story(1), method="POST")
        assert _call(unsigned)[0] == 202  # acknowledged, and dropped
        assert hub.verify({**hub.confirmed[0], "hub.mode": "subscribe"}) == 404  # confirmed
        assert _call(f"{callback}?hub.mode=subscribe")[0] == 404
        assert _call(urllib.request.Request(callback, method="PUT"))[0] == 405
        assert _call(f"http://127.0.0.1:{port}/websub/%0Aforged%20line")[0] == 404
        assert hub.publish(story(2)) == 202  # and a good one still works
        assert wait_for(lambda: len(slack_server.delivered) == 1, timeout=10)
    finally:
        code, _, _, err = stop(daemon)
    assert code == 0, err
    assert "over the 2000-byte cap refused" in err
    assert "not a feed ignored" in err
    assert "missing signature ignored" in err
    assert "Traceback" not in err
    assert "\nforged" not in err
