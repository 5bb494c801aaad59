"""WebSub push: a feed that names a hub sends its new items to us as they appear.

When `push:` gives the public callback base URL and an rss source's feed advertises
a hub (the Link header, or `<link rel="hub">` in the feed: rss.find_hub keeps it in
the source's cursor), the daemon subscribes at `<callback>/<source id>` with a
random secret per subscription. The hub checks the request by calling that URL
with a challenge (`verify`); from then its deliveries, signed with the secret
(X-Hub-Signature), go through the pipeline's own path (`Pipeline.pushed`: seen,
match, record, queue), so a push never bypasses dedupe, and the daemon
dispatches at once. While a subscription runs, the source is still polled, at
`push.slow_interval` at least, as a safety net; it is renewed at 80% of the lease
the hub granted. A hub that never confirms is dropped after `push.confirm_within`
and the source is polled as before; it is asked again an hour later.

Subscriptions live in the store's `meta` table (`websub:<source id>`), so a restart
keeps them while their lease runs. The secret is never logged, nor the topic or
the hub's URL (a feed's URL may carry an API key): only the source id.

The listener's threads hand their work to the event loop (`asyncio.run_coroutine_
threadsafe`, a bounded wait), as /healthz does: all state is touched on the loop only.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx2 as httpx

from monitor.fetch import FetchError
from monitor.sources import SourceError, network_floor
from monitor.sources.rss import RssConfig, parse_feed

if TYPE_CHECKING:
    from monitor.config import PushConfig
    from monitor.fetch import Fetcher
    from monitor.pipeline import Pipeline
    from monitor.store import Store

log = logging.getLogger("monitor")
RENEW_AT = 0.8  # of the granted lease
RETRY = 3600.0  # seconds before a hub that refused or never confirmed is asked again
WAIT = 10.0  # seconds the listener's thread waits for the loop
ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")  # X-Hub-Signature methods the spec allows
StartResponse = Callable[..., Any]


@dataclass
class Subscription:
    """One source's subscription as the store keeps it (times are Unix seconds)."""

    hub: str
    topic: str
    secret: str
    active_until: float | None = None  # the granted lease's end; None: never confirmed
    renew_at: float | None = None
    pending_since: float | None = None  # a (re)subscribe the hub has not confirmed yet

    def active(self, now: float) -> bool:
        return self.active_until is not None and now < self.active_until


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """`X-Hub-Signature: method=hex` is the HMAC of the body with the secret."""
    method, _, digest = header.strip().partition("=")
    if method.lower() not in ALGORITHMS or not digest:
        return False
    expected = hmac.new(secret.encode(), body, method.lower()).hexdigest()
    return hmac.compare_digest(expected, digest.strip().lower())


def link_self(header: str) -> str | None:
    """The rel=self URL of a delivery's Link header (httpx parses it), if it names one."""
    if not header:
        return None
    try:
        link = httpx.Response(200, headers={"link": header}).links.get("self")
    except Exception:
        return None
    return str(link["url"]) if link and link.get("url") else None


class WebSub:
    """The subscriptions of the push-enabled rss sources; every method runs on the loop."""

    def __init__(
        self,
        push: PushConfig,
        store: Store,
        fetcher: Fetcher,
        pipeline: Pipeline,
        sources: Iterable[RssConfig],
        pushed: Callable[[], Awaitable[None]],
        changed: Callable[[str, bool], None],
    ) -> None:
        """`pushed`: called after a delivery recorded something (the daemon dispatches);
        `changed(source id, active)`: a subscription started or ended (the poll interval)."""
        self.push, self.store, self.fetcher, self.pipeline = push, store, fetcher, pipeline
        self.sources = {s.id: s for s in sources}
        self.pushed, self.changed = pushed, changed
        self.subs: dict[str, Subscription] = {}
        self.retry_at: dict[str, float] = {}

    def active(self, source_id: str) -> bool:
        sub = self.subs.get(source_id)
        return sub is not None and sub.active(time.time())

    async def load(self) -> None:
        """The subscriptions a previous run left whose lease still runs (or still pending)."""
        for source_id in self.sources:
            value = await self.store.call(self.store.get_meta, _key(source_id))
            try:
                sub = Subscription(**value) if isinstance(value, dict) else None
            except TypeError:  # written by another version: subscribe again
                sub = None
            if sub and (sub.active(time.time()) or sub.pending_since is not None):
                self.subs[source_id] = sub
                log.info("push subscription kept from the last run", extra={"source": source_id})

    async def after_poll(self, source_id: str) -> None:
        """Subscribe when the source's feed names a hub and no subscription to it runs."""
        if source_id not in self.sources or self.retry_at.get(source_id, 0.0) > time.time():
            return
        state = await self.store.call(self.store.source_state, source_id)
        hub, topic = state.cursor.get("hub"), state.cursor.get("topic")
        if not isinstance(hub, str) or not isinstance(topic, str):
            return
        sub = self.subs.get(source_id)
        if sub and (sub.hub, sub.topic) == (hub, topic):
            return
        await self._request(source_id, Subscription(hub, topic, secrets.token_hex(32)))

    async def _request(self, source_id: str, sub: Subscription) -> None:
        """Ask the hub to (re)subscribe us; it confirms by calling `verify`."""
        settings = self.sources[source_id]
        sub.pending_since = time.time()
        self.subs[source_id] = sub
        await self._save(source_id)
        form = {
            "hub.mode": "subscribe",
            "hub.topic": sub.topic,
            "hub.callback": self.callback(source_id),
            "hub.secret": sub.secret,
            "hub.lease_seconds": str(int(self.push.lease)),
        }
        local = settings.allow_private or network_floor(settings.url.get_secret_value()) == 0.0
        try:
            status = await self.fetcher.post_form(
                sub.hub, form, timeout=settings.timeout, public_only=not local
            )
        except FetchError as exc:
            await self._failed(source_id, sub, f"the hub could not be reached: {exc}")
            return
        if not 200 <= status < 300:
            await self._failed(source_id, sub, f"the hub refused the subscription (HTTP {status})")
            return
        log.info("push: subscription requested, waiting for the hub to confirm",
                 extra={"source": source_id})  # fmt: skip

    def callback(self, source_id: str) -> str:
        return f"{self.push.callback.rstrip('/')}/{source_id}"

    async def _failed(self, source_id: str, sub: Subscription, why: str) -> None:
        """A request that came to nothing: polling goes on as it was; asked again later."""
        if self.subs.get(source_id) is not sub or sub.pending_since is None:
            return  # confirmed meanwhile, or replaced
        sub.pending_since = None
        self.retry_at[source_id] = time.time() + RETRY
        log.warning("push: %s; polling as before, asking again in an hour", why,
                    extra={"source": source_id})  # fmt: skip
        if sub.active(time.time()):  # the lease granted before still runs: renewed later
            sub.renew_at = time.time() + RETRY
            await self._save(source_id)
        else:
            await self._drop(source_id)

    async def _drop(self, source_id: str) -> None:
        sub = self.subs.pop(source_id, None)
        await self.store.call(self.store.put_meta, _key(source_id), None)
        if sub is not None and sub.active_until is not None:
            self.changed(source_id, False)

    async def _save(self, source_id: str) -> None:
        await self.store.call(self.store.put_meta, _key(source_id), asdict(self.subs[source_id]))

    async def tick(self) -> None:
        """A scheduler job: give up on silent hubs, renew leases, end expired ones."""
        now = time.time()
        for source_id, sub in list(self.subs.items()):
            if sub.pending_since is not None and now - sub.pending_since > self.push.confirm_within:
                await self._failed(source_id, sub, "the hub never confirmed the subscription")
            elif sub.active_until is not None and now >= sub.active_until:
                log.warning("push: the lease ended without renewal; polling as before",
                            extra={"source": source_id})  # fmt: skip
                await self._drop(source_id)
            elif sub.pending_since is None and sub.renew_at is not None and now >= sub.renew_at:
                await self._request(source_id, sub)

    async def verify(self, source_id: str, query: dict[str, str]) -> str | None:
        """The hub's check of a (un)subscribe request: the challenge to echo, or None (404)
        unless it is for the topic and mode of a request of ours it has not yet confirmed."""
        sub = self.subs.get(source_id)
        mode, topic = query.get("hub.mode", ""), query.get("hub.topic", "")
        if sub is None or sub.pending_since is None or topic != sub.topic:
            log.warning("push: a hub's check for no request of ours refused (mode %r)",
                        mode[:20], extra={"source": source_id})  # fmt: skip
            return None
        if mode == "denied":
            await self._failed(source_id, sub, "the hub denied the subscription")
            return ""
        challenge = query.get("hub.challenge", "")
        if mode != "subscribe" or not challenge:
            return None
        lease = _lease(query.get("hub.lease_seconds"), self.push.lease)
        now = time.time()
        was_active = sub.active(now)
        sub.pending_since, sub.active_until, sub.renew_at = (
            None,
            now + lease,
            now + lease * RENEW_AT,
        )
        await self._save(source_id)
        log.info("push: subscribed for %.0fs; polling every %.0fs at least meanwhile", lease,
                 self.push.slow_interval, extra={"source": source_id})  # fmt: skip
        if not was_active:
            self.changed(source_id, True)
        return challenge

    async def deliver(self, source_id: str, body: bytes, content_type: str, signature: str,
                      self_link: str | None) -> int:  # fmt: skip
        """A hub's delivery: the HTTP status to answer. Only a running subscription's, for its
        topic, with a good signature, is matched and recorded; a wrong signature is
        acknowledged (202, as the spec asks, so the hub does not retry) and dropped."""
        sub = self.subs.get(source_id)
        if sub is None or not sub.active(time.time()) or (self_link and self_link != sub.topic):
            log.warning("push: a delivery for a topic we are not subscribed to refused",
                        extra={"source": source_id})  # fmt: skip
            return 404
        if not signature_ok(sub.secret, body, signature):
            which = "wrong" if signature else "missing"
            log.warning("push: a delivery with a %s signature ignored, nothing matched", which,
                        extra={"source": source_id})  # fmt: skip
            return 202
        try:
            articles = await asyncio.to_thread(parse_feed, body, source_id, content_type)
        except SourceError as exc:
            log.warning("push: a delivery that is not a feed ignored: %s", exc,
                        extra={"source": source_id})  # fmt: skip
            return 400
        if await self.pipeline.pushed(source_id, self.sources[source_id], articles):
            await self.pushed()
        return 202

    def app(self, loop: asyncio.AbstractEventLoop) -> Callable[..., Iterable[bytes]]:
        """The WSGI app of /websub/<source id>, run on the listener's threads."""

        def websub(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            source_id = environ.get("PATH_INFO", "").removeprefix("/websub/")
            method = environ.get("REQUEST_METHOD", "")
            try:
                if source_id not in self.sources:  # the id comes from outside: shown as repr
                    log.warning("push: a request for a topic we are not subscribed to refused"
                                " (%r)", source_id[:60])  # fmt: skip
                    status, body = 404, b"not found\n"
                elif method == "GET":
                    status, body = self._checked(source_id, environ, loop)
                elif method == "POST":
                    status, body = self._delivered(source_id, environ, loop)
                else:
                    status, body = 405, b"GET or POST\n"
            except TimeoutError:
                status, body = 503, b"busy: try again\n"
            except Exception:  # nothing a hub sends may break the listener
                log.exception("push: a request failed", extra={"source": source_id[:100]})
                status, body = 500, b"error\n"
            start_response(f"{status} {_REASONS.get(status, '')}".strip(),
                           [("Content-Type", "text/plain; charset=utf-8")])  # fmt: skip
            return [body]

        return websub

    def _checked(
        self, source_id: str, environ: dict[str, Any], loop: asyncio.AbstractEventLoop
    ) -> tuple[int, bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        answer = _on_loop(self.verify(source_id, query), loop)
        return (404, b"not found\n") if answer is None else (200, answer.encode())

    def _delivered(
        self, source_id: str, environ: dict[str, Any], loop: asyncio.AbstractEventLoop
    ) -> tuple[int, bytes]:
        settings = self.sources[source_id]
        length = str(environ.get("CONTENT_LENGTH") or "")
        if not length.isdigit():
            return 411, b"Content-Length required\n"
        if int(length) > settings.max_bytes:
            log.warning("push: a delivery of %s bytes over the %d-byte cap refused", length,
                        settings.max_bytes, extra={"source": source_id})  # fmt: skip
            return 413, b"too large\n"
        body = environ["wsgi.input"].read(int(length))
        status = _on_loop(
            self.deliver(
                source_id,
                body,
                str(environ.get("CONTENT_TYPE") or ""),
                str(environ.get("HTTP_X_HUB_SIGNATURE") or ""),
                link_self(str(environ.get("HTTP_LINK") or "")),
            ),
            loop,
        )
        return status, b""


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found",
            405: "Method Not Allowed", 411: "Length Required", 413: "Content Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip


def _on_loop(work: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """Run a coroutine on the daemon's loop from a listener thread; TimeoutError after WAIT."""
    future = asyncio.run_coroutine_threadsafe(work, loop)
    try:
        return future.result(WAIT)
    except TimeoutError:
        future.cancel()
        raise


def _lease(value: str | None, asked: float) -> float:
    """The lease the hub granted, in seconds (what we asked for if it says nothing usable)."""
    if value and value.strip().isdigit() and int(value) > 0:
        return float(min(int(value), 10 * 365 * 86400))
    return asked


def _key(source_id: str) -> str:
    return f"websub:{source_id}"
