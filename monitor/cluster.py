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
