"""The desk's web page: alerts, sources, rules and a rule playground (docs/web.md).

A plain WSGI app (stdlib only, Jinja2 templates with autoescape), mounted on the
daemon's opt-in `http:` listener beside /metrics and /healthz, or served alone by
`trade-monitor web`. It reads the state through a connection of its own, one
request at a time, so a page never waits on or delays the daemon's store thread.

Read-only by default. The one action, retrying a dead alert, is a POST that needs
the configured token and a CSRF token bound to a SameSite cookie; without a
configured token the page offers no action at all. Every page is sent with a
Content-Security-Policy that allows no inline script.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from importlib.resources import files
from typing import Any, TypeVar
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from monitor.config import Config
from monitor.logs import Secrets
from monitor.match import RuleSet
from monitor.store import Store
from monitor.web import pages
from monitor.web.playground import check_query, run_playground

log = logging.getLogger("monitor")
T = TypeVar("T")
StartResponse = Callable[..., Any]
COOKIE = "tm_csrf"
MAX_FORM = 64 * 1024  # a retry form is a few hundred bytes
HEADERS = [
    ("Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
     " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]  # fmt: skip
STATIC = {"style.css": "text/css; charset=utf-8", "playground.js": "text/javascript"}
ALERT_PATH = re.compile(r"^/alerts/(\d{1,18})$")
RETRY_PATH = re.compile(r"^/alerts/(\d{1,18})/retry$")
DB_AWAY = "the state database cannot be reached now; the daemon's log says more"


class Unavailable(Exception):
    """The state cannot be read now: its database is away, or the page is stopping."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    environ: dict[str, Any]

    def cookie(self, name: str) -> str:
        try:
            jar = SimpleCookie(self.environ.get("HTTP_COOKIE", ""))
        except CookieError:  # a malformed header: as if there were no cookie
            return ""
        morsel = jar.get(name)
        return morsel.value if morsel else ""


@dataclass
class Response:
    status: str
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    extra: tuple[tuple[str, str], ...] = ()


class WebApp:
    """The WSGI app. `rules` gives the rules in force (the daemon's change on reload)."""

    def __init__(self, config: Config, rules: Callable[[], RuleSet], store: Store) -> None:
        self.config, self.rules, self.store = config, rules, store
        self.token = config.web_token
        self.secret = secrets.token_bytes(32)  # per process: a restart ends every form
        self.lock = threading.Lock()  # the store's connection serves one thread at a time
        self.closed = False
        # each secret as written and as HTML-escaped (in a filter's Markup)
        self.hidden = Secrets(piece for s in config.secrets() for piece in (s, str(escape(s))))
        self.env = Environment(
            loader=PackageLoader("monitor.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=self.shown,
        )
        self.env.filters.update(pages.FILTERS)

    def shown(self, value: Any) -> Any:
        """Each value a template prints, with the config's secrets as ***: a stored error
        (a plugin source's exception quoting its URL and key) is shown as `status` prints it.
        A filter's Markup (`join` escapes as it joins) stays Markup."""
        if not self.hidden or not isinstance(value, str):
            return value
        text = self.hidden.hide(value)
        return Markup(text) if isinstance(value, Markup) else text

    def close(self) -> None:
        """After this, a request still in flight (the listener's threads outlive its stop)
        gets a 503, not a read on a closed connection."""
        with self.lock:
            self.closed = True
            self.store.close()

    def read(self, work: Callable[..., T], *args: Any) -> T:
        """Run a read (or the retry) on the page's own connection, one thread at a time.

        A shared database that went away is reconnected once; if it is still away the
        page says so at once (Unavailable). Store.again_if_lost would wait up to two
        minutes holding this lock, and every other page would queue behind it."""
        with self.lock:
            if self.closed:
                raise Unavailable("the page is stopping; reload it in a moment")
            db = self.store.db
            try:
                return work(db, *args)
            except Exception as exc:
                if not db.lost(exc):
                    raise
            try:
                db.reconnect()
                return work(db, *args)
            except Exception as exc:
                if not db.lost(exc):
                    raise
                log.warning("the web page cannot read the state: %s", str(exc).strip()[:200])
                raise Unavailable(DB_AWAY) from None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO", "") or "/",
            {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()},
            environ,
        )
        try:
            response = self.route(request)
        except Unavailable as exc:
            response = self.page("error.html", "503 Service Unavailable", message=str(exc))
        except Exception:  # a bug or a database error: logged here, never shown on the page
            log.exception("the web page failed on %s", request.path)
            message = "something went wrong; the daemon's log says what"
            response = self.page("error.html", "500 Internal Server Error", message=message)
        length = ("Content-Length", str(len(response.body)))
        headers = [("Content-Type", response.content_type), length, *HEADERS, *response.extra]
        start_response(response.status, headers)
        return [] if request.method == "HEAD" else [response.body]  # HEAD: the headers alone

    def route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if found := RETRY_PATH.match(path):
            if method == "POST":
                return self.retry(request, int(found[1]))
            return self.not_allowed("POST", "the retry is a POST from the alert's page")
        if method not in ("GET", "HEAD"):
            return self.not_allowed("GET, HEAD", "read-only page")
        if path == "/":
            return Response("303 See Other", b"", extra=(("Location", "/alerts"),))
        if path.startswith("/static/"):
            return self.static(path.removeprefix("/static/"))
        if path == "/alerts":
            return self.page("alerts.html", **pages.alerts_page(self, request.query))
        if found := ALERT_PATH.match(path):
            return self.alert_page(request, int(found[1]))
        if path == "/sources":
            return self.page("sources.html", **pages.sources_page(self))
        if path == "/rules":
            return self.page("rules.html", **pages.rules_page(self))
        if path == "/playground":
            return self.page("playground.html", **run_playground(self, request.query))
        if path == "/playground/check":
            body = json.dumps(check_query(self.rules(), request.query.get("query", "")))
            return Response("200 OK", body.encode(), "application/json")
        return self.page("error.html", "404 Not Found", message=f"no page at {path}")

    def page(self, template: str, status: str = "200 OK", **context: Any) -> Response:
        html = self.env.get_template(template).render(
            **context, nav=template.removesuffix(".html"), actions=self.token is not None
        )
        return Response(status, html.encode())

    def not_allowed(self, allow: str, message: str) -> Response:
        response = self.page("error.html", "405 Method Not Allowed", message=message)
        response.extra = (("Allow", allow),)
        return response

    def static(self, name: str) -> Response:
        if name not in STATIC:
            return self.page("error.html", "404 Not Found", message="no such file")
        body = files("monitor.web").joinpath("static", name).read_bytes()
        return Response("200 OK", body, STATIC[name])

    # ---- the one action: retry a dead alert ---------------------------------------

    def alert_page(self, request: Request, outbox_id: int) -> Response:
        context = pages.alert_page(self, outbox_id)
        if context is None:
            return self.page("error.html", "404 Not Found", message=f"no alert #{outbox_id}")
        session = request.cookie(COOKIE)
        cookie: tuple[tuple[str, str], ...] = ()
        if not re.fullmatch(r"[0-9a-f]{32}", session):
            session = secrets.token_hex(16)
            cookie = (("Set-Cookie",
                       f"{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict"),)  # fmt: skip
        context |= {"csrf": self.csrf(session), "retried": request.query.get("retried")}
        response = self.page("alert.html", **context)
        response.extra = cookie
        return response

    def csrf(self, session: str) -> str:
        return hmac.new(self.secret, f"retry:{session}".encode(), hashlib.sha256).hexdigest()

    def retry(self, request: Request, outbox_id: int) -> Response:
        form = read_form(request.environ)
        refused = self.refusal(request, form)
        if refused:
            log.warning("web: a retry of alert #%d was refused: %s", outbox_id, refused)
            return self.page("error.html", "403 Forbidden", message=refused)
        try:
            delivery = int(form.get("delivery", ""))
        except ValueError:
            return self.page("error.html", "400 Bad Request", message="no delivery named")
        done = self.read(pages.retry_delivery, outbox_id, delivery)
        log.info("web: retry of delivery #%d %s", delivery, "queued" if done else "not needed")
        where = f"/alerts/{outbox_id}?retried={'1' if done else '0'}"
        return Response("303 See Other", b"", extra=(("Location", where),))

    def refusal(self, request: Request, form: dict[str, str]) -> str:
        """Why this action may not run ("" if it may). Neither token is ever echoed."""
        if self.token is None:
            return "this page is read-only: set web.token in the config to allow retries"
        given = form.get("token") or request.environ.get("HTTP_X_TRADE_MONITOR_TOKEN", "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return "wrong or missing token"
        session = request.cookie(COOKIE)
        if not session or not hmac.compare_digest(form.get("csrf", ""), self.csrf(session)):
            return "the form has expired or came from another site: reload the page and retry"
        return ""


def read_form(environ: dict[str, Any]) -> dict[str, str]:
    """An urlencoded POST body, at most MAX_FORM bytes (a longer one reads as empty)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return {}
    if not 0 < length <= MAX_FORM:
        return {}
    body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body).items()}


__all__ = ["WebApp"]
