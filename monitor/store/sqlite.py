"""The SQLite store: seen articles, matches, the outbox, and each source's state.

WAL mode so readers (`trade-monitor status`) never block the daemon;
`busy_timeout` so a second process waits instead of failing; every write in a
`BEGIN IMMEDIATE` transaction so it takes the write lock up front and cannot
deadlock on upgrade. `synchronous=FULL`: a committed "seen + queued" is on
disk before we move on, so a power loss cannot forget an alert we matched.
The schema is versioned with `PRAGMA user_version` and migrated on open.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.alerts import Alert, AlertPolicy, Placement
from monitor.article import Article
from monitor.cluster import article_text, candidates, same_story, simhash, story_key
from monitor.errors import Problem, UserError
from monitor.match import Match
from monitor.store.outbox import Outbox, OutboxHistory
from monitor.store.schema import MIGRATIONS

STORY_KEY_WINDOW = 7 * 86400  # an update of a story comes within a week
SIMHASH_WINDOW = 3 * 86400  # copies of a wire story within three days


@dataclass(frozen=True)
class SourceState:
    source_id: str
    cursor: dict[str, Any]
    primed: bool
    last_poll_at: float | None = None
    last_ok_at: float | None = None
    last_error: str | None = None
    error_streak: int = 0
    item_count: int = 0
    new_count: int = 0


@dataclass(frozen=True)
class NewArticle:
    """An article to record as seen, with the matches and alerts it produced."""

    article: Article
    matches: Sequence[Match] = ()
    alerts: Sequence[Alert] = ()


class SqliteStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        try:  # a garbage or read-only file fails here: close it, `open_store` says why
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA busy_timeout=10000")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException:
            self.db.close()
            raise
        self.outbox = Outbox(self.db, self.transaction)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                message = f"written by a newer trade-monitor (schema {version})"
                hint = "upgrade trade-monitor, or give this config its own state: file"
                raise UserError([Problem(str(self.path), message, hint=hint)])
            for number, script in enumerate(MIGRATIONS[version:], version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={number}")

    # ---- articles ---------------------------------------------------------------

    def unseen(self, articles: Sequence[Article]) -> list[Article]:
        """Those not seen before (same id, canonical URL or content), first copy of each.

        A feed that reuses a guid for a different story (a different link) has
        its guid ignored for that item, so the story is not lost.
        """
        fresh: dict[str, Article] = {}
        keys: set[str] = set()
        for article in articles:
            if self._guid_reused(article):
                article = replace(article, guid="")
            own = {article.id, article.content_hash, article.canonical_url} - {""}
            if own & keys or self._seen(self.db, article):
                continue
            keys |= own
            fresh[article.id] = article
        return list(fresh.values())

    def _guid_reused(self, article: Article) -> bool:
        if not (article.guid and article.canonical_url):
            return False
        row = self.db.execute("SELECT canonical_url FROM articles WHERE id = ?", (article.id,))
        known = row.fetchone()
        return known is not None and known[0] not in ("", article.canonical_url)

    @staticmethod
    def _seen(db: sqlite3.Connection, article: Article) -> bool:
        row = db.execute(
            "SELECT 1 FROM articles WHERE id = ? OR (content_hash != '' AND content_hash = ?)"
            " OR (canonical_url != '' AND canonical_url = ?) LIMIT 1",
            (article.id, article.content_hash, article.canonical_url),
        ).fetchone()
        return row is not None

    def record_poll(
        self,
        source_id: str,
        cursor: dict[str, Any],
        items: Sequence[Article],
        new: Sequence[NewArticle],
        policy: AlertPolicy | None = None,
    ) -> list[NewArticle]:
        """Mark articles seen, queue their alerts and advance the source, all in one commit.

        A crash before the commit leaves nothing half-done: the next poll sees
        the same items as new again. Items seen before are marked as still
        present (retention forgets only what no feed shows any more). Returns
        what was actually recorded.
        """
        now = time.time()
        recorded = []
        with self.transaction() as db:
            for item in new:
                if self._seen(db, item.article):
                    continue
                self._insert_article(db, item, now, policy)
                recorded.append(item)
            ids = [a.id for a in items]
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                marks = ", ".join("?" * len(part))
                db.execute(
                    f"UPDATE articles SET last_seen_at = ? WHERE id IN ({marks})", (now, *part)
                )
            db.execute(
                "INSERT INTO sources (source_id, cursor, primed, last_poll_at, last_ok_at,"
                " last_error, error_streak, item_count, new_count)"
                " VALUES (?, ?, 1, ?, ?, NULL, 0, ?, ?)"
                " ON CONFLICT (source_id) DO UPDATE SET cursor = excluded.cursor, primed = 1,"
                " last_poll_at = excluded.last_poll_at, last_ok_at = excluded.last_ok_at,"
                " last_error = NULL, error_streak = 0, item_count = excluded.item_count,"
                " new_count = excluded.new_count",
                (source_id, json.dumps(cursor), now, now, len(items), len(recorded)),
            )
        return recorded

    def _insert_article(
        self, db: sqlite3.Connection, item: NewArticle, now: float, policy: AlertPolicy | None
    ) -> None:
        a = item.article
        key, fingerprint = story_key(a.title), simhash(a)
        cluster_id = _cluster_of(db, key, fingerprint, article_text(a), now) or a.id
        db.execute(
            "INSERT INTO articles (id, source_id, guid, url, canonical_url, content_hash, title,"
            " summary, body, authors, published_at, fetched_at, first_seen_at, alerted,"
            " cluster_id, story_key, simhash, last_seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                a.id, a.source_id, a.guid, a.url, a.canonical_url, a.content_hash, a.title,
                a.summary, a.body, json.dumps(a.authors),
                a.published_at.timestamp() if a.published_at else None,
                a.fetched_at.timestamp(), now, int(bool(item.alerts)),
                cluster_id, key, fingerprint, now,
            ),
        )  # fmt: skip
        for match in item.matches:
            hits = [[h.field, h.start, h.end, h.text] for h in match.hits]
            db.execute(
                "INSERT OR IGNORE INTO matches VALUES (?, ?, ?, ?, ?)",
                (a.id, match.rule.id, match.rule.severity, json.dumps(hits), now),
            )
        history = OutboxHistory(db)
        for alert in item.alerts:
            placement = policy.place(alert, cluster_id, history, now) if policy else Placement()
            history.enqueue(alert, cluster_id, placement, now)

    def article_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def articles_since(self, since: float) -> list[Article]:
        """Articles first seen since then, oldest first: what `backtest` runs rules over."""
        rows = self.db.execute(
            "SELECT * FROM articles WHERE first_seen_at >= ? ORDER BY first_seen_at", (since,)
        )
        return [
            Article(
                source_id=r["source_id"], title=r["title"], summary=r["summary"], body=r["body"],
                url=r["url"], guid=r["guid"], authors=tuple(json.loads(r["authors"])),
                published_at=_utc(r["published_at"]), fetched_at=_utc(r["fetched_at"]) or _utc(0),
            )
            for r in rows
        ]  # fmt: skip

    def put_meta(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def forget(self, older_than: float) -> int:
        """Forget articles no source has shown since `older_than` (and their finished alerts).

        Seen items are remembered by time, not by count: a feed that keeps an
        item for weeks never makes it look new again, as long as it keeps it.
        """
        with self.transaction() as db:
            old = "SELECT id FROM articles WHERE last_seen_at < ?"
            db.execute(f"DELETE FROM matches WHERE article_id IN ({old})", (older_than,))
            db.execute(
                f"DELETE FROM outbox WHERE article_id IN ({old})"
                " AND status IN ('sent', 'dead', 'suppressed')",
                (older_than,),
            )
            return db.execute("DELETE FROM articles WHERE last_seen_at < ?", (older_than,)).rowcount

    # ---- sources ----------------------------------------------------------------

    def source_state(self, source_id: str) -> SourceState:
        row = self.db.execute("SELECT * FROM sources WHERE source_id = ?", (source_id,)).fetchone()
        return _source_state(row) if row else SourceState(source_id, {}, primed=False)

    def source_states(self) -> list[SourceState]:
        return [_source_state(r) for r in self.db.execute("SELECT * FROM sources ORDER BY 1")]

    def record_failure(self, source_id: str, error: str) -> int:
        """Count a failed poll; returns the failure streak (1 for the first failure)."""
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sources (source_id, last_poll_at, last_error, error_streak)"
                " VALUES (?, ?, ?, 1) ON CONFLICT (source_id) DO UPDATE SET"
                " last_poll_at = excluded.last_poll_at, last_error = excluded.last_error,"
                " error_streak = error_streak + 1",
                (source_id, now, error),
            )
            row = db.execute("SELECT error_streak FROM sources WHERE source_id = ?", (source_id,))
            return int(row.fetchone()[0])


def _cluster_of(
    db: sqlite3.Connection, key: str, fingerprint: int, text: str, now: float
) -> str | None:
    """The cluster of an earlier article of the same story, if there is one."""
    if key:
        row = db.execute(
            "SELECT cluster_id FROM articles WHERE story_key = ? AND first_seen_at > ?"
            " ORDER BY first_seen_at LIMIT 1",
            (key, now - STORY_KEY_WINDOW),
        ).fetchone()
        if row:
            return str(row[0])
    if fingerprint:
        rows = db.execute(
            "SELECT id, cluster_id, simhash FROM articles WHERE simhash != 0 AND first_seen_at > ?"
            " ORDER BY first_seen_at",
            (now - SIMHASH_WINDOW,),
        ).fetchall()
        for article_id, cluster_id, other in rows:
            if candidates(fingerprint, other):
                row = db.execute(
                    "SELECT title || ' ' || summary || ' ' || body FROM articles WHERE id = ?",
                    (article_id,),
                ).fetchone()
                if same_story(text, row[0]):
                    return str(cluster_id)
    return None


def _utc(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def _source_state(row: sqlite3.Row) -> SourceState:
    return SourceState(
        source_id=row["source_id"],
        cursor=json.loads(row["cursor"]),
        primed=bool(row["primed"]),
        last_poll_at=row["last_poll_at"],
        last_ok_at=row["last_ok_at"],
        last_error=row["last_error"],
        error_streak=row["error_streak"],
        item_count=row["item_count"],
        new_count=row["new_count"],
    )
