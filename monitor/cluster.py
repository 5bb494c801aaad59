"""Story clusters: updates and copies of a story join the first article's cluster.

Two signals, both cheap: a *story key* (the headline without update markers
such as "-- 2nd Update", "UPDATE 1-", "(Updated)"), and a *sketch* of the
text: the eight smallest 64-bit hashes of its three-word shingles (a bottom-k
MinHash). Two texts that share half their shingles share one of their eight
smallest hashes all but never (none missed in 4,000 simulated pairs at
Jaccard 0.5, texts of 23 to 500 shingles), so a lookup of eight values in an
index finds the candidates, at a cost that does not grow with the store; the
Jaccard resemblance of the two texts' shingle sets (at least 0.5) confirms
them. The alert policy uses the cluster to send one top-level alert per story
and thread (or suppress) the rest.

An article joins the cluster of the first article with the same story key seen
within a week; failing that, the cluster of a recent copy (an article first
seen within three days that shares a sketch value and whose text resembles its
own); failing that, it starts its own. `assign_cluster` decides without any
SQL: it asks `ClusterReads` for what is stored (the store answers,
store/copies.py).
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from operator import methodcaller
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
MIN_SHINGLE_WORDS = 25  # too little text to tell a copy from a text on the same subject
MIN_RESEMBLANCE = 0.5
MAX_SHINGLE_WORDS = 3000  # a story's opening is enough to know it; bounds the work on huge texts
SKETCH_SIZE = 8  # with 6, 1 pair in 2,000 at Jaccard 0.5 shared none; with 8, none in 4,000
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
    # The stored sketches are made of these values: the hash must not change. A chain
    # of C iterators computes the same values as a Python loop, in two thirds of the time.
    triples = map(" ".join, zip(words, words[1:], words[2:], strict=False))
    return set(map(int.from_bytes, map(_DIGEST, map(_BLAKE2B_64, map(str.encode, triples)))))


_BLAKE2B_64 = partial(hashlib.blake2b, digest_size=8)
_DIGEST = methodcaller("digest")


def article_text(article: Article) -> str:
    return f"{article.title} {article.summary} {article.body}"


def sketch(values: set[int]) -> list[int]:
    """The SKETCH_SIZE smallest shingle hashes, signed as SQLite stores them; [] for no text.

    Stored and looked up by value: the shingle hash must never change."""
    return [_signed(value) for value in heapq.nsmallest(SKETCH_SIZE, values)]


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
COPY_WINDOW = 3 * 86400  # copies of a wire story within three days
MAX_COMPARED = 8  # texts compared at most: a flood of look-alikes costs eight reads, not thousands


class ClusterReads(Protocol):
    """What clustering reads of the stored articles."""

    def story_cluster(self, key: str, since: float) -> str | None:
        """The cluster of the first article with this story key first seen after `since`."""

    def sharing(self, sketch: Sequence[int], since: float, limit: int) -> Iterable[tuple[str, str]]:
        """(id, cluster id) of up to `limit` articles first seen after `since` whose sketch
        shares a value with this one: those sharing most first, then the newest."""

    def text_of(self, article_id: str) -> str | None:
        """The article's title, summary and body joined by spaces; None if it is gone."""


@dataclass(frozen=True)
class Clustered:
    """The cluster a new article joins, and the keys it is stored with."""

    cluster_id: str
    story_key: str
    sketch: Sequence[int]


def assign_cluster(article: Article, reads: ClusterReads, now: float) -> Clustered:
    """The cluster of a new article first seen `now`."""
    key, text = story_key(article.title), shingles(article_text(article))
    values = sketch(text)
    cluster_id = (key and reads.story_cluster(key, now - STORY_KEY_WINDOW)) or article.id
    if cluster_id == article.id and values:
        cluster_id = copy_cluster(reads, values, text, now) or article.id
    return Clustered(cluster_id, key, values)


def copy_cluster(
    reads: ClusterReads, values: Sequence[int], text: set[int], now: float
) -> str | None:
    """The cluster of a recent article whose text the shingles `text` resemble."""
    for article_id, cluster_id in reads.sharing(values, now - COPY_WINDOW, MAX_COMPARED):
        other = reads.text_of(article_id)
        if other is not None and resembles(text, shingles(other)):
            return cluster_id
    return None
