"""Story clusters: updates and copies of a story join the first article's cluster.

Two signals, both cheap: a *story key* (the headline without update markers
such as "-- 2nd Update", "UPDATE 1-", "(Updated)"), and a 64-bit *SimHash* of
the text's three-word shingles, which stays within a few bits for the same
wire story carried by another site with a different headline or a trimmed
paragraph. SimHash only picks candidates (within 12 bits: short texts drift
that far on a one-word edit); the Jaccard resemblance of the two texts'
shingle sets (at least 0.5) confirms them. The alert policy uses the cluster
to send one top-level alert per story and thread (or suppress) the rest.

An article joins the cluster of the first article with the same story key seen
within a week; failing that, the cluster of a recent copy (a SimHash candidate
first seen within three days whose text resembles its own); failing that, it
starts its own. `assign_cluster` and `RecentCopies` decide without any SQL:
they ask `ClusterReads` for what is stored (the store answers, store/copies.py).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from itertools import chain, compress
from operator import itemgetter, methodcaller
from typing import Protocol

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
MASK64 = 2**64 - 1


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
    # The stored SimHashes are made of these values: the hash must not change. A chain
    # of C iterators computes the same values as a Python loop, in two thirds of the time.
    triples = map(" ".join, zip(words, words[1:], words[2:], strict=False))
    return set(map(int.from_bytes, map(_DIGEST, map(_BLAKE2B_64, map(str.encode, triples)))))


_BLAKE2B_64 = partial(hashlib.blake2b, digest_size=8)
_DIGEST = methodcaller("digest")


def article_text(article: Article) -> str:
    return f"{article.title} {article.summary} {article.body}"


def simhash(article: Article) -> int:
    """SimHash of the article's shingles; 0 when there is too little text."""
    return fingerprint(shingles(article_text(article)))


def fingerprint(values: set[int]) -> int:
    """SimHash of a shingle set: each bit set where most shingles have it set.

    The shingles' 64-bit strings are joined into one string, and each bit's column
    is a slice of it with a step of 64, counted at C speed (ten times faster than
    summing bit by bit, and twice as fast as transposing the strings with zip).
    """
    if not values:
        return 0
    half = len(values) / 2
    joined = "".join(map(_BINARY64, values))
    bits = "".join("1" if joined[bit::64].count("1") > half else "0" for bit in range(64))
    return _signed(int(bits, 2))


_BINARY64 = "{:064b}".format


def candidates(a: int, b: int) -> bool:
    """Close enough in SimHash to be worth comparing the texts."""
    return bool(a and b) and distance(a, b) <= CANDIDATE_BITS


def distance(a: int, b: int) -> int:
    return ((a ^ b) & MASK64).bit_count()


class SimhashIndex:
    """The fingerprints within CANDIDATE_BITS of a SimHash, without comparing it to every one.

    Multi-index hashing: cut into four 16-bit bands, two fingerprints within 12
    bits differ in at most 3 bits of the first band or at most 2 of one of the
    other three (else they would differ in 4 + 3 + 3 + 3 = 13 bits), so probing
    the first band's table with the 697 values within 3 bits of the query's band
    and the others' with the 137 within 2 bits finds every candidate, however
    many fingerprints there are: 1,108 probes, where radius 3 in every band took
    2,788 and met 2.5 times as many non-candidates in their buckets. Comparing a
    new article with each of the last three days' articles made a 30,000-item
    poll take minutes.

    The probes and the distance checks run in C iterators (map, filter,
    compress), not a Python loop. A bucket keeps its fingerprints (unsigned)
    and their keys in two parallel lists, so the fingerprints are checked
    without unpacking a tuple each.
    """

    BANDS = 64 // BAND_BITS
    RADII = (3, 2, 2, 2)  # sum(r + 1) > CANDIDATE_BITS: some band is within its radius
    PROBES = [
        [
            sum(1 << bit for bit in flipped)
            for radius in range(most + 1)
            for flipped in itertools.combinations(range(BAND_BITS), radius)
        ]
        for most in RADII
    ]

    def __init__(self) -> None:
        # per band, indexed by the band's value: (fingerprints, keys) in the order added, or
        # None; a list, not a dict: at 200,000 fingerprints a probe costs half as much
        self.tables: list[list[tuple[list[int], list[str]] | None]] = [
            [None] * (1 << BAND_BITS) for _ in range(self.BANDS)
        ]

    def add(self, fingerprint: int, key: str) -> None:
        unsigned = fingerprint & MASK64
        for table, value in zip(self.tables, _bands(fingerprint), strict=True):
            bucket = table[value]
            if bucket is None:
                bucket = table[value] = ([], [])
            bucket[0].append(unsigned)
            bucket[1].append(key)

    def near(self, fingerprint: int, limit: int = 64) -> list[str]:
        """The keys of fingerprints within CANDIDATE_BITS, nearest first: all of them, or
        `limit` of them when a flood of near-identical items puts more than that near."""
        found: dict[str, int] = {}
        unsigned = fingerprint & MASK64
        for table, value, probes in zip(self.tables, _bands(fingerprint), self.PROBES, strict=True):
            buckets = list(filter(None, map(table.__getitem__, map(value.__xor__, probes))))
            if not buckets:
                continue
            others = list(chain.from_iterable(map(itemgetter(0), buckets)))
            bits = map(int.bit_count, map(unsigned.__xor__, others))
            close = list(map(CANDIDATE_BITS.__ge__, bits))
            if not any(close):
                continue
            keys = chain.from_iterable(map(itemgetter(1), buckets))
            for key, other in compress(zip(keys, others, strict=True), close):
                found[key] = (unsigned ^ other).bit_count()
                if len(found) == limit:
                    return sorted(found, key=found.__getitem__)
        return sorted(found, key=found.__getitem__)


def _bands(fingerprint: int) -> list[int]:
    unsigned = fingerprint & MASK64
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


# ---- which cluster a new article joins ------------------------------------------------

STORY_KEY_WINDOW = 7 * 86400  # an update of a story comes within a week
SIMHASH_WINDOW = 3 * 86400  # copies of a wire story within three days
CLOCK_SKEW = 300.0  # how far apart the clocks of daemons sharing a database may be


class ClusterReads(Protocol):
    """What clustering reads of the stored articles."""

    def story_cluster(self, key: str, since: float) -> str | None:
        """The cluster of the first article with this story key first seen after `since`."""

    def recent_fingerprints(self, since: float) -> Iterable[tuple[str, int, str, float]]:
        """(id, SimHash, cluster id, first seen) of articles with a SimHash first seen after
        `since`, oldest first."""

    def text_of(self, article_id: str) -> str | None:
        """The article's title, summary and body joined by spaces; None if it is gone."""


@dataclass(frozen=True)
class Clustered:
    """The cluster a new article joins, and the keys it is stored with."""

    cluster_id: str
    story_key: str
    simhash: int


def assign_cluster(
    article: Article, reads: ClusterReads, copies: RecentCopies, now: float
) -> Clustered:
    """The cluster of a new article first seen `now`; `copies` then knows it too."""
    key, text = story_key(article.title), shingles(article_text(article))
    simhash = fingerprint(text)
    cluster_id = (key and reads.story_cluster(key, now - STORY_KEY_WINDOW)) or article.id
    if cluster_id == article.id and simhash:
        cluster_id = copies.cluster_of(reads, simhash, text, now) or article.id
    copies.add(article.id, simhash, cluster_id, now)
    return Clustered(cluster_id, key, simhash)


class RecentCopies:
    """The last three days' articles by SimHash, to find the copies of a story fast.

    Loaded from the store when first needed and again every hour (so it
    forgets what aged out); articles recorded meanwhile are added as they come.
    Only the few nearest candidates have their text compared: a flood of
    near-identical items cannot make each insert compare thousands of texts.
    """

    RELOAD = 3600.0
    MAX_COMPARED = 8

    def __init__(self) -> None:
        self.index = SimhashIndex()
        self.seen: dict[str, tuple[str, float]] = {}  # article id -> (cluster id, first seen)
        self.loaded_at = self.latest = float("-inf")

    def cluster_of(
        self, reads: ClusterReads, simhash: int, text: set[int], now: float
    ) -> str | None:
        """The cluster of a recent article whose text the shingles `text` resemble."""
        if now - self.loaded_at > self.RELOAD:
            self._load(reads, now)
        compared = 0
        for article_id in self.index.near(simhash):
            cluster_id, first_seen = self.seen[article_id]
            if first_seen <= now - SIMHASH_WINDOW:
                continue
            other = reads.text_of(article_id)
            if other is not None and resembles(text, shingles(other)):
                return cluster_id
            compared += 1
            if compared == self.MAX_COMPARED:
                break
        return None

    def catch_up(self, reads: ClusterReads, now: float) -> None:
        """Add what other daemons recorded since the last look (a shared database), allowing
        for clocks a few minutes apart."""
        if now - self.loaded_at > self.RELOAD:
            self._load(reads, now)
            return
        for article_id, simhash, cluster_id, first_seen in reads.recent_fingerprints(
            self.latest - CLOCK_SKEW
        ):
            self.add(article_id, simhash, cluster_id, first_seen)

    def add(self, article_id: str, simhash: int, cluster_id: str, now: float) -> None:
        self.latest = max(self.latest, now)
        if simhash and article_id not in self.seen:
            self.seen[article_id] = (cluster_id, now)
            self.index.add(simhash, article_id)

    def _load(self, reads: ClusterReads, now: float) -> None:
        self.index, self.seen, self.loaded_at = SimhashIndex(), {}, now
        for article_id, simhash, cluster_id, first_seen in reads.recent_fingerprints(
            now - SIMHASH_WINDOW
        ):
            self.add(article_id, simhash, cluster_id, first_seen)
