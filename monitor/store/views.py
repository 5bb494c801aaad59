"""The web page's reads (monitor/web/): alerts with their deliveries, sources, rules.

Read-only SQL on the caller's connection, written once for both engines. Every
list is bounded (a LIMIT, or a fixed number of days), and each query is served
by an index of the schema's last migration, so a page costs the same with a
hundred thousand articles stored as with a hundred.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.alerts import Alert
from monitor.article import Article
from monitor.match import SEVERITIES
from monitor.store.database import Database
from monitor.store.outbox import Outbox

DAY = 86400.0


@dataclass(frozen=True)
class AlertFilter:
    """What the alerts page was asked for; empty strings mean "any"."""

    rule: str = ""
    source: str = ""
    severity: str = ""  # at least this severity: some matched rule has it or a higher one
    state: str = ""
    since: float | None = None
    until: float | None = None
    limit: int = 50


@dataclass(frozen=True)
class Delivery:
    id: int
    notifier_id: str
    status: str
    attempts: int
    last_error: str | None
    note: str | None
    created_at: float
    sent_at: float | None


@dataclass(frozen=True)
class AlertView:
    """One article's alert, with its delivery to each notifier it was routed to."""

    alert: Alert
    created_at: float
    cluster_id: str | None
    deliveries: tuple[Delivery, ...]

    @property
    def id(self) -> int:
        return self.deliveries[0].id


@dataclass(frozen=True)
class StoryItem:
    article_id: str
    source_id: str
    title: str
    url: str
    first_seen_at: float


@dataclass(frozen=True)
class RecentMatch:
    article_id: str
    title: str
    url: str
    matched_at: float


def alerts(db: Database, wanted: AlertFilter) -> list[AlertView]:
    """The latest alerts that pass the filter, newest first, at most `wanted.limit`."""
    where: list[str] = ["o.kind = 'alert'"]
    params: list[Any] = []
    if wanted.state:
        where.append("o.status = ?")
        params.append(wanted.state)
    if wanted.rule:
        where.append("o.rule_ids LIKE ? ESCAPE '\\'")
        params.append("%" + _like(json.dumps(wanted.rule)) + "%")
    if wanted.source:
        where.append("EXISTS (SELECT 1 FROM articles a WHERE a.id = o.article_id"
                     " AND a.source_id = ?)")  # fmt: skip
        params.append(wanted.source)
    if wanted.severity in SEVERITIES:
        levels = SEVERITIES[SEVERITIES.index(wanted.severity) :]
        where.append("EXISTS (SELECT 1 FROM matches m WHERE m.article_id = o.article_id"
                     f" AND m.severity IN ({_marks(levels)}))")  # fmt: skip
        params.extend(levels)
    if wanted.since is not None:
        where.append("o.created_at >= ?")
        params.append(wanted.since)
    if wanted.until is not None:
        where.append("o.created_at < ?")
        params.append(wanted.until)
    query = (
        f"SELECT o.article_id, max(o.id) FROM outbox o WHERE {' AND '.join(where)}"
        " GROUP BY o.article_id ORDER BY 2 DESC LIMIT ?"
    )
    chosen = [r[0] for r in db.execute(query, (*params, max(1, wanted.limit)))]
    return _views(db, chosen)


def alert(db: Database, outbox_id: int) -> AlertView | None:
    """The alert one outbox row belongs to, with every delivery of its article."""
    row = db.execute(
        "SELECT article_id FROM outbox WHERE id = ? AND kind = 'alert'", (outbox_id,)
    ).fetchone()
    return None if row is None else _views(db, [row[0]])[0]


def story(db: Database, cluster_id: str | None, limit: int = 50) -> list[StoryItem]:
    """The articles of one story thread (monitor/cluster.py), first seen first."""
    if not cluster_id:
        return []
    rows = db.execute(
        "SELECT id, source_id, title, url, first_seen_at FROM articles WHERE cluster_id = ?"
        " ORDER BY first_seen_at, id LIMIT ?",
        (cluster_id, limit),
    )
    return [StoryItem(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def dead_delivery(db: Database, outbox_id: int) -> bool:
    row = db.execute("SELECT status FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
    return row is not None and row[0] == "dead"


def items_per_day(db: Database, now: float, days: int) -> dict[str, list[int]]:
    """Source id -> articles first seen on each of the last `days` days, oldest day first."""
    return _per_day(db, "articles", "first_seen_at", "source_id", now, days)


def matches_per_day(db: Database, now: float, days: int) -> dict[str, list[int]]:
    """Rule id -> matches on each of the last `days` days, oldest day first."""
    return _per_day(db, "matches", "matched_at", "rule_id", now, days)


def recent_matches(db: Database, rule_id: str, limit: int = 5) -> list[RecentMatch]:
    rows = db.execute(
        "SELECT m.article_id, a.title, a.url, m.matched_at FROM matches m"
        " JOIN articles a ON a.id = m.article_id WHERE m.rule_id = ?"
        " ORDER BY m.matched_at DESC LIMIT ?",
        (rule_id, limit),
    )
    return [RecentMatch(r[0], r[1], r[2], r[3]) for r in rows]


def silences(db: Database) -> dict[str, float]:
    """Source id -> since when it has been silent far beyond its usual rate (the gap warnings
    the daemon sent: meta `silent:<source>`)."""
    rows = db.execute("SELECT key, value FROM meta WHERE key LIKE 'silent:%'")
    return {r[0].removeprefix("silent:"): float(json.loads(r[1])["since"]) for r in rows}


def recent_articles(db: Database, since: float, cap: int, batch: int = 500) -> Iterator[Article]:
    """Articles first seen since then, newest first, at most `cap`: what the playground runs
    a query over. Read `batch` at a time by keyset, so no read stays open between batches."""
    columns = (
        "SELECT id, source_id, title, summary, body, url, guid, authors, published_at,"
        " fetched_at, first_seen_at FROM articles WHERE first_seen_at >= ?"
    )
    order = " ORDER BY first_seen_at DESC, id DESC LIMIT ?"
    read = 0
    rows = db.execute(columns + order, (since, min(batch, cap))).fetchall()
    while rows:
        for r in rows:
            yield _article(r)
        read += len(rows)
        if len(rows) < batch or read >= cap:
            return
        last = (rows[-1]["first_seen_at"], rows[-1]["id"])
        rows = db.execute(
            columns + " AND (first_seen_at, id) < (?, ?)" + order,
            (since, *last, min(batch, cap - read)),
        ).fetchall()


def count_articles_since(db: Database, since: float) -> int:
    return int(db.execute("SELECT count(*) FROM articles WHERE first_seen_at >= ?",
                          (since,)).fetchone()[0])  # fmt: skip


def retry_dead(db: Database, outbox_id: int) -> bool:
    """A dead delivery pending again, as `alerts retry` does (Outbox.requeue); False if it was
    not dead (already retried, sent, or unknown): retrying twice changes nothing."""
    return Outbox(db).requeue([outbox_id]) == 1


def _views(db: Database, article_ids: Sequence[str]) -> list[AlertView]:
    if not article_ids:
        return []
    rows = db.execute(
        f"SELECT * FROM outbox WHERE kind = 'alert' AND article_id IN ({_marks(article_ids)})"
        " ORDER BY id",
        list(article_ids),
    ).fetchall()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row["article_id"], []).append(row)
    return [_view(grouped[a]) for a in article_ids if a in grouped]


def _view(rows: list[Any]) -> AlertView:
    first = rows[0]
    deliveries = tuple(
        Delivery(r["id"], r["notifier_id"], r["status"], r["attempts"], r["last_error"],
                 r["note"], r["created_at"], r["sent_at"])
        for r in rows
    )  # fmt: skip
    payload = Alert.from_json(json.loads(first["payload"]), first["id"])
    return AlertView(payload, first["created_at"], first["cluster_id"], deliveries)


def _per_day(
    db: Database, table: str, column: str, key: str, now: float, days: int
) -> dict[str, list[int]]:
    """One indexed range count a day: portable, where bucketing times into days in SQL is not
    (SQLite's CAST truncates, PostgreSQL's rounds)."""
    start = (now // DAY - days + 1) * DAY  # midnight UTC, `days - 1` days ago
    counts: dict[str, list[int]] = {}
    for day in range(days):
        low = start + day * DAY
        rows = db.execute(
            f"SELECT {key}, count(*) FROM {table} WHERE {column} >= ? AND {column} < ?"
            f" GROUP BY {key}",
            (low, low + DAY),
        )
        for r in rows:
            counts.setdefault(r[0], [0] * days)[day] = int(r[1])
    return counts


def _article(r: Any) -> Article:
    published = r["published_at"]
    return Article(
        source_id=r["source_id"], title=r["title"], summary=r["summary"], body=r["body"],
        url=r["url"], guid=r["guid"], authors=tuple(json.loads(r["authors"])),
        published_at=None if published is None else datetime.fromtimestamp(published, UTC),
        fetched_at=datetime.fromtimestamp(r["fetched_at"], UTC),
    )  # fmt: skip


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _marks(items: Sequence[Any]) -> str:
    return ", ".join("?" for _ in items)
