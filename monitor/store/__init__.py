"""Where state lives: seen articles, matches, the outbox, source schedules, daemons.

`open_store` reads the config's `state:` URL: `sqlite:///path.db` (the embedded
default, one daemon a file) or `postgresql://user:password@host/db` (several
daemons sharing the work). One `Store` runs on either engine.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from monitor.errors import Problem, UserError
from monitor.stages import NewArticle
from monitor.store.outbox import OutboxRow
from monitor.store.postgres import PostgresDatabase, hide_password, is_postgres, redact_url
from monitor.store.sources import SourceState
from monitor.store.sqlite import SqliteDatabase
from monitor.store.store import Store


def sqlite_path(url: str, base_dir: Path) -> Path | None:
    """The file of a `sqlite:///` URL (relative to the config's folder; `sqlite:////abs` is
    absolute); None for a database server."""
    if is_postgres(url):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    return path if path.is_absolute() else base_dir / path


def open_store(url: str, base_dir: Path) -> Store:
    """The store; UserError naming the file or server (never its password) if it cannot be
    used: garbage, read-only, unreachable, refused."""
    path = sqlite_path(url, base_dir)
    if path is None:
        try:
            return Store(PostgresDatabase(url))
        except psycopg.Error as exc:
            raise _unreachable(url, exc) from None
    try:
        return Store(SqliteDatabase(path))
    except (OSError, sqlite3.Error) as exc:
        raise _unusable(path, exc) from None


def _unreachable(url: str, exc: psycopg.Error) -> UserError:
    reason = hide_password(str(exc).strip() or type(exc).__name__, url)
    hint = "check the host, port, user, password and database in state:, and that the server runs"
    message = f"cannot use the state database: {reason}"
    return UserError([Problem(redact_url(url), message, hint=hint)])


def _unusable(path: Path, exc: OSError | sqlite3.Error) -> UserError:
    reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in reason:
        hint = "this is not a trade-monitor database: move it aside, or point state: elsewhere"
    elif isinstance(exc, PermissionError) or "readonly" in reason or "unable to open" in reason:
        hint = "the file and its folder must be writable (SQLite writes -wal and -shm files there)"
    else:
        hint = "check the disk and the path in state:"
    return UserError([Problem(str(path), f"cannot use the state database: {reason}", hint=hint)])


__all__ = ["NewArticle", "OutboxRow", "SourceState", "Store", "open_store", "sqlite_path"]
