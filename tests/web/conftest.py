"""The web page's fixtures: a store seeded through the real pipeline (seed.py), and the
app served over real HTTP on loopback by the listener the daemon uses."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from urllib.parse import urlencode

import pytest

from monitor.cli import load_all
from monitor.listener import Listener
from monitor.store import open_store
from monitor.web import WebApp
from tests.conftest import FENTANYL_RULE, NVIDIA_RULE, Workspace
from tests.servers import FeedServer
from tests.web.seed import seed


@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str]


@dataclass
class Client:
    """Requests to the app, keeping cookies as a browser does; redirects are not followed."""

    base: str
    jar: CookieJar = field(default_factory=CookieJar)

    def get(self, path: str, **query: str) -> Reply:
        return self._send(urllib.request.Request(self.url(path, **query)))

    def post(self, path: str, form: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
        data = urlencode(form).encode()
        return self._send(urllib.request.Request(self.base + path, data, headers or {}))

    def url(self, path: str, **query: str) -> str:
        return self.base + path + (f"?{urlencode(query)}" if query else "")

    def _send(self, request: urllib.request.Request) -> Reply:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        try:
            with opener.open(request, timeout=30) as reply:
                return Reply(reply.status, reply.read().decode(), dict(reply.headers))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read().decode(), dict(exc.headers))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def seeded_workspace(root, token) -> Workspace:
    workspace = Workspace(root)
    workspace.write_rule("nvidia", NVIDIA_RULE)
    workspace.write_rule("fentanyl", FENTANYL_RULE)
    server = FeedServer().start()
    try:
        seed(workspace, server, token)
    finally:
        server.stop()
    return workspace


@contextmanager
def serve_app(workspace: Workspace) -> Iterator[Client]:
    config, rules = load_all(workspace.config)
    app = WebApp(config, lambda: rules, open_store(config.state, config.base_dir))
    listener = Listener(("127.0.0.1", 0), app, "test")
    try:
        yield Client(f"http://127.0.0.1:{listener.port}")
    finally:
        listener.stop()
        app.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Workspace, Client]]:
    """The app with a token, over a seeded store; shared by a module's tests (a retry test
    retries its own alert)."""
    workspace = seeded_workspace(tmp_path_factory.mktemp("web"), token="web-token-9f8e7d6c5b4a")
    with serve_app(workspace) as client:
        yield workspace, client
