"""A list's brand in every e-mail, and what the masthead, story cards and notices now show.

The brand (mailer.brand): the accent on mastheads, buttons, group titles, links and topic pills,
a lighter accent for dark mode, the footer line and the publisher's links, and the logo — a
``cid:`` image carried in the message, a ``data:`` URI in the web version.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from mailer.content import GENERAL, Issue
from mailer.render import (
    HTML_BUDGET,
    Newsletter,
    Rendered,
    Renderer,
    WebVersion,
    dated_title,
    one_line,
)
from mailer.topics import Taxonomy, default_taxonomy
from tests.conftest import require_tool
from tests.mailer.cases import (
    ARCHIVE_URL,
    BRAND,
    BRANDED,
    FIRST_ISSUE,
    NEWSLETTER,
    NEWSLETTER_CASES,
    NOTICE_CASES,
    issues,
    mjml_all,
    render_all,
    ten_story_digest,
)
from tests.mailer.test_render import parse, validate_strictly

WEB = WebVersion("https://news.example.org/subscribe", "https://news.example.org/archive")
DEFAULT_BLUE = "#0b3d91"


@pytest.fixture(scope="module")
def branded() -> dict[str, Rendered]:
    """Every case rendered for the branded list."""
    taxonomy = default_taxonomy()
    return render_all(Renderer(taxonomy), taxonomy, BRANDED)


@pytest.fixture(scope="module")
def plain() -> dict[str, Rendered]:
    """Every case rendered for a list with the default brand."""
    taxonomy = default_taxonomy()
    return render_all(Renderer(taxonomy), taxonomy)


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    taxonomy = default_taxonomy()
    return mjml_all(Renderer(taxonomy), taxonomy, BRANDED)


def mail(
    renderer: Renderer,
    issue: Issue,
    newsletter: Newsletter = NEWSLETTER,
    *,
    archive_url: str | None = ARCHIVE_URL,
    budget: int | None = HTML_BUDGET,
    web: WebVersion | None = None,
) -> Rendered:
    """An issue rendered with every story, for readers of every topic."""
    return renderer.render_issue(
        issue,
        issue.stories,
        newsletter,
        topics=[],
        cadence="weekly",
        archive_url=archive_url,
        budget=budget,
        web=web,
    )


ALL = [*NEWSLETTER_CASES, *NOTICE_CASES, "welcome-latest"]


class TestOfficialMjml:
    @pytest.mark.parametrize("case", [*NEWSLETTER_CASES, *NOTICE_CASES])
    def test_every_branded_template_passes_strict_validation(
        self, sources: dict[str, str], case: str, tmp_path: Path
    ) -> None:
        """With an accent, a logo, a footer line and links, every template stays strict MJML."""
        path = tmp_path / f"{case}.mjml"
        path.write_text(sources[case], encoding="utf-8")
        result = validate_strictly(require_tool("mjml"), path)
        assert result.returncode == 0, result.stderr

    @pytest.mark.parametrize("case", ["brief", "digest", "bulletin", "article"])
    def test_every_branded_web_version_passes_strict_validation(
        self, taxonomy: Taxonomy, case: str, tmp_path: Path
    ) -> None:
        """The web version with its data: logo and public footer is strict MJML too."""
        issue = issues(taxonomy)[case]
        source = Renderer(taxonomy).render_mjml(
            issue, issue.stories, BRANDED, topics=[], cadence="", budget=None, web=WEB
        )
        assert "data:image/png;base64," in source
        path = tmp_path / f"web-{case}.mjml"
        path.write_text(source, encoding="utf-8")
        result = validate_strictly(require_tool("mjml"), path)
        assert result.returncode == 0, result.stderr


class TestColours:
    @pytest.mark.parametrize("case", ALL)
    def test_the_accent_replaces_the_default_blue(
        self, branded: dict[str, Rendered], case: str
    ) -> None:
        """A branded e-mail has its accent (and dark-mode accent) and none of the default blue."""
        html = branded[case].html.lower()
        assert DEFAULT_BLUE not in html
        assert f'bgcolor="{BRAND.accent}"' in html  # the masthead
        dark = html.split("prefers-color-scheme: dark", 1)[1]
        assert BRAND.accent_on_dark in dark

    @pytest.mark.parametrize("case", ALL)
    def test_the_default_brand_keeps_the_blue(self, plain: dict[str, Rendered], case: str) -> None:
        """A list that names no accent looks as before: the default blue masthead."""
        assert f'bgcolor="{DEFAULT_BLUE}"' in plain[case].html

    def test_topic_pills_are_the_accent_on_its_tint(self, branded: dict[str, Rendered]) -> None:
        """Every pill's inlined style is the accent's pale tint with the accent as text."""
        pills = re.findall(r'<span class="chip" style="([^"]*)"', branded["brief"].html)
        assert pills
        for style in pills:
            assert f"background: {BRAND.accent_soft}" in style and f"color: {BRAND.accent}" in style

    @pytest.mark.parametrize("case", ["confirm", "welcome"])
    def test_buttons_are_white_on_the_accent_in_both_schemes(
        self, branded: dict[str, Rendered], case: str
    ) -> None:
        """A notice's button is an MJML button on the accent, kept white in dark mode."""
        html = branded[case].html
        assert re.search(rf'<td[^>]*bgcolor="{BRAND.accent}"[^>]*role="presentation"', html)
        assert ".card .button a { color: #ffffff !important; }" in html


class TestFooter:
    @pytest.mark.parametrize("case", ALL)
    def test_the_footer_has_the_brand_line_and_the_publishers_links(
        self, branded: dict[str, Rendered], case: str
    ) -> None:
        """HTML and text both end with the list's footer line, Website and Privacy policy."""
        rendered = branded[case]
        document = parse(rendered.html)
        assert BRAND.footer in rendered.html and BRAND.footer in " ".join(rendered.text.split())
        links = dict(zip(document.anchor_texts, document.hrefs, strict=True))
        assert links["Website"] == BRAND.website
        assert links["Privacy policy"] == BRAND.privacy_url
        assert f"Website: {BRAND.website}" in rendered.text
        assert f"Privacy policy: {BRAND.privacy_url}" in rendered.text

    def test_without_links_the_footer_has_none(self, plain: dict[str, Rendered]) -> None:
        """A list without website or privacy policy shows neither word."""
        for rendered in plain.values():
            assert "Privacy policy" not in rendered.html and "Website" not in rendered.text


class TestLogo:
    @pytest.mark.parametrize("case", ALL)
    def test_the_logo_is_a_cid_image_of_its_shown_size(
        self, branded: dict[str, Rendered], case: str
    ) -> None:
        """The masthead shows the logo by Content-ID, with width, height and alt attributes."""
        assert BRAND.logo is not None
        rendered = branded[case]
        width, height = BRAND.logo.shown
        images = re.findall(r"<img\b[^>]*>", rendered.html)
        assert len(images) == 1
        assert f'src="cid:{BRAND.logo.cid}"' in images[0]
        assert f'width="{width}"' in images[0] and f'height="{height}"' in images[0]
        assert f'alt="{BRAND.logo.alt}"' in images[0]
        assert rendered.inline_images == (BRAND.logo,)

    def test_the_web_version_embeds_the_logo(self, taxonomy: Taxonomy) -> None:
        """A web page cannot resolve cid:, so the web version has the logo as a data: URI."""
        assert BRAND.logo is not None
        issue = issues(taxonomy)["brief"]
        page = mail(Renderer(taxonomy), issue, BRANDED, budget=None, web=WEB)
        assert f'src="{BRAND.logo.data_uri}"' in page.html and "cid:" not in page.html
        assert page.inline_images == ()

    def test_browser_html_shows_the_logo_without_the_message(
        self, branded: dict[str, Rendered]
    ) -> None:
        """For previews in a browser the cid: reference becomes the logo's data: URI."""
        assert BRAND.logo is not None
        shown = branded["brief"].browser_html
        assert "cid:" not in shown and BRAND.logo.data_uri in shown

    def test_a_list_without_a_logo_has_no_image(self, plain: dict[str, Rendered]) -> None:
        """No logo, no image and nothing for the message to carry."""
        for rendered in plain.values():
            assert "<img" not in rendered.html and rendered.inline_images == ()


class TestOutlook:
    @pytest.mark.parametrize("case", ALL)
    def test_outlook_is_given_a_font_it_has(self, branded: dict[str, Rendered], case: str) -> None:
        """Inside an mso conditional the head names Segoe UI/Arial (Word falls back to Times)."""
        html = branded[case].html
        assert re.search(r"<!--\[if mso\]><style[^>]*>[^<]*font-family: 'Segoe UI', Arial", html)
        assert "<!--[if mso | IE]>" in html  # MJML's own table scaffolding for Word


class TestMasthead:
    def test_a_title_that_names_the_list_prints_the_name_once(self, taxonomy: Taxonomy) -> None:
        """'Test Brief — 2026-06-22' for the list Test Brief: no separate name line above it."""
        issue = replace(issues(taxonomy)["brief"], title="Test Brief — 2026-06-22")
        html = mail(Renderer(taxonomy), issue).html
        masthead = html.split("<body", 1)[1].split("</h1>", 1)[0]
        assert not re.search(r">\s*Test Brief\s*</div>", masthead)
        assert re.search(r"<h1[^>]*>Test Brief — <span", masthead)

    def test_a_title_without_the_name_keeps_the_name_line(self, taxonomy: Taxonomy) -> None:
        """A title that does not name the list is printed under the list's name."""
        issue = replace(issues(taxonomy)["brief"], title="Chips and power, 22 June")
        masthead = mail(Renderer(taxonomy), issue).html.split("</h1>", 1)[0]
        assert re.search(r">\s*Test Brief\s*</div>", masthead)

    def test_iso_days_in_a_title_are_written_out_and_unbreakable(self) -> None:
        """An ISO day becomes '22 June 2026' in a nowrap span; weeks and non-days stay as such."""
        nowrap = '<span class="nowrap">{}</span>'.format
        assert dated_title("China AI Brief — 2026-06-22") == (
            f"China AI Brief — {nowrap('22 June 2026')}"
        )
        assert dated_title("Week 2026-W27") == f"Week {nowrap('2026-W27')}"
        assert dated_title("Ref 2026-13-45") == f"Ref {nowrap('2026-13-45')}"
        assert dated_title("<b>2026-06-22</b>") == f"&lt;b&gt;{nowrap('22 June 2026')}&lt;/b&gt;"

    def test_the_period_line_does_not_break_inside_a_date(self, plain: dict[str, Rendered]) -> None:
        """The day or period under the title is one nowrap span, inlined for clients without CSS."""
        html = plain["bulletin"].html
        assert re.search(
            r'<span class="nowrap period" style="white-space: nowrap;">6–12 July 2026<', html
        )


class TestStoryCards:
    @pytest.mark.parametrize(
        "case", ["brief", "digest", "bulletin", "brief-hostile", "bulletin-hostile"]
    )
    def test_every_story_card_shows_its_topics(
        self, plain: dict[str, Rendered], taxonomy: Taxonomy, case: str
    ) -> None:
        """Brief, digest and bulletin cards carry one pill per topic, none for 'general'."""
        issue = issues(taxonomy)[case]
        pills = re.findall(r'<span class="chip"[^>]*>([^<]*)</span>', plain[case].html)
        expected = [taxonomy.label(t) for s in issue.stories for t in s.topics if t != GENERAL]
        assert expected and sorted(pills) == sorted(expected)
        assert "General" not in pills

    def test_the_bulletins_source_is_its_own_line_linked_to_the_story(
        self, taxonomy: Taxonomy
    ) -> None:
        """The source stands under the headline, apart from the text, linked to the story's URL."""
        bulletin = issues(taxonomy)["bulletin"]
        first = replace(bulletin.stories[0], url="https://telecom.example/towers")
        issue = replace(bulletin, stories=(first, *bulletin.stories[1:]))
        html = mail(Renderer(taxonomy), issue).html
        assert re.search(
            r'</h2>\s*<p class="meta"[^>]*>Source: <a href="https://telecom.example/towers"[^>]*>'
            r"Telecom Review</a></p>",
            html,
        )
        assert re.search(r'</h2>\s*<p class="meta"[^>]*>Source: Science Weekly</p>', html)


@pytest.fixture(scope="module")
def digest() -> Issue:
    """A digest of ten stories (one week's brief)."""
    return ten_story_digest(default_taxonomy())


class TestDigest:
    def test_each_story_is_a_title_a_source_one_line_and_a_link(
        self, digest: Issue, taxonomy: Taxonomy
    ) -> None:
        """The e-mail gives title (to the web version), source, one line and 'Read in full'."""
        html = mail(Renderer(taxonomy), digest).html
        assert "Why it matters" not in html
        for n, story in enumerate(digest.stories, start=1):
            web_url = f"{ARCHIVE_URL}#story-{n}"
            line = one_line(story.summary, 140)
            assert len(line) <= 141 and line in html
            assert story.summary not in html  # not the whole summary
            assert re.search(
                rf'<h3[^>]* id="story-{n}"[^>]*><a [^>]*href="{re.escape(web_url)}"', html
            )
            assert re.search(
                rf'{re.escape(line)} <a [^>]*href="{re.escape(web_url)}"[^>]*>Read in full →', html
            )
            assert f"{story.source} · {story.published}" in html

    def test_without_a_web_version_stories_link_to_the_original(
        self, digest: Issue, taxonomy: Taxonomy
    ) -> None:
        """With no archive address the title and the link go to the story's own address."""
        html = mail(Renderer(taxonomy), digest, archive_url=None).html
        story = digest.stories[0]
        assert f'<a class="title-link" href="{story.url}"' in html
        assert "Read in full" not in html and f"Read the story at {story.source}" in html

    def test_the_web_version_keeps_the_full_text(self, digest: Issue, taxonomy: Taxonomy) -> None:
        """The digest's web page, where 'Read in full' leads, has every summary and 'why'."""
        page = mail(Renderer(taxonomy), digest, budget=None, web=WEB)
        assert page.html.count("Why it matters:") == len(digest.stories)
        assert all(story.summary in page.html for story in digest.stories)

    def test_the_text_part_keeps_the_full_text(self, digest: Issue, taxonomy: Taxonomy) -> None:
        """The plain-text part, which no client clips, still carries every summary."""
        text = " ".join(mail(Renderer(taxonomy), digest).text.split())
        assert all(" ".join(story.summary.split()) in text for story in digest.stories)


class TestWelcome:
    def test_the_welcome_says_when_the_first_issue_arrives(
        self, plain: dict[str, Rendered]
    ) -> None:
        """Given the first issue's time, the welcome says it in HTML and text."""
        welcome = plain["welcome-latest"]
        sentence = f"Your first issue arrives {FIRST_ISSUE}."
        assert sentence in welcome.html and sentence in " ".join(welcome.text.split())

    def test_the_welcome_links_the_latest_issue(self, plain: dict[str, Rendered]) -> None:
        """Given the latest issue, the welcome links it by its title, dates written out."""
        welcome = plain["welcome-latest"]
        assert re.search(
            rf'Read the latest issue: <a href="{re.escape(ARCHIVE_URL)}"[^>]*>Test Brief — '
            r'<span class="nowrap"[^>]*>22 June 2026</span></a>',
            welcome.html,
        )
        assert f"Read the latest issue: Test Brief — 2026-06-22\n{ARCHIVE_URL}" in welcome.text

    def test_without_them_the_welcome_is_as_before(self, plain: dict[str, Rendered]) -> None:
        """Existing callers pass neither: no arrival sentence and no latest-issue link."""
        for part in (plain["welcome"].html, plain["welcome"].text):
            assert "first issue" not in part and "latest issue" not in part
