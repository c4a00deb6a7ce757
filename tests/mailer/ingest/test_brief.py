"""The daily brief format: the published seed, and every way a file can be malformed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailer.ingest import IngestError, read_issue, read_issue_bytes
from mailer.ingest.brief import split_link

GOOD = """Brief — 2026-07-01

1. First story

  • Source A · 2026-07-01
  • Summary: One.
  • Why It Matters: Because.
  • URL: https://example.com/a
"""


class TestSeed:
    def test_seed_parses_to_eight_complete_stories(self, seeds: Path) -> None:
        """The published brief of 2026-06-26 yields 8 stories with every field filled."""
        issue, detection = read_issue(seeds / "brief-2026-06-26.txt")
        assert detection.format == "brief"
        assert issue.date == dt.date(2026, 6, 26)
        assert issue.title == "China AI+ Brief — 2026-06-26"
        assert issue.posted == "Posted on June 26, 2026 at 09:30 PM"
        assert [s.position for s in issue.stories] == list(range(1, 9))
        for story in issue.stories:
            assert story.title
            assert story.source
            assert story.published
            assert story.summary
            assert story.why_it_matters
            assert story.url is None
            assert story.link_text == "Read more"

    def test_seed_keeps_date_ranges_and_typography(self, seeds: Path) -> None:
        """A published date range stays as printed, and curly quotes survive decoding."""
        issue, _ = read_issue(seeds / "brief-2026-06-26.txt")
        assert issue.stories[7].published == "2026-06-24 to 2026-06-26"
        assert issue.stories[4].source == "Yahoo News/Reuters"
        assert "China’s" in issue.stories[4].title


class TestLinks:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("https://example.com/x", ("https://example.com/x", None)),
            ("Read more", (None, "Read more")),
            ("模型发布：开放权重", (None, "模型发布：开放权重")),
            ("[The article](https://example.com/a)", ("https://example.com/a", "The article")),
            ("The article (https://example.com/a)", ("https://example.com/a", "The article")),
            ("javascript:alert(1)", (None, "javascript:alert(1)")),
            ("", (None, None)),
        ],
    )
    def test_split_link_never_turns_text_into_an_address(
        self, value: str, expected: tuple[str | None, str | None]
    ) -> None:
        """Only an http(s) address becomes a url; anything else is kept as link text."""
        assert split_link(value) == expected


class TestMalformed:
    def parse(self, text: str, name: str = "issue.txt") -> None:
        read_issue_bytes(text.encode("utf-8"), name)

    def test_missing_summary_names_file_and_line(self) -> None:
        """A story without a Summary is refused with the file and the story's heading line."""
        text = GOOD + "\n2. Second story\n\n  • Source B · 2026-07-01\n  • URL: Read more\n"
        with pytest.raises(IngestError) as info:
            self.parse(text, "brief.txt")
        assert info.value.path == "brief.txt"
        assert info.value.line == 10
        assert str(info.value) == "brief.txt:10: story 2 'Second story' has no Summary"

    def test_skipped_number_is_refused(self) -> None:
        """Numbering that jumps (a lost story) is an error with its line, not a renumbering."""
        with pytest.raises(
            IngestError, match=r":10: story numbered 3 follows 1: story 2 is missing"
        ):
            self.parse(GOOD + "\n3. Third\n  • Summary: x\n")

    def test_duplicated_number_is_refused(self) -> None:
        """A number used twice (a merged or pasted story) names both lines."""
        with pytest.raises(
            IngestError, match=r":10: story number 1 is used twice \(first at line 3\)"
        ):
            self.parse(GOOD + "\n1. Again\n  • Summary: x\n")

    def test_duplicate_field_is_refused(self) -> None:
        """A second Summary line in one story is refused with its line."""
        with pytest.raises(IngestError, match=r":9: story 1 has a second 'Summary' line"):
            self.parse(GOOD + "  • Summary: again\n")

    def test_text_after_a_link_is_refused(self) -> None:
        """A stray line after the URL field cannot silently become part of the link."""
        with pytest.raises(IngestError, match=r":9: story 1: text outside a field"):
            self.parse(GOOD + "Subscribe to our other newsletter!\n")

    def test_missing_date_is_refused(self) -> None:
        """An issue needs a date in its header."""
        with pytest.raises(IngestError, match=r":1: no issue date"):
            self.parse(GOOD.replace(" — 2026-07-01", "", 1))

    def test_invalid_date_is_refused(self) -> None:
        """A date that does not exist is named."""
        with pytest.raises(IngestError, match=r"invalid date '2026-02-30'"):
            self.parse(GOOD.replace("2026-07-01", "2026-02-30", 1))

    def test_unknown_format_is_refused(self) -> None:
        """Text that is no known format says which formats exist."""
        with pytest.raises(IngestError, match=r":1: unrecognised format \(known: json, brief"):
            self.parse("Just some prose.\nNothing numbered.\n")

    def test_unreadable_file_names_it(self, tmp_path: Path) -> None:
        """A missing file is an IngestError naming the path, not an OSError traceback."""
        with pytest.raises(IngestError, match="missing.txt:1: cannot read file"):
            read_issue(tmp_path / "missing.txt")


class TestEncodings:
    @pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "gb18030"])
    def test_newsroom_encodings_decode_exactly(self, encoding: str) -> None:
        """UTF-8 (with or without BOM), UTF-16 and GB18030 give the same text."""
        text = GOOD.replace("URL: https://example.com/a", "URL: 中文标题“引号”")
        issue, _ = read_issue_bytes(text.encode(encoding), "x.txt")
        assert issue.stories[0].link_text == "中文标题“引号”"

    def test_windows_line_endings(self) -> None:
        """CRLF files parse exactly like LF files."""
        lf, _ = read_issue_bytes(GOOD.encode(), "a.txt")
        crlf, _ = read_issue_bytes(GOOD.replace("\n", "\r\n").encode(), "b.txt")
        assert lf == crlf

    def test_wrapped_summary_is_joined(self) -> None:
        """A summary that wraps onto the next line is one paragraph."""
        text = GOOD.replace("Summary: One.", "Summary: One\n    continues here.")
        issue, _ = read_issue_bytes(text.encode(), "x.txt")
        assert issue.stories[0].summary == "One continues here."


class TestChrome:
    def test_a_blog_post_brief_drops_its_page_chrome(self) -> None:
        """Share bars and a comments widget around the stories leave the same issue."""
        plain, _ = read_issue_bytes(GOOD.encode(), "b.txt")
        text = (
            "Share\nTweet\n"
            + GOOD.replace("\n1. First", "\nFacebook Twitter LinkedIn Email\n1. First")
            + "Share this:\nComments\nAdd a public comment…\nNo comments yet\n"
            + "Related posts\nBrief — 2026-06-30\nBrief — 2026-06-29\n"
        )
        issue, detection = read_issue_bytes(text.encode(), "b.txt")
        assert detection.format == "brief"
        assert issue == plain

    def test_stray_text_is_still_refused(self) -> None:
        """Text that is no chrome pattern after a field is still an error on its line."""
        with pytest.raises(IngestError, match=r":10: story 1: text outside a field"):
            read_issue_bytes((GOOD + "Share\nWe will be back next week!\n").encode(), "b.txt")
