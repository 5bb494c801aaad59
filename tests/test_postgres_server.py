"""The PostgreSQL test server itself (tests/postgres.py, the postgres_* fixtures)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresError, PostgresServer

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def own_server(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """A second server of the test's own, for tests that stop or break it."""
    server = PostgresServer().start()
    yield server
    server.close()


def test_connect_with_the_password_over_tcp(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://monitor:pw-")
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_user, inet_server_addr()::text, version()").fetchone()
    assert row is not None
    assert row[0] == "monitor"
    assert row[1].startswith("127.0.0.1")
    assert row[2].startswith("PostgreSQL 15")


def test_a_table_survives_restart(postgres_server: PostgresServer, postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO kept VALUES (1, 'before restart')")
    port = postgres_server.port
    postgres_server.restart()
    assert postgres_server.port == port  # the same URLs keep working
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("before restart",)]


def test_fresh_databases_are_empty_and_independent(postgres_server: PostgresServer) -> None:
    first, second = postgres_server.create_database(), postgres_server.create_database()
    assert first != second
    with psycopg.connect(first) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(second) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        assert tables == (0,)
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM only_here")
    postgres_server.drop_database(first)
    postgres_server.drop_database(second)


def test_the_server_is_gone_after_stop(own_server: PostgresServer) -> None:
    url, pid, root = own_server.create_database(), own_server.proc.pid, own_server.root  # type: ignore[union-attr]
    psycopg.connect(url).close()
    own_server.stop()
    assert not own_server.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    own_server.start()  # the data is kept: the database is still there
    psycopg.connect(url).close()
    own_server.close()
    assert root is not None and not Path(root).exists()


def test_a_wrong_password_fails_without_showing_it(postgres_server: PostgresServer) -> None:
    wrong = "pw-wrong-0123456789"
    url = postgres_server.url().replace(postgres_server.password, wrong)
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(url, connect_timeout=5)
    message = str(caught.value)
    assert "password authentication failed" in message
    assert wrong not in message
    assert postgres_server.password not in message


def test_a_failed_start_raises_with_the_log_tail(postgres_server: PostgresServer) -> None:
    server = PostgresServer(settings={"shared_buffers": "lots"})
    try:
        with pytest.raises(PostgresError, match=r"(?s)exited with code.*log tail.*shared_buffers"):
            server.start()
        assert not server.running
    finally:
        server.close()
