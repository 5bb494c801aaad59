"""How fast the web page answers with a full store: 100,000 articles and 10,000 alerts.

    python bench/web.py                  # SQLite, 20 requests a page
    python bench/web.py --requests 50 --articles 200000 --alerts 20000

Builds a SQLite state in a temp folder (rows written by SQL in one transaction:
articles spread over 30 days and 20 sources, every alerted article with its
matches and one delivery to each of two notifiers, sent, dead or retrying), then
serves the app (monitor/web/) on loopback with the listener the daemon uses and
times each page over real HTTP, one request at a time, against the 300 ms
target of issue 14. The figures are the median and the 95th percentile.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.alerts import Alert, AlertRule  # noqa: E402
from monitor.cli import load_all  # noqa: E402
from monitor.listener import Listener  # noqa: E402
from monitor.store import open_store  # noqa: E402
from monitor.web import WebApp  # noqa: E402
from tests.conftest import FENTANYL_RULE, NVIDIA_RULE  # noqa: E402

TARGET_MS = 300.0
SOURCES = 20
DAY = 86400.0
WORDS = ("tariff exports chips customs quota steel aluminium ministry talks shipping port "
         "duties sanctions licence semiconductors memory suppliers officials").split()  # fmt: skip
RULES = (("nvidia", "Nvidia", "medium", "nvidia"),
         ("fentanyl-tariffs", "Fentanyl-linked tariffs", "high", "fentanyl"))  # fmt: skip
STATES = ("sent", "sent", "sent", "dead", "pending")


def write_config(root: Path) -> Path:
    (root / "rules").mkdir()
    (root / "rules" / "nvidia.yaml").write_text(NVIDIA_RULE)
    (root / "rules" / "fentanyl.yaml").write_text(FENTANYL_RULE)
    (root / "in").mkdir()
    sources = "".join(
        f"  - {{id: src{i:02}, type: files, path: in, interval: 1h}}\n" for i in range(SOURCES)
    )
    config = root / "config.yaml"
    config.write_text(
        "state: sqlite:///state/web.db\nrules: [rules/]\n"
        "notifiers:\n  - {id: console, type: console}\n  - {id: pager, type: console}\n"
        f"sources:\n{sources}web:\n  token: bench-token\n"
    )
    return config


def fill(config: Path, articles: int, alerts: int) -> None:
    """Rows as the pipeline writes them, by SQL: filling through the pipeline would take
    longer than the measuring."""
    rng = random.Random(14)
    store = open_store("sqlite:///state/web.db", config.parent)
    now = time.time()
    alerted = set(rng.sample(range(articles), alerts))
    with store.db.transaction() as db:
        rows, matches, outbox = [], [], []
        for n in range(articles):
            seen = now - rng.random() * 30 * DAY
            rule = RULES[n % 2]
            words = rng.sample(WORDS, 8)
            if n in alerted:
                words[2] = rule[3].capitalize()
            title = " ".join(words[:6]).capitalize()
            body = " ".join(rng.choice(WORDS) for _ in range(120)) + " " + " ".join(words)
            article_id = f"a{n:07}"
            rows.append((article_id, f"src{n % SOURCES:02}", f"g{n}", f"https://news.example/{n}",
                         f"https://news.example/{n}", f"h{n}", title, "", body, "[]", seen, seen,
                         seen, int(n in alerted), article_id, "", 0, seen))  # fmt: skip
            if n not in alerted:
                continue
            hits = [["title", 0, 1, rule[3]]]
            matches.append((article_id, rule[0], rule[2], json.dumps(hits), seen))
            for notifier in ("console", "pager"):
                alert = Alert(article_id, notifier, f"src{n % SOURCES:02}", title,
                              f"https://news.example/{n}", None,
                              (AlertRule(rule[0], rule[1], rule[2], (rule[3],)),),
                              body[:300], ((0, 5),))  # fmt: skip
                state = rng.choice(STATES)
                error = {"dead": "HTTP 404 from the webhook", "pending": "timed out"}.get(state)
                outbox.append((article_id, notifier, json.dumps(alert.to_json()), state,
                               0 if state == "sent" else 3, error, seen, seen,
                               json.dumps([rule[0]]), article_id))  # fmt: skip
        db.executemany(
            "INSERT INTO articles (id, source_id, guid, url, canonical_url, content_hash, title,"
            " summary, body, authors, published_at, fetched_at, first_seen_at, alerted,"
            " cluster_id, story_key, simhash, last_seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany("INSERT INTO matches VALUES (?, ?, ?, ?, ?)", matches)
        db.executemany(
            "INSERT INTO outbox (article_id, notifier_id, payload, status, attempts, last_error,"
            " next_attempt_at, created_at, rule_ids, cluster_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            outbox,
        )
        for i in range(SOURCES):
            db.execute(
                "INSERT INTO sources (source_id, last_poll_at, last_ok_at, item_count)"
                " VALUES (?, ?, ?, ?)",
                (f"src{i:02}", now - 60, now - 60, 50),
            )
    store.db.execute("ANALYZE")
    store.close()


def timed(url: str, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as reply:
            reply.read()
            assert reply.status == 200, url
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=10_000, help="alerted articles")
    parser.add_argument("--requests", type=int, default=20, help="requests a page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config_path = write_config(Path(folder))
        started = time.perf_counter()
        fill(config_path, args.articles, args.alerts)
        took = time.perf_counter() - started
        print(f"filled {args.articles:,} articles, {args.alerts:,} alerted articles"
              f" ({2 * args.alerts:,} deliveries) in {took:.1f} s")  # fmt: skip
        config, rules = load_all(config_path)
        app = WebApp(config, lambda: rules, open_store(config.state, config.base_dir))
        listener = Listener(("127.0.0.1", 0), app, "bench")
        base = f"http://127.0.0.1:{listener.port}"
        one = app.read(lambda db: db.execute("SELECT max(id) FROM outbox").fetchone()[0])
        pages = {
            "alerts list": "/alerts",
            "alerts, rule + state": "/alerts?rule=fentanyl-tariffs&state=dead",
            "alerts, source + severity": "/alerts?source=src07&severity=high&limit=200",
            "one alert": f"/alerts/{one}",
            "sources": "/sources",
            "rules": "/rules",
            "playground, 7 days": "/playground?"
            + urlencode({"query": "fentanyl NEAR/12 (tariff* OR duties)", "days": "7"}),
            "playground, a text": "/playground?"
            + urlencode({"query": "fentanyl NEAR/12 tariff*", "text": "Fentanyl tariffs rise"}),
        }
        try:
            print(f"{'page':<28} {'median':>9} {'p95':>9}   target {TARGET_MS:.0f} ms")
            for name, path in pages.items():
                timed(base + path, 2)  # warm: templates compiled, pages cached by SQLite
                times = sorted(timed(base + path, args.requests))
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                verdict = "ok" if p95 <= TARGET_MS else "OVER"
                print(f"{name:<28} {statistics.median(times):>7.1f}ms {p95:>7.1f}ms   {verdict}")
        finally:
            listener.stop()
            app.close()


if __name__ == "__main__":
    main()
