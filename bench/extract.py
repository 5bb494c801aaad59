"""Main-text extraction: trafilatura (what monitor.sources.fulltext uses) against readability-lxml.

    python bench/extract.py [--repeat 21]

For each page of bench/pages.py it prints, per extractor, how many of the
sentences of the article came out (`body`, as found/expected), how many pieces
of boilerplate were left in (`junk`), the length of the text, and the median
wall time of one extraction; then the medians over the pages and their ratio.
A page with no article (only navigation) should give nothing: `body 0/0` and
an empty or refused text. "trafilatura+meta" is the html source's call (title
and date too).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pages import Sample, samples
from monitor.article import html_to_text, normalise_space
from monitor.sources.fulltext import PageError, extract_page


def _trafilatura(html: str) -> str:
    try:
        return extract_page(html, "https://news.example/2025/03/story").text
    except PageError:
        return ""


def _trafilatura_meta(html: str) -> str:
    try:
        return extract_page(html, "https://news.example/2025/03/story", metadata=True).text
    except PageError:
        return ""


def _readability(html: str) -> str:
    from readability import Document

    try:
        return html_to_text(Document(html).summary(html_partial=True))
    except Exception:  # readability raises on a page it finds no content in
        return ""


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "trafilatura": _trafilatura,
    "trafilatura+meta": _trafilatura_meta,
}
if importlib.util.find_spec("readability"):  # the bench extra: pip install '.[bench]'
    EXTRACTORS["readability"] = _readability
else:
    print("readability-lxml is not installed (pip install '.[bench]'): trafilatura alone")


def _score(sample: Sample, text: str) -> tuple[int, int]:
    flat = normalise_space(text)
    found = sum(1 for s in sample.body if normalise_space(s) in flat)
    junk = sum(1 for j in sample.junk if j in flat)
    return found, junk


def _time(work: Callable[[str], str], html: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work(html)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    medians: dict[str, list[float]] = {name: [] for name in EXTRACTORS}
    print(f"{'page':20} {'extractor':17} {'body':>6} {'junk':>5} {'chars':>6} {'ms':>7}")
    for sample in samples():
        for name, work in EXTRACTORS.items():
            text = work(sample.html)  # the first call also warms imports and caches
            found, junk = _score(sample, text)
            seconds = _time(work, sample.html, args.repeat)
            medians[name].append(seconds)
            body = f"{found}/{len(sample.body)}"
            print(
                f"{sample.name:20} {name:17} {body:>6} {junk:>5} {len(text):6} {seconds * 1e3:7.2f}"
            )
    print()
    base = statistics.median(medians["trafilatura"])
    for name, times in medians.items():
        median = statistics.median(times)
        print(f"median over pages  {name:17} {median * 1e3:7.2f} ms  ratio {median / base:5.2f}")


if __name__ == "__main__":
    main()
