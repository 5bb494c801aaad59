"""bench/poll.py runs end to end in its small mode and prints its table (no speed asserted)."""

import subprocess
import sys

from tests.conftest import ROOT


def test_poll_bench_small_mode_prints_the_table():
    command = ["--feeds", "20", "--items", "5", "--runs", "1"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "poll.py"), *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("| cycle | trade-monitor wall | CPU | failed (timed out) |")
    assert "httpx + feedparser" in lines[0]
    rows = [line for line in lines[2:] if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows] == [
        "| first poll, 20 new feeds (100 items)",
        "| 20 feeds, all 304",
        "| 20 feeds, one new item each",
        "| 20 feeds, 5 new items each",
    ]
    # Every poll of trade-monitor succeeded: the failed column reads 0 (0 timed out).
    assert all(row.split(" | ")[3] == "0 (0)" for row in rows)
