"""What semantic relevance (`about:`, monitor/match/semantic.py) costs, on one core.

    pip install '.[semantic]'
    python bench/semantic.py [--labelled FILE.jsonl] [--articles 40] [--repeat 5]

Prints the model's load time and the resident memory it adds, then the median
milliseconds to score one 3,000-character article: the first rule (the passages
are embedded) and each further rule (a dot product with its centroid). The
articles are real texts (the labelled set's bodies, joined and cut to 3,000
characters). Targets (issue 11): <= 30 ms per article, load < 5 s, < 400 MB.
"""

from __future__ import annotations

import os

# one core: numpy's BLAS and the tokenizer's threads, before either is imported
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_name] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.article import Article  # noqa: E402
from monitor.match import semantic  # noqa: E402

REAL = ROOT.parent / "shared/testdata/real-trade-texts/labelled.jsonl"
ABOUTS = [
    semantic.About(
        "A government imposes, tightens or eases export controls: licence requirements, "
        "the Entity List, curbs on chips, chip tools or critical minerals.",
        ("BIS added 30 companies to the Entity List, requiring a licence for U.S. items.",),
    ),
    semantic.About(
        "News about Nvidia: its AI chips, its sales to China, licences for its chips.",
        ("Nvidia said it would take a charge after a licence was required for H20 chips.",),
    ),
    semantic.About(
        "Tariffs on China, Canada or Mexico over fentanyl under IEEPA, and changes to them.",
        ("The fentanyl tariff on Chinese goods was cut from 20 percent to 10 percent.",),
    ),
]


def rss_mb(key: str = "VmRSS") -> float:
    """This process's resident (or, with VmHWM, peak) memory in MB, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def articles(path: Path, count: int, size: int = 3000) -> list[Article]:
    """`count` articles of `size` characters, cut from the labelled texts joined end to end."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    text = "\n\n".join(str(row.get("body", "")) for row in rows)
    found = []
    for i in range(count):
        start = (i * size) % max(len(text) - size, 1)
        found.append(Article("bench", f"Article {i}", body=text[start : start + size]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = REAL if REAL.exists() else ROOT / "seeds/labelled.jsonl"
    parser.add_argument("--labelled", type=Path, default=default)
    parser.add_argument("--articles", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not semantic.available():
        sys.exit(semantic.MISSING)

    before = rss_mb()
    started = time.perf_counter()
    model = semantic.model()
    for about in ABOUTS:
        model.centroid(about)
    loaded = time.perf_counter() - started
    print(f"model load: {loaded:.2f} s, memory added {rss_mb() - before:.0f} MB")

    texts = articles(args.labelled, args.articles)
    first, further = [], []
    for _ in range(args.repeat):
        for article in texts:
            scorer = semantic.ArticleScorer(article)
            t0 = time.perf_counter()
            scorer.score(ABOUTS[0])
            t1 = time.perf_counter()
            for about in ABOUTS[1:]:
                scorer.score(about)
            t2 = time.perf_counter()
            first.append((t1 - t0) * 1000)
            further.append((t2 - t1) * 1000 / (len(ABOUTS) - 1))
    passages = statistics.median(len(semantic.passages(a)) for a in texts)
    print(f"{len(texts)} articles of 3,000 characters ({passages:.0f} passages), one core:")
    print(f"  first rule (embeds the passages): median {statistics.median(first):.2f} ms")
    print(f"  each further rule: median {statistics.median(further):.3f} ms")
    print(f"memory added, peak: {rss_mb('VmHWM') - before:.0f} MB")


if __name__ == "__main__":
    main()
