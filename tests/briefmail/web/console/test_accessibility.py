"""Every console page passes axe-core and fits a phone, in real Chromium.

The walk reads the served app's route table, as `test_routes` does, so a page added later is
checked too: each GET route under /admin that answers a whole HTML document (not a fragment, a
preview or a download) is opened at 375 and 1280 px, signed in as an owner, over data where
every id the routes take (issue, run, subscriber, list, …) is 1 and exists. axe-core (the npm
package, injected from node_modules) must find nothing serious or critical, and no page may
scroll sideways.
"""

from __future__ import annotations

from typing import Any

from briefmail.accounts.models import Role
from tests.briefmail.web.console.conftest import Console, axe_violations, populate
from tests.briefmail.web.console.test_routes import console_routes, filled

#: Routes that are not pages of their own: htmx fragments, e-mail previews, files, sign-out.
NOT_PAGES = ("/progress", "/preview", "/previews", "/export", "/static/", "/logout", ".csv")


def page_paths(console: Console) -> list[str]:
    """The console's GET routes that answer a page, with every id filled in as 1."""
    paths = [
        filled(path)
        for method, path in console_routes(console)
        if method == "GET" and not any(part in path for part in NOT_PAGES)
    ]
    return sorted(set(paths))


def test_the_walk_finds_the_pages(console: Console) -> None:
    """The walk includes the shell's pages and the detail pages (so it checks something)."""
    paths = page_paths(console)
    for expected in ("/admin", "/admin/issues/1", "/admin/runs/1", "/admin/subscribers/1"):
        assert expected in paths
    assert not any("/progress" in p or "/preview" in p for p in paths)


def test_every_page_passes_axe_and_fits_a_phone(browser: Any, console: Console) -> None:
    """No serious or critical axe finding and no sideways scroll on any page, at either width."""
    populate(console)
    paths = page_paths(console)
    found: dict[str, list[str]] = {}
    for width in (375, 1280):
        # bypass_csp only lets the test inject axe-core; the pages run as they are served.
        context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
        page = context.new_page()
        try:
            console.login(page, Role.OWNER)
            for path in paths:
                answer = page.goto(console.url(path))
                assert answer is not None and answer.status == 200, (path, answer)
                if not answer.text().lstrip().lower().startswith("<!doctype html"):
                    continue  # a fragment htmx swaps into a page: checked within that page
                problems = axe_violations(page)
                scroll = page.evaluate("() => document.documentElement.scrollWidth")
                if scroll > width + 1:
                    problems.append(f"scrolls sideways ({scroll} px wide)")
                if problems:
                    found[f"{path} at {width} px"] = problems
        finally:
            context.close()
    assert found == {}, "\n".join(f"{where}: {problems}" for where, problems in found.items())
