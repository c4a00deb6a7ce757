"""Rendered e-mails in real headless Chromium: phone and desktop widths, no overflow, no script.

Driven by Playwright against Debian's chromium (Playwright's own browser download cannot work
here). Screenshots are written to test-artifacts/ for people to look at.
"""

from __future__ import annotations

from typing import Any

import pytest

from mailer.content import Role
from mailer.render import Rendered, Renderer
from mailer.topics import Taxonomy, default_taxonomy
from tests.conftest import ARTIFACTS
from tests.mailer.cases import NEWSLETTER_CASES, NOTICE_CASES, issues, render_all

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
