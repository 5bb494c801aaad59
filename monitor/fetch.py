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
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

MAX_REDIRECTS = 5
MAX_VALIDATOR = 1024  # bytes; a longer ETag or Last-Modified is not sent back


class FetchError(Exception):
    """A fetch failed; the message is safe to log."""


@dataclass(frozen=True)
class FetchResult:
    """A response; `etag` and `last_modified` are the header bytes as Latin-1 text."""

    status: int
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class Fetcher:
    def __init__(self, user_agent: str) -> None:
        self.client = httpx.AsyncClient(
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
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
    ) -> FetchResult:
        """GET `url`; `etag` and `last_modified` are validators as `FetchResult` gave them."""
        headers = {b"Accept": accept.encode()}
        for name, validator in ((b"If-None-Match", etag), (b"If-Modified-Since", last_modified)):
            if (value := _header_bytes(validator)) is not None:
                headers[name] = value
        try:
            async with asyncio.timeout(timeout):
                return await self._get(url, headers, timeout, max_bytes)
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

    async def _get(
        self, url: str, headers: dict[bytes, bytes], timeout: float, max_bytes: int
    ) -> FetchResult:
        async with self.client.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.status_code == 304:
                body = b""
            elif response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".strip())
            else:
                body = await _read_capped(response, max_bytes)
            return FetchResult(
                status=response.status_code,
                body=body,
                content_type=response.headers.get("content-type", ""),
                etag=_raw_header(response, b"etag"),
                last_modified=_raw_header(response, b"last-modified"),
            )


def _raw_header(response: httpx.Response, name: bytes) -> str | None:
    """A header's exact bytes as Latin-1 text, so `_header_bytes` gives the same bytes back.

    httpx decodes headers as UTF-8 or Latin-1 depending on all of them, so
    its text cannot be trusted to encode back to what the server sent.
    """
    for key, value in response.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


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
