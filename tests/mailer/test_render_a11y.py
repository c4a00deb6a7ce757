"""Every rendered e-mail passes axe-core in real Chromium: both brands, light and dark.

Colour contrast is what dark mode most often breaks (a light text colour kept on a light
background, or a link colour made for white on a dark card), so each e-mail is checked in both
colour schemes, once with the default brand and once with a list's own (an amber accent and a
logo). The logo is shown as a data: URI here, as a mail client shows the cid: part.
"""

from __future__ import annotations

from typing import Any

import pytest

from mailer.render import Rendered, Renderer
from mailer.topics import default_taxonomy
from tests.axe import axe_violations
from tests.mailer.cases import BRANDED, NEWSLETTER, render_all
from tests.mailer.test_render import CASES

BRANDS = {"default": NEWSLETTER, "branded": BRANDED}
#: The long issues repeat the short ones' markup story after story, and axe takes seconds on
#: each: they are checked with the list's own brand (the harder colours) only.
LONG = {"brief-overflow", "digest-week", "brief-thirty", "brief-chinese", "brief-ten"}
assert set(CASES) >= LONG, "a long case was renamed: name it here again"
#: Every (case, brand) pair checked.
PAIRS = [(c, b) for c in CASES for b in BRANDS if not (c in LONG and b == "default")]


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Rendered]]:
    """Every case for each brand."""
    taxonomy = default_taxonomy()
    renderer = Renderer(taxonomy)
    return {name: render_all(renderer, taxonomy, list_) for name, list_ in BRANDS.items()}


#: test_render checks that CASES names every case render_all makes: each format, the long and
#: hostile issues, every notice.
@pytest.mark.parametrize(("case", "brand"), PAIRS)
def test_no_serious_accessibility_finding_in_light_or_dark(
    browser: Any, rendered: dict[str, dict[str, Rendered]], case: str, brand: str
) -> None:
    """axe-core finds nothing serious or critical, contrast included, in either colour scheme."""
    page = browser.new_page(viewport={"width": 375, "height": 900}, color_scheme="light")
    try:
        page.set_content(rendered[brand][case].browser_html, wait_until="load")
        found = {"light": axe_violations(page)}
        page.emulate_media(color_scheme="dark")
        assert page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
        found["dark"] = axe_violations(page)
        assert found == {"light": [], "dark": []}
    finally:
        page.close()


def test_the_check_sees_dark_text_on_the_dark_card(
    browser: Any, rendered: dict[str, dict[str, Rendered]]
) -> None:
    """The dark-mode check can fail: story text made dark grey on the dark card is reported."""
    dark_grey = (
        "@media (prefers-color-scheme: dark) { .card .story p { color: #3e4c59 !important } }"
    )
    html = rendered["default"]["brief"].html.replace(
        "</head>", f"<style>{dark_grey}</style></head>"
    )
    page = browser.new_page(viewport={"width": 375, "height": 900}, color_scheme="dark")
    try:
        page.set_content(html, wait_until="load")
        assert any(line.startswith("color-contrast:") for line in axe_violations(page))
    finally:
        page.close()
