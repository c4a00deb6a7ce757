"""A reader's whole journey in real Chromium against the app served by uvicorn on loopback.

From the branded front page: the address, then the choices (the time zone the browser's own),
the confirmation link from the e-mail a real SMTP server captured and the page's button, the
welcome e-mail, the preferences, unsubscribe, and subscribe again from the ended preferences,
at phone and desktop width. axe-core checks every page and the welcome e-mail; screenshots of
every step go to test-artifacts/ (reader-WIDTH-NN-step.png). The two steps are also walked
with JavaScript off, so the form is proven to work without it.
"""

from __future__ import annotations

import base64
import functools
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import uvicorn
from PIL import Image, ImageDraw, ImageFont
from pydantic import SecretStr
from sqlalchemy import select

from briefmail.app import Briefmail
from briefmail.settings import DatabaseSettings, NewsletterSettings, SmtpSettings, isolated_settings
from briefmail.web import create_web
from mailer.testing import SmtpSink, free_port
from subscribers.models import Subscription, SubscriptionStatus
from subscribers.signup import Background
from tests.axe import axe_violations
from tests.briefmail.web.test_archive import brief, store
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


@contextmanager
def serve(tmp_path: Path, sink: SmtpSink, **settings: Any) -> Iterator[Site]:
    """A migrated briefmail (``settings`` over the test defaults) served by uvicorn on loopback."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    newsletter = settings.pop("newsletter", {})
    app = Briefmail(
        isolated_settings(
            newsletter=NewsletterSettings(
                base_url=base, postal_address="1 Example Street", **newsletter
            ),
            database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'web.db'}"),
            smtp=SmtpSettings(host=sink.host, port=sink.port),
            secret_key=SecretStr(secrets.token_urlsafe(32)),
            **settings,
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
    try:
        yield Site(app, base, web.state.signups)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.close()


@pytest.fixture
def site(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Site]:
    """A migrated briefmail whose web app uvicorn serves on a free loopback port."""
    with serve(tmp_path, smtp_sink) as served:
        yield served


@pytest.fixture
def branded(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Site]:
    """A served briefmail with a brand (accent, logo, footer, links) and two sent issues."""
    logo = Image.new("RGB", (64, 64), (154, 52, 18))
    ImageDraw.Draw(logo).text((8, 14), "SM", fill="white", font=ImageFont.load_default(30))
    logo.save(tmp_path / "logo.png")
    publisher = {
        "name": "Sample Media",
        "description": "A short daily brief on chips, models, funding and policy.",
        "website": "https://media.example.org",
        "privacy_url": "https://media.example.org/privacy",
        "footer": "Sample Media Ltd, 1 Example Street, Berlin",
        "logo": tmp_path / "logo.png",
    }
    with serve(
        tmp_path,
        smtp_sink,
        newsletter={"name": "Test Brief", "from_": "Test Brief <brief@news.example.org>"},
        publisher=publisher,
        lists={"brief": {"accent": "#9a3412", "description": publisher["description"]}},
    ) as served:
        for day in (1, 2):
            served.app.sending.plan(store(served.app, brief(day)))
        yield served


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


def plain_text(sink: SmtpSink, subject_start: str) -> tuple[str, str]:
    """The newest captured message whose Subject starts so: its text (one line) and its HTML.

    The HTML's ``cid:`` images are replaced by their related parts as data URIs, as a mail
    client shows them: a logo the message does not carry would stay a broken image.
    """
    for message in reversed(sink.messages):
        parsed = message.parsed()
        if str(parsed["Subject"]).startswith(subject_start):
            text = parsed.get_body(preferencelist=("plain",))
            html = parsed.get_body(preferencelist=("html",))
            assert text is not None and html is not None
            page = html.get_content()
            for part in parsed.walk():
                cid = str(part.get("Content-ID", "")).strip("<>")
                if cid and f"cid:{cid}" in page:
                    payload = part.get_payload(decode=True)
                    assert isinstance(payload, bytes)
                    data = base64.b64encode(payload).decode()
                    page = page.replace(
                        f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}"
                    )
            assert "cid:" not in page, "an image the message does not carry"
            return " ".join(text.get_content().split()), page
    raise AssertionError(f"no message {subject_start!r} captured")


class Walk:
    """A reader's steps in one browser page: each checked by axe-core and photographed."""

    def __init__(self, page: Any, width: int) -> None:
        self.page = page
        self.width = width
        self.step = 0
        self.shots: list[Path] = []

    def check(self, name: str, heading: str) -> None:
        """The page's h1 reads ``heading``, axe finds nothing serious, and a screenshot is kept."""
        assert self.page.locator("h1").first.inner_text() == heading, self.page.content()[:2000]
        assert axe_violations(self.page) == [], name
        # Nothing may stick out sideways on a phone: no horizontal scrolling.
        overflow = self.page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"{name}: {overflow}px wider than the screen"
        self.step += 1
        path = ARTIFACTS / f"reader-{self.width}-{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)

    def email(self, name: str, html: str) -> None:
        """A received e-mail shown as a mail client's window would: axe, then a screenshot."""
        self.page.set_content(html)
        assert axe_violations(self.page) == [], name
        self.step += 1
        path = ARTIFACTS / f"reader-{self.width}-{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)


def front_and_two_steps(walk: Walk, site: Site) -> None:
    """The front page (dates whole), the address, the choices in the browser's zone, submit."""
    page = walk.page
    page.goto(f"{site.base}/")
    walk.check("front", "Test Brief")
    assert "Brief of July 2" in page.content()
    dates = page.locator("time")
    for k in range(dates.count()):  # one line each: a date never breaks
        box = dates.nth(k).bounding_box()
        assert box is not None and box["height"] < 40, dates.nth(k).inner_text()
    page.fill("#email", "reader@example.net")
    page.click("text=Continue")
    walk.check("choices", "Choose what you get")
    assert page.input_value("#timezone") == "Europe/Paris"  # the browser's own zone
    page.check("input[name=topics][value=chips]")
    page.click("button:has-text('Subscribe')")
    walk.check("check-inbox", "Check your inbox")
    site.settled(jobs=1)
    assert state(site.app) == ("pending", "daily", ("chips",))


def confirm_and_welcome(walk: Walk, site: Site, sink: SmtpSink) -> None:
    """The confirmation page's button, the welcome e-mail, and the link used a second time."""
    page = walk.page
    confirm_link = link(sink, site.base, "confirm")
    page.goto(confirm_link)
    walk.check("confirm", "Confirm your subscription")
    assert state(site.app)[0] == "pending"  # opening the link (as a scanner does) changes nothing
    page.click("button[type=submit]")
    walk.check("confirmed", "You are subscribed")
    assert state(site.app)[0] == "confirmed"
    text, html = plain_text(sink, "Welcome")
    assert "Your first issue arrives" in text and "(Paris time)" in text
    assert "Brief of July 2" in text and f"{site.base}/archive/" in text
    walk.email("welcome-email", html)
    page.goto(confirm_link)
    walk.check("already-confirmed", "Already confirmed")


def change_then_leave(walk: Walk, site: Site, sink: SmtpSink) -> None:
    """The preferences saved (weekly), then the unsubscribe page's button."""
    page = walk.page
    page.goto(link(sink, site.base, "preferences"))
    walk.check("preferences", "Your preferences for Test Brief")
    page.check("input[name=cadence][value=weekly]")
    page.click("text=Save my choices")
    assert "Saved." in page.locator("[role=status]").inner_text()
    assert state(site.app) == ("confirmed", "weekly", ("chips",))
    page.goto(link(sink, site.base, "unsubscribe"))
    walk.check("unsubscribe", "Unsubscribe from Test Brief?")
    page.click("button[type=submit]")
    walk.check("unsubscribed", "You are unsubscribed")
    assert state(site.app)[0] == SubscriptionStatus.UNSUBSCRIBED


def come_back(walk: Walk, site: Site, sink: SmtpSink) -> None:
    """From "You are unsubscribed": the ended preferences, "Subscribe again", a new confirmation."""
    page = walk.page
    page.click("text=Subscribe again with your old choices")
    walk.check("ended-preferences", "You are not subscribed to Test Brief")
    assert "Saved." not in page.content()
    page.click("button:has-text('Subscribe again')")
    walk.check("check-inbox-again", "Check your inbox")
    site.settled(jobs=2)
    assert state(site.app) == ("pending", "weekly", ("chips",))
    subjects = [str(m.parsed()["Subject"]).split(" ")[0] for m in sink.messages]
    assert subjects == ["Confirm", "Welcome", "You", "Confirm"]
    page.goto(link(sink, site.base, "confirm"))
    page.click("button[type=submit]")
    walk.check("confirmed-again", "You are subscribed")
    assert state(site.app)[0] == "confirmed"


class TestJourney:
    @pytest.mark.parametrize("width", [375, 1280])
    def test_landing_to_resubscribe_at_phone_and_desktop_width(
        self, browser: Any, branded: Site, smtp_sink: SmtpSink, width: int
    ) -> None:
        """Front page → two steps → confirm → welcome → preferences → unsubscribe → again.

        In real Chromium at 375 and 1280 px, in Paris's time zone: every page and the welcome
        e-mail pass axe-core with nothing serious, nothing scrolls sideways, dates stay whole.
        """
        ARTIFACTS.mkdir(exist_ok=True)
        context = browser.new_context(
            viewport={"width": width, "height": 900}, timezone_id="Europe/Paris", bypass_csp=True
        )
        walk = Walk(context.new_page(), width)
        try:
            front_and_two_steps(walk, branded)
            confirm_and_welcome(walk, branded, smtp_sink)
            change_then_leave(walk, branded, smtp_sink)
            come_back(walk, branded, smtp_sink)
            assert all(p.stat().st_size > 0 for p in walk.shots) and len(walk.shots) == 13
        finally:
            context.close()

    def test_pages_keep_their_contrast_in_dark_mode(self, browser: Any, branded: Site) -> None:
        """With the system in dark mode, the front page and both steps still pass axe-core."""
        context = browser.new_context(color_scheme="dark", bypass_csp=True)
        page = context.new_page()
        try:
            page.goto(f"{branded.base}/")
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(17, 24, 39)"  # the dark palette is the one in use
            assert axe_violations(page) == [], "front page"
            page.fill("#email", "reader@example.net")
            page.click("text=Continue")
            assert axe_violations(page) == [], "choices"
            page.screenshot(path=str(ARTIFACTS / "reader-dark-choices.png"), full_page=True)
        finally:
            context.close()

    def test_the_two_steps_work_without_javascript(
        self, browser: Any, site: Site, smtp_sink: SmtpSink
    ) -> None:
        """With scripts off, the address, then the choices (the zone left at UTC), subscribe."""
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        try:
            page.goto(f"{site.base}/subscribe")
            page.fill("#email", "reader@example.net")
            page.click("text=Continue")
            assert page.input_value("#timezone") == "UTC"
            page.check("input[name=topics][value=models]")
            page.click("button:has-text('Subscribe')")
            assert page.locator("h1").inner_text() == "Check your inbox"
            site.settled(jobs=1)
            assert state(site.app) == ("pending", "daily", ("models",))
        finally:
            context.close()

    def test_error_pages_lead_somewhere(self, browser: Any, site: Site) -> None:
        """An unknown address and a cut-short link: styled pages with a link to go on."""
        context = browser.new_context(bypass_csp=True, viewport={"width": 375, "height": 800})
        page = context.new_page()
        try:
            for path, heading in (
                ("/no/such/page", "Page not found"),
                ("/preferences/not-a-token", "This link no longer works"),
                ("/confirm/not-a-token", "This link no longer works"),
            ):
                answer = page.goto(f"{site.base}{path}")
                assert answer is not None and answer.status in (400, 404)
                assert page.locator("h1").inner_text() == heading
                assert axe_violations(page) == [], path
                assert page.locator("main a").count() >= 1, path
            page.screenshot(path=str(ARTIFACTS / "reader-375-error.png"), full_page=True)
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
