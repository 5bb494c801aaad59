"""One HTTP POST to a notification service, bounded in every way a peer could stretch it.

- Redirects are never followed. A client that follows one re-sends the
  credentials (a bot token, a header) to wherever the peer points, and turns
  a POST into a GET that drops the message while the peer answers "ok". A
  3xx is a failure that names the host it pointed at (`redirected`).
- At most `REPLY_CAP` bytes of a reply are read, uncompressed: a peer cannot
  make us hold a huge or endless body.
- The `timeout` given here bounds each connect and read; the deadline on the
  whole send (a peer that drips a byte a second never trips a per-read
  timeout) is the dispatcher's, around every send of every notifier.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from monitor.notify import SendResult, retry_after_seconds
from monitor.notify.render import one_line

REPLY_CAP = 64 * 1024


@dataclass(frozen=True)
class Reply:
    status: int
    text: str  # at most REPLY_CAP bytes of the body, decoded leniently
    location: str = ""
    retry_after: str | None = None


@functools.cache
def tls() -> ssl.SSLContext:
    """One verifying TLS context for every send: building one per request costs a CA load."""
    return httpx.create_ssl_context()


async def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Reply:
    """POST `body`; raises httpx.HTTPError or httpx.InvalidURL when no answer came."""
    headers = {**headers, "Accept-Encoding": "identity"}  # the cap counts what we hold
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=tls()) as client,
        client.stream("POST", url, content=body, headers=headers) as response,
    ):
        raw = await read_capped(response)
    return Reply(
        response.status_code,
        raw.decode(response.encoding or "utf-8", "replace"),
        response.headers.get("location", ""),
        response.headers.get("retry-after"),
    )


async def read_capped(response: httpx.Response) -> bytes:
    """The body's first REPLY_CAP bytes; the rest is never read."""
    chunks, size = [], 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk[: REPLY_CAP - size])
        size += len(chunks[-1])
        if size >= REPLY_CAP:
            break
    return b"".join(chunks)


def no_answer(exc: Exception) -> SendResult:
    """No reply came (refused, reset, a per-read timeout): try again later.

    Only the exception's type is kept: httpx's messages can carry the URL.
    """
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return SendResult.give_up(f"the URL cannot be used: {type(exc).__name__}")
    return SendResult.later(f"connection failed: {type(exc).__name__}")


def redirected(reply: Reply, setting: str) -> SendResult:
    """A 3xx: never followed (credentials stay with the configured host); fix the URL."""
    try:
        host = urlsplit(reply.location).hostname or "an unnamed place"
    except ValueError:
        host = "an unusable address"
    return SendResult.give_up(
        f"HTTP {reply.status}: redirected to {host}; redirects are never followed, so the"
        f" credentials stay with the configured host: set `{setting}` to the final address"
    )


def classify(
    reply: Reply, setting: str, success: Callable[[Reply], SendResult], detail: str | None = None
) -> SendResult:
    """The one reading of an HTTP notifier's reply, as Alertmanager's: 2xx is what `success`
    makes of it (each service's own meaning: Slack's "ok" text or `ok: true`), 3xx give up
    (a redirect is never followed), 429 later (after Retry-After), 5xx later, other 4xx give
    up. A failure's error shows `detail` (the reply's text unless given: Slack's error word)."""
    if 200 <= reply.status < 300:
        return success(reply)
    if 300 <= reply.status < 400:
        return redirected(reply, setting)
    if reply.status == 429:
        return SendResult.later("rate limited (429)", retry_after_seconds(reply.retry_after))
    text = f"HTTP {reply.status}: {one_line(reply.text if detail is None else detail)}"
    return SendResult.later(text) if reply.status >= 500 else SendResult.give_up(text)
