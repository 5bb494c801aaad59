"""Polling many feeds on loopback: trade-monitor against the HTTP and parsing libraries alone.

    python bench/poll.py                        # 1,000 feeds of 50 items, every cycle, one run
    python bench/poll.py --runs 3 --feeds 10000 --cycles new,304
    python bench/poll.py --feeds 20 --items 5   # a few seconds

A feed server (bench/feeds.py) runs in a process of its own, so its CPU is not
counted here. Each run starts from a fresh state and a reset server and times
these cycles, in this order (a cycle left out of --cycles is still run, untimed,
when a later one needs its state):
- `new`: the first poll, every feed wholly new (50,000 items at 1,000 feeds),
- `304`: nothing changed, every feed answers 304 to its ETag,
- `one`: one new item in every feed,
- `fifty`: --items new items in every feed (the whole feed is new).

trade-monitor polls as `run --once` does: a monitor.daemon.Daemon built from a
generated config.yaml (one rss source per feed, the shipped rules/, the shipped
defaults with --timeout) over a fresh SQLite file in a temp folder or --state,
then `Pipeline.poll` of every source at once; alerts are queued, not sent. A
fresh Daemon polls each cycle, as `run --once` from cron would; `--one-daemon`
keeps one through every cycle, as `run` does (and so keeps its HTTP client). Its
CPU is this process's (every thread); failed polls are the polls that returned
False or did not poll at all, "timed out" those whose source state's error says so. The floors fetch
the same feeds in the same cycle, with conditional GET, concurrency --concurrency
(20, httpx's pool): httpx + feedparser, and aiohttp + fastfeedparser when both
are installed (`pip install aiohttp fastfeedparser`). Figures are medians of
--runs; the ratios compare CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import feedparser  # noqa: E402
import httpx  # noqa: E402

from monitor.cli.common import load_all  # noqa: E402
from monitor.daemon import Daemon  # noqa: E402

CYCLES = ("new", "304", "one", "fifty")
log = logging.getLogger("monitor")


@contextlib.contextmanager
def feed_server(feeds: int, items: int) -> Iterator[str]:
    """The feed server in a child process; yields its base URL."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "feeds.py"), f"--feeds={feeds}", f"--items={items}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("port "):
            raise SystemExit(f"the feed server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        server.terminate()
        server.wait(10)


def control(base: str, query: str) -> None:
    with urllib.request.urlopen(f"{base}/control?{query}", timeout=600) as answer:
        answer.read()


def write_config(folder: Path, base: str, feeds: int, state: str, timeout: float) -> Path:
    lines = [
        f"state: {state}",
        f"rules: [{ROOT / 'rules'}]",
        "defaults:",
        "  interval: 10m",
        f"  timeout: {timeout:g}s",
        "  max_bytes: 10MB",
        "  backfill: none",
        "  notify: [console]",
        "notifiers:",
        "  - id: console",
        "    type: console",
        "sources:",
    ]
    for n in range(feeds):
        lines += [f"  - id: feed{n}", "    type: rss", f"    url: {base}/feed/{n}.xml"]
    path = folder / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(work: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[tuple[Any, float, float]]]:
    async def run() -> tuple[Any, float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        result = await work()
        return result, time.perf_counter() - wall, time.process_time() - cpu

    return run


class Ours:
    """trade-monitor: every source polled at once, by a fresh Daemon each cycle as `run
    --once` from cron does, or by one Daemon through every cycle (`--one-daemon`, as a
    long-running daemon keeps its HTTP client). Building and closing it is not timed."""

    def __init__(self, config_path: Path, one_daemon: bool) -> None:
        self.config, self.rules = load_all(config_path)
        self.one_daemon = one_daemon
        self.daemon: Daemon | None = None

    async def cycle(self) -> dict[str, float]:
        if self.daemon is None:
            self.daemon = Daemon(self.config, self.rules, once=True)
            self.daemon.pipeline.obey_backoff = False  # as `run --once`: every source, now
        daemon, started = self.daemon, time.time()
        polls = [daemon.pipeline.poll(source, settings) for source, settings in daemon.sources]
        polled, wall, cpu = await timed(lambda: asyncio.gather(*polls))()
        states = [s for s in daemon.store.source_states() if (s.last_poll_at or 0) >= started]
        failed = [s for s in states if s.error_streak and s.last_error]
        if not self.one_daemon:
            await self.close()
        return {
            "wall": wall,
            "cpu": cpu,
            # a source not polled at all (its state untouched) counts as failed too
            "failed": sum(1 for ok in polled if not ok) + len(daemon.sources) - len(states),
            "timed out": sum(1 for s in failed if "timed out" in (s.last_error or "")),
        }

    async def close(self) -> None:
        if self.daemon is not None:
            daemon, self.daemon = self.daemon, None
            await daemon.close()


class Floor:
    """A library pair alone: fetch every feed (conditional GET), parse each body."""

    def __init__(self, base: str, feeds: int, concurrency: int, timeout: float) -> None:
        self.urls = [f"{base}/feed/{n}.xml" for n in range(feeds)]
        self.etags: dict[str, str] = {}
        self.concurrency, self.timeout = concurrency, timeout

    async def cycle(self) -> dict[str, float]:
        gate = asyncio.Semaphore(self.concurrency)
        failed = 0

        async def one(url: str) -> None:
            nonlocal failed
            headers = {"If-None-Match": self.etags[url]} if url in self.etags else {}
            try:
                async with gate:
                    status, etag, body = await self.fetch(url, headers)
            except Exception:
                failed += 1
                return
            if status == 304:
                return
            if status != 200:
                failed += 1
                return
            self.parse(body)
            if etag:
                self.etags[url] = etag

        async with self.session():
            _, wall, cpu = await timed(lambda: asyncio.gather(*(one(u) for u in self.urls)))()
        return {"wall": wall, "cpu": cpu, "failed": failed, "timed out": 0}

    def session(self) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def fetch(self, url: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def parse(self, body: bytes) -> None:
        raise NotImplementedError


class HttpxFeedparser(Floor):
    name = "httpx + feedparser"

    @contextlib.asynccontextmanager
    async def session(self) -> Any:
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout, limits=limits) as self.client:
            yield

    async def fetch(self, url: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        answer = await self.client.get(url, headers=headers)
        return answer.status_code, answer.headers.get("etag", ""), answer.content

    def parse(self, body: bytes) -> None:
        feedparser.parse(body)


class AiohttpFastfeedparser(Floor):
    name = "aiohttp + fastfeedparser"

    @contextlib.asynccontextmanager
    async def session(self) -> Any:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as self.client:
            yield

    async def fetch(self, url: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        async with self.client.get(url, headers=headers) as answer:
            return answer.status, answer.headers.get("etag", ""), await answer.read()

    def parse(self, body: bytes) -> None:
        import fastfeedparser

        fastfeedparser.parse(body)


def aiohttp_missing() -> str:
    try:
        import aiohttp  # noqa: F401
        import fastfeedparser  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install aiohttp fastfeedparser)"
    return ""


async def one_run(args: argparse.Namespace, base: str, folder: Path) -> dict[str, dict[str, Any]]:
    """One run: every cycle up to the last asked for; {cycle: {client: figures}}."""
    control(base, "reset=1")
    state = args.state or f"sqlite:///{folder / 'state.db'}"
    ours = Ours(write_config(folder, base, args.feeds, state, args.timeout), args.one_daemon)
    floors: list[Floor] = [HttpxFeedparser(base, args.feeds, args.concurrency, args.timeout)]
    if not aiohttp_missing():
        floors.append(AiohttpFastfeedparser(base, args.feeds, args.concurrency, args.timeout))
    last = max(CYCLES.index(c) for c in args.cycles)
    figures: dict[str, dict[str, Any]] = {}
    try:
        for cycle in CYCLES[: last + 1]:
            if cycle == "one":
                control(base, "advance=1")
            elif cycle == "fifty":
                control(base, f"advance={args.items}")
            figures[cycle] = {"trade-monitor": await ours.cycle()}
            for floor in floors:
                figures[cycle][floor.name] = await floor.cycle()
            if cycle in args.cycles:
                print(f"  {cycle}: " + describe(figures[cycle]), file=sys.stderr, flush=True)
    finally:
        await ours.close()
    return {c: f for c, f in figures.items() if c in args.cycles}


def describe(figures: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{name} {f['wall']:.2f} s wall, {f['cpu']:.2f} s CPU, {f['failed']:g} failed"
        for name, f in figures.items()
    )


def table(runs: list[dict[str, dict[str, Any]]], args: argparse.Namespace, note: str) -> str:
    clients = list(runs[0][args.cycles[0]])
    head = ["cycle", "trade-monitor wall", "CPU", "failed (timed out)"]
    for name in clients[1:]:
        head += [f"{name} wall", "CPU", f"ours / {name.split(' ')[0]} CPU"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    labels = {
        "new": f"first poll, {args.feeds:,} new feeds ({args.feeds * args.items:,} items)",
        "304": f"{args.feeds:,} feeds, all 304",
        "one": f"{args.feeds:,} feeds, one new item each",
        "fifty": f"{args.feeds:,} feeds, {args.items} new items each",
    }
    for cycle in args.cycles:

        def median(client: str, key: str, cycle: str = cycle) -> float:
            return statistics.median(run[cycle][client][key] for run in runs)

        ours_cpu = median("trade-monitor", "cpu")
        cells = [
            labels[cycle],
            f"{median('trade-monitor', 'wall'):.2f} s",
            f"{ours_cpu:.2f} s",
            f"{median('trade-monitor', 'failed'):g} ({median('trade-monitor', 'timed out'):g})",
        ]
        for name in clients[1:]:
            floor_cpu = median(name, "cpu")
            failed = median(name, "failed")
            cells += [
                f"{median(name, 'wall'):.2f} s",
                f"{floor_cpu:.2f} s" + (f" ({failed:g} failed)" if failed else ""),
                f"{ours_cpu / floor_cpu:.1f}x" if floor_cpu else "-",
            ]
        rows.append("| " + " | ".join(cells) + " |")
    rows.append("")
    rows.append(
        f"{len(runs)} run(s), medians; {args.feeds:,} feeds of {args.items} items,"
        f" timeout {args.timeout:g} s, state {args.state or 'a fresh SQLite file'},"
        f" {'one Daemon through every cycle' if args.one_daemon else 'a fresh Daemon a cycle'}."
        + note
    )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--cycles", default=",".join(CYCLES), help=f"some of {', '.join(CYCLES)} (default: all)"
    )
    parser.add_argument(
        "--state", default="", help="sqlite:///path or a postgresql:// URL of an empty database"
    )
    parser.add_argument("--timeout", type=float, default=20.0, help="each poll's, in seconds")
    parser.add_argument(
        "--one-daemon",
        action="store_true",
        help="poll every cycle with one Daemon (one HTTP client), not a fresh one per cycle",
    )
    parser.add_argument("--concurrency", type=int, default=20, help="the floors' requests at once")
    args = parser.parse_args()
    args.cycles = [c.strip() for c in args.cycles.split(",") if c.strip()]
    if unknown := [c for c in args.cycles if c not in CYCLES]:
        parser.error(f"unknown cycles {unknown}: choose from {', '.join(CYCLES)}")
    args.cycles = [c for c in CYCLES if c in args.cycles]
    if args.state and args.runs > 1:
        parser.error("--state is one database: give --runs 1 (each run needs a fresh state)")
    logging.getLogger("monitor").handlers[:] = []
    missing = aiohttp_missing()
    note = f" aiohttp + fastfeedparser not measured: {missing}." if missing else ""
    runs = []
    with feed_server(args.feeds, args.items) as base:
        for number in range(args.runs):
            print(f"run {number + 1} of {args.runs}", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory() as folder:
                log_file = logging.FileHandler(Path(folder) / "monitor.log")
                monitor_log = logging.getLogger("monitor")
                monitor_log.addHandler(log_file)
                monitor_log.propagate = False
                monitor_log.setLevel(logging.INFO)  # as the daemon logs
                try:
                    runs.append(asyncio.run(one_run(args, base, Path(folder))))
                finally:
                    monitor_log.removeHandler(log_file)
                    log_file.close()
    print(table(runs, args, note))


if __name__ == "__main__":
    main()
