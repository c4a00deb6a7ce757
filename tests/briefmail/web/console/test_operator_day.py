"""An operator's day in real Chromium, through the console alone.

Sign in → upload the day's brief → fix one story's topic → look at the previews on a phone →
send a test copy (the SMTP sink catches it) → approve → send → watch the run reach 100% on its
page (which polls the ledger) → open a subscriber → erase them with a typed confirmation. At
375 px and 1280 px no page scrolls sideways; screenshots of each step go to test-artifacts/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from briefmail.accounts.models import Role
from subscribers.models import Subscriber
from tests.briefmail.web.console.conftest import Console
from tests.conftest import ARTIFACTS, subscribe_readers

#: The day's brief, written for this test: four stories, the third tagged only as funding.
BRIEF = """Test Brief — 2026-11-30

Posted on November 30, 2026 at 07:00 AM

Top Stories

1. Memory Maker Doubles Output of Stacked DRAM for Accelerators

  • Fab Ledger · 2026-11-30
  • Summary: A memory maker said a second line of stacked DRAM for accelerator chips is running.
  • Why It Matters: High-bandwidth memory has been the scarcest part of every new server.
  • URL: https://example.com/stacked-dram-line

2. Regulator Publishes Draft Rules for Model Audits

  • Policy Wire · 2026-11-30
  • Summary: The regulator opened a consultation on audits of large AI models before release.
  • Why It Matters: Labs would have to document testing before shipping a model.
  • URL: https://example.com/model-audit-draft

3. Warehouse Automation Firm Raises a Series C

  • Deal Sheet · 2026-11-29
  • Summary: A company selling picking arms for warehouses raised a Series C from two funds.
  • Why It Matters: Investors are still paying for automation that ships today.
  • URL: https://example.com/warehouse-series-c

4. Editors' Note: Holiday Hours

  • Editors · 2026-11-30
  • Summary: The brief goes out at its usual hour through December.
  • Why It Matters: Readers know when to expect the next issue.
  • URL: https://example.com/holiday-hours
"""
READERS = [f"reader{n:02d}@example.net" for n in range(24)]
ERASED = "leaving@example.net"
#: How wide the document scrolls compared with the viewport.
SCROLL = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    """A Chromium page at a desktop's width, signed in as an owner."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    console.login(page, Role.OWNER)
    yield page
    context.close()


def shoot(page: Any, name: str) -> None:
    """Screenshots of the current page at 1280 and 375 px; neither scrolls sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1280, 900), (375, 812)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(50)
        scroll, client = page.evaluate(SCROLL)
        assert scroll <= client, f"{name} at {width} px scrolls sideways ({scroll} > {client})"
        page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def store_brief(page: Any, console: Console, folder: Path) -> int:
    """Upload the brief as a file and store it as a draft; the new issue's id."""
    brief = folder / "brief-2026-11-30.txt"
    brief.write_text(BRIEF, encoding="utf-8")
    page.goto(console.url("/admin/issues/new"))
    page.set_input_files("#issue-file", str(brief))
    page.click("button[name=action][value=store]")
    page.wait_for_url(re.compile(r"/admin/issues/\d+$"))
    assert "Warehouse Automation Firm Raises a Series C" in page.content()
    return int(page.url.rsplit("/", 1)[1])


def fix_topic(page: Any, console: Console, issue_id: int) -> None:
    """Story 3 is about robots too: add the topic through its htmx form; it is stored."""
    story = page.locator("#story-3")
    assert "robotics" not in story.inner_text()
    story.locator("summary", has_text="Edit topics").click()
    story.locator("input[name=topics][value=robotics]").check()
    story.locator("button", has_text="Save topics").click()
    page.locator("#story-3 .status", has_text="robotics").wait_for()
    # The edit tells the previews to fetch themselves again (htmx): wait until they have been
    # swapped in, or the frames looked at next are the ones being replaced.
    page.wait_for_load_state("networkidle")
    stored = console.app.content.issue(issue_id).issue.stories[2]
    assert "robotics" in stored.topics and "funding" in stored.topics


def look_on_a_phone(page: Any) -> None:
    """The 375 px preview of the chips-and-robotics reader holds the re-tagged story."""
    page.set_viewport_size({"width": 375, "height": 812})
    phone = page.locator("iframe[width='375']").first
    phone.scroll_into_view_if_needed()
    assert "robotics" in str(phone.get_attribute("src"))
    frame = page.frame_locator("iframe[width='375']").first
    # (the hidden preheader says it too: the visible story is the one that counts)
    frame.locator("text=Warehouse Automation Firm >> visible=true").first.wait_for()
    page.set_viewport_size({"width": 1280, "height": 900})
    shoot(page, "issue")


def send_test(page: Any, console: Console) -> None:
    """A test copy reaches the sink, marked as a test; nobody else is mailed."""
    page.fill("#test-to", "editor-desk@example.org")
    page.click("button:has-text('Send test')")
    page.wait_for_load_state()
    deadline = time.monotonic() + 20
    while not console.sink.messages and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert [m.rcpt_to for m in console.sink.messages] == [("editor-desk@example.org",)]
    assert "[TEST]" in str(console.sink.messages[0].parsed()["Subject"])


def approve_and_send(page: Any, console: Console) -> int:
    """Approve, then send now: the run's page follows the send to 100%; the run's id."""
    page.click("button:has-text('Approve')")
    page.locator(".status", has_text="approved").first.wait_for()
    page.click("button:has-text('Send now')")
    page.wait_for_url(re.compile(r"/admin/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    page.locator("[data-percent]", has_text="100%").wait_for(timeout=60_000)
    page.locator('[data-status="done"]').wait_for(timeout=20_000)
    everyone = len(READERS) + 1
    assert console.app.sending.counts(run_id)["delivered"] == everyone
    assert page.locator('[data-count="delivered"]').inner_text() == str(everyone)
    shoot(page, "run")
    return run_id


def erase_reader(page: Any, console: Console) -> None:
    """Find a reader, open their page, erase them with their address typed: they are gone."""
    page.goto(console.url("/admin/subscribers?q=leaving"))
    page.click(f"a:has-text('{ERASED}')")
    page.wait_for_url(re.compile(r"/admin/subscribers/\d+$"))
    shoot(page, "subscriber")
    page.fill("#typed", ERASED)
    page.click(f"button:has-text('Erase {ERASED}')")
    page.wait_for_load_state()
    assert "erased" in page.content().lower()
    with console.app.sessions() as session:
        assert session.scalar(select(Subscriber).where(Subscriber.email == ERASED)) is None


def test_an_operators_day(page: Any, console: Console, tmp_path: Path) -> None:
    """From sign-in to an erasure: every step through the console, in a real browser."""
    app = console.app
    subscribe_readers(app, READERS[:12], topics=["chips", "robotics"])
    subscribe_readers(app, READERS[12:], timezone="Asia/Shanghai")
    subscribe_readers(app, [ERASED], timezone="Europe/Berlin")
    shoot(page, "dashboard")
    issue_id = store_brief(page, console, tmp_path)
    fix_topic(page, console, issue_id)
    look_on_a_phone(page)
    send_test(page, console)
    approve_and_send(page, console)
    erase_reader(page, console)
    actions = {entry.action for entry in app.audit.entries(limit=200)}
    assert {
        "login.ok",
        "issue.test_send",
        "issue.approve",
        "issue.send",
        "subscriber.erased",
    } <= actions, actions
