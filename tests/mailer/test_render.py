"""Rendering: MJML templates valid for the official compiler, safe content, honest links."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailer.content import Issue, Story
from mailer.ingest import read_issue
from mailer.render import Newsletter, Rendered, Renderer, Slot
from mailer.topics import Taxonomy
from tests.conftest import FIXTURES, require_tool

NEWSLETTER = Newsletter("Test Brief", "Test Brief", "1 Example Street, Berlin")
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def hostile_issue() -> Issue:
    """Every field carries markup an attacker might inject, plus CJK, RTL and a huge title."""
    stories = (
        Story(1, HOSTILE + " title", HOSTILE, HOSTILE, HOSTILE, HOSTILE, None, HOSTILE, ("chips",)),
        Story(
            2,
            "长标题" * 60,
            "中文摘要，包含“引号”。",
            "新华社",
            "2026-07-01",
            None,
            None,
            None,
            ("models",),
        ),
        Story(
            3,
            "عنوان عربي طويل",
            "نص عربي",
            None,
            None,
            None,
            "https://example.com/r",
            None,
            ("general",),
        ),
    )
    return Issue(title=HOSTILE, date=dt.date(2026, 7, 1), stories=stories)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.scripts = 0
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.handlers += [k for k, _ in attrs if k.startswith("on")]
        self.hrefs += [v or "" for k, v in attrs if k == "href"]


def links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


@pytest.fixture
def renderer(taxonomy: Taxonomy) -> Renderer:
    return Renderer(taxonomy)


@pytest.fixture
def mixed(taxonomy: Taxonomy) -> Issue:
    issue, _ = read_issue(FIXTURES / "brief-mixed.txt")
    return taxonomy.tag_issue(issue)


def render(renderer: Renderer, issue: Issue, topics: tuple[str, ...] = ()) -> Rendered:
    return renderer.render_issue(issue, issue.stories, NEWSLETTER, topics=topics, cadence="daily")


class TestOfficialMjml:
    @pytest.mark.parametrize("case", ["fixture", "hostile"])
    def test_templates_pass_strict_validation(
        self, renderer: Renderer, mixed: Issue, case: str, tmp_path: Path
    ) -> None:
        """The npm `mjml` compiler in strict mode accepts what our templates produce."""
        mjml = require_tool("mjml")
        issue = mixed if case == "fixture" else hostile_issue()
        source = renderer.render_mjml(
            issue, issue.stories, NEWSLETTER, topics=["chips"], cadence="daily"
        )
        path = tmp_path / "brief.mjml"
        path.write_text(source, encoding="utf-8")
        result = subprocess.run(
            [mjml, "--config.validationLevel=strict", str(path), "-s"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    def test_validator_rejects_an_invalid_template(self, tmp_path: Path) -> None:
        """The validation above can fail: an unknown attribute is rejected in strict mode."""
        mjml = require_tool("mjml")
        path = tmp_path / "bad.mjml"
        path.write_text(
            '<mjml><mj-body><mj-section><mj-column><mj-text colour="red">x</mj-text>'
            "</mj-column></mj-section></mj-body></mjml>"
        )
        result = subprocess.run(
            [mjml, "--config.validationLevel=strict", str(path), "-s"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode != 0
        assert "Attribute colour is illegal" in result.stderr


class TestSafety:
    def test_markup_in_content_is_escaped(self, renderer: Renderer) -> None:
        """Injected markup in any field shows as text and never becomes a tag."""
        html = render(renderer, hostile_issue()).html
        parsed = links(html)
        assert parsed.scripts == 0
        assert parsed.handlers == []
        assert "&lt;script&gt;" in html

    def test_every_href_is_an_absolute_address(self, renderer: Renderer, mixed: Issue) -> None:
        """Links go only to http(s) or mailto targets: never '#', '', or link text."""
        rendered = render(renderer, mixed).fill(
            {Slot.UNSUBSCRIBE_URL: "https://x.org/u/t", Slot.PREFERENCES_URL: "https://x.org/p/t"}
        )
        hrefs = links(rendered.html).hrefs
        assert hrefs
        assert all(re.match(r"^(https?://|mailto:)\S+$", h) for h in hrefs), hrefs
        assert "https://example.com/foundry-volume" in hrefs

    def test_link_text_without_address_is_plain_text(
        self, renderer: Renderer, mixed: Issue
    ) -> None:
        """A story whose URL line holds only a title names it as text; 'Read more' shows nothing."""
        rendered = render(renderer, mixed)
        assert "Source: 模型发布：开放权重" in rendered.html
        assert "Read more" not in rendered.html
        assert "Source: 模型发布：开放权重" in rendered.text


class TestParts:
    def test_text_part_has_every_title_and_link(self, renderer: Renderer, mixed: Issue) -> None:
        """The plain-text part carries each story title and each address."""
        text = render(renderer, mixed).text
        for story in mixed.stories:
            assert story.title in " ".join(text.split())
        assert "[1] https://example.com/foundry-volume" in text

    def test_text_part_wraps_at_78_columns(self, renderer: Renderer, mixed: Issue) -> None:
        """No prose line of the text part is longer than 78 characters."""
        text = render(renderer, mixed).text
        assert max(len(line) for line in text.splitlines() if "://" not in line) <= 78

    def test_fill_escapes_for_html_only(self, renderer: Renderer, mixed: Issue) -> None:
        """Slot values are HTML-escaped in the HTML part and verbatim in the text part."""
        rendered = render(renderer, mixed).fill(
            {Slot.UNSUBSCRIBE_URL: "https://x.org/u?a=1&b=2", Slot.PREFERENCES_URL: "https://p"}
        )
        assert 'href="https://x.org/u?a=1&amp;b=2"' in rendered.html
        assert "https://x.org/u?a=1&b=2" in rendered.text
        assert Slot.UNSUBSCRIBE_URL.value not in rendered.html + rendered.text

    def test_footer_says_why_and_who(self, renderer: Renderer, mixed: Issue) -> None:
        """The footer names the subscriber's topics and cadence and the sender's address."""
        rendered = render(renderer, mixed, ("chips", "models"))
        assert "daily Test Brief because you subscribed to these topics: Chips, Models" in (
            " ".join(rendered.text.split())
        )
        assert "1 Example Street, Berlin" in rendered.html

    def test_html_is_well_under_gmail_clipping(
        self, renderer: Renderer, seeds: Path, taxonomy: Taxonomy
    ) -> None:
        """A full seed issue renders well under Gmail's 102 KB clipping limit."""
        issue, _ = read_issue(seeds / "brief-2026-06-26.txt")
        html = render(renderer, taxonomy.tag_issue(issue)).html
        assert len(html.encode("utf-8")) < 60_000

    def test_no_remote_resources_and_a_doctype(self, renderer: Renderer, mixed: Issue) -> None:
        """The HTML loads nothing from the network (no web fonts) and keeps MJML's doctype."""
        html = render(renderer, mixed).html
        assert html.startswith("<!doctype html>")
        assert "fonts.googleapis" not in html
        assert "@import" not in html
        assert not re.search(r"<(img|link|script)\b[^>]*(src|href)=", html)

    def test_preheader_and_lang(self, renderer: Renderer, mixed: Issue) -> None:
        """The preview text lists story titles, and the document declares its language."""
        rendered = render(renderer, mixed)
        assert rendered.preheader.startswith("Foundry Starts Volume Output")
        assert '<html lang="en"' in rendered.html
        assert 'content="light dark"' in rendered.html or "color-scheme" in rendered.html
