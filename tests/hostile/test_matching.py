"""Case 1 (matching): a text dense with a rule's words costs linear time, not pairs of hits.

A body of "rare earth export ban " repeated, or "fentanyl tariff " repeated, made a
NEAR rule try every pair of hits: 60 KB took 10 s, 1 MB would have taken hours.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from monitor.article import Article
from monitor.match import load_rules
from monitor.match.engine import close, near_kept
from monitor.match.nodes import Near
from monitor.match.text import MAX_OCCURRENCES, AnalyzedArticle
from tests.builders import best_time

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("shape", ["fentanyl tariff ", "rare earth export ban "])
def test_case01_matching_a_text_dense_with_near_words_grows_linearly(shape):
    """Case 1: the shipped rules on 1 MB of a NEAR rule's words cost within 10x of 100 KB."""
    rules = load_rules([ROOT / "rules"])
    small = Article("s", title="t", body=shape * (100_000 // len(shape)))
    large = Article("s", title="t", body=shape * (1_000_000 // len(shape)))
    assert rules.match(large)  # the rule still fires on the dense text
    ratio = best_time(rules.match, large, runs=2) / best_time(rules.match, small, runs=2)
    assert ratio < 10, f"1 MB took {ratio:.1f}x the time of 100 KB"


def brute_force(node: Near, text, left, right):
    kept = set()
    for a in left:
        for b in right:
            if a != b and close(node, text, a, b):
                kept.update((a, b))
    return kept


@pytest.mark.parametrize(
    ("unit", "distance_", "ordered"),
    [("w", 0, False), ("w", 3, False), ("w", 5, True), ("s", 0, False), ("p", 0, True)],
)
def test_near_kept_is_exactly_the_pairwise_definition(unit, distance_, ordered):
    """The windowed search keeps the same hits as trying every pair, on random texts."""
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta."]
    for _ in range(60):
        paragraphs = [
            " ".join(rng.choice(words).capitalize() for _ in range(rng.randint(1, 30)))
            for _ in range(rng.randint(1, 4))
        ]
        text = AnalyzedArticle(Article("s", title="", body="\n\n".join(paragraphs))).field("body")
        n = len(text.words)
        spans = [(i, min(n - 1, i + rng.randint(0, 2))) for i in range(n)]
        left = set(rng.sample(spans, rng.randint(0, n)))
        right = set(rng.sample(spans, rng.randint(0, n)))
        node = Near(left=None, right=None, unit=unit, distance=distance_, ordered=ordered, offset=0)
        kept_left, kept_right = near_kept(node, text, left, right)
        assert set(kept_left) | set(kept_right) == brute_force(node, text, left, right)


def test_a_word_counts_its_first_occurrences_only():
    """The bound that keeps a field of one word repeated from costing without end."""
    text = AnalyzedArticle(Article("s", title="", body="tariff " * (MAX_OCCURRENCES + 500))).field(
        "body"
    )
    places = text.occurrences("tariff")
    assert places == list(range(MAX_OCCURRENCES))
