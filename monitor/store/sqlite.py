"""The SQLite store: seen articles, matches, the outbox, and each source's state.

WAL mode so readers (`trade-monitor status`) never block the daemon;
`busy_timeout` so a second process waits instead of failing; every write in a
`BEGIN IMMEDIATE` transaction so it takes the write lock up front and cannot
deadlock on upgrade. `synchronous=FULL`: a committed "seen + queued" is on
disk before we move on, so a power loss cannot forget an alert we matched.
The schema is versioned with `PRAGMA user_version` and migrated on open.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from monitor.alerts import Alert, AlertPolicy, Placement
from monitor.article import Article
from monitor.cluster import SimhashIndex, article_text, fingerprint, resembles, shingles, story_key
from monitor.errors import Problem, UserError
from monitor.match import Match
from monitor.store.outbox import Outbox, OutboxHistory
from monitor.store.schema import MIGRATIONS

log = logging.getLogger("monitor")
STORY_KEY_WINDOW = 7 * 86400  # an update of a story comes within a week
SIMHASH_WINDOW = 3 * 86400  # copies of a wire story within three days
P = ParamSpec("P")
T = TypeVar("T")


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
        """Those of one poll's articles not seen before (see `_stored_id`), first copy of each.

        A feed that gives one guid to a different story (a different link),
        in an earlier poll or earlier in this one, has its guid ignored for
        that item, so the story is not lost; one line says so.
        """
        fresh: dict[str, Article] = {}
        keys: set[str] = set()
        for given, article in zip(articles, self._identities(self.db, articles), strict=True):
            own = {article.id, article.content_hash, article.canonical_url} - {""}
            if own & keys or self._seen(self.db, article):
                continue
            keys |= own
            fresh[article.id] = article
            if given.guid != article.guid:
                log.info(
                    "guid %r already named another link; ignored for %r",
                    given.guid[:200],
                    article.canonical_url[:200],
                    extra={"source": article.source_id},
                )
            self._note_shared_link(article)
        return list(fresh.values())

    def _identities(self, db: sqlite3.Connection, articles: Sequence[Article]) -> list[Article]:
        """The articles as the store knows them: without a guid that names another link."""
        links: dict[str, str] = {}  # guid id -> canonical URL of its first item in this poll
        known = []
        for article in articles:
            if article.guid and article.canonical_url:
                first = links.setdefault(article.id, article.canonical_url)
                if first != article.canonical_url or self._guid_reused(db, article):
                    article = replace(article, guid="")
            known.append(article)
        return known

    @staticmethod
    def _guid_reused(db: sqlite3.Connection, article: Article) -> bool:
        row = db.execute("SELECT canonical_url FROM articles WHERE id = ?", (article.id,))
        known = row.fetchone()
        return known is not None and known[0] not in ("", article.canonical_url)

    @classmethod
    def _seen(cls, db: sqlite3.Connection, article: Article) -> bool:
        return cls._stored_id(db, article) is not None

    @staticmethod
    def _stored_id(db: sqlite3.Connection, article: Article) -> str | None:
        """The id of a stored article that this one is, or None if it is new.

        From its own source: the same id (guid), canonical URL or text; a
        copy of another source's article that the source lists counts as its
        own, so an edited title does not make the copy new. From another
        source only the same content: the same text, or the same canonical
        URL with the same title. So the same wire story in two feeds is one
        article, but no source can make another's story look seen by giving
        an unrelated item its link. Rows written before ids of links were per
        source are found by their source and canonical URL.
        """
        row = db.execute(
            "SELECT id FROM articles WHERE id = ? OR (content_hash != '' AND content_hash = ?)"
            " LIMIT 1",
            (article.id, article.content_hash),
        ).fetchone()
        if row is not None:
            return str(row[0])
        if not article.canonical_url:
            return None
        title = _folded(article.title)
        rows = db.execute(
            "SELECT id, title, source_id = ? OR id IN"
            " (SELECT article_id FROM listings WHERE source_id = ?) FROM articles"
            " WHERE canonical_url != '' AND canonical_url = ?",
            (article.source_id, article.source_id, article.canonical_url),
        )
        for stored_id, stored_title, own in rows:
            if own or _folded(stored_title) == title:
                return str(stored_id)
        return None

    def _note_shared_link(self, article: Article) -> None:
        """Log that a new article's link was seen from another source with other content."""
        if not article.canonical_url:
            return
        row = self.db.execute(
            "SELECT source_id FROM articles WHERE canonical_url != '' AND canonical_url = ?"
            " AND source_id != ? LIMIT 1",
            (article.canonical_url, article.source_id),
        ).fetchone()
        if row is not None:
            log.info(
                "link %r was seen from source %s with different content; this is a new article",
                article.canonical_url[:200], row[0], extra={"source": article.source_id},
            )  # fmt: skip

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
            db.execute(
                "INSERT INTO sources (source_id, cursor, primed, last_poll_at, last_ok_at,"
                " last_error, error_streak, item_count, new_count)"
                " VALUES (?, ?, 1, ?, ?, NULL, 0, ?, ?)"
                " ON CONFLICT (source_id) DO UPDATE SET cursor = excluded.cursor, primed = 1,"
                " last_poll_at = excluded.last_poll_at, last_ok_at = excluded.last_ok_at,"
                " last_error = NULL, error_streak = 0, item_count = excluded.item_count,"
                " new_count = excluded.new_count",
                (source_id, json.dumps(cursor), now, now, len(items),
                 recorded_before + len(recorded)),
            )  # fmt: skip
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
            if not self._seen(db, item.article):
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
        shown = {self._stored_id(db, a) for a in self._identities(db, items)} - {None}
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
        key, text = story_key(a.title), shingles(article_text(a))
        simhash = fingerprint(text)
        cluster_id = (key and _story_cluster(db, key, now)) or a.id
        if cluster_id == a.id and simhash:
            cluster_id = self.copies.cluster_of(db, simhash, text, now) or a.id
        self.copies.add(a.id, simhash, cluster_id, now)
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
                cluster_id, key, simhash, now,
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
                self._forget_sources(db, older_than, sources)
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

    @staticmethod
    def _forget_sources(db: sqlite3.Connection, older_than: float, kept: Collection[str]) -> None:
        gone = (
            "SELECT source_id FROM sources WHERE coalesce(last_poll_at, 0) < ?"
            f" AND source_id NOT IN ({', '.join('?' * len(kept))})"
        )
        db.execute(f"DELETE FROM listings WHERE source_id IN ({gone})", (older_than, *kept))
        db.execute(f"DELETE FROM sources WHERE source_id IN ({gone})", (older_than, *kept))

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


def _story_cluster(db: sqlite3.Connection, key: str, now: float) -> str | None:
    """The cluster of an earlier article with the same headline (update markers removed)."""
    row = db.execute(
        "SELECT cluster_id FROM articles WHERE story_key = ? AND story_key != ''"
        " AND first_seen_at > ? ORDER BY first_seen_at LIMIT 1",  # != '': the partial index
        (key, now - STORY_KEY_WINDOW),
    ).fetchone()
    return str(row[0]) if row else None


class RecentCopies:
    """The last three days' articles by SimHash, to find the copies of a story fast.

    Loaded from the database when first needed and again every hour (so it
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
        self, db: sqlite3.Connection, simhash: int, text: set[int], now: float
    ) -> str | None:
        """The cluster of a recent article whose text the shingles `text` resemble."""
        if now - self.loaded_at > self.RELOAD:
            self._load(db, now)
        compared = 0
        for article_id in self.index.near(simhash):
            cluster_id, first_seen = self.seen[article_id]
            if first_seen <= now - SIMHASH_WINDOW:
                continue
            row = db.execute(
                "SELECT title || ' ' || summary || ' ' || body FROM articles WHERE id = ?",
                (article_id,),
            ).fetchone()
            if row and resembles(text, shingles(row[0])):
                return cluster_id
            compared += 1
            if compared == self.MAX_COMPARED:
                break
        return None

    def add(self, article_id: str, simhash: int, cluster_id: str, now: float) -> None:
        if simhash and article_id not in self.seen:
            self.seen[article_id] = (cluster_id, now)
            self.index.add(simhash, article_id)

    def _load(self, db: sqlite3.Connection, now: float) -> None:
        self.index, self.seen, self.loaded_at = SimhashIndex(), {}, now
        rows = db.execute(
            "SELECT id, simhash, cluster_id, first_seen_at FROM articles"
            " WHERE simhash != 0 AND first_seen_at > ? ORDER BY first_seen_at",
            (now - SIMHASH_WINDOW,),
        )
        for article_id, simhash, cluster_id, first_seen in rows:
            self.add(article_id, simhash, cluster_id, first_seen)


def _folded(title: str) -> str:
    """A title as compared across sources: case and spacing do not count."""
    return " ".join(title.split()).casefold()


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
