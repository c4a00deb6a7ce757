"""The weekly bulletin: period, headline + paragraph items, sources in bold brackets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from mailer.content import Format
from mailer.ingest import IngestError, read_issue, read_issue_bytes

BULLETIN = """
NEWSLETTER

SCIENCE AND TECHNOLOGY

29 June - 5 July 2026


Lab opens a quantum centre

A national lab opened a centre for quantum computing research. **(Tech Daily)**

Item without a source

This paragraph names no source at all.

City pilots smart traffic lights

Two districts use AI to time traffic lights.

A second paragraph continues the item. **(Metro News)**
"""


def parse(text: str) -> object:
    issue, detection = read_issue_bytes(text.encode(), "bulletin.txt")
    assert detection.format == "bulletin"
    return issue


class TestBulletin:
    def test_period_items_and_sources(self) -> None:
        """The period spans months; items keep their own source, or none, never a neighbour's."""
        issue, _ = read_issue_bytes(BULLETIN.encode(), "b.txt")
        assert issue.format == Format.BULLETIN
        assert (issue.date, issue.period_end) == (dt.date(2026, 6, 29), dt.date(2026, 7, 5))
        assert issue.title == "NEWSLETTER — SCIENCE AND TECHNOLOGY"
        assert [(s.title, s.source, s.line) for s in issue.stories] == [
            ("Lab opens a quantum centre", "Tech Daily", 9),
            ("Item without a source", None, 13),
            ("City pilots smart traffic lights", "Metro News", 17),
        ]
        assert issue.stories[1].summary == "This paragraph names no source at all."
        assert issue.stories[2].summary == (
            "Two districts use AI to time traffic lights.\n\nA second paragraph continues the item."
        )

    def test_seed_is_detected_with_its_reason(self, seeds: Path) -> None:
        """The published bulletin is detected as a bulletin, and the reason names the period."""
        issue, detection = read_issue(seeds / "ict-bulletin-2026-06-08.txt")
        assert detection.reason.startswith("a period 08 Jun 2026–14 Jun 2026 at line 7")
        assert len(issue.stories) == 5
        assert all(story.source for story in issue.stories)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (
                (
                    "Lab opens a quantum centre\n\nA national",
                    "Lab opens a quantum centre\n\nAnother headline here\n\nA national",
                ),
                ":9: headline 'Lab opens a quantum centre' has no text",
            ),
            (
                ("Two districts use", "Stray paragraph. **(X)**\n\nTwo districts use"),
                "paragraph without a headline",
            ),
            (("29 June - 5 July 2026", "5 July - 29 June 2026"), "ends before it starts"),
        ],
    )
    def test_malformed_bulletins_name_the_line(self, change: tuple[str, str], message: str) -> None:
        """Structure errors are reported with their line instead of merging items."""
        with pytest.raises(IngestError, match=message):
            read_issue_bytes(BULLETIN.replace(*change).encode(), "b.txt", format="bulletin")


def test_chrome_around_and_between_items_is_dropped() -> None:
    """Share bars and a comments widget leave the same items, on the lines of the file."""
    plain, _ = read_issue_bytes(BULLETIN.encode(), "b.txt")
    text = BULLETIN.replace(
        "\nItem without a source", "\nShare\nCopy link\n\nItem without a source"
    )
    text = "Share\n" + text + "\nComments\nAdd a public comment…\nNo comments yet\n"
    issue, detection = read_issue_bytes(text.encode(), "b.txt")
    assert detection.format == "bulletin"
    assert [(s.title, s.summary, s.source) for s in issue.stories] == [
        (s.title, s.summary, s.source) for s in plain.stories
    ]
    assert [s.line for s in issue.stories] == [10, 17, 21]
