"""Which stories a subscriber's topic set selects."""

from __future__ import annotations

from mailer.content import GENERAL, Story, select_stories


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
