"""Story clusters: updates and copies of a story join the first article's cluster.

Two signals, both cheap: a *story key* (the headline without update markers
such as "-- 2nd Update", "UPDATE 1-", "(Updated)"), and a 64-bit *SimHash* of
the text's three-word shingles, which stays within a few bits for the same
wire story carried by another site with a different headline or a trimmed
paragraph. SimHash only picks candidates (within 12 bits: short texts drift
that far on a one-word edit); the Jaccard resemblance of the two texts'
shingle sets (at least 0.5) confirms them. The alert policy uses the cluster
to send one top-level alert per story and thread (or suppress) the rest.
"""

from __future__ import annotations

import hashlib
import re

from monitor.article import Article
from monitor.match.text import words_of

# Linear on any title: no marker starts with a repeat (a run of spaces is not rescanned from
# each of its characters), adjacent repeats are possessive, and the tail runs to the very end.
UPDATE_MARKERS = [
    re.compile(r"-{1,2}\s*+(?:\d+(?:st|nd|rd|th)\s+|final\s+)?update\b(?s:.*)", re.IGNORECASE),
    re.compile(r"^\s*+(?:update|refile|corrected|rpt|wrapup)\s*+\d*+\s*+-\s*", re.IGNORECASE),
    re.compile(r"\((?:updated?(?:\s++\d+)?|corrected|refiled)\)\s*+$", re.IGNORECASE),
    re.compile(r"^\s*+(?:updated?|breaking)\s*+:\s*", re.IGNORECASE),
]
MIN_KEY_WORDS = 4  # "Markets" or "Live updates" must not merge unrelated stories
MIN_SHINGLE_WORDS = 25  # too little text gives a SimHash that means nothing
CANDIDATE_BITS = 12  # unrelated news measured here is 14+ bits apart
MIN_RESEMBLANCE = 0.5


def story_key(title: str) -> str:
    """The headline without update markers, as folded words; '' when too short to trust."""
    for marker in UPDATE_MARKERS:
        title = marker.sub("", title)
    words = words_of(title)
    return " ".join(words) if len(words) >= MIN_KEY_WORDS else ""


def shingles(text: str) -> set[int]:
    """The text's three-word shingles, hashed to 64 bits; empty when there is too little text."""
    words = words_of(text)
    if len(words) < MIN_SHINGLE_WORDS:
        return set()
    return {
        int.from_bytes(hashlib.blake2b(" ".join(words[i : i + 3]).encode(), digest_size=8).digest())
        for i in range(len(words) - 2)
    }


def article_text(article: Article) -> str:
    return f"{article.title} {article.summary} {article.body}"


def simhash(article: Article) -> int:
    """SimHash of the article's shingles; 0 when there is too little text."""
    weights = [0] * 64
    values = shingles(article_text(article))
    if not values:
        return 0
    for value in values:
        for bit in range(64):
            weights[bit] += 1 if value >> bit & 1 else -1
    result = sum(1 << bit for bit, weight in enumerate(weights) if weight > 0)
    return _signed(result)


def candidates(a: int, b: int) -> bool:
    """Close enough in SimHash to be worth comparing the texts."""
    return bool(a and b) and bin((a ^ b) & (2**64 - 1)).count("1") <= CANDIDATE_BITS


def same_story(text: str, other: str) -> bool:
    one, two = shingles(text), shingles(other)
    return bool(one and two) and len(one & two) / len(one | two) >= MIN_RESEMBLANCE


def _signed(value: int) -> int:
    """SQLite integers are signed 64-bit."""
    return value - 2**64 if value >= 2**63 else value
