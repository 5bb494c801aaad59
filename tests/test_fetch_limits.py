"""The fetch scheduler: requests wait in our own queues, never in the HTTP pool.

Real servers on 127.0.0.1; each server (port) is a host of its own. A
`CountingServer` records how many requests it is answering at once, per server
and across all of them.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from monitor.fetch import Fetcher, FetchError
from tests.builders import feed_source, run_once
from tests.servers import FeedServer, LocalServer, Route

UA = "trade-monitor-test/1.0 (+https://example.org)"


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)

    def leave(self) -> None:
        with self.lock:
            self.active -= 1


class _CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        app: CountingServer = self.server.app  # type: ignore[attr-defined]
        app.starts.append(time.monotonic())
        for counter in (app.counter, app.shared):
            counter.enter()
        try:
            time.sleep(app.delay)
        finally:
            for counter in (app.counter, app.shared):
                counter.leave()
        body = b"<rss/>"
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class CountingServer(LocalServer):
    handler_class = _CountingHandler

    def __init__(self, delay: float, shared: _Counter | None = None) -> None:
        self.delay = delay
        self.counter = _Counter()
        self.shared = shared or _Counter()
        self.starts: list[float] = []
        super().__init__()


@pytest.fixture
def servers() -> Iterator[list[LocalServer]]:
    started: list[LocalServer] = []
    yield started
    for server in started:
        server.stop()


def counting(servers: list[LocalServer], delay: float, shared: _Counter | None = None):
    server = CountingServer(delay, shared).start()
    servers.append(server)
    return server


async def attempt(fetcher: Fetcher, url: str, timeout: float = 5.0) -> str:
    try:
        result = await fetcher.get(url, timeout=timeout, max_bytes=100_000)
    except FetchError as exc:
        return str(exc)
    return f"HTTP {result.status}"


def test_deadlines_firing_on_queued_requests_never_wedge_the_client(servers):
    """httpcore #1093: a deadline that cancels a request queued in the pool leaks its slot.

    120 requests to 12 slow hosts, each with a deadline shorter than the
    server's answer: once requests queued in the pool and were cancelled
    there, the pool's slots all leaked and no later request was ever sent.
    """
    slow = [counting(servers, delay=0.5) for _ in range(12)]
    fast = FeedServer().start()
    servers.append(fast)
    url = fast.add("/feed.xml", Route(b"<rss/>"))

    async def run() -> tuple[list[str], list[str]]:
        fetcher = Fetcher(UA)
        try:
            first = await asyncio.gather(
                *(attempt(fetcher, s.url + f"/{i}", 0.2) for s in slow for i in range(10))
            )
            later = await asyncio.gather(*(attempt(fetcher, url, 2.0) for _ in range(5)))
            return first, later
        finally:
            await fetcher.aclose()

    first, later = asyncio.run(run())
    assert set(first) == {"timed out after 0.2s"}
    assert later == ["HTTP 200"] * 5


def test_at_most_two_requests_at_once_to_one_host(servers):
    server = counting(servers, delay=0.03)

    async def run() -> list[str]:
        fetcher = Fetcher(UA)
        try:
            return await asyncio.gather(*(attempt(fetcher, f"{server.url}/{i}") for i in range(50)))
        finally:
            await fetcher.aclose()

    assert asyncio.run(run()) == ["HTTP 200"] * 50
    assert len(server.starts) == 50
    assert server.counter.peak == 2


def test_the_global_limit_holds_across_hosts(servers):
    shared = _Counter()
    hosts = [counting(servers, delay=0.05, shared=shared) for _ in range(6)]

    async def run() -> list[str]:
        fetcher = Fetcher(UA, max_concurrent=3, per_host=2)
        try:
            return await asyncio.gather(
                *(attempt(fetcher, f"{h.url}/{i}") for h in hosts for i in range(5))
            )
        finally:
            await fetcher.aclose()

    assert asyncio.run(run()) == ["HTTP 200"] * 30
    assert shared.peak == 3
    assert all(h.counter.peak <= 2 for h in hosts)


def test_time_waiting_for_a_slot_is_not_the_fetchs_timeout(servers):
    server = counting(servers, delay=0.3)

    async def run() -> list[str]:
        fetcher = Fetcher(UA, per_host=1)
        try:
            return await asyncio.gather(*(attempt(fetcher, server.url, 0.6) for _ in range(4)))
        finally:
            await fetcher.aclose()

    assert asyncio.run(run()) == ["HTTP 200"] * 4  # 1.2 s in all, each under 0.6 s at the server
    assert server.counter.peak == 1


def test_the_wait_for_a_slot_is_bounded_on_its_own(servers):
    server = counting(servers, delay=1.0)

    async def run() -> list[str]:
        fetcher = Fetcher(UA, per_host=1, slot_wait=0.2)
        try:
            return await asyncio.gather(*(attempt(fetcher, server.url, 3.0) for _ in range(2)))
        finally:
            await fetcher.aclose()

    assert sorted(asyncio.run(run())) == ["HTTP 200", "no free slot for this host within 0.2s"]


def test_a_minimum_gap_between_requests_to_one_host(servers):
    server = counting(servers, delay=0.0)

    async def run() -> list[str]:
        fetcher = Fetcher(UA, min_gap=0.2)
        try:
            return await asyncio.gather(*(attempt(fetcher, server.url) for _ in range(4)))
        finally:
            await fetcher.aclose()

    assert asyncio.run(run()) == ["HTTP 200"] * 4
    gaps = [b - a for a, b in zip(server.starts, server.starts[1:], strict=False)]
    assert min(gaps) >= 0.18


def test_a_hanging_host_does_not_delay_other_hosts(servers):
    hanging = counting(servers, delay=3.0)
    healthy = counting(servers, delay=0.01)

    async def run() -> tuple[list[str], float, list[str]]:
        fetcher = Fetcher(UA)
        try:
            stuck = [asyncio.create_task(attempt(fetcher, hanging.url, 1.0)) for _ in range(6)]
            await asyncio.sleep(0.05)
            started = time.monotonic()
            fine = await asyncio.gather(
                *(attempt(fetcher, f"{healthy.url}/{i}") for i in range(20))
            )
            took = time.monotonic() - started
            return fine, took, await asyncio.gather(*stuck)
        finally:
            await fetcher.aclose()

    fine, took, stuck = asyncio.run(run())
    assert fine == ["HTTP 200"] * 20
    assert took < 0.9  # the hanging host's first deadline is 1 s away
    assert stuck == ["timed out after 1s"] * 6


def test_a_429_with_retry_after_holds_every_request_to_that_host(feed_server):
    limited = feed_server.add("/a.xml", Route(status=429, headers={"Retry-After": "3600"}))
    other_path = feed_server.add("/b.xml", Route(b"<rss/>"))
    elsewhere = FeedServer().start()
    try:
        other_host = elsewhere.add("/b.xml", Route(b"<rss/>"))

        async def run() -> tuple[FetchError, FetchError, str]:
            fetcher = Fetcher(UA)
            try:
                with pytest.raises(FetchError) as first:
                    await fetcher.get(limited, timeout=5, max_bytes=1000)
                started = time.monotonic()
                with pytest.raises(FetchError) as second:
                    await fetcher.get(other_path, timeout=5, max_bytes=1000)
                assert time.monotonic() - started < 0.05  # failed fast, without a request
                return first.value, second.value, await attempt(fetcher, other_host)
            finally:
                await fetcher.aclose()

        first, second, unaffected = asyncio.run(run())
    finally:
        elsewhere.stop()
    assert str(first).startswith("HTTP 429")
    assert first.retry_after == 3600
    assert 3590 < second.retry_after <= 3600
    assert "429" in str(second) and "127.0.0.1" not in str(second)
    assert [r["path"] for r in feed_server.requests] == ["/a.xml"]
    assert unaffected == "HTTP 200"


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [(None, 59, 60), ("soon", 59, 60), ("date", 25, 31), ("99999999", 86399, 86400)],
)
def test_retry_after_forms(feed_server, header, low, high):
    if header == "date":
        header = formatdate(time.time() + 30, usegmt=True)
    headers = {"Retry-After": header} if header else {}
    url = feed_server.add("/a.xml", Route(status=429, headers=headers))

    async def run() -> FetchError:
        fetcher = Fetcher(UA)
        try:
            with pytest.raises(FetchError) as caught:
                await fetcher.get(url, timeout=5, max_bytes=1000)
            return caught.value
        finally:
            await fetcher.aclose()

    assert low <= asyncio.run(run()).retry_after <= high


def test_a_503_with_retry_after_says_so_but_does_not_hold_the_host(feed_server):
    url = feed_server.add("/a.xml", Route(status=503, headers={"Retry-After": "120"}))
    fine = feed_server.add("/b.xml", Route(b"<rss/>"))

    async def run() -> tuple[FetchError, str]:
        fetcher = Fetcher(UA)
        try:
            with pytest.raises(FetchError) as caught:
                await fetcher.get(url, timeout=5, max_bytes=1000)
            return caught.value, await attempt(fetcher, fine)
        finally:
            await fetcher.aclose()

    error, other = asyncio.run(run())
    assert error.retry_after == 120 and str(error).startswith("HTTP 503")
    assert other == "HTTP 200"


def test_the_configs_host_limits_hold_in_the_daemon(workspace, servers):
    """`per_host` and `host_gap` from config.yaml reach the daemon's fetcher."""
    server = counting(servers, delay=0.1)
    sources = [feed_source(f"{server.url}/{i}.xml", id=f"feed{i}") for i in range(5)]
    workspace.write_config(sources, None, {"per_host": 1, "host_gap": "200ms"})
    assert run_once(workspace) == 0
    assert len(server.starts) == 5 and server.counter.peak == 1
    gaps = [b - a for a, b in itertools.pairwise(sorted(server.starts))]
    assert min(gaps) >= 0.19, gaps
