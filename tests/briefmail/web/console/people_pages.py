"""The console with the people pages mounted, for their tests (before the shell lists them).

`people_console` is the shell's `console` fixture, except that the Subscribers and
Suppressions routers are included when `console_router` does not include them yet; once it
does, they are not added twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import APIRouter

from briefmail.app import Briefmail
from briefmail.web.console import console_router, people, suppressions
from briefmail.web.console.ui import ConsoleRouter, NavItem
from mailer.testing import SmtpSink, free_port
from tests.briefmail.web.console.conftest import Console, console_app, serve

__all__ = ["people_console"]


def _with_people_pages(original: Callable[[Briefmail], APIRouter]) -> Callable[..., APIRouter]:
    def build(app: Briefmail) -> APIRouter:
        router = original(app)
        paths = {getattr(route, "path", "") for route in router.routes}
        if "/admin/subscribers" not in paths:
            assert isinstance(router, ConsoleRouter)
            router.page_routes(
                people.router(app, router.ui), nav=NavItem("Subscribers", "/admin/subscribers")
            )
        if "/admin/suppressions" not in paths:
            assert isinstance(router, ConsoleRouter)
            router.page_routes(
                suppressions.router(app, router.ui),
                nav=NavItem("Suppressions", "/admin/suppressions"),
            )
        return router

    return build


@pytest.fixture
def people_console(
    database_url: str, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Console]:
    """The whole web face on loopback with the people pages; its app links to where it is."""
    monkeypatch.setattr("briefmail.web.console_router", _with_people_pages(console_router))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = console_app(database_url, smtp_sink, base)
    server, thread = serve(app, port)
    try:
        yield Console(app, base, smtp_sink)
    finally:
        server.should_exit = True
        thread.join(10)
        app.close()
