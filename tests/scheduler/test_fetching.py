"""Fetching over HTTP: conditional GET, and every failure one FetchError naming the address.

Each test talks to a real HTTP server on loopback (pytest-httpserver).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from scheduler.fetching import FetchError, HttpFetcher


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    """An HttpFetcher with a short timeout, closed after the test."""
    client = HttpFetcher(timeout=0.5, max_bytes=64 * 1024)
    yield client
    client.close()


def conditional(request: Request) -> Response:
    """A feed that answers 304 when the client already has its ETag."""
    if request.headers.get("If-None-Match") == '"v2"':
        return Response(status=304)
    return Response(
        b"<rss/>", headers={"ETag": '"v2"', "Last-Modified": "Sat, 04 Jul 2026 06:00:00 GMT"}
    )


class TestConditionalGet:
    """Validators from one answer make the next request conditional."""

    def test_the_etag_and_date_are_kept_and_sent_back(
        self, httpserver: HTTPServer, fetcher: HttpFetcher
    ) -> None:
        """A 200 gives the validators; sending them back gets a 304 with no body."""
        httpserver.expect_request("/feed").respond_with_handler(conditional)
        first = fetcher.fetch(httpserver.url_for("/feed"))
        assert (first.status, first.body, first.etag) == (200, b"<rss/>", '"v2"')
        assert first.last_modified == "Sat, 04 Jul 2026 06:00:00 GMT"
        second = fetcher.fetch(httpserver.url_for("/feed"), etag=first.etag)
        assert second.not_modified and second.body == b""
        assert second.etag == '"v2"'

    def test_if_modified_since_is_sent_when_there_is_no_etag(
        self, httpserver: HTTPServer, fetcher: HttpFetcher
    ) -> None:
        """The Last-Modified date goes back as If-Modified-Since."""
        httpserver.expect_request(
            "/feed", headers={"If-Modified-Since": "Sat, 04 Jul 2026 06:00:00 GMT"}
        ).respond_with_data("", status=304)
        answer = fetcher.fetch(
            httpserver.url_for("/feed"), last_modified="Sat, 04 Jul 2026 06:00:00 GMT"
        )
        assert answer.not_modified

    def test_redirects_are_followed_and_the_final_address_kept(
        self, httpserver: HTTPServer, fetcher: HttpFetcher
    ) -> None:
        """A moved feed is read at its new address, which the answer names."""
        httpserver.expect_request("/old").respond_with_data(
            "", status=301, headers={"Location": httpserver.url_for("/new")}
        )
        httpserver.expect_request("/new").respond_with_data("moved here")
        answer = fetcher.fetch(httpserver.url_for("/old"))
        assert answer.body == b"moved here"
        assert answer.url.endswith("/new")


class TestFailures:
    """What goes wrong on the way is one FetchError naming the address and the cause."""

    def test_a_server_error_names_its_status(
        self, httpserver: HTTPServer, fetcher: HttpFetcher
    ) -> None:
        """A 500 answer raises FetchError with the status and its phrase."""
        httpserver.expect_request("/feed").respond_with_data("oops", status=500)
        with pytest.raises(
            FetchError, match=r"/feed: the server answered 500 INTERNAL SERVER ERROR"
        ):
            fetcher.fetch(httpserver.url_for("/feed"))

    def test_a_server_that_never_answers_times_out(self, fetcher: HttpFetcher) -> None:
        """A server that takes the connection but never answers raises FetchError in time."""
        with socket.socket() as silent:
            # Listening but never accepting: the kernel completes the handshake, nobody replies.
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)
            port = silent.getsockname()[1]
            started = time.monotonic()
            with pytest.raises(FetchError, match=r"no answer within 0.5 s"):
                fetcher.fetch(f"http://127.0.0.1:{port}/feed")
            assert time.monotonic() - started < 5

    def test_a_refused_connection_is_a_fetch_error(self, fetcher: HttpFetcher) -> None:
        """Nothing listening on the port raises FetchError naming the address."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with pytest.raises(FetchError, match=rf"http://127.0.0.1:{port}/feed: "):
            fetcher.fetch(f"http://127.0.0.1:{port}/feed")

    def test_an_oversized_answer_is_refused(
        self, httpserver: HTTPServer, fetcher: HttpFetcher
    ) -> None:
        """A body over the size limit is not read to its end."""
        httpserver.expect_request("/huge").respond_with_data(b"x" * (200 * 1024))
        with pytest.raises(FetchError, match="larger than 64 KB"):
            fetcher.fetch(httpserver.url_for("/huge"))

    def test_a_malformed_address_is_a_fetch_error(self, fetcher: HttpFetcher) -> None:
        """An address httpx cannot even parse is refused the same way."""
        with pytest.raises(FetchError, match="http://exa mple"):
            fetcher.fetch("http://exa mple/\x00feed")
