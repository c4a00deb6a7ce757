"""Fetching feeds and pages over HTTP: conditional GET through httpx, every failure one FetchError.

A poller asks for a feed with the validators the last answer gave (``If-None-Match`` for an
ETag, ``If-Modified-Since`` for a Last-Modified date), so a feed that has not changed costs one
``304 Not Modified`` and no parsing. What can go wrong on the way — a refused connection, a
timeout, a TLS fault, a 4xx or 5xx answer, a body larger than a feed has any reason to be — is
mapped here, once, to :class:`FetchError` whose message names the address and the cause; no
httpx exception escapes this module.

The `Fetcher` protocol is what the poller needs; tests serve real feeds from a loopback HTTP
server rather than replacing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

__all__ = ["FetchError", "Fetched", "Fetcher", "HttpFetcher"]

#: No feed or article page is this large; a bigger answer is a mistake (or hostile).
MAX_BYTES = 10 * 1024 * 1024
NOT_MODIFIED = 304


class FetchError(Exception):
    """An address could not be fetched (the message names it and says why)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """An answer: its status (200, or 304 when unchanged), body, validators and final address."""

    status: int
    body: bytes
    url: str
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        """Whether the server said nothing changed since the validators sent."""
        return self.status == NOT_MODIFIED


class Fetcher(Protocol):
    """What a poller needs of the web: one GET, conditional when validators are given."""

    def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """GET ``url``; FetchError on any failure, a 304 answer when nothing changed."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class HttpFetcher:
    """The `Fetcher` on httpx: redirects followed, a timeout per request, a size limit."""

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        max_bytes: int = MAX_BYTES,
        user_agent: str = "briefmail (newsletter feed reader)",
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            headers={"User-Agent": user_agent, "Accept": _ACCEPT},
        )

    def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """GET ``url`` (conditionally); FetchError names the address and the cause."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                return self._read(url, response, etag, last_modified)
        except httpx.TimeoutException as exc:
            raise FetchError(f"{url}: no answer within {self.timeout:g} s") from exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise FetchError(f"{url}: {_describe(exc)}") from exc

    def _read(
        self, url: str, response: httpx.Response, etag: str | None, last_modified: str | None
    ) -> Fetched:
        """The answer's body within the size limit, or FetchError for an error status."""
        if response.status_code == NOT_MODIFIED:
            return Fetched(NOT_MODIFIED, b"", str(response.url), etag, last_modified)
        if response.status_code >= 400:
            phrase = response.reason_phrase or ""
            raise FetchError(f"{url}: the server answered {response.status_code} {phrase}".strip())
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise FetchError(f"{url}: larger than {_size(self.max_bytes)}")
        return Fetched(
            response.status_code,
            bytes(body),
            str(response.url),
            response.headers.get("ETag"),
            response.headers.get("Last-Modified"),
            response.headers.get("Content-Type", ""),
        )

    def close(self) -> None:
        """Release the connection pool."""
        self.client.close()


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)


def _size(count: int) -> str:
    """A byte count for a message: 10 MB, 64 KB."""
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):g} MB"
    return f"{count / 1024:g} KB"


def _describe(exc: Exception) -> str:
    """An httpx failure in one line (its message, else its kind)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
