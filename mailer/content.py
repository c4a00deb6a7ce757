"""Issue and Story: the immutable content every other layer passes around.

An Issue is what an editor published; a subscriber receives a *selection* of its stories, decided
only by the subscriber's topic set (see :func:`select_stories`). Everything here is a frozen value
object so a rendered variant can be cached by the exact content that produced it.

Text fields are plain text with one inline mark-up: ``**words**`` is emphasis (the article format
prints it that way). Renderers turn it into <strong>; nothing else in content is ever markup.

Header-safe by construction: the values that reach a message's headers (the issue title is the
Subject; story titles make the preheader) are made one line when an Issue or Story is built —
whatever format, digest or stored row it came from — and the title is capped at
:data:`SUBJECT_LIMIT` characters. Body text (summaries) keeps its line breaks.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

__all__ = [
    "GENERAL",
    "SUBJECT_LIMIT",
    "WHOLE_ISSUE_FORMATS",
    "Format",
    "Issue",
    "Role",
    "Story",
    "cap_subject",
    "header_text",
    "issue_to_json",
    "select_stories",
]

#: The topic of a story that no taxonomy topic matches. Every subscriber receives such stories.
GENERAL = "general"


class Format(enum.StrEnum):
    """How an issue is presented (and, for all but `digest`, the source format it came from)."""

    BRIEF = "brief"
    BULLETIN = "bulletin"
    ARTICLE = "article"
    DIGEST = "digest"


#: The longest issue title (the Subject) in characters; longer ones end in "…" at a word.
SUBJECT_LIMIT = 200

# Every character that ends a line somewhere (str.splitlines, email folding, RFC 5322's CR and LF)
# or is invisible control: Unicode Cc (C0, DEL, C1 with NEL U+0085) and U+2028/U+2029.
_NOT_IN_HEADER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# A lone surrogate (JSON can spell one: "\ud800") cannot be encoded in any header.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SPACE_RUN = re.compile(r" {2,}")
# Where a cut subject may end before its ellipsis: not after a dangling separator.
_CUT_TRAILER = " ,;:·–—-"


def header_text(text: str) -> str:
    """One line of text: line breaks and control characters become spaces, runs collapse."""
    text = _NOT_IN_HEADER.sub(" ", text)
    text = _SURROGATE.sub("\ufffd", text)
    return _SPACE_RUN.sub(" ", text).strip()


def cap_subject(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """``text`` if it fits ``limit`` characters, else cut (at a word when one is near) + "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if text[limit - 1] != " ":
        # Cut at the last space of the final fifth; text without one there (CJK) is cut anywhere.
        space = cut.rfind(" ", limit * 4 // 5)
        if space > 0:
            cut = cut[:space]
    return (cut.rstrip(_CUT_TRAILER) or cut) + "…"


#: Formats whose stories are parts of one piece: a reader gets all of them or none.
WHOLE_ISSUE_FORMATS = frozenset({Format.ARTICLE})


class Role(enum.StrEnum):
    """What a story is within its issue."""

    STORY = "story"
    #: A section of a long-form article: heading and paragraphs.
    SECTION = "section"
    #: Background at the end of an article ("About the Organizations Mentioned").
    BACKGROUND = "background"


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
    role: Role = Role.STORY
    #: The digest group (a topic id) a story is listed under; None outside digests.
    group: str | None = None
    #: The 1-based line of the source text the story starts at (not part of its identity).
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # The title reaches the preheader (a header line in some clients' eyes): one line.
        object.__setattr__(self, "title", header_text(self.title))

    def with_topics(self, topics: Iterable[str]) -> Story:
        """Return a copy carrying exactly these topics (sorted, de-duplicated)."""
        return replace(self, topics=tuple(sorted(set(topics))))


@dataclass(frozen=True, slots=True)
class Issue:
    """A published issue: a title, a date (or a period) and its stories in reading order."""

    title: str
    date: dt.date
    stories: tuple[Story, ...]
    format: Format = Format.BRIEF
    #: Free text the source printed about publication ("Posted on June 26, 2026 at 09:30 PM").
    posted: str | None = None
    #: The last day of the period the issue covers, when it covers more than its date.
    period_end: dt.date | None = None
    #: Hashtags the source carried, without '#', as printed.
    tags: tuple[str, ...] = ()
    #: What the source printed as the whole piece's summary (an article's bullet block), if any.
    summary: str | None = None
    #: The Subject line when it is not the title: an editor's choice or the list's template.
    subject: str | None = None
    #: The inbox preview text when it is not made from the story titles (an editor's choice).
    preheader: str | None = None

    def __post_init__(self) -> None:
        # The title and subject reach the Subject header: one line, capped, so no send or
        # preview can refuse them later. The preheader is one line for the same reason.
        object.__setattr__(self, "title", cap_subject(header_text(self.title)))
        for name in ("subject", "preheader"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, cap_subject(header_text(value)) or None)

    @property
    def subject_line(self) -> str:
        """What the Subject header says: the subject when one is set, else the title."""
        return self.subject or self.title

    @property
    def topics(self) -> frozenset[str]:
        """Every topic at least one story carries."""
        return frozenset(t for story in self.stories for t in story.topics)

    @property
    def key(self) -> str:
        """What makes two versions of a file the same issue: format and period (and title).

        Re-ingesting a changed file with the same key updates that issue instead of adding one.
        """
        if self.format == Format.ARTICLE:
            # Articles often print no date (their date is the day they were received), so an
            # article is identified by its title alone.
            slug = re.sub(r"\W+", "-", self.title.lower()).strip("-")[:120] or "untitled"
            return f"{self.format}:{slug}"
        end = f"..{self.period_end.isoformat()}" if self.period_end else ""
        return f"{self.format}:{self.date.isoformat()}{end}"


def issue_to_json(issue: Issue, issue_id: int | None = None) -> dict[str, object]:
    """The stable JSON shape of `briefmail ingest --json` (and of the `json` source format)."""
    return {
        "id": issue_id,
        "title": issue.title,
        "date": issue.date.isoformat(),
        "format": str(issue.format),
        "period_end": issue.period_end.isoformat() if issue.period_end else None,
        "posted": issue.posted,
        "tags": list(issue.tags),
        "summary": issue.summary,
        "subject": issue.subject,
        "preheader": issue.preheader,
        "stories": [
            {
                "position": s.position,
                "title": s.title,
                "source": s.source,
                "published": s.published,
                "summary": s.summary,
                "why_it_matters": s.why_it_matters,
                "url": s.url,
                "link_text": s.link_text,
                "topics": list(s.topics),
                "role": str(s.role),
                "group": s.group,
                "line": s.line,
            }
            for s in issue.stories
        ],
    }


def select_stories(
    stories: Iterable[Story], chosen: frozenset[str], *, whole: bool = False
) -> tuple[Story, ...]:
    """Return the stories a subscriber with topic set ``chosen`` receives, in reading order.

    An empty ``chosen`` means "every topic". A story matches when it shares a topic with the
    choice; `general` stories go to everyone, but only alongside at least one matching story, so
    nobody receives a message made solely of uncategorised news. With ``whole`` (an article), a
    single match selects every story.
    """
    stories = tuple(stories)
    if not chosen:
        return stories
    if not any(chosen.intersection(s.topics) for s in stories):
        return ()
    if whole:
        return stories
    return tuple(s for s in stories if chosen.intersection(s.topics) or GENERAL in s.topics)
