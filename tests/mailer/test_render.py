"""Rendering: every template valid for the official MJML compiler, safe, honest and small."""

from __future__ import annotations

import itertools
import re
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailer.content import Issue
from mailer.render import Rendered, Renderer, WebVersion
from mailer.text import period_text, preheader_for, wrap_paragraphs
from mailer.topics import Taxonomy
from tests.conftest import require_tool
from tests.mailer.cases import (
    ARCHIVE_URL,
    LONG_LINKS,
    NEWSLETTER,
    NEWSLETTER_CASES,
    NOTICE_CASES,
    issues,
    mjml_all,
    render_all,
)


class _Document(HTMLParser):
    """What tests look for in rendered HTML: links, ids, headings, scripts, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.headings: list[int] = []
        self.scripts = 0
        self.handlers: list[str] = []
        self.anchor_texts: list[str] = []
        self._in_anchor = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.scripts += tag == "script"
        self.handlers += [k for k, _ in attrs if k.startswith("on")]
        if tag == "a" and "href" in values:
            self.hrefs.append(values["href"] or "")
            self._in_anchor = True
            self.anchor_texts.append("")
        if "id" in values:
            self.ids.add(values["id"] or "")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_anchor = False

    def handle_data(self, data: str) -> None:
        if self._in_anchor:
            self.anchor_texts[-1] += data


def parse(html: str) -> _Document:
    document = _Document()
    document.feed(html)
    return document


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    from mailer.topics import default_taxonomy

    taxonomy = default_taxonomy()
    return render_all(Renderer(taxonomy), taxonomy)


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    from mailer.topics import default_taxonomy

    taxonomy = default_taxonomy()
    return mjml_all(Renderer(taxonomy), taxonomy)


CASES = [
    *NEWSLETTER_CASES,
    *NOTICE_CASES,
    "confirm-topics",
    "welcome-topics",
    "goodbye-topics",
    "welcome-latest",
    "confirm-hostile",
]
MJML = [*NEWSLETTER_CASES, *NOTICE_CASES]


def validate_strictly(mjml: str, path: Path) -> subprocess.CompletedProcess[str]:
    """Run the official compiler on one file in strict validation mode."""
    return subprocess.run(
        [mjml, "--config.validationLevel=strict", str(path), "-s"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestOfficialMjml:
    @pytest.mark.parametrize("case", MJML)
    def test_every_template_passes_strict_validation(
        self, sources: dict[str, str], case: str, tmp_path: Path
    ) -> None:
        """The npm `mjml` compiler in strict mode accepts every template's output."""
        mjml = require_tool("mjml")
        path = tmp_path / f"{case}.mjml"
        path.write_text(sources[case], encoding="utf-8")
        result = validate_strictly(mjml, path)
        assert result.returncode == 0, result.stderr

    def test_validator_rejects_an_invalid_template(self, tmp_path: Path) -> None:
        """The validation above can fail: an unknown attribute is rejected in strict mode."""
        mjml = require_tool("mjml")
        path = tmp_path / "bad.mjml"
        path.write_text(
            '<mjml><mj-body><mj-section><mj-column><mj-text colour="red">x</mj-text>'
            "</mj-column></mj-section></mj-body></mjml>"
        )
        result = validate_strictly(mjml, path)
        assert result.returncode != 0
        assert "Attribute colour is illegal" in result.stderr

    def test_all_cases_are_covered(
        self, sources: dict[str, str], rendered: dict[str, Rendered]
    ) -> None:
        """The parametrized lists above name every case the renderer produces."""
        assert set(MJML) == set(sources)
        assert set(CASES) == set(rendered)


WEB = WebVersion("https://news.example.org/subscribe", "https://news.example.org/archive")
#: What only an e-mail to one reader says; the web version says none of it.
PER_READER = ("unsubscribe", "because you subscribed", "for you", "change your topics", "slot")


def web_version(renderer: Renderer, issue: Issue) -> Rendered:
    """The issue as the archive shows it: every story, never shortened, the public footer."""
    return renderer.render_issue(
        issue,
        issue.stories,
        NEWSLETTER,
        topics=[],
        cadence="",
        archive_url=ARCHIVE_URL,
        budget=None,
        web=WEB,
    )


class TestWebVersion:
    @pytest.mark.parametrize("case", NEWSLETTER_CASES)
    def test_every_format_passes_strict_validation(
        self, taxonomy: Taxonomy, case: str, tmp_path: Path
    ) -> None:
        """The web version's MJML, public footer included, passes the npm compiler's strict mode."""
        mjml = require_tool("mjml")
        issue = issues(taxonomy)[case]
        source = Renderer(taxonomy).render_mjml(
            issue, issue.stories, NEWSLETTER, topics=[], cadence="", budget=None, web=WEB
        )
        assert WEB.subscribe_url in source
        path = tmp_path / f"web-{case}.mjml"
        path.write_text(source, encoding="utf-8")
        result = validate_strictly(mjml, path)
        assert result.returncode == 0, result.stderr

    @pytest.mark.parametrize("case", ["brief", "digest", "bulletin", "article"])
    def test_the_footer_is_for_anyone(self, taxonomy: Taxonomy, case: str) -> None:
        """The web version names the list and links to subscribe and to the list's archive only."""
        page = web_version(Renderer(taxonomy), issues(taxonomy)[case])
        for part in (page.html, page.text):
            lowered = part.lower()
            assert not [p for p in PER_READER if p in lowered]
        document = parse(page.html)
        assert WEB.subscribe_url in document.hrefs and WEB.archive_url in document.hrefs
        assert "Subscribe" in document.anchor_texts
        assert "This issue of Test Brief is shown as it was sent." in page.html

    def test_the_mail_keeps_its_reader_footer(self, rendered: dict[str, Rendered]) -> None:
        """Without ``web`` the e-mail still counts the reader's stories and links to leave."""
        html = rendered["brief"].html
        assert "stories for you" in html and "Unsubscribe" in html
        assert WEB.subscribe_url not in html and "shown as it was sent" not in html

    def test_an_issue_without_stories_renders(self, taxonomy: Taxonomy) -> None:
        """Every format's web version renders with no story left (all removed by an editor)."""
        renderer = Renderer(taxonomy)
        for case in ("brief", "digest", "bulletin", "article"):
            page = web_version(renderer, replace(issues(taxonomy)[case], stories=()))
            assert WEB.archive_url in parse(page.html).hrefs, case


class TestSafety:
    @pytest.mark.parametrize("case", [c for c in CASES if "hostile" in c])
    def test_markup_in_content_is_escaped(self, rendered: dict[str, Rendered], case: str) -> None:
        """Injected markup in any field shows as text and never becomes a tag or handler."""
        document = parse(rendered[case].html)
        assert document.scripts == 0
        assert document.handlers == []
        assert "&lt;script&gt;" in rendered[case].html

    @pytest.mark.parametrize("case", CASES)
    def test_every_href_is_an_absolute_address(
        self, rendered: dict[str, Rendered], case: str
    ) -> None:
        """Links go to http(s) or mailto only: no '#fragment' (dead in many mobile clients)."""
        document = parse(rendered[case].html)
        assert document.hrefs
        for href in document.hrefs:
            assert re.match(r"^(https?://|mailto:)\S+$", href), href

    def test_link_text_without_address_is_plain_text(self, rendered: dict[str, Rendered]) -> None:
        """A story whose URL line holds a title names it as text; 'Read more' shows nothing."""
        brief = rendered["brief"]
        document = parse(brief.html)
        assert "Source: 模型发布：开放权重" in brief.html
        assert not any("Open-Weight Reasoning Model" in text for text in document.anchor_texts)
        assert "Read more" not in brief.html
        assert "Source: 模型发布：开放权重" in brief.text


class TestStructure:
    @pytest.mark.parametrize("case", CASES)
    def test_headings_in_order_lang_and_colour_scheme(
        self, rendered: dict[str, Rendered], case: str
    ) -> None:
        """One h1 first, no heading level skipped, a lang attribute and colour-scheme meta."""
        html = rendered[case].html
        levels = parse(html).headings
        assert levels[0] == 1 and levels.count(1) == 1
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels
        assert re.search(r'<html[^>]* lang="en"', html)
        assert '<meta name="color-scheme" content="light dark">' in html
        assert html.lower().startswith("<!doctype html>")

    @pytest.mark.parametrize("case", CASES)
    def test_no_remote_resources(self, rendered: dict[str, Rendered], case: str) -> None:
        """Nothing is loaded from the network: no images, fonts, scripts or stylesheets."""
        html = rendered[case].html
        assert "fonts.googleapis" not in html and "@import" not in html
        assert not re.search(r"<(img|link|script|iframe)\b", html)

    def test_digest_groups_link_to_their_headings_in_the_web_version(
        self, rendered: dict[str, Rendered]
    ) -> None:
        """The digest lists its topic groups, most-covered first, each linking to the web version.

        The web version is this renderer's own full output, so each target is a heading id there.
        """
        document = parse(rendered["digest"].html)
        contents = [h for h in document.hrefs if h.startswith(f"{ARCHIVE_URL}#")]
        assert contents[:2] == [f"{ARCHIVE_URL}#topic-chips", f"{ARCHIVE_URL}#topic-models"]
        assert {h.split("#")[1] for h in contents} <= document.ids

    def test_contents_list_without_a_web_version_is_text(self, taxonomy: Taxonomy) -> None:
        """Without the issue's web address the digest's groups are listed but link nowhere."""
        digest = issues(taxonomy)["digest"]
        html = (
            Renderer(taxonomy)
            .render_issue(digest, digest.stories, NEWSLETTER, topics=[], cadence="weekly")
            .html
        )
        document = parse(html)
        assert "topic-chips" in document.ids
        assert not any("#" in href for href in document.hrefs)
        assert re.search(r"<li[^>]*>Chips \(\d+\)</li>", html)

    def test_story_anchors_are_the_same_in_every_variant(self, taxonomy: Taxonomy) -> None:
        """A story's heading id is its place in the whole issue, whichever stories a reader gets."""
        brief = issues(taxonomy)["brief-ten"]
        chips = tuple(s for s in brief.stories if "chips" in s.topics)
        html = (
            Renderer(taxonomy)
            .render_issue(brief, chips, NEWSLETTER, topics=["chips"], cadence="daily")
            .html
        )
        places = {f"story-{brief.stories.index(s) + 1}" for s in chips}
        assert places == {i for i in parse(html).ids if i.startswith("story-")}
        assert places != {f"story-{n}" for n in range(1, len(chips) + 1)}

    def test_footer_says_why_and_who(self, rendered: dict[str, Rendered]) -> None:
        """The footer names the reader's topics and cadence and the sender's postal address."""
        text = " ".join(rendered["brief"].text.split())
        assert (
            "You receive the daily Test Brief because you subscribed to these topics: "
            "Chips, Models." in text
        )
        assert "1 Example Street, 10115 Berlin" in rendered["brief"].html
        assert LONG_LINKS[next(iter(LONG_LINKS))] in rendered["brief"].html


class TestTextPart:
    @pytest.mark.parametrize(
        "case", ["brief", "digest", "bulletin", "article", "brief-ten", "digest-week"]
    )
    def test_every_title_and_link_is_in_the_text(
        self, rendered: dict[str, Rendered], case: str, taxonomy: Taxonomy
    ) -> None:
        """The plain-text part carries each story title and each address, numbered."""
        issue = issues(taxonomy)[case]
        text = rendered[case].text
        flat = " ".join(text.split())
        for story in issue.stories:
            assert story.title.replace("**", "") in flat
            if story.url:
                assert re.search(rf"^\[\d+\] {re.escape(story.url)}$", text, re.M)
        assert "**" not in text

    @pytest.mark.parametrize("case", CASES)
    def test_prose_is_wrapped_at_78_columns(self, rendered: dict[str, Rendered], case: str) -> None:
        """No text line is longer than 78 characters unless it is one unbreakable word or a URL."""
        for line in rendered[case].text.splitlines():
            if len(line) > 78:
                assert "://" in line or " " not in line.strip(), line

    def test_paragraphs_stay_paragraphs(self) -> None:
        """Blank-line separated paragraphs stay separated when wrapped."""
        assert wrap_paragraphs("One.\n\nTwo **bold**.", indent="  ") == "  One.\n\n  Two bold."


class TestSize:
    def test_ten_story_issue_is_well_under_gmail_clipping(
        self, rendered: dict[str, Rendered]
    ) -> None:
        """A 10-story brief stays under Gmail's 102 KB clip, and under the 60 KB budget."""
        size = len(rendered["brief-ten"].html.encode("utf-8"))
        assert size < 102 * 1024
        assert size < 60_000, size


class TestHelpers:
    def test_periods(self, taxonomy: Taxonomy) -> None:
        """Days, periods within a month, across months and across years read naturally."""
        import datetime as dt

        def period(start: dt.date, end: dt.date | None) -> str:
            return period_text(Issue("t", start, (), period_end=end))

        assert period(dt.date(2026, 6, 26), None) == "Friday, 26 June 2026"
        assert period(dt.date(2026, 6, 8), dt.date(2026, 6, 14)) == "8–14 June 2026"
        assert period(dt.date(2026, 6, 29), dt.date(2026, 7, 5)) == "29 June – 5 July 2026"
        assert period(dt.date(2026, 12, 28), dt.date(2027, 1, 3)) == (
            "28 December 2026 – 3 January 2027"
        )

    def test_preheader_is_cut_at_a_word(self, taxonomy: Taxonomy) -> None:
        """The preview text is at most 140 characters and ends with an ellipsis when cut."""
        text = preheader_for(issues(taxonomy)["brief-ten"].stories)
        assert len(text) <= 140 and text.endswith("…")

    def test_unchanged_mjml_is_compiled_once(self, taxonomy: Taxonomy) -> None:
        """Rendering the same variant twice reuses the compiled HTML (per-variant cache)."""
        from mailer.render import compile_mjml

        renderer = Renderer(taxonomy)
        issue = issues(taxonomy)["brief"]
        renderer.render_issue(issue, issue.stories, NEWSLETTER, topics=[], cadence="daily")
        before = compile_mjml.cache_info().hits
        renderer.render_issue(issue, issue.stories, NEWSLETTER, topics=[], cadence="daily")
        assert compile_mjml.cache_info().hits == before + 1
