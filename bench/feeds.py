"""A loopback server of many generated RSS feeds, for bench/poll.py.

    python bench/feeds.py --feeds 1000 --items 50     # prints "port N", serves until killed

Feed `n` is at `/feed/n.xml`: an RSS 2.0 channel of the `--items` newest items of an
endless numbered stream (about 600 bytes an item, 30 KB at 50), with an ETag that
names the newest item and 304 for a matching If-None-Match. Items read like news:
sentences drawn from bench/corpus.py's vocabulary with trade words, and every so
often a phrase the shipped rules/ match. `/control?advance=K` moves every feed K
items on (so the next poll of each sees K new items; with `&every=M` only every M-th
feed), `/control?reset=1` starts again; both answer when done. `/stats?since=T`
answers how many feeds were requested at or after Unix time T (bench/soak.py). With
`--hosts N` the same feeds are served on N ports (hosts, to the fetcher's per-host
limits), whose numbers a second line gives.
Run in a process of its own, so its CPU is not counted as the client's; plain
asyncio, HTTP/1.1 with keep-alive.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import TRADE_WORDS, vocabulary  # noqa: E402

# Phrases the shipped rules match (rules/*.yaml), dropped into a few items.
PHRASES = (
    "export controls on advanced chips",
    "the Commerce Department added companies to the Entity List",
    "Nvidia H20 chips sold to China",
    "tariffs on steel and aluminum under Section 232",
    "de minimis exemption for small parcels",
    "China resumed purchases of U.S. soybeans",
    "fentanyl tariffs on Chinese imports",
    "rare earth magnets export licences",
    "trade talks between Washington and Beijing",
    "semiconductor tariffs announced by the White House",
    "chip smuggling through Singapore",
    "forced labor import ban under the UFLPA",
)
BASE = datetime(2026, 1, 1, tzinfo=UTC)


class Feeds:
    def __init__(self, feeds: int, items: int) -> None:
        self.count, self.items = feeds, items
        words = vocabulary(4000) + list(TRADE_WORDS)
        rng = random.Random(3)
        rng.shuffle(words)
        self.words = words
        self.heads: list[int] = []
        self.last_hit = [0.0] * feeds  # Unix time of each feed's latest request
        self.bodies: dict[int, tuple[str, bytes]] = {}
        self.reset()

    def reset(self) -> None:
        self.heads = [self.items] * self.count  # items 1..head; the newest `items` are shown
        self.bodies.clear()

    def advance(self, k: int, every: int = 1) -> None:
        self.heads = [h + k if n % every == 0 else h for n, h in enumerate(self.heads)]
        self.bodies.clear()

    def item(self, feed: int, number: int) -> str:
        rng = random.Random(feed * 1_000_003 + number)
        title = " ".join(rng.choices(self.words, k=rng.randint(6, 11))).capitalize()
        sentences = [
            " ".join(rng.choices(self.words, k=rng.randint(8, 16))).capitalize() + "."
            for _ in range(rng.randint(3, 4))
        ]
        if rng.random() < 0.04:
            phrase = rng.choice(PHRASES)
            sentences.insert(rng.randrange(len(sentences)), f"Officials said {phrase}.")
            if rng.random() < 0.5:
                title = f"{phrase.capitalize()}: {title.lower()}"
        when = format_datetime(BASE + timedelta(minutes=10 * number + feed % 10))
        return (
            f"<item><title>{escape(title)}</title>"
            f"<link>http://feeds.test/{feed}/{number}</link>"
            f'<guid isPermaLink="false">feed{feed}-item{number}</guid>'
            f"<pubDate>{when}</pubDate>"
            f"<description>{escape(' '.join(sentences))}</description></item>\n"
        )

    def body(self, feed: int) -> tuple[str, bytes]:
        if cached := self.bodies.get(feed):
            return cached
        head = self.heads[feed]
        items = "".join(self.item(feed, n) for n in range(head, max(0, head - self.items), -1))
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Bench feed {feed}</title><link>http://feeds.test/{feed}</link>"
            f"<description>Generated feed {feed}</description>\n{items}</channel></rss>\n"
        )
        self.bodies[feed] = entry = (f'"f{feed}-{head}"', xml.encode())
        return entry


def response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answer(feeds: Feeds, target: str, headers: dict[str, str]) -> bytes:
    url = urlsplit(target)
    if url.path == "/control":
        query = parse_qs(url.query)
        if "reset" in query:
            feeds.reset()
        if "advance" in query:
            feeds.advance(int(query["advance"][0]), int(query.get("every", ["1"])[0]))
        return response("200 OK", {"Content-Type": "text/plain"}, b"ok\n")
    if url.path == "/stats":
        since = float(parse_qs(url.query)["since"][0])
        count = sum(1 for t in feeds.last_hit if t >= since)
        return response("200 OK", {"Content-Type": "text/plain"}, f"{count}\n".encode())
    name = url.path.removeprefix("/feed/").removesuffix(".xml")
    if not name.isdigit() or int(name) >= feeds.count:
        return response("404 Not Found", {})
    feeds.last_hit[int(name)] = time.time()
    etag, body = feeds.body(int(name))
    if headers.get("if-none-match") == etag:
        return response("304 Not Modified", {"ETag": etag})
    return response("200 OK", {"Content-Type": "application/rss+xml", "ETag": etag}, body)


async def serve(feeds: Feeds, port: int, hosts: int = 1) -> None:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                target = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                writer.write(answer(feeds, target, headers))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(connection, "127.0.0.1", port, backlog=4096)]
    for _ in range(hosts - 1):  # more ports: more hosts, as the fetcher counts them
        servers.append(await asyncio.start_server(connection, "127.0.0.1", 0, backlog=4096))
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print(f"port {ports[0]}", flush=True)
    if hosts > 1:
        print("ports " + " ".join(map(str, ports)), flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hosts", type=int, default=1, help="listen on this many ports")
    args = parser.parse_args()
    asyncio.run(serve(Feeds(args.feeds, args.items), args.port, args.hosts))


if __name__ == "__main__":
    main()
