from __future__ import annotations

import email
import email.policy
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.servers import HTTP_DRIP, SMTP_DRIP, DripServer, FeedServer, SlackServer

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "testdata"

NVIDIA_RULE = """
id: nvidia
title: Nvidia
severity: medium
query: nvidia OR "Jensen Huang"
tests:
  match: ["Nvidia shares rose."]
  no_match: ["La envidia es mala."]
"""

FENTANYL_RULE = """
id: fentanyl-tariffs
title: Fentanyl-linked tariffs
severity: high
query: fentanyl NEAR/12 (tariff* OR duties OR levies)
"""


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    server = SlackServer().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    """A real SQLite store (outbox included) in a temporary folder."""
    from monitor.store import open_store

    store = open_store("sqlite:///state/t.db", tmp_path)
    yield store
    store.close()


@pytest.fixture
def http_drip() -> Iterator[DripServer]:
    """An HTTP peer that drips its reply, one byte every half second."""
    server = DripServer(HTTP_DRIP).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_drip() -> Iterator[DripServer]:
    """An SMTP peer that drips its greeting, one byte every half second."""
    server = DripServer(SMTP_DRIP).start()
    yield server
    server.stop()


class MailBox:
    """aiosmtpd handler: keeps every delivered message; answers `reply` to DATA."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []
        self.reply = "250 OK"
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.reply.startswith("250"):
            return self.reply
        self.envelopes.append(envelope)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return self.reply


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: MailBox


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = MailBox()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        login, password = data.login.decode(), data.password.decode()
        mailbox.logins.append((login, password))
        if (login, password) == ("desk", "s3cret-pass"):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False, message="535 5.7.8 credentials invalid")

    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield SmtpServer("127.0.0.1", port, mailbox)
    controller.stop()


@dataclass
class Workspace:
    """A config folder: config.yaml, rules/ and an articles folder, like a user's."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def db(self) -> Path:
        return self.root / "state" / "monitor.db"

    def write_config(
        self,
        sources: list[dict[str, Any]],
        notifiers: list[dict[str, Any]] | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> Path:
        data = {
            "state": "sqlite:///state/monitor.db",
            "rules": ["rules/"],
            "defaults": {"notify": ["console"], "dispatch_interval": "1s", **(defaults or {})},
            "sources": sources,
            "notifiers": notifiers or [{"id": "console", "type": "console"}],
        }
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config

    def write_rule(self, name: str, text: str) -> Path:
        path = self.root / "rules" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return path

    def articles(self) -> Path:
        folder = self.root / "articles"
        folder.mkdir(exist_ok=True)
        return folder


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.write_rule("nvidia", NVIDIA_RULE)
    ws.write_rule("fentanyl", FENTANYL_RULE)
    return ws


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", *args]


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (shared test data is only on the project's machines)")
    return path


# -- PostgreSQL (issue 12): one real server per test run, a fresh database per test ------------

from tests.postgres import PostgresServer, unavailable_reason  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole run (tests/postgres.py), stopped at the end.

    Skips where PostgreSQL is not installed; under CI (CI=true) its absence fails instead.
    """
    import os

    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
        pytest.skip(reason)
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()  # also on Ctrl-C (pytest finalizes fixtures) and at exit (atexit)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database (postgresql://user:password@127.0.0.1:port/name)."""
    if not postgres_server.running:  # an earlier test stopped it and left it so
        postgres_server.start()
    url = postgres_server.create_database()
    yield url
    if postgres_server.running:  # a test may have left it stopped
        postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def each_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The store on each engine in turn: SQLite, then a fresh PostgreSQL database."""
    from monitor.store import open_store

    if request.param == "sqlite":
        url = "sqlite:///state/t.db"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = open_store(url, tmp_path)
    yield opened
    opened.close()
