"""The outbox: alerts waiting to be delivered, and what became of them.

An alert moves pending -> inflight (claimed with an attempt id and a lease) ->
sent or dead. It is marked sent only after the notifier confirmed, and only by
the attempt that holds it, so a late answer to an expired attempt changes
nothing. An in-flight alert whose lease expired (its daemon died mid-send) is
pending again: delivery is at least once, and a duplicate can only come from a
crash during a send. Three more states keep channels quiet: `suppressed` (a
follow-up of a story already alerted, where it cannot be threaded), `held`
(waiting for an hourly summary or a digest) and `grouped` (delivered inside
one).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from monitor.alerts import Alert, Placement, PriorAlert, bundle
from monitor.store.database import Database

STATUSES = ("pending", "inflight", "sent", "dead", "suppressed", "held", "grouped")


@dataclass(frozen=True)
class OutboxRow:
    id: int
    notifier_id: str
    kind: str
    status: str
    attempts: int
    attempt_id: str | None
    last_error: str | None
    created_at: float
    sent_at: float | None
    cluster_id: str | None
    parent_id: int | None
    ref: str | None
    note: str | None
    alert: Alert


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(
        self, notifier_id: str, limit: int, lease: float, now: float, after: int = 0
    ) -> list[OutboxRow]:
        """Take up to `limit` due alerts with ids above `after` in flight, each under a fresh
        attempt id and lease. A drain passes the last id it took, so it tries each alert
        once, at the cost of an index step, however long the backlog.

        A follow-up waits until the alert it threads under was sent (its
        message id is what the thread hangs on) or ended otherwise.
        """
        with self.db.transaction(serial=False) as db:
            db.execute(
                "UPDATE outbox SET status = 'pending'"
                " WHERE status = 'inflight' AND lease_until < ?",
                (time.time(),),
            )
            query = (
                "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " AND (parent_id IS NULL OR parent_id IN (SELECT id FROM outbox"
                " WHERE status IN ('sent', 'dead', 'suppressed', 'grouped')))"
                " AND notifier_id = ? AND id > ? ORDER BY id LIMIT ?"
            )
            params = (now, notifier_id, after, limit)
            # Another daemon's claim holds its rows until it commits: skip them, not wait
            ids = [r[0] for r in db.execute(query + db.skip_locked, params)]
            for alert_id in ids:
                db.execute(
                    "UPDATE outbox SET status = 'inflight', attempt_id = ?, lease_until = ?"
                    " WHERE id = ?",
                    (uuid.uuid4().hex, time.time() + lease, alert_id),
                )
        return self.get_many(ids)

    def release_all(self) -> int:
        """At start, with the state file locked: every in-flight alert belongs to a dead process."""
        with self.db.transaction() as db:
            return db.execute(
                "UPDATE outbox SET status = 'pending', attempt_id = NULL WHERE status = 'inflight'"
            ).rowcount

    def orphans_dead(self, notifier_ids: Iterable[str]) -> int:
        """Pending alerts for notifiers no longer in the config: dead (and retryable), not lost."""
        ids = list(notifier_ids)
        others = f" AND notifier_id NOT IN ({_marks(ids)})" if ids else ""
        with self.db.transaction() as db:
            return db.execute(
                "UPDATE outbox SET status = 'dead', last_error = 'no notifier with this id in the"
                f" config' WHERE status = 'pending'{others}",
                ids,
            ).rowcount

    def sent(self, row: OutboxRow, ref: str = "") -> bool:
        return self._finish(row, "status = 'sent', sent_at = ?, ref = ?, last_error = NULL",
                            (time.time(), ref or None))  # fmt: skip

    def retry(self, row: OutboxRow, error: str, delay: float) -> bool:
        return self._finish(row, "status = 'pending', last_error = ?, next_attempt_at = ?",
                            (error, time.time() + delay))  # fmt: skip

    def dead(self, row: OutboxRow, error: str) -> bool:
        return self._finish(row, "status = 'dead', last_error = ?", (error,))

    def _finish(self, row: OutboxRow, assignments: str, params: tuple[Any, ...]) -> bool:
        """Apply the outcome of an attempt, if that attempt still holds the alert."""
        with self.db.transaction(serial=False) as db:
            changed = db.execute(
                f"UPDATE outbox SET {assignments}, attempts = attempts + 1, attempt_id = NULL,"
                " lease_until = NULL WHERE id = ? AND status = 'inflight' AND attempt_id = ?",
                (*params, row.id, row.attempt_id),
            ).rowcount
        return changed == 1

    def requeue(self, ids: Iterable[int] = (), all_dead: bool = False) -> int:
        """Dead alerts (these, or all of them) pending again, with a fresh deadline."""
        ids = list(ids)
        if not (ids or all_dead):
            return 0
        where = "status = 'dead'" + ("" if all_dead else f" AND id IN ({_marks(ids)})")
        with self.db.transaction() as db:
            return db.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, created_at = ?,"
                f" note = 'requeued' WHERE {where}",
                (time.time(), time.time(), *([] if all_dead else list(ids))),
            ).rowcount

    def held_groups(self) -> list[tuple[str, str, float]]:
        """(notifier, note, oldest created_at) of each group of held alerts."""
        rows = self.db.execute(
            "SELECT notifier_id, note, min(created_at) FROM outbox WHERE status = 'held'"
            " GROUP BY notifier_id, note ORDER BY 3"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def bundle_held(
        self, notifier_id: str, note: str, kind: str, heading: Callable[[list[Alert]], str]
    ) -> int | None:
        """Queue one summary or digest carrying a group of held alerts; they become `grouped`."""
        with self.db.transaction() as db:
            rows = [
                _row(r)
                for r in db.execute(
                    "SELECT * FROM outbox WHERE status = 'held' AND notifier_id = ? AND note = ?"
                    " ORDER BY id",
                    (notifier_id, note),
                )
            ]
            if not rows:
                return None
            alerts = [r.alert for r in rows]
            message = bundle(kind, heading(alerts), notifier_id, alerts)
            now = time.time()
            inserted = db.execute(
                "INSERT INTO outbox (article_id, notifier_id, payload, kind, next_attempt_at,"
                " created_at, rule_ids, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    f"{message.article_id}:{rows[0].id}", notifier_id,
                    json.dumps(message.to_json()), kind, now, now,
                    json.dumps([r.id for r in message.rules]), note,
                ),
            )  # fmt: skip
            bundle_id = int(inserted.fetchone()[0])
            db.execute(
                f"UPDATE outbox SET status = 'grouped', parent_id = ? WHERE id IN ({_marks(rows)})",
                (bundle_id, *(r.id for r in rows)),
            )
        return bundle_id

    def get_many(self, ids: Iterable[int]) -> list[OutboxRow]:
        ids = list(ids)
        if not ids:
            return []
        rows = self.db.execute(f"SELECT * FROM outbox WHERE id IN ({_marks(ids)}) ORDER BY id", ids)
        return [_row(r) for r in rows]

    def parent_ref(self, row: OutboxRow) -> str | None:
        if row.parent_id is None:
            return None
        found = self.db.execute("SELECT ref FROM outbox WHERE id = ?", (row.parent_id,)).fetchone()
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, count(*) FROM outbox GROUP BY status")
        return dict.fromkeys(STATUSES, 0) | {r[0]: r[1] for r in rows}

    def oldest_pending(self) -> float | None:
        """When the oldest alert waiting to be sent was queued (for /metrics)."""
        row = self.db.execute(
            "SELECT min(created_at) FROM outbox WHERE status = 'pending'"
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def recent(self, limit: int = 10, status: str | None = None) -> list[OutboxRow]:
        query = "SELECT * FROM outbox" + (" WHERE status = ?" if status else "")
        params: tuple[Any, ...] = (status,) if status else ()
        rows = self.db.execute(query + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [_row(r) for r in rows]


class OutboxHistory:
    """What the alert policy needs to know, read inside the poll's transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def cluster_alerts(self, cluster_id: str, notifier_id: str) -> list[PriorAlert]:
        rows = self.db.execute(
            "SELECT id, rule_ids, created_at, parent_id FROM outbox WHERE cluster_id = ?"
            " AND notifier_id = ? AND kind = 'alert' AND status != 'dead' ORDER BY id",
            (cluster_id, notifier_id),
        )
        return [PriorAlert(r[0], frozenset(json.loads(r[1])), r[2], r[3]) for r in rows]

    def top_level_count(self, rule_id: str, notifier_id: str, since: float) -> int:
        rows = self.db.execute(
            "SELECT rule_ids FROM outbox WHERE notifier_id = ? AND created_at >= ?"
            " AND kind = 'alert' AND parent_id IS NULL"
            " AND status IN ('pending', 'inflight', 'sent')",
            (notifier_id, since),
        )  # an hour of one notifier's alerts: few, and read the same way on both engines
        return sum(rule_id in json.loads(row[0]) for row in rows)

    def enqueue(self, alert: Alert, cluster_id: str, placement: Placement, now: float) -> None:
        self.db.execute(
            "INSERT INTO outbox (article_id, notifier_id, payload, status,"
            " next_attempt_at, created_at, rule_ids, cluster_id, parent_id, note)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                alert.article_id, alert.notifier_id, json.dumps(alert.to_json()),
                placement.status, now, now, json.dumps([r.id for r in alert.rules]),
                cluster_id, placement.parent_id, placement.note,
            ),
        )  # fmt: skip


def _marks(ids: Iterable[Any]) -> str:
    return ", ".join("?" for _ in ids)


def _row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        notifier_id=row["notifier_id"],
        kind=row["kind"],
        status=row["status"],
        attempts=row["attempts"],
        attempt_id=row["attempt_id"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
        cluster_id=row["cluster_id"],
        parent_id=row["parent_id"],
        ref=row["ref"],
        note=row["note"],
        alert=Alert.from_json(json.loads(row["payload"]), row["id"]),
    )
