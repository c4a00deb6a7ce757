"""A list's archive in real Chromium at a phone's width, served by uvicorn on loopback.

Open a second list's archive, follow the link to its issue, and read the web version's footer:
the list's name, Subscribe and the list's archive, nothing addressed to one reader. At 375 px no
element reaches past the right edge, long words and addresses included. Screenshots go to
test-artifacts/.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import uvicorn
from pydantic import SecretStr

from briefmail.app import Briefmail
from briefmail.settings import DatabaseSettings, NewsletterSettings, SmtpSettings, isolated_settings
from briefmail.web import create_web
from mailer.content import Story
from mailer.testing import SmtpSink, free_port
from scheduler.editions import store_issue
from subscribers.lists import create_list
from tests.axe import axe_violations
from tests.conftest import ARTIFACTS
from tests.mailer.cases import hostile_stories, ten_story_brief

#: Elements whose box reaches past the viewport's edges (hidden ones have no box), and how wide
#: the document scrolls.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.right > width + 0.5 || box.left < -0.5) {
      const text = (element.textContent || "").trim().slice(0, 40);
      wide.push(`${element.tagName}.${element.className} ${box.left}..${box.right} ${text}`);
    }
  }
  return {width, scroll: document.documentElement.scrollWidth, wide};
}"""
#: A story with words and an address longer than a phone's line.
LONG = Story(
    11,
    "Supercalifragilistic" * 8,
    "https://news.example.com/" + "a-very-long-path-segment/" * 8 + " and " + "x" * 200,
    source="Example Wire " + "w" * 80,
    url="https://news.example.com/" + "p" * 150,
    topics=("chips",),
)


#: A title with markup in it: the archive shows it as text.
TRICKY = "Second issue <b>not bold</b> & friends"


class Site(NamedTuple):
    """The served app, its address and the id of the weekly list's sent issue."""

    app: Briefmail
    base: str
    issue_id: int


def serve(app: Briefmail, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve the app's web face on loopback, waiting until it accepts connections."""
    server = uvicorn.Server(
        uvicorn.Config(create_web(app), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread


@pytest.fixture
def site(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Site]:
    """A briefmail with a "weekly" list whose one issue was sent (planned), served by uvicorn."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = Briefmail(
        isolated_settings(
            newsletter=NewsletterSettings(base_url=base, postal_address="1 Example Street"),
            database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'archive.db'}"),
            smtp=SmtpSettings(host=smtp_sink.host, port=smtp_sink.port),
            secret_key=SecretStr(secrets.token_urlsafe(32)),
        )
    )
    app.migrate()
    app.ensure_default_list()
    issue = ten_story_brief()
    issue = replace(issue, title="Weekly Test, first issue", stories=(*issue.stories, LONG))
    with app.sessions() as session:
        weekly = create_list(session, "weekly", "Weekly Test", "Weekly <weekly@example.org>")
        row, _ = store_issue(session, weekly, issue)
        hostile, _ = store_issue(
            session,
            weekly,
            replace(issue, title=TRICKY, date=issue.date.replace(day=2), stories=hostile_stories()),
        )
        session.commit()
        issue_id, hostile_id = row.id, hostile.id
    for each in (issue_id, hostile_id):
        app.sending.plan(each)
    server, thread = serve(app, port)
    yield Site(app, base, issue_id)
    server.should_exit = True
    thread.join(timeout=10)
    app.close()


def assert_fits(page: Any) -> None:
    """No element of the page reaches past the viewport, and the page does not scroll sideways."""
    measured = page.evaluate(OVERFLOW)
    assert measured["wide"] == [], measured["wide"][:10]
    assert measured["scroll"] <= measured["width"], measured


class TestArchiveOnAPhone:
    def test_reader_opens_the_archive_and_an_issue(self, browser: Any, site: Site) -> None:
        """At 375 px the archive and its issue fit, pass axe-core, and the footer is public."""
        ARTIFACTS.mkdir(exist_ok=True)
        context = browser.new_context(viewport={"width": 375, "height": 800}, bypass_csp=True)
        page = context.new_page()
        try:
            page.goto(f"{site.base}/lists/weekly/archive")
            assert page.locator("h1").inner_text() == "Weekly Test: past issues"
            feed = page.locator('link[rel=alternate][type="application/atom+xml"]').first
            assert feed.get_attribute("href") == f"{site.base}/lists/weekly/feed.xml"
            dates = page.locator("time.date")
            assert dates.count() == 2
            assert dates.first.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
            page.screenshot(path=str(ARTIFACTS / "archive-1-index-375.png"), full_page=True)
            assert_fits(page)
            assert axe_violations(page) == [], "archive index"

            page.click("text=Weekly Test, first issue")
            assert page.url == f"{site.base}/lists/weekly/archive/{site.issue_id}"
            assert page.locator("h1").inner_text() == "Weekly Test, first issue"
            footer = page.locator(".footer")
            footer.scroll_into_view_if_needed()
            text = footer.inner_text()
            assert "This issue of Weekly Test is shown as it was sent." in text
            subscribe = footer.get_by_role("link", name="Subscribe", exact=True)
            assert subscribe.get_attribute("href") == f"{site.base}/subscribe"
            assert subscribe.is_visible()
            box = footer.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
            body = page.locator("body").inner_text().lower()
            for personal in ("unsubscribe", "because you subscribed", "stories for you"):
                assert personal not in body
            footer.screenshot(path=str(ARTIFACTS / "archive-2-footer-375.png"))
            page.screenshot(path=str(ARTIFACTS / "archive-2-issue-375.png"), full_page=True)
            assert_fits(page)
            assert axe_violations(page) == [], "web version"

            footer.get_by_role("link", name="All issues of Weekly Test").click()
            assert page.url == f"{site.base}/lists/weekly/archive"
            page.get_by_role("link", name=TRICKY).click()
            assert page.locator("h1").inner_text() == TRICKY
            assert page.title() == TRICKY
            page.screenshot(path=str(ARTIFACTS / "archive-3-hostile-375.png"), full_page=True)
            assert_fits(page)
        finally:
            context.close()
