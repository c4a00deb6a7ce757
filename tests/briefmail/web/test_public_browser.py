"""A reader's whole journey in real Chromium against the app served by uvicorn on loopback.

Subscribe with two topics, follow the confirmation link from the e-mail a real SMTP server
captured and press the page's button, switch to the weekly digest and add a topic, then
unsubscribe from the page. The browser runs with JavaScript switched off, so every step is
proven to work without it. Screenshots of every step go to test-artifacts/.
"""

from __future__ import annotations

import functools
import re
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select

from briefmail.app import Briefmail
from briefmail.settings import DatabaseSettings, NewsletterSettings, SmtpSettings, isolated_settings
from briefmail.web import create_web
from mailer.testing import SmtpSink, free_port
from subscribers.models import Subscription, SubscriptionStatus
from subscribers.signup import Background
from tests.briefmail.web.test_public import csrf_of
from tests.conftest import ARTIFACTS


class Site(NamedTuple):
    """The served app: its briefmail, its address, and the work it does after answering."""

    app: Briefmail
    base: str
    signups: Background

    def settled(self, jobs: int) -> None:
        """Wait (at most 10 s) until `jobs` pieces of after-the-answer work have finished.

        Counted, not "until idle": the work is queued only once the answer has gone out, so
        the browser can see the page before the queue has anything in it.
        """
        deadline = time.monotonic() + 10
        while self.signups.finished < jobs or self.signups.busy:
            assert time.monotonic() < deadline, "the app's background work did not finish"
            time.sleep(0.01)


@pytest.fixture
def site(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Site]:
    """A migrated briefmail whose web app uvicorn serves on a free loopback port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = Briefmail(
        isolated_settings(
            newsletter=NewsletterSettings(base_url=base, postal_address="1 Example Street"),
            database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'web.db'}"),
            smtp=SmtpSettings(host=smtp_sink.host, port=smtp_sink.port),
            secret_key=SecretStr(secrets.token_urlsafe(32)),
        )
    )
    app.migrate()
    app.ensure_default_list()
    web = create_web(app)
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield Site(app, base, web.state.signups)
    server.should_exit = True
    thread.join(timeout=10)
    app.close()


def link(sink: SmtpSink, base: str, kind: str) -> str:
    """The newest /{kind}/… address in the captured messages."""
    for message in reversed(sink.messages):
        body = message.parsed().get_body(preferencelist=("plain",))
        assert body is not None
        if match := re.search(rf"{re.escape(base)}/{kind}/\S+", body.get_content()):
            return match.group(0)
    raise AssertionError(f"no {kind} link captured")


def state(app: Briefmail) -> tuple[str, str, tuple[str, ...]]:
    with app.sessions() as session:
        sub = session.scalar(select(Subscription))
        assert sub is not None
        return str(sub.status), str(sub.cadence), sub.topics


class TestJourney:
    def test_reader_subscribes_confirms_changes_and_leaves(
        self, browser: Any, site: Site, smtp_sink: SmtpSink
    ) -> None:
        """The journey, confirmation button included, works end to end without JavaScript."""
        app, base = site.app, site.base
        ARTIFACTS.mkdir(exist_ok=True)
        context = browser.new_context(
            java_script_enabled=False, viewport={"width": 390, "height": 900}
        )
        page = context.new_page()
        try:
            page.goto(f"{base}/subscribe")
            page.fill("#email", "reader@example.net")
            page.check("input[name=topics][value=chips]")
            page.check("input[name=topics][value=models]")
            page.screenshot(path=str(ARTIFACTS / "web-1-subscribe.png"), full_page=True)
            page.click("button[type=submit]")
            assert page.locator("h1").inner_text() == "Check your inbox", page.content()
            site.settled(jobs=1)
            assert state(app) == ("pending", "daily", ("chips", "models"))

            confirm_link = link(smtp_sink, base, "confirm")
            page.goto(confirm_link)
            assert page.locator("h1").inner_text() == "Confirm your subscription"
            page.screenshot(path=str(ARTIFACTS / "web-2-confirm.png"), full_page=True)
            assert (
                state(app)[0] == "pending"
            )  # opening the link (as a scanner does) changes nothing
            page.click("button[type=submit]")
            assert page.locator("h1").inner_text() == "You are subscribed"
            page.screenshot(path=str(ARTIFACTS / "web-2-confirmed.png"), full_page=True)
            assert state(app)[0] == "confirmed"

            page.goto(confirm_link)
            assert page.locator("h1").inner_text() == "Already confirmed"
            page.click("text=Change your topics or cadence")
            assert page.locator("input[name=topics][value=chips]").is_checked()

            page.goto(link(smtp_sink, base, "preferences"))
            page.check("input[name=cadence][value=weekly]")
            page.check("input[name=topics][value=funding]")
            page.click("button[type=submit]")
            assert "Saved." in page.locator("[role=status]").inner_text()
            page.screenshot(path=str(ARTIFACTS / "web-3-preferences.png"), full_page=True)
            assert state(app) == ("confirmed", "weekly", ("chips", "funding", "models"))

            page.goto(link(smtp_sink, base, "unsubscribe"))
            page.click("button[type=submit]")
            assert page.locator("h1").inner_text() == "You are unsubscribed"
            page.screenshot(path=str(ARTIFACTS / "web-4-unsubscribed.png"), full_page=True)
            assert state(app)[0] == SubscriptionStatus.UNSUBSCRIBED
            subjects = [m.parsed()["Subject"] for m in smtp_sink.messages]
            assert subjects == [
                "Confirm your subscription to China AI Brief",
                "Welcome to China AI Brief",
                "You have unsubscribed from China AI Brief",
            ]
        finally:
            context.close()


class TestForgery:
    def test_a_form_on_another_site_cannot_subscribe_a_visitor(
        self, browser: Any, site: Site, smtp_sink: SmtpSink, tmp_path: Path
    ) -> None:
        """A page elsewhere that posts our form with a harvested token gets "Please try again"."""
        token = csrf_of(httpx.get(f"{site.base}/subscribe").text)  # the attacker's own token
        (tmp_path / "evil.html").write_text(
            f'<form method="post" action="{site.base}/subscribe">'
            f'<input type="hidden" name="csrf" value="{token}">'
            '<input type="hidden" name="email" value="victim@example.net">'
            '<input type="hidden" name="lists" value="brief">'
            '<button type="submit">Win a prize</button></form>',
            encoding="utf-8",
        )
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
        evil = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        threading.Thread(target=evil.serve_forever, daemon=True).start()
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        try:
            page.goto(f"{site.base}/subscribe")  # the visitor has our form cookie too
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/evil.html")
            page.click("button[type=submit]")
            assert page.locator("h1").inner_text() == "Please try again"
            site.settled(jobs=0)  # refused before any work was queued
            assert smtp_sink.messages == []
        finally:
            context.close()
            evil.shutdown()
            evil.server_close()
