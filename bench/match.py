"""How fast do rules match? The engine against the naive loop (and Hyperscan, if installed).

    python bench/match.py                 # 100, 1,000 and 10,000 rules on 2,000 articles
    python bench/match.py --sizes 100 --articles 500

Each rule-set size runs in a fresh subprocess, so its peak RSS is its own.
Prints articles/s, MB/s, compile time and peak RSS per size, for the engine
(presearcher + verification), the naive loop (every rule on every article,
on a sample since it is slow) and Hyperscan on the same literal and regex
patterns (it only finds terms; the engine also decides NEAR, ATLEAST, NOT),
then the ratios the performance contract names. Medians of three runs.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import Corpus  # noqa: E402
from monitor.match import load_rules  # noqa: E402
from monitor.match.text import AnalyzedArticle  # noqa: E402

NAIVE_SAMPLE = {100: 400, 1000: 60, 10000: 12}


def write_rules(folder: Path, queries: list[str], names: list[str]) -> None:
    (folder / "lists").mkdir()
    (folder / "lists" / "names.txt").write_text("\n".join(names))
    lines = ["rules:"]
    for i, query in enumerate(queries):
        lines += [f"  - id: r{i}", "    query: " + json.dumps(query)]
    (folder / "rules.yaml").write_text("\n".join(lines) + "\n")


def timed(function, repeat: int = 3) -> float:
    """Median seconds of `repeat` runs."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def one_size(size: int, count: int) -> dict[str, float]:
    corpus = Corpus(seed=1)
    articles = corpus.articles(count)
    queries = corpus.rule_queries(size)
    megabytes = sum(len(a.title) + len(a.body) for a in articles) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        write_rules(Path(tmp), queries, corpus.names)
        started = time.perf_counter()
        rules = load_rules([Path(tmp)])
        _ = rules.presearcher
        compile_s = time.perf_counter() - started

    matched = [0]

    def engine() -> None:
        matched[0] = sum(len(rules.match(a)) for a in articles)

    engine_s = timed(engine)
    sample = articles[: NAIVE_SAMPLE.get(size, 50)]
    naive_s = timed(lambda: [rules.match(a, reference=True) for a in sample], repeat=1)
    candidates = statistics.mean(
        len(rules.presearcher.candidates(AnalyzedArticle(a))) for a in articles[:200]
    )
    result = {
        "rules": size,
        "compile_s": compile_s,
        "engine_aps": len(articles) / engine_s,
        "engine_mbps": megabytes / engine_s,
        "naive_aps": len(sample) / naive_s,
        "matches_per_article": matched[0] / len(articles),
        "candidates_per_article": candidates,
        "always_candidates": len(rules.presearcher.always),
    }
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.update(hyperscan_rate(queries, corpus.names, articles))
    return result


def hyperscan_rate(queries: list[str], names: list[str], articles: list) -> dict[str, float]:
    """Hyperscan scanning for the same terms (words, phrases, prefixes, regexes, list names)."""
    try:
        import hyperscan
    except ImportError:
        return {}
    patterns = []
    for query in queries:
        if query == "@names":
            patterns += [rf"\b{re.escape(n)}\b" for n in names]
            continue
        for regex_ in re.findall(r"/(.+?)/i?", query):
            patterns.append(regex_)
        plain = re.sub(r"/.+?/i?|\b(?:NEAR/\d+|ATLEAST/\d+|OR|AND|NOT)\b|title:|[()\-]", " ", query)
        for phrase in re.findall(r'"([^"]+)"|(\S+)', plain):
            text = (phrase[0] or phrase[1]).strip()
            if text:
                body = r"\s+".join(re.escape(w).replace(r"\*", r"\w*") for w in text.split())
                patterns.append(rf"\b{body}\b")
    database = hyperscan.Database()
    started = time.perf_counter()
    expressions = [p.encode() for p in patterns]
    flags = [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH] * len(expressions)
    database.compile(expressions=expressions, ids=list(range(len(expressions))), flags=flags)
    compile_s = time.perf_counter() - started
    texts = [f"{a.title}\n{a.body}".encode() for a in articles]

    def scan() -> None:
        for text in texts:
            database.scan(text, match_event_handler=lambda *args: None)

    return {"hyperscan_aps": len(texts) / timed(scan), "hyperscan_compile_s": compile_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.articles)))
        return
    results = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--articles", str(args.articles)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results.append(json.loads(out.stdout))
        report(results[-1])
    summary(results)


def report(r: dict[str, float]) -> None:
    hyperscan = (
        f"  hyperscan {r['hyperscan_aps']:8.0f} art/s (compile {r['hyperscan_compile_s']:.2f}s)"
        if "hyperscan_aps" in r
        else "  hyperscan not installed (pip install '.[bench]')"
    )
    print(
        f"{r['rules']:>6} rules: engine {r['engine_aps']:8.0f} art/s {r['engine_mbps']:5.1f} MB/s"
        f"  naive {r['naive_aps']:8.1f} art/s  compile {r['compile_s']:.2f}s"
        f"  peak RSS {r['peak_rss_mb']:.0f} MB"
        f"  candidates/article {r['candidates_per_article']:.1f} (always {r['always_candidates']})"
        f"  matches/article {r['matches_per_article']:.2f}\n"
        f"{'':>13}{hyperscan}"
    )


def summary(results: list[dict[str, float]]) -> None:
    by_size = {r["rules"]: r for r in results}
    print("\nratios (same run):")
    for r in results:
        line = f"  {r['rules']:>6} rules: engine/naive {r['engine_aps'] / r['naive_aps']:7.1f}x"
        if "hyperscan_aps" in r:
            line += f"  engine/hyperscan {r['engine_aps'] / r['hyperscan_aps']:.2f}"
        print(line)
    if 100 in by_size and 10000 in by_size:
        cost = by_size[100]["engine_aps"] / by_size[10000]["engine_aps"]
        print(f"  cost per article, 10,000 rules / 100 rules: {cost:.2f}x")


if __name__ == "__main__":
    main()
