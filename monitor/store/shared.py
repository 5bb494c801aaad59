"""What daemons sharing one database agree on: leases, the pace of each notifier, who runs.

Each is one statement, atomic on both engines, so no daemon coordinates another:
- a *lease* names a piece of work (a source's poll, a retention run) and who holds it
  until when; a daemon that dies leaves a lease that simply runs out;
- *pacing* gives one daemon at a time a notifier's turn to send, free again `pace`
  after that send ended, whoever sends next;
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


def take_turn(db: Database, notifier_id: str, hold_until: float, now: float) -> float | None:
    """Take this notifier's turn to send, held until `hold_until` at the latest, if the
    channel is free now: None. Otherwise the time it frees (another daemon is sending, or
    sent less than `pace` ago)."""
    db.execute(
        "INSERT INTO pacing (notifier_id, next_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (notifier_id, 0.0),
    )
    taken = db.execute(
        "UPDATE pacing SET next_at = ? WHERE notifier_id = ? AND next_at <= ?",
        (hold_until, notifier_id, now),
    )
    if taken.rowcount == 1:
        return None
    row = db.execute("SELECT next_at FROM pacing WHERE notifier_id = ?", (notifier_id,))
    return float(row.fetchone()[0])


def end_turn(db: Database, notifier_id: str, held_until: float, free_at: float) -> None:
    """The send is over: the channel is free again at `free_at` (the end of it, plus `pace`).
    A turn that ran out (`held_until` passed, another daemon took it) is left alone."""
    db.execute(
        "UPDATE pacing SET next_at = ? WHERE notifier_id = ? AND next_at = ?",
        (free_at, notifier_id, held_until),
    )


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
