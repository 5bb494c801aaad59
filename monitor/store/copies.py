"""The three reads clustering needs (`monitor.cluster.ClusterReads`), from the articles table."""

from __future__ import annotations

from collections.abc import Iterable

from monitor.store.database import Database


class StoredClusters:
    """`ClusterReads` from the articles table, on the caller's connection."""

    def __init__(self, db: Database) -> None:
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
