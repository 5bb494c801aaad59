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
import itertools
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
MAX_SHINGLE_WORDS = 3000  # a story's opening is enough to know it; bounds the work on huge texts
BAND_BITS = 16  # the SimHash index cuts 64 bits into four bands of 16


def story_key(title: str) -> str:
    """The headline without update markers, as folded words; '' when too short to trust."""
    for marker in UPDATE_MARKERS:
        title = marker.sub("", title)
    words = words_of(title)
    return " ".join(words) if len(words) >= MIN_KEY_WORDS else ""


def shingles(text: str) -> set[int]:
    """The text's three-word shingles, hashed to 64 bits; empty when there is too little text."""
    words = words_of(text)[:MAX_SHINGLE_WORDS]
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
    return fingerprint(shingles(article_text(article)))


def fingerprint(values: set[int]) -> int:
    """SimHash of a shingle set: each bit set where most shingles have it set.

    The shingles' 64-bit strings are counted column by column, at C speed (ten
    times faster than summing bit by bit).
    """
    if not values:
        return 0
    half = len(values) / 2
    columns = map("".join, zip(*(format(value, "064b") for value in values), strict=True))
    bits = "".join("1" if column.count("1") > half else "0" for column in columns)
    return _signed(int(bits, 2))


def candidates(a: int, b: int) -> bool:
    """Close enough in SimHash to be worth comparing the texts."""
    return bool(a and b) and distance(a, b) <= CANDIDATE_BITS


def distance(a: int, b: int) -> int:
    return ((a ^ b) & (2**64 - 1)).bit_count()


class SimhashIndex:
    """The fingerprints within CANDIDATE_BITS of a SimHash, without comparing it to every one.

    Multi-index hashing: two fingerprints within 12 bits differ in at most 3 bits
    of one of their four 16-bit bands (by pigeonhole), so probing each band's table
    with the 697 values within 3 bits of the query's band finds every candidate,
    however many fingerprints there are. Comparing a new article with each of the
    last three days' articles made a 30,000-item poll take minutes.
    """

    BANDS = 64 // BAND_BITS
    PROBES = [
        sum(1 << bit for bit in flipped)
        for radius in range(CANDIDATE_BITS // (64 // BAND_BITS) + 1)
        for flipped in itertools.combinations(range(BAND_BITS), radius)
    ]

    def __init__(self) -> None:
        self.tables: list[dict[int, list[tuple[int, str]]]] = [{} for _ in range(self.BANDS)]

    def add(self, fingerprint: int, key: str) -> None:
        for band, value in enumerate(_bands(fingerprint)):
            self.tables[band].setdefault(value, []).append((fingerprint, key))

    def near(self, fingerprint: int, limit: int = 64) -> list[str]:
        """The keys of fingerprints within CANDIDATE_BITS, nearest first: all of them, or
        `limit` of them when a flood of near-identical items puts more than that near."""
        found: dict[str, int] = {}
        for table, value in zip(self.tables, _bands(fingerprint), strict=True):
            for bucket in filter(None, map(table.get, [value ^ probe for probe in self.PROBES])):
                for other, key in bucket:
                    if (bits := distance(fingerprint, other)) <= CANDIDATE_BITS:
                        found[key] = bits
                        if len(found) == limit:
                            return sorted(found, key=found.__getitem__)
        return sorted(found, key=found.__getitem__)


def _bands(fingerprint: int) -> list[int]:
    unsigned = fingerprint & (2**64 - 1)
    mask = (1 << BAND_BITS) - 1
    return [unsigned >> (band * BAND_BITS) & mask for band in range(64 // BAND_BITS)]


def same_story(text: str, other: str) -> bool:
    return resembles(shingles(text), shingles(other))


def resembles(one: set[int], two: set[int]) -> bool:
    """Enough shared shingles (Jaccard) to be the same story."""
    return bool(one and two) and len(one & two) / len(one | two) >= MIN_RESEMBLANCE


def _signed(value: int) -> int:
    """SQLite integers are signed 64-bit."""
    return value - 2**64 if value >= 2**63 else value
