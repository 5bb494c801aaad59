"""What a poll costs in the store, on SQLite and on PostgreSQL.

    python bench/store.py                      # 2,000 stored articles, 20 polls of each kind
    python bench/store.py --stored 20000 --polls 30

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


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=2000)
    parser.add_argument("--polls", type=int, default=20)
    args = parser.parse_args()
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
