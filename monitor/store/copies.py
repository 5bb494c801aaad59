"""What clustering reads (`monitor.cluster.ClusterReads`) and the sketches it writes."""

from __future__ import annotations

import json
from collections.abc import Sequence

from monitor.cluster import shingles, sketch
from monitor.store.database import Database

PER_VALUE = 64
BATCH = 500


class StoredClusters:
    """`ClusterReads` from the articles and their sketches, on the caller's connection."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def story_cluster(self, key: str, since: float) -> str | None:
        row = self.db.execute(
            "SELECT cluster_id FROM articles WHERE story_key = ? AND story_key != ''"
            " AND first_seen_at > ? ORDER BY first_seen_at LIMIT 1",  # != '': the partial index
            (key, since),
        ).fetchone()
        return str(row[0]) if row else None

    def sharing(self, sketch: Sequence[int], since: float, limit: int) -> list[tuple[str, str]]:
        # Each value reads at most PER_VALUE rows, the newest: a shingle common to thousands of
        # texts ("said on Tuesday") cannot make one lookup read them all.
        per_value = " UNION ALL ".join(
            f"SELECT * FROM (SELECT article_id, first_seen_at FROM article_sketches"
            f" WHERE value = ? AND first_seen_at > ? ORDER BY first_seen_at DESC"
            f" LIMIT {PER_VALUE}) AS v{n}"
            for n in range(len(sketch))
        )
        rows = self.db.execute(
            "SELECT s.article_id, a.cluster_id FROM (SELECT article_id, count(*) AS shared,"
            f" max(first_seen_at) AS latest FROM ({per_value}) AS hits GROUP BY article_id) AS s"
            " JOIN articles a ON a.id = s.article_id"
            " ORDER BY s.shared DESC, s.latest DESC LIMIT ?",
            (*[p for value in sketch for p in (value, since)], limit),
        ).fetchall()
        return [(str(row[0]), str(row[1])) for row in rows]

    def add_sketch(self, article_id: str, sketch: Sequence[int], now: float) -> None:
        self.db.executemany(
            "INSERT INTO article_sketches VALUES (?, ?, ?)",
            [(value, article_id, now) for value in sketch],
        )

    def sketch_recent(self, since: float, now: float) -> int:
        """Once a store (after the upgrade that added sketches): the articles of the copy
        window get theirs, so their copies are still found. How many were sketched."""
        if self.db.execute("SELECT 1 FROM meta WHERE key = 'copy_sketches'").fetchone():
            return 0
        ids = [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM articles WHERE first_seen_at > ?"
                " AND id NOT IN (SELECT article_id FROM article_sketches)",
                (since,),
            ).fetchall()
        ]
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            for article_id, text, first_seen in self.db.execute(
                "SELECT id, title || ' ' || summary || ' ' || body, first_seen_at FROM articles"
                f" WHERE id IN ({', '.join('?' * len(batch))})",
                batch,
            ).fetchall():
                self.add_sketch(article_id, sketch(shingles(text)), first_seen)
        self.db.execute(
            "INSERT INTO meta VALUES ('copy_sketches', ?) ON CONFLICT (key) DO NOTHING",
            (json.dumps(now),),
        )
        return len(ids)

    def prune(self, before: float) -> None:
        """Sketches older than the copy window find nothing any more."""
        self.db.execute("DELETE FROM article_sketches WHERE first_seen_at < ?", (before,))

    def text_of(self, article_id: str) -> str | None:
        row = self.db.execute(
            "SELECT title || ' ' || summary || ' ' || body FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        return None if row is None else str(row[0])
