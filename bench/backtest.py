"""What `backtest` costs in memory over a large store (issue 10 point 7).

    python bench/backtest.py                     # 200,000 stored articles of ~2 KB
    python bench/backtest.py --articles 20000 --keep /tmp/bt   # reuse the filled store

Fills a SQLite store in one transaction (executemany), then runs `backtest`
itself (cmd_backtest, the shipped rules, `--since 3650d`) in a fresh process
and prints its peak RSS (resource.getrusage, ru_maxrss) and wall time. The
peak of a process that only opens the store and loads the rules is printed
beside it: the pass's own cost is the difference. Output of backtest goes to
/dev/null (stdout) and the last line of stderr is printed.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "tariff export control chip soybean purchase china commerce department entity list"
    " shipment customs port ministry trade deal truce sanctions semiconductor fentanyl"
    " minimis parcel forced labor cotton solar panel rare earth magnet licence official"
    " statement agency quarter growth market price supply chain factory"
).split() + [f"w{i}" for i in range(2000)]

CONFIG = """state: sqlite:///state/monitor.db
rules: [{rules}]
defaults: {{notify: [console]}}
sources: [{{id: wire, type: files, path: articles}}]
notifiers: [{{id: console, type: console}}]
"""

PASS = """
import resource, sys, time
from monitor.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
took = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{{peak:.0f}} {{took:.1f}} {{code}}", file=sys.__stderr__)
"""

BASELINE = """
import resource, sys
from pathlib import Path
from monitor.cli.common import load_all, state
import argparse
args = argparse.Namespace(config=Path(sys.argv[1]))
load_all(Path(sys.argv[1]))
with state(args) as store:
    store.article_count()
print(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", file=sys.stderr)
"""


def fill(folder: Path, count: int) -> None:
    from monitor.store import open_store

    store = open_store("sqlite:///state/monitor.db", folder)
    rng = random.Random(10)
    now = time.time()
    sql = (
        "INSERT INTO articles (id, source_id, guid, url, canonical_url, content_hash, title,"
        " summary, body, authors, published_at, fetched_at, first_seen_at, alerted,"
        " cluster_id, story_key, simhash, last_seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )

    def rows():
        for i in range(count):
            text = " ".join(rng.choices(WORDS, k=300))  # ~2 KB of body
            seen = now - 86400 * 300 + i * 60.0
            yield (
                f"a{i:07d}", f"feed{i % 500}", f"g{i}", f"https://example.com/{i}",
                f"https://example.com/{i}", f"h{i}", " ".join(rng.choices(WORDS, k=10)),
                " ".join(rng.choices(WORDS, k=30)), text, json.dumps(["Reporter"]),
                seen, seen, seen, 0, f"a{i:07d}", "", 0, seen,
            )  # fmt: skip

    with store.db.transaction() as db:
        db.executemany(sql, rows())
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="fill (once) and keep the store here")
    parser.add_argument("--rules", default=str(ROOT / "rules"))
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-backtest-"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "articles").mkdir(exist_ok=True)
    config = folder / "monitor.yaml"
    config.write_text(CONFIG.format(rules=json.dumps(args.rules)))
    if not (folder / "state" / "monitor.db").exists():
        start = time.perf_counter()
        fill(folder, args.articles)
        print(f"filled {args.articles:,} articles in {time.perf_counter() - start:.1f} s")
    db = folder / "state" / "monitor.db"
    print(f"store: {db.stat().st_size / 2**20:.0f} MB")
    env_cwd = str(ROOT)
    base = subprocess.run(
        [sys.executable, "-c", BASELINE, str(config)], capture_output=True, text=True, cwd=env_cwd
    )
    print(f"open store + load rules only: peak RSS {base.stderr.split()[-1]} MB")
    run = subprocess.run(
        [sys.executable, "-c", PASS.format(), "backtest", "--config", str(config),
         "--since", "3650d"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=env_cwd,
    )  # fmt: skip
    lines = run.stderr.strip().splitlines()
    peak, took, code = lines[-1].split()
    print(f"backtest: {lines[-2] if len(lines) > 1 else ''}")
    print(f"backtest pass: peak RSS {peak} MB, {took} s, exit {code}")


if __name__ == "__main__":
    main()
