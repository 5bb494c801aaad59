"""The one HTTP layer every network source shares.

Conditional GET (ETag / Last-Modified, so an unchanged feed costs one 304), a
whole-request deadline (a server that drips one byte a second cannot hold a
poll forever), a byte cap counted after decompression (a gzip bomb is cut
off), at most five redirects, and a real User-Agent. Errors are short and
never contain the URL, which may carry an API key; whatever goes wrong in
building or sending a request comes out as a `FetchError`, never as anything
else.

Validators (ETag, Last-Modified) are kept as the exact bytes the server sent,
written as Latin-1 text (one character per byte, so they fit in a JSON
cursor), and go back byte for byte: a server's non-ASCII ETag cannot make
every later request fail. One that cannot be sent is left out and the
request is simply unconditional.

Requests wait in our own scheduler, never in the HTTP client's pool: a
request first takes a slot for its host (`per_host`, default 2, with an
optional `min_gap` between the starts of two requests to one host), then a
global slot (`max_concurrent`), and only then enters the client, whose pool
has a connection for every global slot. So no request ever queues in the pool,
and a deadline can never cancel one that is queued there (httpcore #1093:
such a cancellation leaks a connection slot for good, and once all leak the
client never sends again). The fetch's `timeout` starts when the request has
its slots, so it measures the server, not the queue; the wait for slots is
bounded on its own (`slot_wait`, by default twice the timeout plus 20 s, inside
the pipeline's own guard of three times plus 30 s). A host that answers 429
is not asked again until its Retry-After (default 60 s, at most a day) has
passed: every request to it before then fails at once with a FetchError whose
`retry_after` says how long to wait.

The client is httpx2 (httpx's API; its httpcore2 has the fix for #1093, and
httpx has had no release since 2024), imported as `httpx`. bench/fetching.py
measures it against httpx, the httpx-aiohttp transport and plain aiohttp.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urlsplit

import httpx2 as httpx

T = TypeVar("T")
MAX_REDIRECTS = 5
MAX_VALIDATOR = 1024  # bytes; a longer ETag or Last-Modified is not sent back
MAX_CONCURRENT = 20  # requests in flight at once, all hosts together
PER_HOST = 2  # requests in flight at once to one host (scheme, host, port)
PUBLIC_ONLY = "trade_monitor.public_only"  # a request extension: refuse private addresses
RETRY_AFTER_DEFAULT = 60.0  # seconds a host that answers 429 without Retry-After is left alone
RETRY_AFTER_MAX = 86400.0  # a longer Retry-After is cut to a day


class FetchError(Exception):
    """A fetch failed; the message is safe to log.

    `retry_after` (seconds from when it was raised) is set when the server
    asked to be left alone (429, or 503 with Retry-After), so the caller can
    reschedule.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Host:
    """What the scheduler keeps about one host."""

    slots: asyncio.Semaphore
    next_start: float = 0.0  # monotonic time before which no request to it starts (min_gap)
    blocked_until: float = 0.0  # monotonic time of its Retry-After
    users: int = 0  # requests waiting for or holding one of its slots


@dataclass(frozen=True)
class FetchResult:
    """A response; `etag` and `last_modified` are the header bytes as Latin-1 text."""

    status: int
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    max_age: float = 0.0  # Cache-Control max-age: how long the response stays fresh, in seconds
    links: dict[str, str] = field(default_factory=dict)  # the Link header: rel -> URL (WebSub)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class Fetcher:
    def __init__(
        self,
        user_agent: str,
        *,
        max_concurrent: int = MAX_CONCURRENT,
        per_host: int = PER_HOST,
        min_gap: float = 0.0,
        slot_wait: float | None = None,
    ) -> None:
        """`slot_wait`: longest wait for slots, in seconds; None: twice a fetch's timeout + 20 s."""
        if max_concurrent < 1 or per_host < 1 or min_gap < 0:
            raise ValueError("max_concurrent and per_host must be at least 1, min_gap not negative")
        self.max_concurrent = max_concurrent
        self.per_host = per_host
        self.min_gap = min_gap
        self.slot_wait = slot_wait
        self._global = asyncio.Semaphore(max_concurrent)
        self._hosts: dict[str, _Host] = {}
        # A connection for every global slot (a redirect closes its response before the next
        # request), so a request that has its slots never waits in the pool.
        self.client = httpx.AsyncClient(
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(
                max_connections=max_concurrent, max_keepalive_connections=max_concurrent
            ),
            event_hooks={"request": [_refuse_private]},  # runs for every redirect hop too
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def get(
        self,
        url: str,
        *,
        timeout: float,
        max_bytes: int,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
        headers: dict[str, str] | None = None,
        public_only: bool = False,
    ) -> FetchResult:
        """GET `url`; `etag` and `last_modified` are validators as `FetchResult` gave them.
        `headers`: more request headers (an API key), UTF-8 encoded.

        `public_only`: for URLs that came from content (an item's link), which must not
        reach this machine or its network: every hop's host must resolve to public
        addresses only, or the fetch is a FetchError.
        """
        sent = {k.encode(): v.encode() for k, v in (headers or {}).items()}
        sent[b"Accept"] = accept.encode()
        for name, validator in ((b"If-None-Match", etag), (b"If-Modified-Since", last_modified)):
            if (value := _header_bytes(validator)) is not None:
                sent[name] = value
        return await self._in_turn(
            url, timeout, lambda host: self._get(url, sent, timeout, max_bytes, host, public_only)
        )

    async def post_form(
        self, url: str, form: dict[str, str], *, timeout: float, public_only: bool = False
    ) -> int:
        """POST a form (a WebSub subscription request) and return the status code.

        The same per-host and global slots as `get`, the same deadline, and no body
        read beyond a small cap; errors come out as a FetchError that names no URL.
        """
        return await self._in_turn(
            url, timeout, lambda host: self._post(url, form, timeout, public_only)
        )

    async def _in_turn(
        self, url: str, timeout: float, request: Callable[[_Host], Awaitable[T]]
    ) -> T:
        """`request` once its host's turn comes: the host's slot (and any 429 hold), then
        `_scheduled`. Every request, GET or POST, waits here, never in the HTTP pool."""
        host = self._host(_host_key(url))
        now = time.monotonic()
        if host.blocked_until > now:
            raise _asked_to_wait(host.blocked_until - now)
        wait = self.slot_wait if self.slot_wait is not None else timeout * 2 + 20
        deadline = asyncio.get_running_loop().time() + wait
        host.users += 1
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    await host.slots.acquire()
            except TimeoutError:
                raise FetchError(f"no free slot for this host within {wait:g}s") from None
            try:
                return await self._scheduled(host, deadline, timeout, request)
            finally:
                host.slots.release()
        finally:
            host.users -= 1

    def _host(self, key: str) -> _Host:
        host = self._hosts.get(key)
        if host is None:
            if len(self._hosts) > 4 * max(256, self.max_concurrent):
                self._forget_idle_hosts()
            host = self._hosts[key] = _Host(asyncio.Semaphore(self.per_host))
        return host

    def _forget_idle_hosts(self) -> None:
        now = time.monotonic()
        for key, host in list(self._hosts.items()):
            if not host.users and host.blocked_until <= now and host.next_start <= now:
                del self._hosts[key]

    async def _scheduled(
        self,
        host: _Host,
        deadline: float,
        timeout: float,
        request: Callable[[_Host], Awaitable[T]],
    ) -> T:
        """The request, once it has its host's slot: the gap, a global slot, then the server."""
        now = time.monotonic()
        if host.blocked_until > now:  # a 429 came while this one waited
            raise _asked_to_wait(host.blocked_until - now)
        start = max(now, host.next_start)
        host.next_start = start + self.min_gap
        try:
            async with asyncio.timeout_at(deadline):
                if start > now:
                    await asyncio.sleep(start - now)
                await self._global.acquire()
        except TimeoutError:
            raise FetchError("no free slot in time (too many requests at once)") from None
        try:
            async with asyncio.timeout(timeout):
                return await request(host)
        except TimeoutError:
            raise FetchError(f"timed out after {timeout:g}s") from None
        except httpx.TooManyRedirects:
            raise FetchError(f"more than {MAX_REDIRECTS} redirects") from None
        except httpx.TimeoutException:
            raise FetchError(f"timed out after {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {_reason(exc)}") from None
        except FetchError:
            raise
        except Exception as exc:  # e.g. InvalidURL, UnicodeError from a host name too long
            raise FetchError(f"request failed: {type(exc).__name__}") from None
        finally:
            self._global.release()

    async def _post(self, url: str, form: dict[str, str], timeout: float, public_only: bool) -> int:
        extensions = {PUBLIC_ONLY: True} if public_only else {}
        async with self.client.stream(  # the body is never read: a hub's is noise
            "POST", url, data=form, timeout=timeout, extensions=extensions
        ) as response:
            return response.status_code

    async def _get(
        self,
        url: str,
        headers: dict[bytes, bytes],
        timeout: float,
        max_bytes: int,
        host: _Host,
        public_only: bool = False,
    ) -> FetchResult:
        extensions = {PUBLIC_ONLY: True} if public_only else {}
        async with self.client.stream(
            "GET", url, headers=headers, timeout=timeout, extensions=extensions
        ) as response:
            if response.status_code == 304:
                body = b""
            elif response.status_code >= 400:
                message = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                after = _retry_after(response.headers.get("retry-after"))
                if response.status_code == 429:
                    after = RETRY_AFTER_DEFAULT if after is None else after
                    host.blocked_until = max(host.blocked_until, time.monotonic() + after)
                if after is not None:
                    raise FetchError(f"{message}; retry after {after:.0f}s", retry_after=after)
                raise FetchError(message)
            else:
                body = await _read_capped(response, max_bytes)
            return FetchResult(
                status=response.status_code,
                body=body,
                content_type=response.headers.get("content-type", ""),
                etag=_raw_header(response, b"etag"),
                last_modified=_raw_header(response, b"last-modified"),
                max_age=_max_age(response.headers.get("cache-control", "")),
                links=_links(response),
            )


async def _refuse_private(request: httpx.Request) -> None:
    """Before each hop of a `public_only` request: its host must resolve to public addresses only.

    Checked on the addresses the name resolves to now, so a name that points at
    127.0.0.1 or 10.0.0.5 is refused as the literal address is; every address
    must be public, since the connection may use any of them.
    """
    if not request.extensions.get(PUBLIC_ONLY):
        return
    host = request.url.host
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            host, request.url.port or 443, type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        raise FetchError("cannot resolve the link's host name") from None
    for *_, sockaddr in found:
        if not _public(str(sockaddr[0])):
            raise FetchError(
                "refused: the link leads to a private, loopback or link-local address "
                "(allow_private: true allows it)"
            )


def _public(address: str) -> bool:
    """Whether an address is on the public internet (an IPv4-mapped IPv6 address as its IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def _host_key(url: str) -> str:
    """What the per-host limits count by: scheme, host and port (a bad URL fails in httpx)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"
    except ValueError:  # e.g. a port that is not a number
        return ""


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or HTTP date), cut to a day; None if bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def _asked_to_wait(seconds: float) -> FetchError:
    return FetchError(f"host answered 429: not asked again for {seconds:.0f}s", retry_after=seconds)


def _raw_header(response: httpx.Response, name: bytes) -> str | None:
    """A header's exact bytes as Latin-1 text, so `_header_bytes` gives the same bytes back.

    httpx decodes headers as UTF-8 or Latin-1 depending on all of them, so
    its text cannot be trusted to encode back to what the server sent.
    """
    for key, value in response.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _links(response: httpx.Response) -> dict[str, str]:
    """The Link header as rel -> URL (httpx parses it); a malformed one is no links."""
    try:
        return {str(rel): str(link["url"]) for rel, link in response.links.items() if rel}
    except Exception:
        return {}


def _max_age(cache_control: str) -> float:
    """Cache-Control's max-age (0 when absent, malformed, or no-cache / no-store)."""
    directives = [d.strip().lower() for d in cache_control.split(",")]
    if "no-cache" in directives or "no-store" in directives:
        return 0.0
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age" and value.strip().strip('"').isdigit():
            return float(min(int(value.strip().strip('"')), 10 * 365 * 86400))
    return 0.0


def _header_bytes(text: str | None) -> bytes | None:
    """A validator as header bytes, or None if it cannot be sent: the request is then unconditional.

    Latin-1 gives back the bytes `_raw_header` kept. A cursor written before
    validators were kept that way may hold characters beyond Latin-1, decoded
    from UTF-8, so they go back as UTF-8 (at worst one request is answered in
    full and the cursor is right again). Control characters, an empty value
    or one over MAX_VALIDATOR bytes would make the request (or the server)
    fail on every poll, so they are dropped.
    """
    if not isinstance(text, str):  # a cursor edited or damaged by hand
        return None
    try:
        value = text.encode("latin-1").strip(b" \t")
    except UnicodeEncodeError:
        value = text.encode("utf-8", "surrogatepass").strip(b" \t")
    if not value or len(value) > MAX_VALIDATOR or any(b < 0x20 or b == 0x7F for b in value):
        return None
    return value


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if (
        declared.isdigit()
        and int(declared) > max_bytes
        and "content-encoding" not in response.headers
    ):
        raise FetchError(f"response of {int(declared)} bytes is over the {max_bytes}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"response is over the {max_bytes}-byte cap (after decompression)")
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: httpx.HTTPError) -> str:
    """The cause of a transport error, without the URL."""
    cause = exc.__cause__ or exc.__context__
    text = str(cause or exc) or type(exc).__name__
    return text.split(" for url ")[0][:200]
