"""The opt-in HTTP listener (`http:` in config.yaml): /metrics, /healthz and the web page.

A stdlib wsgiref server on a daemon thread of its own, one thread per request,
so a slow scraper never touches the event loop; `Listener.stop` shuts it down
with the daemon. The address is parsed here, for config.py: a bare port listens
on loopback, and any other interface only when the user names it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import Annotated, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pydantic import BeforeValidator

from monitor.errors import Problem, UserError

LOOPBACK = "127.0.0.1"
IDLE_TIMEOUT = 60.0  # seconds a connection may wait for the rest of a request
EXPECTED = "expected a port (9464) or host:port (127.0.0.1:9464, [::1]:9464)"
HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def parse_listen(value: Any) -> str | None:
    """`9464`, `host:9464` or `[v6]:9464` -> `host:port` (loopback when no host is named)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(EXPECTED)
    text = str(value).strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = LOOPBACK, text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _is_ip(host, version=6):
            raise ValueError(f"{host!r} is not an IPv6 address; {EXPECTED}")
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, as [::1]:9464; got {text!r}")
    host = host or LOOPBACK
    if not (_is_ip(host) or HOSTNAME.match(host)):
        raise ValueError(f"{host!r} is not an address or host name; {EXPECTED}")
    if not (port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise ValueError(f"the port must be a number from 1 to 65535, got {text!r}; {EXPECTED}")
    return f"[{host}]:{int(port_text)}" if ":" in host else f"{host}:{int(port_text)}"


def split_listen(address: str) -> tuple[str, int]:
    """`host:port` as `parse_listen` wrote it -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


ListenAddress = Annotated[str | None, BeforeValidator(parse_listen)]


def _is_ip(text: str, version: int | None = None) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version is None or address.version == version


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        # as HTTPServer's, without its reverse DNS look-up (socket.getfqdn), which may hang
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    # A client that connects and sends nothing (or half a request) frees its thread
    # after this long, so idle connections cannot pile up threads for months.
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        pass


def routes(
    metrics_app: WsgiApp,
    health: Callable[[], tuple[bool, dict[str, Any]]],
    websub: WsgiApp | None = None,
    web: WsgiApp | None = None,
) -> WsgiApp:
    """/metrics from prometheus-client's WSGI app, /healthz as JSON (200 or 503),
    /websub/<source id> (a hub's checks and deliveries, monitor/websub.py) when push is on,
    and every other path to the web page (monitor/web/) when given."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if websub is not None and path.startswith("/websub/"):
            return websub(environ, start_response)
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            ok, body = health()
            status = "200 OK" if ok else "503 Service Unavailable"
            headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
            start_response(status, headers)
            return [json.dumps(body).encode() + b"\n"]
        if web is not None:
            return web(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: /metrics and /healthz are served here\n"]

    return app


class Listener:
    """The HTTP server on its thread; `stop` closes the socket and ends the thread."""

    def __init__(self, address: tuple[str, int], app: WsgiApp, where: str) -> None:
        host, port = address
        server_class = _Server6 if ":" in host else _Server
        try:
            self.server = make_server(
                host, port, app, server_class=server_class, handler_class=_QuietHandler
            )
        except OSError as exc:  # in use, or not an address of this host
            reason = exc.strerror or str(exc)
            hint = "choose another port in http:, or stop what listens there"
            message = f"cannot listen on {host}:{port}: {reason}"
            raise UserError([Problem(where, message, key="http", hint=hint)]) from None
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="http",
            daemon=True,
        )  # fmt: skip
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5.0)
