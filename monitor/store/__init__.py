"""Where state lives: seen articles, matches, the outbox and source schedules.

`open_store` reads the config's `state:` URL. SQLite is the embedded default;
PostgreSQL (for several instances sharing the work) is planned.
"""

from __future__ import annotations

from pathlib import Path

from monitor.store.outbox import OutboxRow
from monitor.store.sqlite import NewArticle, SourceState, SqliteStore

Store = SqliteStore


def sqlite_path(url: str, base_dir: Path) -> Path:
    """`sqlite:///rel/path.db` is relative to the config's folder; `sqlite:////abs` is absolute."""
    path = Path(url.removeprefix("sqlite:///"))
    return path if path.is_absolute() else base_dir / path


def open_store(url: str, base_dir: Path) -> Store:
    return SqliteStore(sqlite_path(url, base_dir))


__all__ = ["NewArticle", "OutboxRow", "SourceState", "Store", "open_store", "sqlite_path"]
