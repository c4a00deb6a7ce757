"""Rendered e-mails in real headless Chromium: phone and desktop widths, no overflow, no script.

Driven by Playwright against Debian's chromium (Playwright's own browser download cannot work
here). Screenshots are written to test-artifacts/ for people to look at.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from mailer.content import Role
from mailer.render import Rendered, Renderer
from mailer.topics import Taxonomy, default_taxonomy
from tests.conftest import ARTIFACTS
from tests.mailer.cases import (
    ARCHIVE_URL,
    BRAND,
    BRANDED,
    LINKS,
    NEWSLETTER,
    NEWSLETTER_CASES,
    NOTICE_CASES,
    issues,
    render_all,
    ten_story_digest,
)

WIDTHS = (375, 600)
CASES = (*NEWSLETTER_CASES, *NOTICE_CASES)


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    taxonomy = default_taxonomy()
    return render_all(Renderer(taxonomy), taxonomy)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", CASES)
def test_email_fits_the_screen_shows_every_title_and_runs_no_script(
    browser: Any, rendered: dict[str, Rendered], taxonomy: Taxonomy, case: str, width: int
) -> None:
    """At phone and desktop width nothing scrolls sideways, titles are visible, no script runs."""
    page = browser.new_page(viewport={"width": width, "height": 900}, java_script_enabled=True)
    dialogs: list[str] = []

    def refuse(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    try:
        page.set_content(rendered[case].html, wait_until="load")
        overflow = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1], f"{case} at {width}px scrolls sideways: {overflow}"
        issue = issues(taxonomy).get(case)
        # Stories left out to fit the size budget are the last ones; the rest must show.
        shown = issue.stories[: len(issue.stories) - rendered[case].omitted] if issue else ()
        for story in shown:
            if story.role == Role.STORY or case.startswith(("article", "bulletin")):
                title = story.title.replace("**", "")[:40]
                heading = page.locator("h2, h3", has_text=title).first
                assert heading.is_visible(), title
        assert dialogs == []
        assert page.evaluate("() => document.querySelectorAll('script').length") == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{case}-{width}.png"), full_page=True)
    finally:
        page.close()


def phone(browser: Any, html: str) -> Any:
    """A 375 px wide page showing ``html`` (the caller closes it)."""
    page = browser.new_page(viewport={"width": 375, "height": 900})
    page.set_content(html, wait_until="load")
    return page


#: The number of line boxes each date in the masthead takes (the title's and the period line's).
_DATE_LINES = """() => [...document.querySelectorAll('h1 .nowrap, .period')]
  .map(e => e.getClientRects().length)"""
_LET_DATES_BREAK = (
    "() => document.querySelectorAll('.nowrap').forEach(e => e.style.whiteSpace = 'normal')"
)


def test_a_date_in_the_masthead_is_never_broken_at_phone_width(
    browser: Any, taxonomy: Taxonomy
) -> None:
    """Wherever a title's date or the period falls in the line at 375 px, it stays on one line.

    Titles grow a word at a time so the date meets the line's end somewhere; the same pages
    with the spans allowed to wrap show the check would see a broken date.
    """
    renderer = Renderer(taxonomy)
    brief = issues(taxonomy)["brief"]
    broken_without = False
    for words in range(12):
        title = "Chips " * words + "Test Brief — 2026-06-22"
        issue = replace(
            brief,
            title=title,
            stories=brief.stories[:1],
            date=dt.date(2026, 12, 28),
            period_end=dt.date(2027, 1, 3 + words % 2),
        )
        rendered = renderer.render_issue(issue, issue.stories, NEWSLETTER, topics=[], cadence="")
        page = phone(browser, rendered.html)
        try:
            lines = page.evaluate(_DATE_LINES)
            assert lines == [1, 1], (title, lines)
            page.evaluate(_LET_DATES_BREAK)
            broken_without |= max(page.evaluate(_DATE_LINES)) > 1
        finally:
            page.close()
    assert broken_without


def test_a_ten_story_digest_is_short_on_a_phone(browser: Any, taxonomy: Taxonomy) -> None:
    """At 375 px a 10-story digest is under 3,000 px tall (with full summaries it was 5,500)."""
    digest = ten_story_digest(taxonomy)
    for newsletter, shot in ((NEWSLETTER, None), (BRANDED, "email-digest-375.png")):
        rendered = Renderer(taxonomy).render_issue(
            digest, digest.stories, newsletter, topics=[], cadence="weekly", archive_url=ARCHIVE_URL
        )
        page = phone(browser, rendered.fill(LINKS).browser_html)
        try:
            height = page.evaluate("() => document.documentElement.scrollHeight")
            assert height < 3_000, (newsletter.brand, height)
            if shot:
                page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
        finally:
            page.close()


def test_a_branded_brief_shows_its_logo_on_a_phone(browser: Any, taxonomy: Taxonomy) -> None:
    """The branded brief's logo loads at its shown size in the masthead (screenshot saved)."""
    brief = issues(taxonomy)["brief"]
    rendered = Renderer(taxonomy).render_issue(
        brief, brief.stories, BRANDED, topics=["chips"], cadence="daily", archive_url=ARCHIVE_URL
    )
    page = phone(browser, rendered.fill(LINKS).browser_html)
    try:
        logo = page.locator("img").first
        assert BRAND.logo is not None and logo.get_attribute("alt") == BRAND.logo.alt
        size = page.evaluate(
            "() => [document.images[0].complete, document.images[0].naturalWidth,"
            " document.images[0].width, document.images[0].height]"
        )
        assert size == [True, BRAND.logo.width, *BRAND.logo.shown]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "email-brief-375.png"), full_page=True)
    finally:
        page.close()
