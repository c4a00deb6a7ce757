"""Issue and Story: the immutable content every other layer passes around.

An Issue is what an editor published; a subscriber receives a *selection* of its stories, decided
only by the subscriber's topic set (see :func:`select_stories`). Everything here is a frozen value
object so a rendered variant can be cached by the exact content that produced it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

__all__ = ["GENERAL", "Issue", "Story", "select_stories"]

#: The topic of a story that no taxonomy topic matches. Every subscriber receives such stories.
GENERAL = "general"


@dataclass(frozen=True, slots=True)
class Story:
    """One story of an issue, as printed, plus the topics tagging gave it."""

    position: int
    title: str
    summary: str
    source: str | None = None
    #: The date as printed: a day ("2026-06-26") or a range ("2026-06-24 to 2026-06-26").
    published: str | None = None
    why_it_matters: str | None = None
    #: An absolute http(s) address, or None. Never link text.
    url: str | None = None
    #: What the source printed in place of an address ("Read more", an article title), if anything.
    link_text: str | None = None
    topics: tuple[str, ...] = ()

    def with_topics(self, topics: Iterable[str]) -> Story:
        """Return a copy carrying exactly these topics (sorted, de-duplicated)."""
        return replace(self, topics=tuple(sorted(set(topics))))


@dataclass(frozen=True, slots=True)
class Issue:
    """A published issue: a title, a date and its stories in reading order."""

    title: str
    date: dt.date
    stories: tuple[Story, ...]
    format: str = "brief"
    #: Free text the source printed about publication ("Posted on June 26, 2026 at 09:30 PM").
    posted: str | None = None
    source_name: str | None = field(default=None, compare=False)

    @property
    def topics(self) -> frozenset[str]:
        """Every topic at least one story carries."""
        return frozenset(t for story in self.stories for t in story.topics)


def select_stories(stories: Iterable[Story], chosen: frozenset[str]) -> tuple[Story, ...]:
    """Return the stories a subscriber with topic set ``chosen`` receives, in reading order.

    An empty ``chosen`` means "every topic". A story matches when it shares a topic with the
    choice; `general` stories go to everyone, but only alongside at least one matching story, so
    nobody receives a message made solely of uncategorised news.
    """
    stories = tuple(stories)
    if not chosen:
        return stories
    if not any(chosen.intersection(s.topics) for s in stories):
        return ()
    return tuple(s for s in stories if chosen.intersection(s.topics) or GENERAL in s.topics)
