"""What daemons sharing one database agree on: leases, the pace of each notifier, who runs.

Each is one statement, atomic on both engines, so no daemon coordinates another:
- a *lease* names a piece of work (a source's poll, a retention run) and who holds it
  until when; a daemon that dies leaves a lease that simply runs out;
- *pacing* hands out a notifier's send times one `pace` apart, whoever sends;
- the *daemons* table is each daemon's heartbeat, for `status`.
On SQLite one daemon holds the file, and the daemon does not ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.store.database import Database

HEARTBEAT = 15.0  # seconds between a daemon's heartbeats; three missed and it shows as gone


@dataclass(frozen=True)
class DaemonRow:
    id: str
    host: str
    pid: int
    version: str
    rules: str  # the fingerprint of the rule files it loaded
    started_at: float
    seen_at: float


def take_lease(db: Database, name: str, owner: str, until: float, now: float) -> bool:
    """Hold `name` until `until`, if nobody holds it now; True if this owner has it."""
    taken = db.execute(
        "INSERT INTO leases (name, owner, held_until) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
        " held_until = excluded.held_until WHERE leases.held_until <= ?",
        (name, owner, until, now),
    )
    return taken.rowcount == 1


def hold_lease(db: Database, name: str, owner: str, until: float) -> None:
    """Keep (or shorten) a lease this owner holds: after a poll, until the next is due."""
    db.execute(
        "UPDATE leases SET held_until = ? WHERE name = ? AND owner = ?", (until, name, owner)
    )


def send_slot(db: Database, notifier_id: str, pace: float, now: float) -> float:
    """The time this notifier may send next, taken: the next daemon to ask gets `pace` later."""
    row = db.execute(
        "INSERT INTO pacing (notifier_id, next_at) VALUES (?, ?)"
        " ON CONFLICT (notifier_id) DO UPDATE SET next_at ="
        " CASE WHEN pacing.next_at > ? THEN pacing.next_at ELSE ? END + ?"
        " RETURNING next_at",
        (notifier_id, now + pace, now, now, pace),
    ).fetchone()
    return float(row[0]) - pace


def beat(db: Database, daemon: DaemonRow) -> None:
    """Say this daemon is alive; forget daemons not heard from for a day (killed ones)."""
    db.execute("DELETE FROM daemons WHERE seen_at < ?", (daemon.seen_at - 86400,))
    db.execute(
        "INSERT INTO daemons (id, host, pid, version, rules, started_at, seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " rules = excluded.rules, seen_at = excluded.seen_at",
        (daemon.id, daemon.host, daemon.pid, daemon.version, daemon.rules,
         daemon.started_at, daemon.seen_at),
    )  # fmt: skip


def leave(db: Database, daemon_id: str) -> None:
    db.execute("DELETE FROM daemons WHERE id = ?", (daemon_id,))


def daemons(db: Database, since: float) -> list[DaemonRow]:
    """The daemons heard from since then, the longest running first."""
    rows = db.execute(
        "SELECT id, host, pid, version, rules, started_at, seen_at FROM daemons"
        " WHERE seen_at >= ? ORDER BY started_at",
        (since,),
    )
    return [DaemonRow(*row) for row in rows]
