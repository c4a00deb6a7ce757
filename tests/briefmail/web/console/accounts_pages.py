"""The accounts' console pages (audit, operators, settings) served for real, for their tests.

The console's own router includes every page module once the console shell registers it; until
then (and harmlessly after: the first matching route answers, and it is the same code) these
pages are included again here, behind their own `ConsoleRouter`, on the app `create_web` builds.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from briefmail.app import Briefmail
from briefmail.web import create_web
from briefmail.web.console import audit, operators, settings
from briefmail.web.console.ui import ConsoleRouter, ConsoleUI
from mailer.testing import SmtpSink, free_port
from tests.briefmail.web.console.conftest import Console, console_app

__all__ = ["hidden_field", "pages", "serve_pages"]


def with_account_pages(app: Briefmail) -> FastAPI:
    """The whole web face, with the audit, operators and settings pages surely included."""
    web = create_web(app)
    ui = ConsoleUI(app)
    extra = ConsoleRouter(ui)
    for module in (audit, operators, settings):
        extra.page_routes(module.router(app, ui))
    web.include_router(extra, include_in_schema=False)
    return web


def serve_pages(app: Briefmail, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve that web face on loopback, waiting until it accepts connections."""
    config = uvicorn.Config(with_account_pages(app), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread


@pytest.fixture
def pages(database_url: str, smtp_sink: SmtpSink) -> Iterator[Console]:
    """A served briefmail whose console has the accounts' pages, linking to where it is served."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = console_app(database_url, smtp_sink, base)
    server, thread = serve_pages(app, port)
    try:
        yield Console(app, base, smtp_sink)
    finally:
        server.should_exit = True
        thread.join(10)
        app.close()


def hidden_field(html: str, name: str) -> str:
    """The value of the first hidden input called ``name`` in a page."""
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert found is not None, f"no {name} field in: {html[:300]}"
    return found.group(1)


def post_form(client: httpx.Client, path: str, page: str, **data: Any) -> httpx.Response:
    """POST a console form with the CSRF token the page it came from carries."""
    return client.post(path, data={"csrf": hidden_field(page, "csrf"), **data})
