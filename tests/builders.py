"""Builders and helpers that more than one test module uses.

Test modules import these from here, never from each other: an alert, feed items and
sources, the daemon run once or as a process, the outbox and dispatcher, and the
timings behind the linear-time tests.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import time
from collections.abc import Callable

from monitor.alerts import Alert, AlertRule
from monitor.article import Article
from monitor.cli import load_all
from monitor.daemon import Daemon
from monitor.dispatch import Dispatcher
from monitor.notify import build_notifier, notifier_types
from monitor.stages import record_poll
from monitor.store import NewArticle
from tests.conftest import ROOT, cli_command
from tests.servers import http_date

# ---- alerts -------------------------------------------------------------------


def alert(**overrides):
    values = dict(
        article_id="a1",
        notifier_id="console",
        source_id="wire",
        title="US doubles fentanyl duties\non Chinese goods",
        url="https://x.org/a",
        published_at="2025-03-04T21:15:00+00:00",
        rules=(
            AlertRule("fentanyl-tariffs", "Fentanyl-linked tariffs", "high", ("fentanyl",)),
            AlertRule("china", "China", "low", ("chinese",)),
        ),
        snippet="The fentanyl levy rises.",
        snippet_marks=((4, 12),),
    )
    return Alert(**{**values, **overrides})


# ---- feeds and the daemon -------------------------------------------------------


def items(start, count, hours_ago=0.0, word="Nvidia"):
    return [
        {
            "title": f"{word} story {i}",
            "link": f"https://news.example/{i}",
            "guid": f"g{i}",
            "description": f"{word} item number {i}.",
            "pubDate": http_date(-hours_ago * 3600),
        }
        for i in range(start, start + count)
    ]


def feed_source(url, **extra):
    return {"id": "feed", "type": "rss", "url": url, "interval": "1s", "timeout": "5s", **extra}


def run_once(workspace):
    config, rules = load_all(workspace.config)
    return asyncio.run(Daemon(config, rules).run_once())


def start_daemon(workspace, *extra, env=None):
    return subprocess.Popen(
        cli_command("run", "--config", str(workspace.config), *extra),
        cwd=workspace.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def stop(process, sig=signal.SIGTERM):
    process.send_signal(sig)
    started = time.monotonic()
    out, err = process.communicate(timeout=15)
    return process.returncode, time.monotonic() - started, out, err


# ---- the outbox and the dispatcher ------------------------------------------------


def notifier_config(kind: str, **values):
    model, _ = notifier_types()[kind]
    return model(type=kind, **values)


def queue(store, *alerts: Alert) -> None:
    """Queue alerts in the outbox as a poll does: one recorded article each."""
    items = [
        NewArticle(Article("wire", title=f"story {a.article_id}", guid=a.article_id), [], [a])
        for a in alerts
    ]
    record_poll(store, "wire", {}, [], items)


def dispatcher(store, *configs) -> Dispatcher:
    return Dispatcher(store, {c.id: build_notifier(c) for c in configs}, {c.id: c for c in configs})


# ---- timings (the linear-time tests; see tests/hostile/test_text.py) ------------------

SMALL, LARGE = 100_000, 1_000_000
LINEAR = 30  # 1 MB is 10x the text: linear code measures 10-21x here (a 1 MB text falls out of the caches), quadratic ~100x


def best_time(function: Callable[[object], object], argument: object, runs: int = 3) -> float:
    """The best of `runs` timings of one call; a call too quick to time alone is timed in a
    loop of calls lasting at least 20 ms (a millisecond is mostly noise on a shared machine)."""
    times = []
    for _ in range(runs):
        calls, start = 0, time.perf_counter()
        while not calls or time.perf_counter() - start < 0.02:
            function(argument)
            calls += 1
        times.append((time.perf_counter() - start) / calls)
    return min(times)


def assert_linear(function: Callable[[object], object], shape: Callable[[int], object]) -> None:
    """The function on 1 MB of the shape within LINEAR times its time on 100 KB.

    Up to five rounds, each timing both sizes side by side, passing at the first round
    within the bound: on a shared machine one round can land in a burst of load, while
    quadratic code misses the bound in every round (~100x).
    """
    small, large = shape(SMALL), shape(LARGE)
    gc.disable()
    try:
        for _ in range(5):
            small_time = best_time(function, small)
            large_time = best_time(function, large, runs=1)
            if large_time <= LINEAR * small_time:
                break
    finally:
        gc.enable()
    assert large_time <= LINEAR * small_time, (
        f"{large_time:.3f}s on 1 MB vs {small_time:.4f}s on 100 KB"
    )
