"""An issue's page in real Chromium: it fits a phone, its previews render, htmx edits in place.

At 375 px the page does not scroll sideways (wide previews scroll inside their own box); each
variant's sandboxed frames show that variant's stories; ticking a topic and saving swaps the
stories fragment without leaving the page. Screenshots at 375 and 1280 px go to test-artifacts/.
"""

from __future__ import annotations

from typing import Any

from tests.briefmail.web.console.conftest import Console, axe_violations
from tests.briefmail.web.console.test_issues import site, stored
from tests.briefmail.web.test_archive_browser import OVERFLOW
from tests.conftest import ARTIFACTS, subscribe_readers

__all__ = ["site"]  # the served console with the issue pages, shared with test_issues


#: How wide the document is and how far it scrolls sideways.
WIDTHS = "() => [document.documentElement.clientWidth, document.documentElement.scrollWidth]"


def _frame_text(page: Any, index: int) -> str:
    """The text of the index-th preview frame, once it has loaded (frames load lazily)."""
    frame = page.locator("iframe").nth(index)
    frame.scroll_into_view_if_needed()
    handle = frame.element_handle()
    content = handle.content_frame()
    content.wait_for_load_state()
    text: str = content.locator("body").inner_text(timeout=10_000)
    return text


class TestIssuePageInChromium:
    def test_the_page_fits_a_phone_and_previews_each_variant(
        self, browser: Any, site: Console
    ) -> None:
        """375 px: no sideways scroll; the chips and models variants frame their own stories."""
        subscribe_readers(site.app, ["c@example.org"], topics=["chips"])
        subscribe_readers(site.app, ["m@example.org"], topics=["models"])
        issue_id = stored(site)
        ARTIFACTS.mkdir(exist_ok=True)
        context = browser.new_context(viewport={"width": 375, "height": 800})
        page = context.new_page()
        try:
            site.login(page, "editor")
            page.goto(site.url(f"/admin/issues/{issue_id}"))
            page.locator("#audience table").first.wait_for()  # htmx fetched the dry run
            width, scroll = page.evaluate(WIDTHS)
            assert scroll <= width, (width, scroll, page.evaluate(OVERFLOW)["wide"][:8])
            frames = page.locator("iframe")
            labels = [frames.nth(n).get_attribute("title") for n in range(frames.count())]
            assert labels[:2] == ["chips at 375 px", "chips at 600 px"]
            assert all(frames.nth(n).get_attribute("sandbox") == "" for n in range(len(labels)))
            chips = _frame_text(page, 0)
            models = _frame_text(page, labels.index("models at 375 px"))
            assert "Foundry Ships" in chips and "Lab Publishes" not in chips
            assert "Lab Publishes" in models and "Foundry Ships" not in models
            page.screenshot(path=str(ARTIFACTS / "console-issue-375.png"), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 900})
            page.screenshot(path=str(ARTIFACTS / "console-issue-1280.png"), full_page=True)
        finally:
            context.close()

    def test_a_topic_edit_swaps_the_stories_in_place(self, browser: Any, site: Console) -> None:
        """Saving story 3's topics with htmx changes them without a page load."""
        issue_id = stored(site)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            site.login(page, "editor")
            page.goto(site.url(f"/admin/issues/{issue_id}"))
            page.evaluate("window.__same_page = true")
            story = page.locator("#story-3")
            story.locator("summary", has_text="Edit topics").click()
            story.locator('input[name="topics"][value="policy"]').check()
            story.locator("button", has_text="Save topics").click()
            page.locator("#stories .flash-ok", has_text="story 3 topics changed").wait_for()
            assert page.evaluate("window.__same_page") is True  # swapped, not reloaded
        finally:
            context.close()
        topics = site.app.content.issue(issue_id).issue.stories[2].topics
        assert "policy" in topics
        assert site.app.content.issue(issue_id).history[-1].actor == "console:editor@example.org"


class TestAccessibility:
    def test_the_issue_pages_have_no_serious_violations(self, browser: Any, site: Console) -> None:
        """axe-core finds nothing serious or critical on the list, new-issue and issue pages."""
        subscribe_readers(site.app, ["c@example.org"], topics=["chips"])
        issue_id = stored(site, approve=True)
        # The console's CSP refuses inline scripts, as it should: only the test's axe bypasses it.
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page = context.new_page()
        found: dict[str, list[str]] = {}
        try:
            site.login(page, "owner")
            for path in ("/admin/issues", "/admin/issues/new", f"/admin/issues/{issue_id}"):
                page.goto(site.url(path))
                if path.endswith(str(issue_id)):
                    page.locator("#audience table").first.wait_for()
                found[path] = axe_violations(page)
        finally:
            context.close()
        assert found == {path: [] for path in found}
