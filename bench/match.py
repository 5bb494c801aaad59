"""How fast do rules match? The engine against the naive loop (and Hyperscan, if installed).

    python bench/match.py                 # 100, 1,000 and 10,000 rules on 2,000 articles
    python bench/match.py --sizes 100 --articles 500 --passes 3
    python bench/match.py --no-hyperscan  # skip its compile (30 s at 10,000 rules)
    python bench/match.py --chinese 0.2   # also 20% Chinese articles and rules, side by side

The machine is shared and noisy, and its speed drifts within minutes, so
every size is timed in one process, pass after pass in turn (100, 1,000,
10,000, then again): each ratio compares passes run side by side. Figures
are medians over the passes. The first pass over the articles is reported
apart ("cold"): the presearcher then meets every word for the first time,
as a freshly started daemon does; a daemon that has run for an hour has
met most of them. Compile time and peak RSS come from a fresh subprocess
per size, so each size's memory is its own. Hyperscan scans for the same
literal and regex patterns; it only finds terms, where the engine also
decides NEAR, ATLEAST and NOT. With `--chinese F`, every size also runs on a
corpus where a fraction F of the articles and of the rules are Chinese, in
the same passes, and the summary gives its speed against the English one.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import Corpus  # noqa: E402
from monitor.match import RuleSet, load_rules  # noqa: E402
from monitor.match.text import AnalyzedArticle  # noqa: E402

NAIVE_SAMPLE = {100: 400, 1000: 60, 10000: 12}


def write_rules(folder: Path, queries: list[str], names: list[str]) -> None:
    (folder / "lists").mkdir()
    (folder / "lists" / "names.txt").write_text("\n".join(names))
    lines = ["rules:"]
    for i, query in enumerate(queries):
        lines += [f"  - id: r{i}", "    query: " + json.dumps(query)]
    (folder / "rules.yaml").write_text("\n".join(lines) + "\n")


def seconds(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def workload(size: int, count: int, chinese: float = 0.0) -> tuple[Corpus, list, list[str]]:
    corpus = Corpus(seed=1, chinese=chinese)
    articles = corpus.articles(count)
    return corpus, articles, corpus.rule_queries(size)


def compiled(size: int, count: int, chinese: float = 0.0) -> tuple[RuleSet, float]:
    corpus, _, queries = workload(size, count, chinese)
    with tempfile.TemporaryDirectory() as tmp:
        write_rules(Path(tmp), queries, corpus.names)
        started = time.perf_counter()
        rules = load_rules([Path(tmp)])  # parses, then compiles presearcher and checks
        return rules, time.perf_counter() - started


def footprint(size: int, count: int, chinese: float = 0.0) -> dict[str, float]:
    """In a fresh process: compile time, and peak RSS after one pass over the articles."""
    rules, compile_s = compiled(size, count, chinese)
    for article in workload(size, count, chinese)[1]:
        rules.match(article)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"compile_s": compile_s, "peak_rss_mb": rss}


def hyperscan_scanner(queries: list[str], names: list[str], articles: list):
    """Hyperscan scanning for the same terms (words, phrases, prefixes, regexes, list names)."""
    try:
        import hyperscan
    except ImportError:
        return None, 0.0
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
    expressions = [p.encode() for p in patterns]
    flags = [hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH] * len(expressions)
    started = time.perf_counter()
    database.compile(expressions=expressions, ids=list(range(len(expressions))), flags=flags)
    compile_s = time.perf_counter() - started
    texts = [f"{a.title}\n{a.body}".encode() for a in articles]

    def scan() -> None:
        for text in texts:
            database.scan(text, match_event_handler=lambda *args: None)

    return scan, compile_s


def measure(
    sizes: list[int], count: int, passes: int, hyperscan: bool = True, chinese: float = 0.0
) -> list[dict[str, float]]:
    """Each size on the English corpus, and with `chinese` > 0 on the mixed one too."""
    results, engines, scanners = [], [], []
    mixes = [0.0, chinese] if chinese else [0.0]
    for size, mix in [(size, mix) for size in sizes for mix in mixes]:
        corpus, articles, queries = workload(size, count, mix)
        rules, _ = compiled(size, count, mix)
        matched = [0]

        def engine(rules=rules, articles=articles, matched=matched) -> None:
            matched[0] = sum(len(rules.match(a)) for a in articles)

        cold = seconds(engine)
        sample = articles[: NAIVE_SAMPLE.get(size, 50)]
        naive_s = seconds(lambda: [rules.match(a, reference=True) for a in sample])  # noqa: B023
        found = [rules.presearcher.search(AnalyzedArticle(a)) for a in articles[:200]]
        scan, hs_compile = (
            hyperscan_scanner(queries, corpus.names, articles) if hyperscan else (None, 0.0)
        )
        megabytes = sum(len(a.title) + len(a.body) for a in articles) / 1e6
        results.append({
            "rules": size, "chinese": mix, "articles": len(articles), "megabytes": megabytes,
            "cold_aps": len(articles) / cold, "naive_aps": len(sample) / naive_s,
            "matches_per_article": matched[0] / len(articles),
            "candidates_per_article": statistics.mean(len(c) for c, _ in found),
            "decided_per_article": statistics.mean(len(d) for _, d in found),
            "hyperscan_compile_s": hs_compile,
        })  # fmt: skip
        engines.append(engine)
        scanners.append(scan)
    timings: list[dict[str, list[float]]] = [{"engine": [], "hyperscan": []} for _ in results]
    for _ in range(passes):  # sizes in turn, so drift hits all of them alike
        for timing, engine, scan in zip(timings, engines, scanners, strict=True):
            timing["engine"].append(seconds(engine))
            if scan is not None:
                timing["hyperscan"].append(seconds(scan))
    for result, timing in zip(results, timings, strict=True):
        engine_s = statistics.median(timing["engine"])
        result["engine_aps"] = result["articles"] / engine_s
        result["engine_mbps"] = result["megabytes"] / engine_s
        if timing["hyperscan"]:
            result["hyperscan_aps"] = result["articles"] / statistics.median(timing["hyperscan"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--no-hyperscan", action="store_true", help="skip the comparison")
    parser.add_argument(
        "--chinese", type=float, default=0.0, metavar="F",
        help="also run a corpus with this fraction of Chinese articles and rules (0.2)",
    )  # fmt: skip
    parser.add_argument("--footprint", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.footprint:
        print(json.dumps(footprint(args.footprint, args.articles, args.chinese)))
        return
    footprints = []  # first: a child's peak RSS starts from its parent's at fork
    mixes = [0.0, args.chinese] if args.chinese else [0.0]
    for size, mix in [(size, mix) for size in args.sizes for mix in mixes]:
        out = subprocess.run(
            [sys.executable, __file__, "--footprint", str(size), "--articles", str(args.articles),
             "--chinese", str(mix)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        footprints.append(json.loads(out.stdout))
    results = measure(args.sizes, args.articles, args.passes, not args.no_hyperscan, args.chinese)
    for result, footprint_ in zip(results, footprints, strict=True):
        result.update(footprint_)
        report(result)
    summary(results)


def report(r: dict[str, float]) -> None:
    hyperscan = (
        f"  hyperscan {r['hyperscan_aps']:8.0f} art/s (compile {r['hyperscan_compile_s']:.1f}s)"
        if "hyperscan_aps" in r
        else "  hyperscan not run (--no-hyperscan, or not installed: pip install '.[bench]')"
    )
    corpus = f" ({r['chinese']:.0%} Chinese)" if r["chinese"] else ""
    print(
        f"{r['rules']:>6} rules{corpus}: engine {r['engine_aps']:8.0f} art/s"
        f" {r['engine_mbps']:5.1f} MB/s"
        f" (cold first pass {r['cold_aps']:.0f})  naive {r['naive_aps']:8.1f} art/s"
        f"  compile {r['compile_s']:.2f}s  peak RSS {r['peak_rss_mb']:.0f} MB\n"
        f"{'':>13}candidates/article {r['candidates_per_article']:.1f}"
        f" (decided by the presearcher {r['decided_per_article']:.1f})"
        f"  matches/article {r['matches_per_article']:.2f}\n"
        f"{'':>13}{hyperscan}"
    )


def summary(results: list[dict[str, float]]) -> None:
    by_size = {r["rules"]: r for r in results if not r["chinese"]}
    print("\nratios (passes side by side, same run):")
    for r in results:
        corpus = f" ({r['chinese']:.0%} Chinese)" if r["chinese"] else ""
        line = f"  {r['rules']:>6} rules{corpus}:"
        line += f" engine/naive {r['engine_aps'] / r['naive_aps']:7.1f}x"
        if "hyperscan_aps" in r:
            line += f"  engine/hyperscan {r['engine_aps'] / r['hyperscan_aps']:.2f}"
        if r["chinese"]:
            english = by_size[r["rules"]]
            line += f"  speed against English {r['engine_aps'] / english['engine_aps']:.2f}"
            line += f" (MB/s {r['engine_mbps'] / english['engine_mbps']:.2f})"
        print(line)
    if 100 in by_size and 10000 in by_size:
        cost = by_size[100]["engine_aps"] / by_size[10000]["engine_aps"]
        print(f"  cost per article, 10,000 rules / 100 rules: {cost:.2f}x")


if __name__ == "__main__":
    main()
