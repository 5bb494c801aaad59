"""CPU per feed: feedparser alone against parse_feed (the fast path, feedparser as fallback).

    python bench/parse.py [--repeat 7] [folder]

Reads every feed of ../shared/testdata/real-feeds/ (or the folder given) in place and
prints, per feed, the median CPU time of a full parse to Articles both ways (html_to_text
included) and their ratio, then the medians over the feeds. "path" says which path
parse_feed took: "fast", or "fallback" when the fast path refused the feed.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from monitor.sources import rss
from monitor.sources.feeds import Unsupported, fast_entries

REAL = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "real-feeds"
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def _feedparser_only(data: bytes) -> int:
    return sum(1 for e in rss._feedparser_entries(data, "") if rss._article(e, "b", WHEN))


def _cpu(work: object, data: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        work(data)  # type: ignore[operator]
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=REAL)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if not args.folder.is_dir():
        raise SystemExit(f"no feeds at {args.folder}")
    rows = []
    print(
        f"{'feed':32} {'KB':>6} {'path':>8} {'feedparser ms':>14} "
        f"{'parse_feed ms':>14} {'ratio':>6}"
    )
    for path in sorted(args.folder.iterdir()):
        if not path.is_file() or path.suffix == ".md":
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        try:
            fast_entries(data)
            taken = "fast"
        except Unsupported:
            taken = "fallback"
        slow = _cpu(_feedparser_only, data, args.repeat)
        new = _cpu(lambda d: rss.parse_feed(d, "b"), data, args.repeat)
        rows.append((taken, slow, new))
        print(
            f"{path.name:32} {len(data) / 1024:6.0f} {taken:>8} {slow * 1e3:14.2f} "
            f"{new * 1e3:14.2f} {slow / new:6.1f}x"
        )
    for label, chosen in (("all feeds", rows), ("fast path", [r for r in rows if r[0] == "fast"])):
        if chosen:
            slow = statistics.median(r[1] for r in chosen)
            new = statistics.median(r[2] for r in chosen)
            total = sum(r[1] for r in chosen) / sum(r[2] for r in chosen)
            print(
                f"median, {label} ({len(chosen)}): feedparser {slow * 1e3:.2f} ms, "
                f"parse_feed {new * 1e3:.2f} ms, {slow / new:.1f}x; total CPU ratio {total:.1f}x"
            )


if __name__ == "__main__":
    main()
