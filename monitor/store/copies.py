"""Which story cluster a new article joins: the decision, and the narrow reads it needs.

An article joins the cluster of the first article with the same story key seen
within a week; failing that, the cluster of a recent copy (a SimHash candidate
first seen within three days whose text resembles its own); failing that, it
starts its own. `assign_cluster` and `RecentCopies` decide without any SQL:
they ask `ClusterReads` for what is stored, which `SqliteClusterReads` answers
from the articles table (another engine answers the same three questions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from monitor.article import Article
from monitor.cluster import SimhashIndex, article_text, fingerprint, resembles, shingles, story_key

STORY_KEY_WINDOW = 7 * 86400  # an update of a story comes within a week
SIMHASH_WINDOW = 3 * 86400  # copies of a wire story within three days


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
        self.loaded_at = float("-inf")

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

    def add(self, article_id: str, simhash: int, cluster_id: str, now: float) -> None:
        if simhash and article_id not in self.seen:
            self.seen[article_id] = (cluster_id, now)
            self.index.add(simhash, article_id)

    def _load(self, reads: ClusterReads, now: float) -> None:
        self.index, self.seen, self.loaded_at = SimhashIndex(), {}, now
        for article_id, simhash, cluster_id, first_seen in reads.recent_fingerprints(
            now - SIMHASH_WINDOW
        ):
            self.add(article_id, simhash, cluster_id, first_seen)


class SqliteClusterReads:
    """`ClusterReads` from the SQLite articles table, on the caller's connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def story_cluster(self, key: str, since: float) -> str | None:
        row = self.db.execute(
            "SELECT cluster_id FROM articles WHERE story_key = ? AND story_key != ''"
            " AND first_seen_at > ? ORDER BY first_seen_at LIMIT 1",  # != '': the partial index
            (key, since),
        ).fetchone()
        return str(row[0]) if row else None

    def recent_fingerprints(self, since: float) -> Iterable[tuple[str, int, str, float]]:
        return self.db.execute(
            "SELECT id, simhash, cluster_id, first_seen_at FROM articles"
            " WHERE simhash != 0 AND first_seen_at > ? ORDER BY first_seen_at",
            (since,),
        )

    def text_of(self, article_id: str) -> str | None:
        row = self.db.execute(
            "SELECT title || ' ' || summary || ' ' || body FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        return None if row is None else str(row[0])
