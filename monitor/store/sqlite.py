"""The SQLite engine: one file, one daemon.

WAL mode so readers (`trade-monitor status`) never block the daemon;
`busy_timeout` so a second process waits instead of failing; every write in a
`BEGIN IMMEDIATE` transaction so it takes the write lock up front and cannot
deadlock on upgrade. `synchronous=FULL`: a committed "seen + queued" is on
disk before we move on, so a power loss cannot forget an alert we matched.
The schema is versioned with `PRAGMA user_version` and migrated on open. The
daemon locks the file (daemon.lock_state): one daemon a file.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monitor.errors import Problem, UserError
from monitor.store.schema import MIGRATIONS


class SqliteDatabase:
    shared = False
    skip_locked = ""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.name = path, str(path)
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

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    @contextmanager
    def transaction(self, serial: bool = True) -> Iterator[SqliteDatabase]:
        """Every transaction writes here, so each takes the file's write lock up front."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def lost(self, exc: BaseException) -> bool:
        return False  # a file does not go away as a server does

    def reconnect(self) -> None:
        pass

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        with self.transaction():
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            check_version(self.name, version, len(MIGRATIONS))
            for number, script in enumerate(MIGRATIONS[version:], version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={number}")


def check_version(name: str, version: int, known: int) -> None:
    """Refuse a database a newer trade-monitor has migrated past what this one knows."""
    if version > known:
        message = f"written by a newer trade-monitor (schema {version})"
        hint = "upgrade trade-monitor, or give this config its own state:"
        raise UserError([Problem(name, message, hint=hint)])


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
