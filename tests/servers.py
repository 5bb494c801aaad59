"""Real servers on 127.0.0.1 for the tests: a feed server, a Slack-like server, a drip server.

The HTTP ones run stdlib `ThreadingHTTPServer` on a thread, so the code under
test talks real HTTP over real sockets; nothing is patched. `DripServer` is a
bare TCP server that answers any connection one byte at a time, to stand for
a peer that never quite stops answering (an HTTP reply, an SMTP greeting).
"""

from __future__ import annotations

import gzip
import json
import random
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before answering
    drip: float = 0.0  # seconds between body bytes
    gzip: bool = False
    redirect_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up is normal
            super().handle_error(request, client_address)


class LocalServer:
    """Base: a threaded HTTP server with a request log."""

    handler_class: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.httpd = _Server(("127.0.0.1", 0), self.handler_class)
        self.httpd.app = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> LocalServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        app: FeedServer = self.server.app  # type: ignore[attr-defined]
        app.requests.append({"path": self.path, "headers": dict(self.headers), "at": time.time()})
        route = app.routes.get(self.path)
        if route is None:
            self._send(404, b"not found", "text/plain")
            return
        time.sleep(route.delay)
        if route.redirect_to:
            self.send_response(302)
            self.send_header("Location", route.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route.etag and self.headers.get("If-None-Match") == route.etag:
            self._send(304, b"", route.content_type, route)
            return
        if route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified:
            self._send(304, b"", route.content_type, route)
            return
        body = gzip.compress(route.body) if route.gzip else route.body
        self._send(route.status, body, route.content_type, route)

    def _send(self, status: int, body: bytes, ctype: str, route: Route | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if route and route.etag:
            self.send_header("ETag", route.etag)
        if route and route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        if route and route.gzip:
            self.send_header("Content-Encoding", "gzip")
        for key, value in (route.headers if route else {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)) if status != 304 else "0")
        self.end_headers()
        if status == 304:
            return
        try:
            if route and route.drip:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(route.drip)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class FeedServer(LocalServer):
    handler_class = _FeedHandler

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        super().__init__()

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url + path

    def hits(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]


# ---- Slack -----------------------------------------------------------------------


@dataclass
class SlackReply:
    """What the Slack-like server answers next: ok, 429, 500, ok:false, or a dropped connection."""

    status: int = 200
    error: str | None = None  # Web API `ok: false` error code
    retry_after: str | None = None
    drop: bool = False
    delay: float = 0.0  # seconds before answering
    redirect_to: str | None = None  # answer `status` (a 3xx) with this Location
    echo: bool = False  # answer with the request's path and headers as the error text


PLAIN_HEADERS = {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length",
                 "content-type"}  # fmt: skip


class _SlackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # what a client that follows a redirect may send
        self.do_POST()

    def do_POST(self) -> None:
        app: SlackServer = self.server.app  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        ctype = self.headers.get("Content-Type", "")
        payload = (
            json.loads(raw)
            if "json" in ctype and raw
            else {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        )
        reply = app.next_reply(self.path)
        app.received += 1
        time.sleep(reply.delay)
        if reply.drop:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
            return
        is_api = self.path.startswith("/api/")
        record = {
            "path": self.path,
            "headers": dict(self.headers),
            "payload": payload,
            "reply": reply,
            "raw": raw,
        }
        app.requests.append(record)
        if reply.redirect_to:
            self.send_response(reply.status)
            self.send_header("Location", reply.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if reply.echo:  # the path and every header a client chose (credentials among them)
            chosen = (v for k, v in self.headers.items() if k.lower() not in PLAIN_HEADERS)
            reply = SlackReply(reply.status, " ".join(["echo", self.path, *chosen]))
        if reply.status == 200 and not reply.error:  # recorded before answering, as a real
            app.delivered.append(record)  # service commits before it replies
        if is_api:
            ok = reply.status == 200 and not reply.error
            body = {"ok": ok, **({"ts": f"{time.time():.6f}", "channel": "C1"} if ok else {})}
            if not ok:
                body["error"] = reply.error or ("ratelimited" if reply.status == 429 else "fatal")
            self._send(reply.status, json.dumps(body).encode(), "application/json", reply)
        else:
            text = b"ok" if reply.status == 200 else (reply.error or "error").encode()
            self._send(reply.status, text, "text/plain", reply)

    def _send(self, status: int, body: bytes, ctype: str, reply: SlackReply) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if reply.retry_after is not None:
            self.send_header("Retry-After", reply.retry_after)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SlackServer(LocalServer):
    """Behaves like Slack's incoming webhooks (/services/...) and Web API (/api/...)."""

    handler_class = _SlackHandler

    def __init__(self, min_interval: float = 0.0) -> None:
        self.script: list[SlackReply] = []
        self.delivered: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.min_interval = min_interval  # like Slack: faster than this per channel gets a 429
        self.last_accepted: dict[str, float] = {}
        self.rate_limited = 0
        self.received = 0
        self.chaos: random.Random | None = None  # when set: 30% 500, 10% 429, 10% dropped
        super().__init__()

    def next_reply(self, path: str) -> SlackReply:
        with self.lock:
            now = time.monotonic()
            if now - self.last_accepted.get(path, float("-inf")) < self.min_interval:
                self.rate_limited += 1
                return SlackReply(429, retry_after="1")
            self.last_accepted[path] = now
            if self.script:
                return self.script.pop(0)
            if self.chaos is not None:
                roll = self.chaos.random()
                if roll < 0.5:
                    return SlackReply(500) if roll < 0.3 else SlackReply(429, retry_after="1") \
                        if roll < 0.4 else SlackReply(drop=True)  # fmt: skip
            return SlackReply()

    @property
    def webhook_url(self) -> str:
        return self.url + "/services/T000/B000/XXXXSECRETXXXX"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"


# ---- chaos: a growing feed that records overlapping polls, a flaky Slack ---------------


class GrowingFeed:
    """A feed that gains one item every `every` seconds while publishing (see `LiveFeedServer`).

    Item i has guid `chaos-i` and link `https://news.example/chaos/i`; one in `match_every`
    says "Nvidia" (the test rule's word), the rest do not. Every response waits a random
    `delay` (seconds, low and high) so that two polls of the feed at once would overlap, and
    `overlaps` counts the requests that arrived while another was in flight; `overlap_log`
    has (start of the oldest one in flight, start of the new one) for each, monotonic times.
    """

    def __init__(
        self,
        every: float = 0.25,
        match_every: int = 3,
        delay: tuple[float, float] = (0.05, 0.15),
        seed: int | None = None,
    ) -> None:
        self.every, self.match_every, self.delay = every, match_every, delay
        self.rng = random.Random(seed)
        self.items: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.in_flight = self.overlaps = self.polls = 0
        self.started: list[float] = []  # when each request in flight arrived
        self.overlap_log: list[tuple[float, float]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._publish, daemon=True)

    @staticmethod
    def link(i: int) -> str:
        return f"https://news.example/chaos/{i}"

    def matches(self, i: int) -> bool:
        return i % self.match_every == 0

    @property
    def matched(self) -> set[str]:
        """The links of the items published so far that the rule matches."""
        with self.lock:
            return {self.link(i) for i in range(len(self.items)) if self.matches(i)}

    def publish_one(self) -> None:
        with self.lock:
            i = len(self.items)
            word = "Nvidia" if self.matches(i) else "Quiet"
            self.items.append(
                {
                    "title": f"{word} chaos story number {i}",
                    "link": self.link(i),
                    "guid": f"chaos-{i}",
                    "description": f"{word} item {i} of the chaos feed.",
                    "pubDate": http_date(),
                }
            )

    def _publish(self) -> None:
        while not self.stopping.wait(self.every):
            self.publish_one()

    def start(self) -> GrowingFeed:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop publishing (the feed keeps answering with what it has)."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()

    def body(self) -> bytes:
        with self.lock:
            return rss(list(self.items), title="Chaos feed")


class _LiveFeedHandler(_FeedHandler):
    def do_GET(self) -> None:
        app: LiveFeedServer = self.server.app  # type: ignore[attr-defined]
        feed = app.feeds.get(self.path)
        if feed is None:
            super().do_GET()
            return
        app.requests.append({"path": self.path, "headers": dict(self.headers)})
        with feed.lock:
            now = time.monotonic()
            feed.polls += 1
            feed.in_flight += 1
            if feed.started:
                feed.overlaps += 1
                feed.overlap_log.append((min(feed.started), now))
            feed.started.append(now)
            pause = feed.rng.uniform(*feed.delay)
        try:
            time.sleep(pause)
            self._send(200, feed.body(), "application/rss+xml; charset=utf-8")
        finally:
            with feed.lock:
                feed.in_flight -= 1
                feed.started.remove(now)


class LiveFeedServer(FeedServer):
    """A FeedServer (its `routes` still work) that also serves `GrowingFeed`s."""

    handler_class = _LiveFeedHandler

    def __init__(self) -> None:
        self.feeds: dict[str, GrowingFeed] = {}
        super().__init__()

    def grow(self, path: str, feed: GrowingFeed) -> str:
        self.feeds[path] = feed
        return self.url + path

    def stop(self) -> None:
        for feed in self.feeds.values():
            feed.stop()
        super().stop()


@dataclass
class TimedReply(SlackReply):
    at: float = 0.0  # time.monotonic() when the request arrived


class FlakySlackServer(SlackServer):
    """A SlackServer that fails `failure_rate` of sends at random, a third each: 500, 429 with
    Retry-After: 1, and a dropped connection. `arrivals` keeps every request's arrival time
    per path (a webhook path is a channel); each `delivered` record's reply has its `at`."""

    def __init__(self, failure_rate: float = 0.3, seed: int | None = None) -> None:
        super().__init__()
        self.failure_rate = failure_rate
        self.rng = random.Random(seed)
        self.arrivals: dict[str, list[float]] = {}
        self.failures = {"500": 0, "429": 0, "drop": 0}

    def next_reply(self, path: str) -> SlackReply:
        with self.lock:
            now = time.monotonic()
            self.arrivals.setdefault(path, []).append(now)
            if self.script:
                return TimedReply(**vars(self.script.pop(0)), at=now)
            roll = self.rng.random() / self.failure_rate if self.failure_rate else 1.0
            if roll >= 1.0:
                return TimedReply(at=now)
            kind = "500" if roll < 1 / 3 else "429" if roll < 2 / 3 else "drop"
            self.failures[kind] += 1
            if kind == "500":
                return TimedReply(500, at=now)
            if kind == "429":
                return TimedReply(429, retry_after="1", at=now)
            return TimedReply(drop=True, at=now)


class _DripHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        app: DripServer = self.server.app  # type: ignore[attr-defined]
        app.connections += 1
        for at in range(0, len(app.payload), app.chunk):
            if app.stopping.wait(app.interval):
                break
            try:
                self.request.sendall(app.payload[at : at + app.chunk])
            except OSError:  # the client gave up: what a deadline should make it do
                app.hung_up += 1
                return


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class DripServer:
    """Answers every connection with `payload`, `chunk` bytes every `interval` seconds.

    Each byte comes well within any per-read timeout, so only a deadline on
    the whole exchange ends it. `hung_up` counts clients that closed on it.
    """

    def __init__(self, payload: bytes, interval: float = 0.5, chunk: int = 1) -> None:
        self.payload, self.interval, self.chunk = payload, interval, chunk
        self.connections = self.hung_up = 0
        self.stopping = threading.Event()
        self.tcp = _TcpServer(("127.0.0.1", 0), _DripHandler)
        self.tcp.app = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.tcp.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return self.tcp.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DripServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.tcp.shutdown()
        self.tcp.server_close()


HTTP_DRIP = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + b"X-Pad: " + b"." * 200
SMTP_DRIP = b"220 " + b"." * 200


@contextmanager
def running(server: Any) -> Iterator[Any]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def http_date(seconds_from_now: float = 0) -> str:
    return formatdate(time.time() + seconds_from_now, usegmt=True)


def rss(items: list[dict[str, str]], title: str = "Test feed") -> bytes:
    """A small RSS 2.0 document; each item has title, link, guid, description, pubDate."""
    parts = []
    for item in items:
        fields = "".join(
            f"<{k}>{v}</{k}>" for k, v in item.items() if k in ("title", "link", "description")
        )
        if "guid" in item:
            fields += f'<guid isPermaLink="false">{item["guid"]}</guid>'
        fields += f"<pubDate>{item.get('pubDate', http_date())}</pubDate>"
        parts.append(f"<item>{fields}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.org/</link><description>t</description>"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()
