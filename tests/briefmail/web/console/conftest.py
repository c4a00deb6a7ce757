"""The console served for real: a migrated briefmail on loopback and operators who sign in.

`console` serves the whole web face (uvicorn, in a thread) of an app whose base_url is the
address it is served at, over plain http on 127.0.0.1, so a browser keeps its cookies and follows
its links. `console.login(client_or_page, role)` adds an operator of that role (once) and signs
in through the real form, an httpx client or a Playwright page alike.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from briefmail.accounts.models import Role
from briefmail.accounts.operators import OperatorView
from briefmail.app import Briefmail
from briefmail.settings import (
    DatabaseSettings,
    NewsletterSettings,
    SmtpSettings,
    isolated_settings,
)
from briefmail.web import create_web
from briefmail.web.console.issues_actions import SENDERS
from briefmail.web.console.runs import RESUMED
from mailer.testing import SmtpSink, free_port
from tests.axe import AXE as AXE  # the console's tests import both from here
from tests.axe import axe_violations as axe_violations
from tests.conftest import FIXTURES, subscribe_readers

#: Every operator the fixture adds has this password.
PASSWORD = "a long enough password"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The first CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found is not None, f"no csrf field in: {html[:300]}"
    return found.group(1)


@dataclass
class Console:
    """A served briefmail with its console: the app, its base URL and a way to sign in."""

    app: Briefmail
    base: str
    sink: SmtpSink
    operators: dict[Role, OperatorView] = field(default_factory=dict)

    def url(self, path: str) -> str:
        """The absolute address of a path on the served app."""
        return self.base + path

    def operator(self, role: Role | str) -> OperatorView:
        """The operator of this role ("owner@example.org", …), added on first use."""
        role = Role(role)
        if role not in self.operators:
            self.operators[role] = self.app.operators.add(
                f"{role.value}@example.org", role, PASSWORD
            )
        return self.operators[role]

    def client(self) -> httpx.Client:
        """An httpx client on the served app that does not follow redirects."""
        return httpx.Client(base_url=self.base, follow_redirects=False, timeout=20)

    def login(self, client_or_page: Any, role: Role | str = Role.OWNER) -> OperatorView:
        """Sign in as the operator of this role through /admin/login; the operator."""
        operator = self.operator(role)
        if isinstance(client_or_page, httpx.Client):
            form = client_or_page.get("/admin/login")
            assert form.status_code == 200, form.text[:300]
            answer = client_or_page.post(
                "/admin/login",
                data={"email": operator.email, "password": PASSWORD, "csrf": csrf_of(form.text)},
            )
            assert answer.status_code == 303, answer.text[:500]
            return operator
        page = client_or_page
        page.goto(self.url("/admin/login"))
        page.fill("#email", operator.email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/admin/?(\?.*)?$"))
        return operator


def serve(app: Briefmail, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve the app's web face on loopback, waiting until it accepts connections."""
    server = uvicorn.Server(
        uvicorn.Config(create_web(app), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread


def console_app(database_url: str, sink: SmtpSink, base: str, **settings: Any) -> Briefmail:
    """A migrated briefmail with its default list, linking to `base`, sending to the sink."""
    app = Briefmail(
        isolated_settings(
            newsletter=NewsletterSettings(
                name="Test Brief",
                **{"from": "Test Brief <brief@news.example.org>"},
                base_url=base,
                postal_address="1 Example Street, 10115 Berlin",
            ),
            database=DatabaseSettings(url=database_url),
            smtp=SmtpSettings(host=sink.host, port=sink.port),
            secret_key=SecretStr(secrets.token_urlsafe(32)),
            **settings,
        )
    )
    app.migrate()
    app.ensure_default_list()
    return app


def populate(console: Console) -> None:
    """Readers, one issue sent to them (run 1) and a suppression: each kind of page has a row."""
    app = console.app
    subscribe_readers(app, ["ada@example.net", "grace@example.net"], topics=["chips"])
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None and stored.id == 1
    run_id = app.sending.plan(stored.id)
    assert run_id == 1
    # Playwright's own loop runs in this thread: the send runs in another.
    sending = threading.Thread(target=lambda: asyncio.run(app.sending.send(run_id=run_id)))
    sending.start()
    sending.join(60)
    assert app.sending.counts(run_id)["delivered"] == 2


@contextmanager
def served(database_url: str, sink: SmtpSink, **settings: Any) -> Iterator[Console]:
    """A `console_app` served on a free loopback port it links to; stopped and closed after.

    On the way out it waits for the sends the console started in the background, so no
    thread of one test still writes to a database the next test no longer has.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = console_app(database_url, sink, base, **settings)
    server, thread = serve(app, port)
    try:
        yield Console(app, base, sink)
    finally:
        SENDERS.wait(20)
        RESUMED.wait(20)
        server.should_exit = True
        thread.join(10)
        app.close()


@pytest.fixture
def console(database_url: str, smtp_sink: SmtpSink) -> Iterator[Console]:
    """The whole web face served on loopback, its app linking to the address it is served at."""
    with served(database_url, smtp_sink) as served_console:
        yield served_console


@pytest.fixture
def owner_client(console: Console) -> Iterator[httpx.Client]:
    """An httpx client signed in as an owner."""
    with console.client() as client:
        console.login(client, Role.OWNER)
        yield client
