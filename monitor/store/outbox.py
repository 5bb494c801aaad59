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
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from monitor.alerts import Alert

STATUSES = ("pending", "inflight", "sent", "dead", "suppressed", "held", "grouped")
Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


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
    def __init__(self, db: sqlite3.Connection, transaction: Transaction) -> None:
        self.db = db
        self.transaction = transaction

    def claim(
        self, notifier_id: str, limit: int, lease: float, now: float, skip: Iterable[int] = ()
    ) -> list[OutboxRow]:
        """Take up to `limit` due alerts in flight, each under a fresh attempt id and lease.

        A follow-up waits until the alert it threads under was sent (its
        message id is what the thread hangs on) or ended otherwise.
        """
        skip = list(skip)
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET status = 'pending'"
                " WHERE status = 'inflight' AND lease_until < ?",
                (time.time(),),
            )
            query = (
                "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " AND (parent_id IS NULL OR parent_id IN (SELECT id FROM outbox"
                " WHERE status IN ('sent', 'dead', 'suppressed', 'grouped')))"
            )
            query += f" AND notifier_id = ? AND id NOT IN ({_marks(skip)})"
            params = (now, notifier_id, *skip, limit)
            ids = [r[0] for r in db.execute(query + " ORDER BY id LIMIT ?", params)]
            for alert_id in ids:
                db.execute(
                    "UPDATE outbox SET status = 'inflight', attempt_id = ?, lease_until = ?"
                    " WHERE id = ?",
                    (uuid.uuid4().hex, time.time() + lease, alert_id),
                )
        return self.get_many(ids)

    def release_all(self) -> int:
        """At start, with the state file locked: every in-flight alert belongs to a dead process."""
        with self.transaction() as db:
            return db.execute(
                "UPDATE outbox SET status = 'pending', attempt_id = NULL WHERE status = 'inflight'"
            ).rowcount

    def orphans_dead(self, notifier_ids: Iterable[str]) -> int:
        """Pending alerts for notifiers no longer in the config: dead (and retryable), not lost."""
        ids = list(notifier_ids)
        with self.transaction() as db:
            return db.execute(
                "UPDATE outbox SET status = 'dead', last_error = 'no notifier with this id in the"
                f" config' WHERE status = 'pending' AND notifier_id NOT IN ({_marks(ids)})",
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
        with self.transaction() as db:
            changed = db.execute(
                f"UPDATE outbox SET {assignments}, attempts = attempts + 1, attempt_id = NULL,"
                " lease_until = NULL WHERE id = ? AND status = 'inflight' AND attempt_id = ?",
                (*params, row.id, row.attempt_id),
            ).rowcount
        return changed == 1

    def requeue(self, ids: Iterable[int] = (), all_dead: bool = False) -> int:
        """Dead alerts (these, or all of them) pending again, with a fresh deadline."""
        ids = list(ids)
        where = "status = 'dead'" + ("" if all_dead else f" AND id IN ({_marks(ids)})")
        with self.transaction() as db:
            return db.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, created_at = ?,"
                f" note = 'requeued' WHERE {where}",
                (time.time(), time.time(), *([] if all_dead else list(ids))),
            ).rowcount

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

    def recent(self, limit: int = 10, status: str | None = None) -> list[OutboxRow]:
        query = "SELECT * FROM outbox" + (" WHERE status = ?" if status else "")
        params: tuple[Any, ...] = (status,) if status else ()
        rows = self.db.execute(query + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [_row(r) for r in rows]


def _marks(ids: Iterable[Any]) -> str:
    return ", ".join("?" for _ in ids)


def _row(row: sqlite3.Row) -> OutboxRow:
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
