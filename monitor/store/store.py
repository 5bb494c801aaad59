"""The store: seen articles, matches, the outbox, each source's state, and the daemons.

One class over either engine (`Database`: sqlite.py, postgres.py): its SQL is
written once. It offers the pipeline narrow reads (what was seen) and a unit of
work for recording a poll (stages.py runs the stages in it); what it reads and
decides is beside it: `identity.py` (which stored article a polled one is),
`copies.py` (the reads clustering needs), `sources.py` (each source's state),
`outbox.py` (alerts waiting to be sent), `shared.py` (leases, pacing and the
daemons sharing a database).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from monitor.alerts import Alert, Placement
from monitor.article import Article
from monitor.cluster import COPY_WINDOW, Clustered
from monitor.schedule import Activity, Plan
from monitor.stages import NewArticle
from monitor.store import identity, shared
from monitor.store import sources as source_rows
from monitor.store.copies import StoredClusters
from monitor.store.database import Database
from monitor.store.outbox import Outbox, OutboxHistory
from monitor.store.sources import SourceState

log = logging.getLogger("monitor")
P = ParamSpec("P")
T = TypeVar("T")
RECONNECT_FOR = 120.0  # seconds a store call waits for a shared database to come back
SKETCH_PRUNING = 3600.0  # seconds between deletions of sketches older than the copy window
CLOCK_SKEW = 300.0  # how far apart the clocks of daemons sharing a database may be


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.outbox = Outbox(db)
        self.sharing = Sharing(db)
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self.sketches_pruned_at = float("-inf")
        self.sketched = False

    @property
    def shared(self) -> bool:
        return self.db.shared

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.db.close()

    async def call(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store method on the store's own thread.

        The daemon's event loop never waits on the database (a busy file, a long
        poll being recorded, a server restarting): store work queues here, one
        call at a time, so the connection needs no lock and a slow write delays
        only other store work.
        """
        loop = asyncio.get_running_loop()
        work = functools.partial(self.again_if_lost, method, *args, **kwargs)
        return await loop.run_in_executor(self.thread, work)

    def again_if_lost(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `method`; if the database server went away, reconnect and run it again.

        Safe because a lost connection rolled the transaction back, and every
        write here is idempotent or checked (seen articles, attempt ids). After
        RECONNECT_FOR seconds the error goes to the caller: a poll fails and is
        polled again later, a claim waits for the next dispatch.
        """
        deadline, delay = time.monotonic() + RECONNECT_FOR, 0.25
        while True:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                if not self.db.lost(exc) or time.monotonic() > deadline:
                    raise
                log.warning("lost the database (%s); reconnecting", str(exc).strip()[:200])
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            try:
                self.db.reconnect()
            except Exception as exc:
                if not self.db.lost(exc):
                    raise

    # ---- articles ---------------------------------------------------------------

    def unseen(self, articles: Sequence[Article]) -> list[Article]:
        """Those of one poll's articles not seen before, first copy of each (`identity.unseen`)."""
        return identity.unseen(self.db, articles)

    @contextmanager
    def unit_of_work(self) -> Iterator[PollWork]:
        """One serial transaction in which a poll's outcome is decided and written."""
        now = time.time()
        with self.db.transaction() as db:
            clusters = StoredClusters(db)
            sketching = not self.sketched
            if sketching and (count := clusters.sketch_recent(now - COPY_WINDOW, now)):
                log.info("sketched %d recent articles to find their copies", count)
            if now - self.sketches_pruned_at > SKETCH_PRUNING:
                clusters.prune(now - COPY_WINDOW - CLOCK_SKEW)
                self.sketches_pruned_at = now
            yield PollWork(db, clusters, OutboxHistory(db), now)
        self.sketched = self.sketched or sketching

    def article_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM articles").fetchone()[0])

    def articles_since(self, since: float, batch: int = 500) -> Iterator[Article]:
        """Articles first seen since then, oldest first: what `backtest` runs rules over.

        Read `batch` rows at a time by keyset (first_seen_at, then id: a total order,
        equal times included), so memory stays flat in the store's size and no read
        stays open between batches. Articles stored meanwhile with later times are
        reached too; none is yielded twice.
        """
        columns = (
            "SELECT id, source_id, title, summary, body, url, guid, authors, published_at,"
            " fetched_at, first_seen_at FROM articles WHERE first_seen_at >= ?"
        )
        order = " ORDER BY first_seen_at, id LIMIT ?"
        rows = self.db.execute(columns + order, (since, batch)).fetchall()
        while rows:
            for r in rows:
                yield Article(
                    source_id=r["source_id"], title=r["title"], summary=r["summary"],
                    body=r["body"], url=r["url"], guid=r["guid"],
                    authors=tuple(json.loads(r["authors"])),
                    published_at=_utc_or_none(r["published_at"]), fetched_at=_utc(r["fetched_at"]),
                )  # fmt: skip
            if len(rows) < batch:
                return
            last = (rows[-1]["first_seen_at"], rows[-1]["id"])
            rows = self.db.execute(
                columns + " AND (first_seen_at, id) > (?, ?)" + order, (since, *last, batch)
            ).fetchall()

    def count_articles_since(self, since: float) -> int:
        """How many articles `articles_since` would yield now (backtest's progress bar)."""
        row = self.db.execute(
            "SELECT count(*) FROM articles WHERE first_seen_at >= ?", (since,)
        ).fetchone()
        return int(row[0])

    def put_meta(self, key: str, value: Any) -> None:
        with self.db.transaction(serial=False) as db:
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
        with self.db.transaction() as db:
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
        with self.db.transaction() as db:
            return source_rows.record_failure(db, source_id, error, now)

    def plan(self, source_id: str, next_poll: Plan, activity: Activity | None = None) -> None:
        """When the source is polled next, and why; after a good poll, how often news comes."""
        with self.db.transaction(serial=False) as db:
            source_rows.plan(db, source_id, next_poll, activity)

    # ---- source health: one "down" and one "recovered" message per failure streak --------

    def source_down(
        self,
        source_id: str,
        streak: int,
        alert_after: float,
        alerts: Callable[[float, float], Sequence[Alert]],
    ) -> int:
        """After a failed poll: note when the streak began (meta `health:<source>`); once it
        is older than `alert_after`, queue `alerts(since, now)` and mark the streak alerted,
        in one serial transaction, so across restarts and daemons it is queued once.
        Returns how many alerts were queued (0 almost always)."""
        now, key = time.time(), f"health:{source_id}"
        with self.db.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            health = json.loads(row[0]) if row else None
            last_ok = source_rows.source_state(db, source_id).last_ok_at
            if health is None or streak == 1 or (last_ok and health["since"] < last_ok):
                health = {"since": now, "sent": False}  # a new streak (or a stale note)
            queued: Sequence[Alert] = ()
            if not health["sent"] and now - health["since"] >= alert_after:
                queued = alerts(health["since"], now)
                history = OutboxHistory(db)
                for alert in queued:
                    history.enqueue(alert, f"health:{source_id}", Placement(), now)
                health["sent"] = True
            if row is None or queued or health != json.loads(row[0]):
                db.execute(
                    "INSERT INTO meta VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(health)),
                )
            return len(queued)

    def source_recovered(
        self, source_id: str, alerts: Callable[[float, float], Sequence[Alert]]
    ) -> int:
        """After a good poll that ended a streak: forget the streak's note and, if its
        down alert was queued, queue `alerts(since, now)` in the same transaction.
        Returns how many were queued."""
        return self._end_note(f"health:{source_id}", source_id, alerts)

    def source_silent(
        self, source_id: str, since: float, alerts: Callable[[float, float], Sequence[Alert]]
    ) -> int:
        """A source without news far beyond its usual rate since `since`: queue
        `alerts(since, now)` once per silence (meta `silent:<source>`, across restarts and
        daemons). Returns how many were queued."""
        now, key = time.time(), f"silent:{source_id}"
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM meta WHERE key = ?", (key,)).fetchone():
                return 0
            queued = alerts(since, now)
            history = OutboxHistory(db)
            for alert in queued:
                history.enqueue(alert, key, Placement(), now)
            note = json.dumps({"since": since, "sent": True})
            db.execute("INSERT INTO meta VALUES (?, ?)", (key, note))
            return len(queued)

    def source_heard(
        self, source_id: str, alerts: Callable[[float, float], Sequence[Alert]]
    ) -> int:
        """News again after a silence that was told: forget it, and queue `alerts`."""
        return self._end_note(f"silent:{source_id}", source_id, alerts)

    def _end_note(
        self, key: str, source_id: str, alerts: Callable[[float, float], Sequence[Alert]]
    ) -> int:
        now = time.time()
        with self.db.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row is None:
                return 0
            db.execute("DELETE FROM meta WHERE key = ?", (key,))
            note = json.loads(row[0])
            if not note.get("sent"):
                return 0
            queued = alerts(note["since"], now)
            history = OutboxHistory(db)
            for alert in queued:
                history.enqueue(alert, key, Placement(), now)
            return len(queued)


class Sharing:
    """What daemons sharing the database agree on (shared.py), each in a short transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def take_lease(self, name: str, owner: str, until: float) -> bool:
        with self.db.transaction(serial=False) as db:
            return shared.take_lease(db, name, owner, until, time.time())

    def hold_lease(self, name: str, owner: str, until: float) -> None:
        with self.db.transaction(serial=False) as db:
            shared.hold_lease(db, name, owner, until)

    def take_turn(self, notifier_id: str, hold_until: float) -> float | None:
        with self.db.transaction(serial=False) as db:
            return shared.take_turn(db, notifier_id, hold_until, time.time())

    def end_turn(self, notifier_id: str, held_until: float, free_at: float) -> None:
        with self.db.transaction(serial=False) as db:
            shared.end_turn(db, notifier_id, held_until, free_at)

    def beat(self, daemon: shared.DaemonRow) -> None:
        with self.db.transaction(serial=False) as db:
            shared.beat(db, daemon)

    def leave(self, daemon_id: str) -> None:
        with self.db.transaction(serial=False) as db:
            shared.leave(db, daemon_id)

    def daemons(self) -> list[shared.DaemonRow]:
        """The daemons heard from in the last three heartbeats."""
        return shared.daemons(self.db, time.time() - 3 * shared.HEARTBEAT)


class PollWork:
    """The `UnitOfWork` of stages.py on this store: reads and writes inside one transaction."""

    def __init__(
        self,
        db: Database,
        clusters: StoredClusters,
        history: OutboxHistory,
        now: float,
    ) -> None:
        self.db, self.clusters, self.history, self.now = db, clusters, history, now
        # the rows seen detection read, kept true as articles are written: a few queries a
        # poll, where a fresh read for each article cost three or four
        self.known = identity.Known(db)

    def expect(self, articles: Sequence[Article]) -> None:
        self.known.prepare(articles)

    def seen(self, article: Article) -> bool:
        return self.known.stored_id(article) is not None

    def add_article(self, item: NewArticle, clustered: Clustered) -> None:
        a = item.article
        self.db.execute(
            "INSERT INTO articles (id, source_id, guid, url, canonical_url, content_hash, title,"
            " summary, body, authors, published_at, fetched_at, first_seen_at, alerted,"
            " cluster_id, story_key, last_seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                a.id, a.source_id, a.guid, a.url, a.canonical_url, a.content_hash, a.title,
                a.summary, a.body, json.dumps(a.authors),
                a.published_at.timestamp() if a.published_at else None,
                a.fetched_at.timestamp(), self.now, int(bool(item.alerts)),
                clustered.cluster_id, clustered.story_key, self.now,
            ),
        )  # fmt: skip
        self.clusters.add_sketch(a.id, clustered.sketch, self.now)
        self.known.written(a)
        for match in item.matches:
            hits = [[h.field, h.start, h.end, h.text] for h in match.hits]
            self.db.execute(
                "INSERT INTO matches VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (a.id, match.rule.id, match.rule.severity, json.dumps(hits), self.now),
            )

    def enqueue(self, alert: Alert, cluster_id: str, placement: Placement) -> None:
        self.history.enqueue(alert, cluster_id, placement, self.now)

    def finish_poll(
        self,
        source_id: str,
        cursor: dict[str, Any],
        items: Sequence[Article],
        new_count: int,
        keys: Sequence[str] = (),
        unchanged: Mapping[str, str] | None = None,
    ) -> None:
        """The items, and those unchanged since the last poll, become the source's listing;
        the source is advanced. With item keys (a feed's items by their bytes) the cursor's
        `items` maps each to its stored id, so the next poll need not read them again:
        written in the same commit as the listing, it never names an item not recorded."""
        unchanged = unchanged or {}
        stored = self._record_listing(source_id, items, unchanged)
        if keys:
            known = {key: id for key, id in zip(keys, stored, strict=True) if id is not None}
            cursor = cursor | {"items": known | dict(unchanged)}
        count = len(items) + len(unchanged)
        source_rows.record_success(self.db, source_id, cursor, self.now, count, new_count)

    def _record_listing(
        self, source_id: str, items: Sequence[Article], unchanged: Mapping[str, str]
    ) -> list[str | None]:
        """Make `items` and the `unchanged` ones the source's latest listing and mark them
        shown now; returns each item's stored id.

        A poll with no items (a 304, an unchanged body, an empty feed, a folder
        with nothing new) keeps the listing it had: a feed that is quiet for
        months still lists its items, and they must stay seen.
        """
        if not items and not unchanged:
            return []
        db, now, marks = self.db, self.now, identity.marks
        stored = identity.each_stored_id(db, items)
        shown = {id for id in stored if id is not None} | set(unchanged.values())
        rows = db.execute("SELECT article_id FROM listings WHERE source_id = ?", (source_id,))
        listed = {row[0] for row in rows}
        for chunk in identity.chunks(sorted(listed - shown)):
            db.execute(
                f"DELETE FROM listings WHERE source_id = ? AND article_id IN ({marks(chunk)})",
                [source_id, *chunk],
            )
        for chunk in identity.chunks(sorted(shown - listed), identity.CHUNK // 2):
            db.execute(
                f"INSERT INTO listings VALUES {', '.join(['(?, ?)'] * len(chunk))}",
                [value for new in chunk for value in (source_id, new)],
            )
        db.execute(
            "UPDATE articles SET last_seen_at = ?"
            " WHERE id IN (SELECT article_id FROM listings WHERE source_id = ?)",
            (now, source_id),
        )
        return stored


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _utc_or_none(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else _utc(timestamp)
