"""What a poll costs in the store, on SQLite and on PostgreSQL.

    python bench/store.py                      # 2,000 stored articles, 20 polls of each kind
    python bench/store.py --stored 20000 --polls 30
    python bench/store.py --one-new 10000,200000   # one new article, SQLite, as the store grows

Three kinds of poll of one 50-item feed, as the pipeline records them:
- `unchanged`: every item already seen (the common case: `unseen`, then the
  cursor advanced),
- `new`: 50 new articles, a fifth of them matching a rule and alerting,
  recorded with their clusters and placed alerts in one unit of work,
- `claim+sent`: one alert claimed from the outbox and marked sent.
Both engines run in one process, pass after pass in turn, so each ratio
compares figures measured side by side on this noisy machine; the figures are
medians. PostgreSQL is a real server started for the run (tests/postgres.py),
on loopback, with fsync off as in the tests: it measures the round trips and
the SQL, not the disk.

`--one-new` measures instead what recording one new article costs (`record_poll`
of a 1-item poll: seen, cluster, write, queue, listing) in a fresh SQLite store
filled to each count, all first seen now, so all in the clustering window: the
cost of a new article must not grow with what is stored. Filling 200,000 takes
a few minutes; the figure is the median CPU and wall time of --polls polls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.alerts import build_alerts  # noqa: E402
from monitor.article import Article  # noqa: E402
from monitor.match import load_rules  # noqa: E402
from monitor.match.rules import RuleSet  # noqa: E402
from monitor.stages import NewArticle, record_poll  # noqa: E402
from monitor.store import Store, open_store  # noqa: E402
from tests.postgres import PostgresServer, unavailable_reason  # noqa: E402

FEED = 50


def article(number: int) -> Article:
    word = "Nvidia" if number % 5 == 0 else "Soybeans"
    return Article(
        "feed",
        title=f"{word} story number {number}",
        body=f"{word} text {number} " + " ".join(f"w{number * 7 + i}" for i in range(60)),
        url=f"https://news.example/{number}",
        guid=f"g{number}",
    )


def new_items(rules: RuleSet, start: int) -> list[NewArticle]:
    items = []
    for number in range(start, start + FEED):
        a = article(number)
        matches = rules.match(a)
        items.append(NewArticle(a, matches, build_alerts(a, matches, ["console"], ["console"])))
    return items


def fill(store: Store, rules: RuleSet, stored: int) -> None:
    for start in range(0, stored, FEED):
        record_poll(store, "feed", {}, [], new_items(rules, start))


def fill_fast(store: Store, rules: RuleSet, start: int, stop: int) -> None:
    """Articles start..stop, 1,000 to a unit of work (the fill is not what is measured)."""
    for first in range(start, stop, 1000):
        items = [
            item
            for batch in range(first, min(first + 1000, stop), FEED)
            for item in new_items(rules, batch)
        ]
        record_poll(store, "fill", {}, [], items)


def one_new(rules: RuleSet, counts: list[int], polls: int, root: Path) -> None:
    """Median CPU and wall time of recording a 1-item poll, at each stored count."""
    store = open_store("sqlite:///one.db", root)
    stored = 0
    print(f"recording one new article (record_poll of a 1-item poll), SQLite, {polls} polls")
    for count in sorted(counts):
        fill_fast(store, rules, stored, count)
        stored = count
        cpu, wall = [], []
        for _ in range(polls):
            fresh = new_items(rules, stored)[:1]
            stored += FEED  # the other 49 numbers are skipped: each poll's article is new
            started, cpu_started = time.perf_counter(), time.process_time()
            record_poll(store, "one", {}, [fresh[0].article], fresh)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        print(
            f"  {count:>8,} stored: {statistics.median(cpu) * 1000:7.2f} ms CPU"
            f"   {statistics.median(wall) * 1000:7.2f} ms wall"
        )
    store.close()


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=2000)
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument(
        "--one-new", help="stored counts, e.g. 10000,200000: time one new article at each"
    )
    args = parser.parse_args()
    if args.one_new:
        counts = [int(count) for count in args.one_new.split(",")]
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "rules").mkdir()
            (root / "rules" / "r.yaml").write_text("id: chips\nquery: nvidia\n")
            one_new(load_rules([root / "rules"]), counts, args.polls, root)
        return
    if reason := unavailable_reason():
        sys.exit(f"PostgreSQL is needed: {reason}")
    with tempfile.TemporaryDirectory() as tmp, PostgresServer() as server:
        root = Path(tmp)
        (root / "rules").mkdir()
        (root / "rules" / "r.yaml").write_text("id: chips\nquery: nvidia\n")
        rules = load_rules([root / "rules"])
        stores = {
            "sqlite": open_store("sqlite:///state.db", root),
            "postgres": open_store(server.create_database(), root),
        }
        for store in stores.values():
            fill(store, rules, args.stored)
        seen = [article(n) for n in range(FEED)]
        figures: dict[tuple[str, str], list[float]] = {}
        next_new = args.stored
        for _ in range(args.polls):  # the engines in turn, so drift hits both alike
            fresh = new_items(rules, next_new)
            next_new += FEED
            for name, store in stores.items():

                def unchanged(store: Store = store) -> None:
                    record_poll(
                        store, "feed", {}, seen, [NewArticle(a) for a in store.unseen(seen)]
                    )

                def new(store: Store = store, fresh: list[NewArticle] = fresh) -> None:
                    record_poll(store, "feed", {}, [i.article for i in fresh], fresh)

                def claim_sent(store: Store = store) -> None:
                    for row in store.outbox.claim("console", 1, 60, time.time()):
                        store.outbox.sent(row, "ref")

                for kind, work in (
                    ("unchanged", unchanged),
                    ("new", new),
                    ("claim+sent", claim_sent),
                ):
                    figures.setdefault((name, kind), []).append(timed(work))
        print(f"{args.stored} articles stored, a feed of {FEED}, medians of {args.polls} polls")
        for kind in ("unchanged", "new", "claim+sent"):
            lite = statistics.median(figures[("sqlite", kind)]) * 1000
            pg = statistics.median(figures[("postgres", kind)]) * 1000
            ratio = pg / lite
            print(f"  {kind:<11} sqlite {lite:8.2f} ms   postgres {pg:8.2f} ms   {ratio:5.2f}x")
        for store in stores.values():
            store.close()


if __name__ == "__main__":
    main()
