"""The HTTP layer, measured: client CPU per 1,000 requests on loopback, and the pool-leak test.

    python bench/fetching.py [--requests 1000] [--hosts 50] [--runs 3]

A server in its own process (asyncio, keep-alive, on `--hosts` ports, each a
host of its own) answers `/304/...` with 304 to a request carrying
If-None-Match, `/body/...` with a 30 KB body, and `/slow/...` after 0.3 s.
Each variant's process CPU (time.process_time) is measured over one cycle of
`--requests` requests, all started at once as a poll starts them; median of
`--runs`. Variants: httpx as monitor/fetch.py was (one client, pool of 20, no
queue of ours), httpx with our scheduler (monitor.fetch.Fetcher), httpx2 with
and without it, httpx over the httpx-aiohttp transport with it, and plain
aiohttp. The leak test: a pool of 3, 60 requests whose 0.1 s deadlines fire
while the server takes 0.3 s, then 5 requests with a 2 s deadline: how many
of those 5 are answered (5 = no leak, 0 = the client is wedged).

A variant whose library is not installed is skipped. (Not bench/http.py: a
script there would hide the standard library's `http` from the other benches.)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import importlib
import multiprocessing
import statistics
import time
from functools import partial

NOT_MODIFIED = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 0\r\n\r\n'
BODY = b"<rss>" + b"x" * (30_000 - 11) + b"</rss>"


# ---- the server (own process) ---------------------------------------------------------------


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            conditional = b"\r\nif-none-match:" in head.lower()
            if path.startswith(b"/slow"):
                await asyncio.sleep(0.3)
            if path.startswith(b"/304") and conditional:
                writer.write(NOT_MODIFIED)
            else:
                writer.write(
                    b'HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: "v1"\r\n'
                    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
                )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def _serve(ports: list[int], ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    async def main() -> None:
        servers = [await asyncio.start_server(_handle, "127.0.0.1", port) for port in ports]
        ready.set()
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def _free_ports(n: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


# ---- the clients ------------------------------------------------------------------------------


def _have(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


class Bare:
    """httpx (or httpx2) as monitor/fetch.py used it: every request straight into the pool."""

    def __init__(self, module: str, pool: int = 20) -> None:
        self.httpx = importlib.import_module(module)
        self.client = self.httpx.AsyncClient(
            limits=self.httpx.Limits(max_connections=pool, max_keepalive_connections=pool // 2 or 1)
        )

    async def get(self, url: str, timeout: float, etag: str | None) -> int:
        headers = {"If-None-Match": etag} if etag else {}
        try:
            async with asyncio.timeout(timeout):
                response = await self.client.get(url, headers=headers, timeout=timeout)
                return response.status_code
        except (TimeoutError, self.httpx.HTTPError):
            return 0

    async def aclose(self) -> None:
        await self.client.aclose()


class Scheduled:
    """monitor.fetch.Fetcher, over httpx, httpx2, or httpx with the httpx-aiohttp transport."""

    def __init__(self, module: str, pool: int = 20, transport: str = "") -> None:
        from monitor import fetch

        fetch.httpx = importlib.import_module(module)  # type: ignore[attr-defined]
        self.fetch = fetch
        self.fetcher = fetch.Fetcher("bench", max_concurrent=pool, per_host=min(2, pool))
        if transport == "aiohttp":
            from httpx_aiohttp import AiohttpTransport

            old = self.fetcher.client
            limits = fetch.httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
            self.fetcher.client = fetch.httpx.AsyncClient(
                follow_redirects=True,
                max_redirects=fetch.MAX_REDIRECTS,
                headers=old.headers,
                transport=AiohttpTransport(limits=limits),
            )
            self._old = old
        if pool < 20:  # the leak test: per host as many as the pool, so requests reach it
            self.fetcher.per_host = pool

    async def get(self, url: str, timeout: float, etag: str | None) -> int:
        try:
            result = await self.fetcher.get(url, timeout=timeout, max_bytes=10**6, etag=etag)
        except self.fetch.FetchError:
            return 0
        return result.status

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        if hasattr(self, "_old"):
            await self._old.aclose()


class Aiohttp:
    """Plain aiohttp: its connector's own queue (limit), no scheduler of ours."""

    def __init__(self, module: str = "aiohttp", pool: int = 20) -> None:
        import aiohttp

        self.aiohttp = aiohttp
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pool))

    async def get(self, url: str, timeout: float, etag: str | None) -> int:
        headers = {"If-None-Match": etag} if etag else {}
        try:
            async with asyncio.timeout(timeout), self.session.get(url, headers=headers) as response:
                await response.read()
                return response.status
        except (TimeoutError, self.aiohttp.ClientError):
            return 0

    async def aclose(self) -> None:
        await self.session.close()


VARIANTS = {
    "httpx as before (no scheduler)": (Bare, "httpx", {}),
    "httpx + our scheduler": (Scheduled, "httpx", {}),
    "httpx2 (no scheduler)": (Bare, "httpx2", {}),
    "httpx2 + our scheduler": (Scheduled, "httpx2", {}),
    "httpx-aiohttp transport + scheduler": (Scheduled, "httpx", {"transport": "aiohttp"}),
    "plain aiohttp": (Aiohttp, "aiohttp", {}),
}


async def _cycle(make, ports: list[int], n: int, kind: str) -> tuple[float, int]:
    client = make()
    urls = [f"http://127.0.0.1:{ports[i % len(ports)]}/{kind}/{i}" for i in range(n)]
    etag = '"v1"' if kind == "304" else None
    try:
        started = time.process_time()
        codes = await asyncio.gather(*(client.get(u, 20.0, etag) for u in urls))
        cpu = time.process_time() - started
    finally:
        await client.aclose()
    return cpu, sum(c in (200, 304) for c in codes)


async def _leak(make, port: int) -> int:
    client = make()
    try:
        await asyncio.gather(
            *(client.get(f"http://127.0.0.1:{port}/slow/{i}", 0.1, None) for i in range(60))
        )
        await asyncio.sleep(0.5)
        codes = await asyncio.gather(
            *(client.get(f"http://127.0.0.1:{port}/body/x", 2.0, None) for _ in range(5))
        )
    finally:
        await client.aclose()
    return sum(c == 200 for c in codes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ports = _free_ports(args.hosts)
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(ports, ready), daemon=True)
    server.start()
    ready.wait(10)
    print(f"{args.requests} requests over {args.hosts} hosts, median of {args.runs} (client CPU)")
    print("| variant | 304s: CPU s | ok | 30 KB: CPU s | ok | leak test: answered of 5 |")
    print("| --- | --- | --- | --- | --- | --- |")
    try:
        for name, (cls, module, extra) in VARIANTS.items():
            if not _have(module) or ("transport" in extra and not _have("httpx_aiohttp")):
                print(f"| {name} | not installed | | | | |")
                continue
            row = []
            for kind in ("304", "body"):
                runs = [
                    asyncio.run(_cycle(partial(cls, module, **extra), ports, args.requests, kind))
                    for _ in range(args.runs)
                ]
                row += [
                    f"{statistics.median(c for c, _ in runs):.2f}",
                    str(min(k for _, k in runs)),
                ]
            leak = asyncio.run(_leak(partial(cls, module, pool=3, **extra), ports[0]))
            print(f"| {name} | {' | '.join(row)} | {leak} |", flush=True)
    finally:
        server.kill()


if __name__ == "__main__":
    main()
