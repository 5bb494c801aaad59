"""Where state lives: seen articles, matches, the outbox and source schedules.

`open_store` reads the config's `state:` URL. SQLite is the embedded default;
PostgreSQL (for several instances sharing the work) is planned.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.errors import Problem, UserError
from monitor.store.outbox import OutboxRow
from monitor.store.sources import SourceState
from monitor.store.sqlite import NewArticle, SqliteStore

Store = SqliteStore


def sqlite_path(url: str, base_dir: Path) -> Path:
    """`sqlite:///rel/path.db` is relative to the config's folder; `sqlite:////abs` is absolute."""
    path = Path(url.removeprefix("sqlite:///"))
    return path if path.is_absolute() else base_dir / path


def open_store(url: str, base_dir: Path) -> Store:
    """The store; UserError naming the file if it cannot be used (garbage, read-only, ...)."""
    path = sqlite_path(url, base_dir)
    try:
        return SqliteStore(path)
    except (OSError, sqlite3.Error) as exc:
        raise _unusable(path, exc) from None


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
