"""Each source's state: its cursor, whether it was primed, and how its last polls went.

SQL on the caller's connection; the store wraps the writes in its transactions.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from monitor.schedule import Activity, Plan
from monitor.store.database import Database


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
    next_due_at: float | None = None  # when the next poll is due (None: an interval after)
    due_reason: str | None = None  # why then
    activity: Activity = field(default_factory=Activity)


def source_state(db: Database, source_id: str) -> SourceState:
    row = db.execute("SELECT * FROM sources WHERE source_id = ?", (source_id,)).fetchone()
    return _source_state(row) if row else SourceState(source_id, {}, primed=False)


def source_states(db: Database) -> list[SourceState]:
    return [_source_state(r) for r in db.execute("SELECT * FROM sources ORDER BY 1")]


def record_success(
    db: Database,
    source_id: str,
    cursor: dict[str, Any],
    now: float,
    item_count: int,
    new_count: int,
) -> None:
    """Advance the source: its new cursor, primed, polled and ok now, its error streak ended."""
    db.execute(
        "INSERT INTO sources (source_id, cursor, primed, last_poll_at, last_ok_at,"
        " last_error, error_streak, item_count, new_count)"
        " VALUES (?, ?, 1, ?, ?, NULL, 0, ?, ?)"
        " ON CONFLICT (source_id) DO UPDATE SET cursor = excluded.cursor, primed = 1,"
        " last_poll_at = excluded.last_poll_at, last_ok_at = excluded.last_ok_at,"
        " last_error = NULL, error_streak = 0, item_count = excluded.item_count,"
        " new_count = excluded.new_count, next_due_at = NULL",
        (source_id, json.dumps(cursor), now, now, item_count, new_count),
    )


def record_failure(db: Database, source_id: str, error: str, now: float) -> int:
    """Count a failed poll; returns the failure streak (1 for the first failure)."""
    db.execute(
        "INSERT INTO sources (source_id, last_poll_at, last_error, error_streak)"
        " VALUES (?, ?, ?, 1) ON CONFLICT (source_id) DO UPDATE SET"
        " last_poll_at = excluded.last_poll_at, last_error = excluded.last_error,"
        " error_streak = sources.error_streak + 1",
        (source_id, now, error),
    )
    row = db.execute("SELECT error_streak FROM sources WHERE source_id = ?", (source_id,))
    return int(row.fetchone()[0])


def plan(db: Database, source_id: str, next_poll: Plan, activity: Activity | None) -> None:
    """No poll of this source before `next_poll.due`; `activity` after a good poll."""
    if activity is None:
        db.execute(
            "UPDATE sources SET next_due_at = ?, due_reason = ? WHERE source_id = ?",
            (next_poll.due, next_poll.reason, source_id),
        )
        return
    db.execute(
        "UPDATE sources SET next_due_at = ?, due_reason = ?, last_new_at = ?, usual_gap = ?,"
        " news_polls = ? WHERE source_id = ?",
        (next_poll.due, next_poll.reason, activity.last_new_at, activity.usual_gap,
         activity.news_polls, source_id),
    )  # fmt: skip


def forget_sources(db: Database, older_than: float, kept: Collection[str]) -> None:
    """Forget, with their listings, the sources not in `kept` and not polled since `older_than`."""
    gone = "SELECT source_id FROM sources WHERE coalesce(last_poll_at, 0) < ?"
    if kept:
        gone += f" AND source_id NOT IN ({', '.join('?' * len(kept))})"
    db.execute(f"DELETE FROM listings WHERE source_id IN ({gone})", (older_than, *kept))
    db.execute(f"DELETE FROM sources WHERE source_id IN ({gone})", (older_than, *kept))


def _source_state(row: Any) -> SourceState:
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
        next_due_at=row["next_due_at"],
        due_reason=row["due_reason"],
        activity=Activity(row["last_new_at"], row["usual_gap"], row["news_polls"]),
    )
