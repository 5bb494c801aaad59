"""The SQLite store: seen articles, matches, the outbox, and each source's state.

WAL mode so readers (`trade-monitor status`) never block the daemon;
`busy_timeout` so a second process waits instead of failing; every write in a
`BEGIN IMMEDIATE` transaction so it takes the write lock up front and cannot
deadlock on upgrade. `synchronous=FULL`: a committed "seen + queued" is on
disk before we move on, so a power loss cannot forget an alert we matched.
The schema is versioned with `PRAGMA user_version` and migrated on open.

The store's commits are here; what they read and decide is beside it:
`identity.py` (which stored article a polled one is), `copies.py` (which
story cluster a new article joins, decided without SQL), `sources.py`
(each source's state), `outbox.py` (alerts waiting to be sent).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from monitor.alerts import Alert, AlertPolicy, Placement
from monitor.article import Article
from monitor.errors import Problem, UserError
from monitor.match import Match
from monitor.store import identity
from monitor.store import sources as source_rows
from monitor.store.copies import RecentCopies, SqliteClusterReads, assign_cluster
from monitor.store.outbox import Outbox, OutboxHistory
from monitor.store.schema import MIGRATIONS
from monitor.store.sources import SourceState

P = ParamSpec("P")
T = TypeVar("T")


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
        _private(path)
        # One connection, used by one thread at a time: the caller's, or the store thread.
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)
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
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self.copies = RecentCopies()

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.db.close()

    async def call(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store method on the store's own thread.

        The daemon's event loop never waits on SQLite (a busy file, a long poll
        being recorded): store work queues here, one call at a time, so the
        connection needs no lock and a slow write delays only other store work.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.thread, functools.partial(method, *args, **kwargs))

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
        """Those of one poll's articles not seen before, first copy of each (`identity.unseen`)."""
        return identity.unseen(self.db, articles)

    def record_poll(
        self,
        source_id: str,
        cursor: dict[str, Any],
        items: Sequence[Article],
        new: Sequence[NewArticle],
        policy: AlertPolicy | None = None,
        recorded_before: int = 0,
    ) -> list[NewArticle]:
        """Mark articles seen, queue their alerts and advance the source, all in one commit.

        A crash before the commit leaves nothing half-done: the next poll sees
        the same items as new again. The items become the source's latest
        listing (retention forgets only what no source shows any more).
        `recorded_before` counts what `record_articles` recorded earlier in this
        poll. Returns what was actually recorded.
        """
        now = time.time()
        with self.transaction() as db:
            recorded = self._insert_new(db, new, policy, now)
            self._record_listing(db, source_id, items, now)
            count = recorded_before + len(recorded)
            source_rows.record_success(db, source_id, cursor, now, len(items), count)
        return recorded

    def record_articles(
        self, new: Sequence[NewArticle], policy: AlertPolicy | None = None
    ) -> list[NewArticle]:
        """Mark some of a large poll's articles seen and queue their alerts, in one commit.

        The source is not advanced: a crash before `record_poll` polls again,
        and what was recorded here is then seen, with its alerts queued.
        """
        with self.transaction() as db:
            return self._insert_new(db, new, policy, time.time())

    def _insert_new(
        self,
        db: sqlite3.Connection,
        new: Sequence[NewArticle],
        policy: AlertPolicy | None,
        now: float,
    ) -> list[NewArticle]:
        recorded = []
        for item in new:
            if not identity.seen(db, item.article):
                self._insert_article(db, item, now, policy)
                recorded.append(item)
        return recorded

    def _record_listing(
        self, db: sqlite3.Connection, source_id: str, items: Sequence[Article], now: float
    ) -> None:
        """Make `items` the source's latest listing and mark them shown now.

        A poll with no items (a 304, an unchanged body, an empty feed, a folder
        with nothing new) keeps the listing it had: a feed that is quiet for
        months still lists its items, and they must stay seen.
        """
        if not items:
            return
        shown = {identity.stored_id(db, a) for a in identity.identities(db, items)} - {None}
        rows = db.execute("SELECT article_id FROM listings WHERE source_id = ?", (source_id,))
        listed = {row[0] for row in rows}
        db.executemany(
            "DELETE FROM listings WHERE source_id = ? AND article_id = ?",
            ((source_id, gone) for gone in listed - shown),
        )
        db.executemany(
            "INSERT INTO listings VALUES (?, ?)", ((source_id, new) for new in shown - listed)
        )
        db.execute(
            "UPDATE articles SET last_seen_at = ?"
            " WHERE id IN (SELECT article_id FROM listings WHERE source_id = ?)",
            (now, source_id),
        )

    def _insert_article(
        self, db: sqlite3.Connection, item: NewArticle, now: float, policy: AlertPolicy | None
    ) -> None:
        a = item.article
        clustered = assign_cluster(a, SqliteClusterReads(db), self.copies, now)
        cluster_id = clustered.cluster_id
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
                cluster_id, clustered.story_key, clustered.simhash, now,
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
        return int(self.db.execute("SELECT count(*) FROM articles").fetchone()[0])

    def articles_since(self, since: float) -> list[Article]:
        """Articles first seen since then, oldest first: what `backtest` runs rules over."""
        rows = self.db.execute(
            "SELECT * FROM articles WHERE first_seen_at >= ? ORDER BY first_seen_at", (since,)
        )
        return [
            Article(
                source_id=r["source_id"], title=r["title"], summary=r["summary"], body=r["body"],
                url=r["url"], guid=r["guid"], authors=tuple(json.loads(r["authors"])),
                published_at=_utc_or_none(r["published_at"]), fetched_at=_utc(r["fetched_at"]),
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

    def forget(self, older_than: float, sources: Collection[str] | None = None) -> int:
        """Forget articles no source has shown since `older_than` (and their finished alerts).

        Seen items are remembered by time, not by count: a feed that keeps an
        item for weeks never makes it look new again, as long as it keeps it.
        An article in some source's latest listing is never forgotten, however
        old its last showing looks: a feed that has answered 304 for months,
        or a clock that jumped forward, must not make a whole feed new again.
        Given the config's `sources`, a source no longer among them and not polled
        since `older_than` is forgotten itself, with its listing: were it added
        back, its first poll would be a first poll again (backfill, no flood).
        """
        with self.transaction() as db:
            if sources is not None:
                source_rows.forget_sources(db, older_than, sources)
            old = (
                "SELECT id FROM articles WHERE last_seen_at < ?"
                " AND id NOT IN (SELECT article_id FROM listings)"
            )
            db.execute(f"DELETE FROM matches WHERE article_id IN ({old})", (older_than,))
            db.execute(
                f"DELETE FROM outbox WHERE article_id IN ({old})"
                " AND status IN ('sent', 'dead', 'suppressed')",
                (older_than,),
            )
            return db.execute(f"DELETE FROM articles WHERE id IN ({old})", (older_than,)).rowcount

    # ---- sources ----------------------------------------------------------------

    def source_state(self, source_id: str) -> SourceState:
        return source_rows.source_state(self.db, source_id)

    def source_states(self) -> list[SourceState]:
        return source_rows.source_states(self.db)

    def record_failure(self, source_id: str, error: str) -> int:
        """Count a failed poll; returns the failure streak (1 for the first failure)."""
        now = time.time()
        with self.transaction() as db:
            return source_rows.record_failure(db, source_id, error, now)


def _private(path: Path) -> None:
    """The state file readable by its owner only: it holds articles, alerts and server replies.

    Created so (SQLite gives its WAL and journal files the same mode), and a file
    made by an older version is tightened.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # the connection says why, with the file named (open_store)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _utc_or_none(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else _utc(timestamp)
