"""Issue 12's chaos test: daemons on one state, a flaky Slack, and kill -9 every few seconds.

A feed gains an item every 0.25 s (one in three matches the rule) and records
overlapping polls; a Slack-like server fails 30% of sends (500, 429 with
Retry-After: 1, dropped connections) and records when each message arrived.
N daemons run with the same config and state while a random one is killed
(SIGKILL) and restarted at once every few seconds, for about 60 s of publishing;
then the survivors drain and get SIGTERM. Every matched item must be delivered,
duplicates at most one per kill, no two polls of the feed in flight at once,
and no two messages to the channel closer than the notifier's pace.

SQLite allows one daemon per file (the lock), so its chaos is of that one
daemon; PostgreSQL runs three, once `open_store` accepts a postgresql:// URL.
A poll still in flight from a daemon just killed is not an overlap: the feed
keeps answering a dead client for up to 150 ms, and its lease may be freed at
once (an advisory lock goes with its connection). CHAOS_SEED=n repeats a run.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from tests.builders import wait_for
from tests.conftest import ROOT, Workspace, cli_command
from tests.servers import FlakySlackServer, GrowingFeed, LiveFeedServer, running

PUBLISH = 60.0  # seconds of publishing
DRAIN = 60.0  # at most this long for the survivors to deliver the rest
KILL_EVERY = (2.0, 4.0)  # seconds between two kills, at random
PACE = 0.2
SLACK = {"pace": f"{PACE * 1000:.0f}ms", "backoff": "200ms", "backoff_max": "1s", "timeout": "5s"}
LINK = re.compile(r"https://news\.example/chaos/\d+")


def postgres_state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, or skip: no `postgres_url` fixture, or a store that refuses it."""
    try:
        url = str(request.getfixturevalue("postgres_url"))
    except pytest.FixtureLookupError:
        pytest.skip("needs the PostgreSQL engine (no postgres_url fixture)")
    from monitor.store import open_store

    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        store = open_store(url, probe)
    except Exception as exc:  # UserError today: no PostgreSQL engine yet
        pytest.skip(f"needs the PostgreSQL engine (open_store refused it: {type(exc).__name__})")
    as_file = type(store).__name__ == "SqliteStore" or any(probe.iterdir())
    store.close()
    if as_file:  # the URL was taken for a SQLite file name
        pytest.skip("needs the PostgreSQL engine (open_store took the URL for a SQLite path)")
    return url


class Daemons:
    """N `monitor run` processes on one config; each slot's output goes to a log file."""

    def __init__(self, workspace: Workspace, count: int) -> None:
        self.workspace = workspace
        self.logs: list[IO[str]] = [
            open(workspace.root / f"daemon-{n}.log", "a")  # noqa: SIM115 (closed in close())
            for n in range(count)
        ]
        self.processes: list[subprocess.Popen[str]] = [self._start(n) for n in range(count)]
        self.kills: list[float] = []  # monotonic times of the kills

    def _start(self, slot: int) -> subprocess.Popen[str]:
        log = self.logs[slot]
        log.write(f"---- started at {time.monotonic():.3f}\n")
        log.flush()
        return subprocess.Popen(
            cli_command("run", "--config", str(self.workspace.config)),
            cwd=self.workspace.root,
            stdout=log,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def kill_and_restart(self, slot: int) -> None:
        process = self.processes[slot]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        self.kills.append(time.monotonic())
        self.logs[slot].write(f"---- killed (-9) at {time.monotonic():.3f}\n")
        self.processes[slot] = self._start(slot)

    def dead(self) -> list[int]:
        """Exit codes of daemons that stopped on their own (none should)."""
        return [code for p in self.processes if (code := p.poll()) is not None]

    def all_started(self) -> bool:
        """Has every daemon written a line since its start? From then on a SIGTERM is kept
        (monitor/start.py); before the interpreter reaches our code, none can be."""
        for log in self.logs:
            log.flush()
            text = Path(log.name).read_text(errors="replace")
            if not text.rpartition("---- started at")[2].strip().count("\n"):
                return False
        return True

    def stop(self) -> list[int | None]:
        """SIGTERM every daemon; their exit codes (None: still running after 20 s, killed)."""
        wait_for(self.all_started, timeout=60)
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for process in self.processes:
            try:
                codes.append(process.wait(timeout=20))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                codes.append(None)
        return codes

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()

    def log_lines(self, pattern: str = r"ERROR|WARNING|Traceback", limit: int = 40) -> str:
        found = []
        for log in self.logs:
            text = Path(log.name).read_text(errors="replace")
            found += [f"{Path(log.name).name}: {line}" for line in text.splitlines()
                      if re.search(pattern, line)]  # fmt: skip
        return "\n".join(found[-limit:])


def link_of(record: dict[str, Any]) -> str:
    found = LINK.search(json.dumps(record["payload"]))
    assert found, f"a message without an item's link: {record['payload']}"
    return found.group(0)


def max_rate(times: list[float], window: float = 1.0) -> int:
    """The most messages inside any `window` seconds."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.chaos
@pytest.mark.parametrize(("engine", "count"), [("sqlite", 1), ("postgres", 3)])
def test_chaos_daemons_killed_at_random_lose_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, workspace: Workspace, engine: str, count: int
) -> None:
    state = postgres_state(request, tmp_path) if engine == "postgres" else None
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    feed = GrowingFeed(every=0.25, match_every=3, delay=(0.05, 0.15), seed=seed)
    with running(LiveFeedServer()) as feeds, running(FlakySlackServer(0.3, seed)) as slack:
        url = feeds.grow("/chaos.xml", feed)
        source = {"id": "chaos", "type": "rss", "url": url, "interval": "500ms", "timeout": "5s",
                  "backfill": "all"}  # fmt: skip
        notifier = {"id": "slack", "type": "slack", "webhook_url": slack.webhook_url, **SLACK}
        workspace.write_config([source], [notifier],
                               {"notify": ["slack"], "dispatch_interval": "500ms"})  # fmt: skip
        if state:
            config = yaml.safe_load(workspace.config.read_text())
            config["state"] = state
            workspace.config.write_text(yaml.safe_dump(config, sort_keys=False))

        daemons = Daemons(workspace, count)
        try:
            feed.start()
            started = time.monotonic()
            next_kill = started + rng.uniform(*KILL_EVERY)
            while time.monotonic() - started < PUBLISH:
                time.sleep(0.05)
                assert not daemons.dead(), f"a daemon exited:\n{daemons.log_lines()}"
                if time.monotonic() >= next_kill:
                    daemons.kill_and_restart(rng.randrange(count))
                    next_kill = time.monotonic() + rng.uniform(*KILL_EVERY)
            feed.stop()
            matched = feed.matched

            def delivered() -> set[str]:
                return {link_of(r) for r in list(slack.delivered)}

            drained_at = time.monotonic()
            drained = wait_for(lambda: matched <= delivered(), timeout=DRAIN)
            drain_seconds = time.monotonic() - drained_at
            codes = daemons.stop()
        finally:
            daemons.close()

        kills = len(daemons.kills)
        overlaps = [(first, then) for first, then in feed.overlap_log
                    if not any(first <= kill <= then for kill in daemons.kills)]  # fmt: skip
        links = [link_of(r) for r in slack.delivered]
        duplicates = len(links) - len(set(links))
        arrivals = {path: sorted(times) for path, times in slack.arrivals.items()}
        gaps = [b - a for times in arrivals.values() for a, b in itertools.pairwise(times)]
        closest = min(gaps, default=float("inf"))
        rate = max((max_rate(times) for times in arrivals.values()), default=0)
        print(
            f"\nchaos[{engine}, {count} daemon(s), seed {seed}]: items {len(feed.items)}, "
            f"matched {len(matched)}, alerts delivered {len(set(links))}, messages {len(links)}, "
            f"kills {kills}, duplicates {duplicates}, overlaps {len(overlaps)} "
            f"(of {feed.polls} polls; {feed.overlaps - len(overlaps)} more with a killed one), "
            f"sends {slack.received} (failed {slack.failures}), "
            f"closest sends {closest:.3f}s (pace {PACE}s), max send rate {rate}/s, "
            f"drain {drain_seconds:.1f}s"
        )
        logs = daemons.log_lines()
        missing = sorted(matched - set(links), key=lambda link: int(link.rsplit("/", 1)[1]))
        assert kills >= 10, "the chaos ran"
        assert len(matched) >= 50, "the feed published"
        assert drained and not missing, f"not delivered: {missing[:20]}\n{logs}"
        assert set(links) <= feed.matched, "only matched items are delivered"
        assert duplicates <= kills, f"{duplicates} duplicates for {kills} kills\n{logs}"
        assert not overlaps, f"{len(overlaps)} polls of the feed overlapped another: {overlaps}"
        assert closest >= PACE, f"two sends {closest:.3f}s apart, pace is {PACE}s\n{logs}"
        assert codes == [0] * count, f"SIGTERM exit codes {codes}\n{logs}"
