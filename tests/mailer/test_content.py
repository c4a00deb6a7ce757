"""Which stories a subscriber's topic set selects."""

from __future__ import annotations

import datetime as dt

import pytest

from mailer.content import (
    GENERAL,
    SUBJECT_LIMIT,
    Issue,
    Story,
    cap_subject,
    header_text,
    select_stories,
)


def story(position: int, *topics: str) -> Story:
    return Story(position=position, title=f"s{position}", summary="x", topics=topics)


STORIES = (story(1, "chips"), story(2, "models", "chips"), story(3, "funding"), story(4, GENERAL))


class TestSelectStories:
    def test_matching_and_general_stories_in_reading_order(self) -> None:
        """A subscriber gets the stories sharing a topic, plus general ones, in issue order."""
        assert [s.position for s in select_stories(STORIES, frozenset({"chips"}))] == [1, 2, 4]

    def test_empty_choice_means_every_topic(self) -> None:
        """No topic chosen selects every story."""
        assert select_stories(STORIES, frozenset()) == STORIES

    def test_only_general_matches_selects_nothing(self) -> None:
        """A message made only of uncategorised stories is not sent."""
        assert select_stories(STORIES, frozenset({"robotics"})) == ()


class TestHeaderText:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Tide\r\nBcc: all@example.org", "Tide Bcc: all@example.org"),
            ("Tide\u2028\u2029report", "Tide report"),
            ("Tide\x85\x0b\x0c\x1c report", "Tide report"),
            ("  Tide \t\x00 report  ", "Tide report"),
            ("Tide\ud800report", "Tide\ufffdreport"),
            ("潮汐　报告", "潮汐　报告"),
        ],
    )
    def test_line_breaks_and_controls_become_one_space(self, text: str, expected: str) -> None:
        """Every line break and control character becomes a space, and runs collapse."""
        assert header_text(text) == expected


class TestCapSubject:
    def test_cuts_at_a_word_near_the_limit(self) -> None:
        """A long subject ends at the last whole word before the limit, then '…'."""
        text = "harbour " * 40
        capped = cap_subject(text.strip(), 35)
        assert capped == "harbour harbour harbour harbour…"

    def test_cuts_anywhere_without_a_near_word(self) -> None:
        """Without a space in the last fifth, the cut is at the limit."""
        assert cap_subject("k" * 50, 10) == "k" * 9 + "…"

    def test_does_not_end_on_a_separator(self) -> None:
        """A cut does not leave a dangling dash or comma before the ellipsis."""
        assert cap_subject("Harbour news — tides, buoys and reefs", 16) == "Harbour news…"


class TestConstruction:
    def test_an_issue_built_anywhere_has_a_one_line_capped_title(self) -> None:
        """An Issue built in code (a digest, a stored row) is header-safe like an ingested one."""
        issue = Issue(
            title="Week\nin review " + "x" * 300,
            date=dt.date(2026, 7, 1),
            stories=(Story(position=1, title="Kelp\u2028farms", summary="One.\n\nTwo."),),
        )
        assert "\n" not in issue.title and len(issue.title) <= SUBJECT_LIMIT
        assert issue.stories[0].title == "Kelp farms"
        assert issue.stories[0].summary == "One.\n\nTwo."

    def test_normalising_twice_changes_nothing(self) -> None:
        """Copies of an issue (replace, with_topics) keep equal titles."""
        story = Story(position=1, title="Kelp\r\nfarms", summary="x")
        assert story.with_topics(["chips"]).title == story.title == "Kelp farms"
