"""What a feed poll costs: a first poll that ingests N entries, an unchanged poll, a 304 poll.

    python -m bench.sources
    python -m bench.sources --entries 50 --teasers 10

Serves an RSS feed of ``--entries`` made-up articles (full content in ``content:encoded``, except
``--teasers`` of them that carry only a teaser and link a page) from a loopback HTTP server that
honours If-None-Match, and polls it through the application's own SourcesService into a fresh
SQLite database: the first poll (every entry new: each parsed, tagged, titled and stored, each
teaser's page fetched), a second with the server's validators (a 304) and a third that ignores
them (the whole feed read again, every entry seen before). The baseline, measured in the same
run, is `briefmail ingest`'s library call on the same articles one by one: what the poller adds
over ingesting the same content by hand is the ratio. Prints one row per poll, then one JSON
line; the run is recorded in bench/results/sources.json.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.ingest_large import _prose
from bench.record import record

__all__ = ["main", "measure"]


def _article(number: int) -> tuple[str, str]:
    """A made-up article: its title and its HTML body of three sections."""
    import random

    rng = random.Random(number)
    title = f"Harbour note {number}: {_prose(rng, 30).split('.')[0]}"
    sections = "".join(
        f"<h2>Section {n}</h2><p>{html.escape(_prose(rng, 400))}</p>" for n in range(1, 4)
    )
    return title, f"<p>{html.escape(_prose(rng, 300))}</p>{sections}"


class _Feed:
    """The served feed and pages (bytes, made once)."""

    def __init__(self, entries: int, teasers: int, base: str) -> None:
        items, self.pages = [], {}
        for number in range(entries):
            title, body = _article(number)
            link = f"{base}/p/{number}"
            teaser = number < teasers
            if teaser:
                self.pages[f"/p/{number}"] = (
                    f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
                    f"<body><article><h1>{html.escape(title)}</h1>{body}</article></body></html>"
                ).encode()
            content = "" if teaser else f"<content:encoded><![CDATA[{body}]]></content:encoded>"
            items.append(
                f"<item><title>{html.escape(title)}</title><link>{link}</link>"
                f"<guid>n-{number}</guid><pubDate>Fri, 03 Jul 2026 07:00:00 GMT</pubDate>"
                f"<description>A teaser.</description>{content}</item>"
            )
        self.body = (
            '<?xml version="1.0"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Bench</title>'
            f"<link>{base}</link><description>d</description>{''.join(items)}</channel></rss>"
        ).encode()
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        self.bodies = [_article(n) for n in range(entries)]


def _serve(entries: int, teasers: int) -> tuple[ThreadingHTTPServer, _Feed]:
    """A loopback server for the feed and its pages, started in a thread."""
    holder: dict[str, _Feed] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            feed = holder["feed"]
            if self.path == "/feed.xml":
                if self.headers.get("If-None-Match") == feed.etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self._answer(feed.body, {"ETag": feed.etag})
            elif self.path in feed.pages:
                self._answer(feed.pages[self.path], {})
            else:
                self.send_response(404)
                self.end_headers()

        def _answer(self, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(200)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the bench prints its own figures."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["feed"] = _Feed(entries, teasers, f"http://127.0.0.1:{server.server_port}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, holder["feed"]


def _app(folder: Path, url: str | None) -> Any:
    """A migrated briefmail on a fresh SQLite file, with the feed as its one source."""
    from pydantic import SecretStr

    from briefmail.app import Briefmail
    from briefmail.settings import DatabaseSettings, Settings, SourceSettings

    sources = [SourceSettings(list="brief", url=url, name="bench")] if url else []
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite:///{folder / 'bench.db'}"),
        secret_key=SecretStr("b" * 32),
        sources=sources,
    )
    app = Briefmail(settings)
    app.migrate()
    app.ensure_default_list()
    return app


def measure(entries: int, teasers: int) -> dict[str, Any]:
    """Time the three polls and the by-hand baseline; the figures."""
    server, feed = _serve(entries, teasers)
    url = f"http://127.0.0.1:{server.server_port}/feed.xml"
    figures: dict[str, Any] = {"entries": entries, "teasers": teasers}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "by-hand").mkdir()
            app = _app(folder / "by-hand", None)
            paths = []
            for number, (title, body) in enumerate(feed.bodies):
                path = folder / f"article-{number}.html"
                path.write_text(
                    f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
                    f"<article><h1>{html.escape(title)}</h1>{body}</article></body></html>"
                )
                paths.append(path)
            app.content.ingest(paths[0], dry_run=True)  # the readers' imports, outside the timing
            started = time.perf_counter()
            for path in paths:
                app.content.ingest(path)
            figures["by_hand_s"] = round(time.perf_counter() - started, 3)
            app.close()
            (folder / "polled").mkdir()
            app = _app(folder / "polled", url)
            for name in ("first_poll_s", "not_modified_s", "unchanged_s"):
                if name == "unchanged_s":
                    app.sources.poll()  # the state row keeps the ETag: forget it for this poll
                    with app.sessions() as session:
                        from scheduler.sources import SourceState

                        for state in session.query(SourceState):
                            state.etag = None
                        session.commit()
                started = time.perf_counter()
                (report,) = app.sources.poll()
                figures[name] = round(time.perf_counter() - started, 3)
                if name == "first_poll_s":
                    figures["stored"] = report.count("stored")
            app.close()
    finally:
        server.shutdown()
    figures["first_poll_vs_by_hand"] = round(figures["first_poll_s"] / figures["by_hand_s"], 2)
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--teasers", type=int, default=10)
    args = parser.parse_args(argv)
    figures = measure(args.entries, args.teasers)
    print(
        f"{figures['entries']} entries ({figures['teasers']} read from their page): first poll "
        f"{figures['first_poll_s']} s ({figures['stored']} stored), "
        f"{figures['first_poll_vs_by_hand']}x ingesting them by hand ({figures['by_hand_s']} s); "
        f"304 poll {figures['not_modified_s']} s; unchanged feed read again "
        f"{figures['unchanged_s']} s"
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    record("sources", main())
