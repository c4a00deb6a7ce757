"""Header-safe content by construction: whatever a format carries, its header values are one line.

The issue title is the Subject and story titles make the preheader; a line break or control
character in either would make every send and preview of the issue fail. Ingest makes them one
line and caps the subject, in every format; body text keeps its line breaks.
"""

from __future__ import annotations

import email.policy
import json
import unicodedata
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.content import SUBJECT_LIMIT, Issue
from mailer.ingest import IngestError, read_issue_bytes
from mailer.text import preheader_for

#: Every character str.splitlines() breaks at, plus tab, NUL, DEL and C1 controls.
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
CONTROLS = "\t\x00\x01\x1b\x7f\x80\x9b\x9f"
FORBIDDEN_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}


def brief(title: str, story_title: str = "Kelp farms go offshore", summary: str = "Fine.") -> str:
    return (
        f"{title} — 2026-07-01\n\n1. {story_title}\n\n  • Tidewater Post · 2026-07-01\n"
        f"  • Summary: {summary}\n  • URL: Read more\n"
    )


def bulletin(
    title: str, story_title: str = "Kelp farms go offshore", summary: str = "Fine."
) -> str:
    return f"{title}\n\n8 - 14 June 2026\n\n{story_title}\n\n{summary} **(Tidewater Post)**\n"


def article(title: str, story_title: str = "Kelp farms go offshore", summary: str = "Fine.") -> str:
    return f"{title}\n#chips #models\n\n{story_title}\n\n{summary}\n"


def as_json(title: str, story_title: str = "Kelp farms go offshore", summary: str = "Fine.") -> str:
    story = {"title": story_title, "summary": summary}
    return json.dumps({"title": title, "date": "2026-07-01", "stories": [story]})


FORMATS = {"brief": brief, "bulletin": bulletin, "article": article, "json": as_json}


def header_values(issue: Issue) -> list[str]:
    """What reaches a message's headers: the subject, story titles and the preheader."""
    return [issue.title, *(s.title for s in issue.stories), preheader_for(issue.stories)]


def assert_header_safe(issue: Issue) -> None:
    for value in header_values(issue):
        bad = [c for c in value if unicodedata.category(c) in FORBIDDEN_CATEGORIES]
        assert not bad, (value, bad)
        assert value == value.strip() and "  " not in value, value
    assert 0 < len(issue.title) <= SUBJECT_LIMIT
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = issue.title
    message.as_bytes()


def visible(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) not in FORBIDDEN_CATEGORIES


def ingest(name: str, text: str) -> Issue:
    issue, _ = read_issue_bytes(text.encode("utf-8", "surrogatepass"), f"x.{name}", format=name)
    return issue


class TestLineBreaksInTitles:
    def test_json_title_with_crlf_becomes_one_line(self) -> None:
        """A JSON title carrying CR LF and a header name ingests as one line with no header."""
        issue = ingest("json", as_json("Tide report\r\nBcc: everyone@example.org"))
        assert issue.title == "Tide report Bcc: everyone@example.org"
        assert_header_safe(issue)

    @pytest.mark.parametrize("name", sorted(FORMATS))
    @pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
    def test_unicode_line_breaks_in_titles_become_spaces(self, name: str, char: str) -> None:
        """U+2028, U+2029 and NEL in the issue and story titles become single spaces."""
        issue = ingest(name, FORMATS[name](f"Tide{char}report", f"Kelp{char}{char}farms"))
        assert issue.title.startswith("Tide report")
        assert issue.stories[0].title == "Kelp farms"
        assert_header_safe(issue)

    @pytest.mark.parametrize("char", ["\x00", "\t", "\x1b", "\x7f", "\x9b", "\ud800"])
    def test_controls_in_a_json_title_become_spaces(self, char: str) -> None:
        """Control characters (and a lone surrogate) in a JSON title never reach the subject."""
        issue = ingest("json", as_json(f"Tide {char} report", f"Kelp{char}farms"))
        assert_header_safe(issue)
        assert issue.title.replace("\ufffd ", "") == "Tide report"

    def test_a_title_of_only_line_breaks_is_refused(self) -> None:
        """A title with nothing left once made one line is missing, not an empty subject."""
        with pytest.raises(IngestError, match=r"x.json:1: title: required text is missing"):
            ingest("json", as_json("\r\n\u2028\x00"))

    def test_summaries_keep_their_line_breaks(self) -> None:
        """Body text is not a header: a summary's paragraphs stay apart."""
        issue = ingest("json", as_json("Tide report", summary="First.\n\nSecond."))
        assert issue.stories[0].summary == "First.\n\nSecond."

    def test_a_control_character_in_a_json_summary_is_refused(self) -> None:
        """A NUL in body text cannot be stored; it is refused with the field, not stored."""
        with pytest.raises(IngestError, match=r"stories\[0\].summary: control character"):
            ingest("json", as_json("Tide report", summary="Half\x00way"))


class TestMarkup:
    def test_line_breaks_in_a_pages_headings_become_spaces(self) -> None:
        """<br>, U+2028 references, NEL and raw newlines in a page's headings: one line."""
        page = (
            "<html><head><title>x</title></head><body><article>"
            "<h1>Tide<br>report&#x2028;Bcc: everyone@example.org</h1><p>#chips #models</p>"
            "<h2>Kelp\r\nfarms\x85go offshore</h2><p>"
            + "Kelp farms move further out to sea each year as the coastal water warms. " * 2
            + "</p></article></body></html>"
        )
        issue, _ = read_issue_bytes(page.encode(), "x.html")
        assert issue.title == "Tide report Bcc: everyone@example.org"
        assert issue.stories[0].title == "Kelp farms go offshore"
        assert_header_safe(issue)

    def test_line_breaks_in_markdown_titles_become_spaces(self) -> None:
        """A Markdown heading continued with a hard break still makes a one-line title."""
        text = "# Tide\u2028report\n\n#chips\n\n## Kelp  \nfarms\n\n" + "Kelp farms grow. " * 9
        issue, _ = read_issue_bytes(text.encode(), "x.md")
        assert_header_safe(issue)
        assert issue.title == "Tide report"


class TestSubjectCap:
    def test_a_12005_character_title_is_cut_at_a_word(self) -> None:
        """A title of 12,005 characters becomes a subject of at most 200 ending in '…'."""
        words = ("drift", "kelp", "tide", "harbour", "reef")
        title = " ".join(words[n % 5] for n in range(2200))[:12_005]
        issue = ingest("brief", brief(title))
        assert len(issue.title) <= SUBJECT_LIMIT
        assert issue.title.endswith("…")
        assert issue.title[:-1].split()[-1] in words
        assert title.startswith(issue.title[:-1])

    def test_a_long_title_without_spaces_is_cut_anywhere(self) -> None:
        """A long Chinese title (no spaces) is cut at the limit itself."""
        issue = ingest("json", as_json("潮汐报告" * 100))
        assert issue.title == ("潮汐报告" * 50)[: SUBJECT_LIMIT - 1] + "…"

    def test_a_title_at_the_limit_is_kept(self) -> None:
        """A title of exactly 200 characters is not cut."""
        title = "k" * SUBJECT_LIMIT
        assert ingest("json", as_json(title)).title == title


# Text drawn from everything, weighted towards line breaks and controls.
HOSTILE = st.text(
    st.one_of(st.sampled_from(LINE_BREAKS + CONTROLS + " \ud800"), st.characters()),
    min_size=1,
    max_size=300,
)


class TestProperty:
    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(name=st.sampled_from(sorted(FORMATS)), title=HOSTILE, story=HOSTILE, summary=HOSTILE)
    def test_header_values_are_always_one_capped_line(
        self, name: str, title: str, story: str, summary: str
    ) -> None:
        """Any title or summary, in any format, ingests header-safe or is refused cleanly."""
        try:
            issue = ingest(name, FORMATS[name](title, story, summary))
        except IngestError:
            return
        assert_header_safe(issue)

    @settings(deadline=None)
    @given(title=HOSTILE.filter(lambda t: any(map(visible, t))))
    def test_json_titles_with_text_always_ingest(self, title: str) -> None:
        """A JSON title with anything visible in it is never refused, only made header-safe."""
        assert_header_safe(ingest("json", as_json(title)))
