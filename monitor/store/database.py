"""What the store needs of a database engine, so its SQL is written once for both.

The store's SQL uses what SQLite and PostgreSQL share: `?` placeholders (the
PostgreSQL engine turns them into `%s`), `ON CONFLICT`, `RETURNING`, rows read by
index or by column name. An engine adds its connection, its transactions, its
versioned migrations and the little that differs: whether several daemons may
share it, and how a claim skips rows another daemon holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    """One connection to the state database, used by one thread at a time."""

    name: str  # how messages name it: the file, or the URL without its password
    shared: bool  # may several daemons use it at once? (SQLite: no, the file is locked)
    skip_locked: str  # ends a SELECT that claims rows: "" or " FOR UPDATE SKIP LOCKED"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def transaction(self, serial: bool = True) -> AbstractContextManager[Database]:
        """A transaction. `serial` ones run one at a time across every daemon (what is seen,
        clustered and placed must not race); claims of single rows need not be."""
        ...

    def lost(self, exc: BaseException) -> bool:
        """Is this the connection failing (a server restart), not the SQL?"""
        ...

    def reconnect(self) -> None: ...

    def close(self) -> None: ...
