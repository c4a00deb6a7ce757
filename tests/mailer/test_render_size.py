"""The size guarantee: every newsletter's HTML is under 100 KB with its footer inside, however long.

Sizes are measured as sent: MJML compiled, CSS inlined and per-subscriber links filled in at a
real length (cases.LONG_LINKS, ~150 characters), in bytes of UTF-8.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailer.content import Format, Issue, Role
from mailer.message import _quoted_printable, inline_size
from mailer.render import (
    HTML_BUDGET,
    HTML_LIMIT,
    SLOT_URL_LENGTH,
    Rendered,
    Renderer,
    RenderError,
    html_size,
    one_line,
)
from mailer.topics import Taxonomy, default_taxonomy
from tests.conftest import require_tool
from tests.mailer.cases import (
    ARCHIVE_URL,
    BRAND,
    BRANDED,
    LONG_LINKS,
    NEWSLETTER,
    NEWSLETTER_CASES,
    chinese_brief,
    issues,
    long_brief,
    render_all,
    tiny_logo,
    week_digest,
    week_of_briefs,
)
from tests.mailer.test_render import WEB, validate_strictly


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    taxonomy = default_taxonomy()
    return render_all(Renderer(taxonomy), taxonomy)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(default_taxonomy())


def send(
    renderer: Renderer,
    issue: Issue,
    *,
    archive: str | None = ARCHIVE_URL,
    budget: int | None = HTML_BUDGET,
) -> Rendered:
    """An issue rendered for every topic and filled with real-length links."""
    return renderer.render_issue(
        issue,
        issue.stories,
        NEWSLETTER,
        topics=[],
        cadence="weekly",
        archive_url=archive,
        budget=budget,
    ).fill(LONG_LINKS)


@pytest.fixture(scope="module")
def digest(renderer: Renderer) -> Rendered:
    """The week's digest as sent (compact)."""
    return send(renderer, week_digest(default_taxonomy()))


@pytest.fixture(scope="module")
def overflow(renderer: Renderer) -> Rendered:
    """A 200-story brief as sent (compact, and still too long for every story)."""
    return send(renderer, long_brief(200))


def size(rendered: Rendered) -> int:
    """Bytes of a filled message's HTML part exactly as `mailer.message` sends it."""
    return len(_quoted_printable(rendered.html))


def footer_end(rendered: Rendered) -> int:
    """The offset in the sent HTML part just past the footer's last piece (address, links, why)."""
    html = rendered.html
    parts = [
        NEWSLETTER.postal_address or "",
        LONG_LINKS[next(iter(LONG_LINKS))],
        "because you subscribed to",
    ]
    ends = []
    for part in parts:
        found = html.rfind(part)
        assert found >= 0, f"footer part missing: {part}"
        ends.append(found + len(part))
    return len(_quoted_printable(html[: max(ends)]))


class _Text(HTMLParser):
    """The text of each heading and paragraph, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str, str]] = []
        self._tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"h1", "h2", "h3", "p", "li"}:
            self._tag = tag
            self.blocks.append((tag, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._tag:
            self._tag = None

    def handle_data(self, data: str) -> None:
        if self._tag is not None:
            tag, text = self.blocks[-1]
            self.blocks[-1] = (tag, text + data)


def blocks(html: str) -> list[tuple[str, str]]:
    parser = _Text()
    parser.feed(html)
    return parser.blocks


NEWSLETTERS = NEWSLETTER_CASES


class TestBudget:
    @pytest.mark.parametrize("case", NEWSLETTERS)
    def test_every_newsletter_is_under_the_limit_with_its_footer(
        self, rendered: dict[str, Rendered], case: str
    ) -> None:
        """The HTML as sent is under 100,000 bytes and the whole footer lies inside it."""
        assert size(rendered[case]) < HTML_LIMIT
        assert footer_end(rendered[case]) < HTML_LIMIT

    def test_a_week_digest_would_be_clipped_in_full_and_is_sent_compact(
        self, renderer: Renderer, taxonomy: Taxonomy
    ) -> None:
        """Seven 10-story briefs make a digest over the limit in full; sent, it is compact."""
        digest = week_digest(taxonomy)
        assert len(digest.stories) == 70
        full = send(renderer, digest, budget=None)
        sent = send(renderer, digest)
        assert size(full) > HTML_LIMIT and not full.compact
        assert sent.compact and sent.omitted == 0
        assert size(sent) < HTML_BUDGET and footer_end(sent) < HTML_LIMIT

    def test_a_thirty_story_brief_keeps_every_story(self, renderer: Renderer) -> None:
        """A 30-story brief stays under the limit, footer included, with all thirty titles."""
        brief = long_brief(30)
        sent = send(renderer, brief)
        assert size(sent) < HTML_LIMIT and footer_end(sent) < HTML_LIMIT
        assert sent.omitted == 0
        for story in brief.stories:
            assert story.title in sent.html

    def test_chinese_text_is_measured_in_bytes(self, renderer: Renderer) -> None:
        """A Chinese brief under the budget in characters but over it in bytes is made compact."""
        full = send(renderer, chinese_brief(30), budget=None)
        assert len(full.html) < HTML_BUDGET < html_size(full.html)
        sent = send(renderer, chinese_brief(30))
        assert sent.compact and size(sent) < HTML_BUDGET

    def test_short_issues_are_sent_in_full(self, rendered: dict[str, Rendered]) -> None:
        """An issue that fits is not shortened: every summary and 'why it matters' is there."""
        ten = rendered["brief-ten"]
        assert not ten.compact and ten.omitted == 0
        assert ten.html.count("Why it matters:") == 10

    def test_the_web_version_is_never_shortened(self, renderer: Renderer) -> None:
        """Without a budget (the web version) even seventy stories are rendered in full."""
        digest = week_digest(default_taxonomy())
        web = renderer.render_issue(
            digest, digest.stories, NEWSLETTER, topics=[], cadence="", budget=None, web=WEB
        )
        assert web.html.count("Why it matters:") == 70 and not web.compact

    def test_a_frame_too_large_for_any_budget_is_an_error(self, renderer: Renderer) -> None:
        """When even header and footer exceed the budget, rendering says so instead of clipping."""
        with pytest.raises(RenderError, match="even without stories"):
            send(renderer, long_brief(3), budget=5_000)


#: A list whose logo is near the largest allowed (22 KB of random pixels: PNG cannot shrink it).
HEAVY = replace(BRANDED, brand=replace(BRAND, logo=tiny_logo(150, 50, noise=True)))


@pytest.fixture(scope="module")
def heavy(renderer: Renderer) -> dict[str, Rendered]:
    """Every case as sent by a list with a large logo."""
    return render_all(renderer, default_taxonomy(), HEAVY)


class TestLogo:
    @pytest.mark.parametrize("case", NEWSLETTERS)
    def test_with_a_large_logo_every_newsletter_is_under_the_limit(
        self, heavy: dict[str, Rendered], case: str
    ) -> None:
        """HTML and the logo it carries (base64) stay under 100,000 bytes, footer included."""
        rendered = heavy[case]
        logo = inline_size(rendered.inline_images)
        assert logo > 30_000
        assert size(rendered) + logo < HTML_LIMIT and footer_end(rendered) + logo < HTML_LIMIT

    def test_the_logo_takes_its_share_of_the_budget(self, renderer: Renderer) -> None:
        """A brief whose HTML fits the budget only without its logo is sent compact."""
        issue = long_brief(10)

        def sent(budget: int | None) -> Rendered:
            return renderer.render_issue(
                issue, issue.stories, HEAVY, topics=[], cadence="", budget=budget
            )

        full = sent(None)
        needed = full.html_size + inline_size(full.inline_images)
        assert not sent(needed).compact
        assert sent(needed - 1).compact


class TestCompact:
    def test_a_compact_story_is_title_source_one_line_and_a_web_link(
        self, digest: Rendered
    ) -> None:
        """Each story keeps title, source and date, one sentence and a link to its web anchor."""
        issue = week_digest(default_taxonomy())
        found = blocks(digest.html)
        story = issue.stories[4]
        at = found.index(("h3", story.title))
        assert found[at + 1] == ("p", f"{story.source} · {story.published}")
        assert found[at + 2] == ("p", f"{one_line(story.summary)} Read the full story →")
        assert f'href="{ARCHIVE_URL}#story-5"' in digest.html
        assert 'id="story-5"' in digest.html
        assert "Why it matters" not in digest.html

    def test_the_compact_mail_says_it_is_short_and_links_the_whole_issue(
        self, digest: Rendered
    ) -> None:
        """A note at the top says this is the short version and links to the web version."""
        assert "This is the short version of the issue" in digest.html
        assert f'href="{ARCHIVE_URL}"' in digest.html

    def test_the_contents_list_stays_and_links_to_the_web_version(self, digest: Rendered) -> None:
        """The compact digest still lists its topic groups, linked to their web headings."""
        assert re.search(rf'href="{re.escape(ARCHIVE_URL)}#topic-\w+"', digest.html)

    def test_without_a_web_version_stories_link_to_their_source(self, renderer: Renderer) -> None:
        """With no archive address a compact story links to the original article instead."""
        issue = week_digest(default_taxonomy())
        sent = send(renderer, issue, archive=None)
        assert sent.compact
        assert f'href="{issue.stories[0].url}"' in sent.html
        assert "Read the full story" not in sent.html and "#" not in "".join(
            re.findall(r'href="([^"]*)"', sent.html)
        )

    def test_fill_keeps_the_layout(self, renderer: Renderer) -> None:
        """Filling in links keeps what the renderer said about compact mode and omissions."""
        issue = long_brief(200)
        raw = renderer.render_issue(
            issue, issue.stories, NEWSLETTER, topics=[], cadence="", archive_url=ARCHIVE_URL
        )
        filled = raw.fill(LONG_LINKS)
        assert (filled.compact, filled.omitted) == (raw.compact, raw.omitted) == (True, 73)


class TestFewerStories:
    def test_the_first_stories_are_kept_and_the_rest_counted(self, overflow: Rendered) -> None:
        """Stories that do not fit even compact are the last ones, counted in one web link."""
        kept = 200 - overflow.omitted
        assert 0 < overflow.omitted < 200
        assert f'id="story-{kept}"' in overflow.html
        assert f'id="story-{kept + 1}"' not in overflow.html
        link = re.escape(f'<a href="{ARCHIVE_URL}#story-{kept + 1}"')
        assert re.search(
            rf"{link}[^>]*>{overflow.omitted} more stories in the web version →</a>",
            overflow.html,
        )
        assert footer_end(overflow) < HTML_LIMIT

    def test_the_text_part_keeps_every_story(self, overflow: Rendered) -> None:
        """The plain-text part, which no client clips, still has all two hundred stories."""
        assert re.search(r"^200\. ", overflow.text, re.M)
        assert f"Web version: {ARCHIVE_URL}" in overflow.text

    def test_a_larger_budget_never_keeps_fewer_stories(self, renderer: Renderer) -> None:
        """The renderer keeps as many stories as the budget allows, more for a larger one."""
        issue = long_brief(120)
        omitted = [send(renderer, issue, budget=b).omitted for b in (30_000, 50_000, 70_000)]
        assert omitted[0] > omitted[1] > omitted[2] > 0

    def test_without_a_web_version_the_rest_is_named_not_linked(self, renderer: Renderer) -> None:
        """With no archive address the note says how many stories did not fit, without a link."""
        sent = send(renderer, long_brief(200), archive=None)
        assert f"{sent.omitted} more stories did not fit in this e-mail" in sent.html


def in_format(format: Format, count: int) -> Issue:
    """A long issue of another format: a bulletin's items or an article's sections."""
    brief = long_brief(count)
    role = Role.SECTION if format == Format.ARTICLE else Role.STORY
    return replace(
        brief,
        format=format,
        period_end=brief.date + dt.timedelta(days=6),
        stories=tuple(replace(s, role=role) for s in brief.stories),
    )


class TestEveryFormat:
    @pytest.mark.parametrize("format", [Format.BRIEF, Format.BULLETIN, Format.ARTICLE])
    def test_a_shortened_issue_of_any_format_passes_strict_validation(
        self, renderer: Renderer, format: Format, tmp_path: Path
    ) -> None:
        """The compact layout with stories left out is valid MJML for the official compiler."""
        issue = in_format(format, 60)
        source = renderer.render_mjml(
            issue,
            issue.stories,
            NEWSLETTER,
            topics=[],
            cadence="",
            archive_url=ARCHIVE_URL,
            budget=40_000,
        )
        assert "more-stories" in source
        path = tmp_path / f"{format}.mjml"
        path.write_text(source, encoding="utf-8")
        result = validate_strictly(require_tool("mjml"), path)
        assert result.returncode == 0, result.stderr

    @pytest.mark.parametrize(
        ("format", "noun"), [(Format.BULLETIN, "stories"), (Format.ARTICLE, "sections")]
    )
    def test_every_format_is_made_to_fit(
        self, renderer: Renderer, format: Format, noun: str
    ) -> None:
        """Bulletins and articles are shortened like briefs, an article counting its sections."""
        sent = send(renderer, in_format(format, 200))
        assert sent.compact and sent.omitted > 0
        assert f"{sent.omitted} more {noun} in the web version" in sent.html
        assert size(sent) < HTML_BUDGET and footer_end(sent) < HTML_LIMIT


class TestMeasuring:
    def test_a_slot_counts_as_a_full_length_link(self) -> None:
        """html_size is the quoted-printable size as sent, each slot a SLOT_URL_LENGTH link."""
        html = '<a href="briefmail-slot-unsubscribe-url">x</a> 中'
        sent = len(_quoted_printable(html))
        assert sent == len(html.encode()) + 2 + 6  # "=" as =3D, each of 中's three bytes as =XX
        assert html_size(html) == sent + SLOT_URL_LENGTH - len("briefmail-slot-unsubscribe-url")

    def test_the_estimate_covers_real_links(self, rendered: dict[str, Rendered]) -> None:
        """Filled with ~150-character links, a message is no larger than its estimate said."""
        taxonomy = default_taxonomy()
        digest = issues(taxonomy)["digest-week"]
        raw = Renderer(taxonomy).render_issue(
            digest, digest.stories, NEWSLETTER, topics=[], cadence="", archive_url=ARCHIVE_URL
        )
        assert size(raw.fill(LONG_LINKS)) <= raw.html_size

    def test_a_week_has_seventy_distinct_stories(self) -> None:
        """The test week is seven briefs of ten stories, none a duplicate of another."""
        week = week_of_briefs()
        assert [len(b.stories) for b in week] == [10] * 7
        assert len({s.url for b in week for s in b.stories}) == 70


class TestOneLine:
    def test_first_sentence(self) -> None:
        """A summary is cut to its first sentence."""
        assert one_line("The plant opened today. It has two lines.") == (
            "The plant opened today. It has two lines."
        )
        long = "The plant opened on Monday after three years of building. It has two lines."
        assert one_line(long) == "The plant opened on Monday after three years of building."

    def test_abbreviations_do_not_end_a_sentence(self) -> None:
        """A short 'sentence' such as an abbreviation is joined to what follows."""
        text = "U.S. officials met the company on Friday to discuss exports. Talks go on."
        assert one_line(text) == "U.S. officials met the company on Friday to discuss exports."

    def test_long_sentences_are_cut_at_a_word(self) -> None:
        """A sentence longer than a line ends at a word boundary with an ellipsis."""
        cut = one_line("word " * 100)
        assert cut.endswith("word…") and len(cut) <= 171

    def test_cjk_counts_double_and_ends_at_its_full_stop(self) -> None:
        """Chinese is cut after its own full stop, and at half as many characters."""
        assert one_line(
            "第一句话比较长，说明了新工厂的情况和它的产能以及未来的扩建计划。第二句。"
        ) == ("第一句话比较长，说明了新工厂的情况和它的产能以及未来的扩建计划。")
        assert len(one_line("长" * 300)) == 86

    def test_emphasis_is_dropped(self) -> None:
        """Emphasis marks are removed so that a cut never leaves half a pair."""
        assert "**" not in one_line("**Bold** words in a sentence that runs long enough. More.")
