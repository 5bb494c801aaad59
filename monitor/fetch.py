"""The one HTTP layer every network source shares.

Conditional GET (ETag / Last-Modified, so an unchanged feed costs one 304), a
whole-request deadline (a server that drips one byte a second cannot hold a
poll forever), a byte cap counted after decompression (a gzip bomb is cut
off), at most five redirects, and a real User-Agent. Errors are short and
never contain the URL, which may carry an API key.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

MAX_REDIRECTS = 5


class FetchError(Exception):
    """A fetch failed; the message is safe to log."""


@dataclass(frozen=True)
class FetchResult:
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
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
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

    async def _get(
        self, url: str, headers: dict[str, str], timeout: float, max_bytes: int
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
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )


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
