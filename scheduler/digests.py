"""Weekly digests: a week's daily issues assembled into one issue, stored like any other.

A story reported on several days appears once; stories are grouped by topic. Building the same
week twice gives one digest (it is stored by its key, like an ingested issue). Only daily issues
that were approved or sent are assembled: a draft or a withdrawn issue never reaches a digest.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mailer.content import GENERAL, Format, Issue, Story
from mailer.topics import Taxonomy
from scheduler.editions import PUBLISHED, IssueStatus, Stored, StoredIssue, store_issue
from subscribers.models import NewsletterList

__all__ = [
    "DigestError",
    "assemble_digest",
    "build_digest",
    "digest_title",
    "parse_week",
    "week_label",
]

#: Titles at least this similar (rapidfuzz token_sort_ratio, 0-100) from one source are one story.
TITLE_SIMILARITY = 90


class DigestError(ValueError):
    """A digest cannot be built as asked (bad week, no daily issues)."""


def parse_week(week: str) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of an ISO week written as 2026-W26; DigestError if malformed."""
    match = re.fullmatch(r"(\d{4})-?W(\d{1,2})", week.strip(), re.IGNORECASE)
    if match is None:
        raise DigestError(f"week {week!r}: expected an ISO week such as 2026-W26")
    try:
        monday = dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise DigestError(f"week {week!r} does not exist") from None
    return monday, monday + dt.timedelta(days=6)


def week_label(day: dt.date) -> str:
    """The ISO week of a day, written as 2026-W26."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def assemble_digest(
    dailies: Sequence[Issue], monday: dt.date, title: str, taxonomy: Taxonomy
) -> Issue:
    """One digest from a week's daily issues: duplicates merged, stories grouped by topic.

    A story reported on several days (same address, or near-identical title from the same source)
    appears once, where it first appeared, with the union of its topics. Each story keeps its
    original date. Groups are topics, the most-covered first; a story is listed under its topic
    that covers the most stories, `general` last.
    """
    kept: list[Story] = []
    for issue in sorted(dailies, key=lambda i: i.date):
        for story in issue.stories:
            story = story if story.published else replace(story, published=issue.date.isoformat())
            twin = next((i for i, k in enumerate(kept) if _same_story(k, story)), None)
            if twin is None:
                kept.append(story)
            else:
                kept[twin] = kept[twin].with_topics({*kept[twin].topics, *story.topics})
    coverage = Counter(t for s in kept for t in s.topics if t != GENERAL)
    order = {t: n for n, t in enumerate(taxonomy.ids)}

    def group_of(story: Story) -> str:
        real = [t for t in story.topics if t != GENERAL]
        return (
            min(real, key=lambda t: (-coverage[t], order.get(t, len(order)))) if real else GENERAL
        )

    groups: dict[str, list[Story]] = {}
    for story in kept:
        groups.setdefault(group_of(story), []).append(story)
    ranked = sorted(
        groups,
        key=lambda g: (g == GENERAL, -len(groups[g]), order.get(g, len(order))),
    )
    stories = [
        replace(story, group=group, line=None) for group in ranked for story in groups[group]
    ]
    return Issue(
        title=title,
        date=monday,
        period_end=monday + dt.timedelta(days=6),
        format=Format.DIGEST,
        stories=tuple(replace(s, position=n) for n, s in enumerate(stories, start=1)),
    )


def _same_story(a: Story, b: Story) -> bool:
    if a.url and b.url:
        return a.url == b.url
    same_source = (a.source or "").strip().casefold() == (b.source or "").strip().casefold()
    # default_process lowercases and drops punctuation, so "Opens New Fab Line!" equals
    # "opens new fab line".
    similarity = fuzz.token_sort_ratio(a.title, b.title, processor=default_process)
    return same_source and similarity >= TITLE_SIMILARITY


def build_digest(
    session: Session, newsletter: NewsletterList, week: str, taxonomy: Taxonomy
) -> tuple[StoredIssue, Stored]:
    """Assemble and store the digest of an ISO week from the list's daily issues."""
    monday, sunday = parse_week(week)
    dailies = session.scalars(
        select(StoredIssue)
        .where(
            StoredIssue.list_id == newsletter.id,
            StoredIssue.format == Format.BRIEF.value,
            StoredIssue.date.between(monday, sunday),
            StoredIssue.status.in_(PUBLISHED),
        )
        .options(selectinload(StoredIssue.stories))
        .order_by(StoredIssue.date, StoredIssue.id)
    ).all()
    if not dailies:
        raise DigestError(f"no daily issues on list {newsletter.slug!r} in {week_label(monday)}")
    title = digest_title(newsletter.name, monday)
    digest = assemble_digest([d.to_issue() for d in dailies], monday, title, taxonomy)
    # A digest is made of approved issues: it is approved as it is assembled.
    return store_issue(session, newsletter, digest, status=IssueStatus.APPROVED)


def digest_title(list_name: str, monday: dt.date) -> str:
    """The digest's title: "List — Week of 22–28 June 2026" (months, years only if they differ)."""
    sunday = monday + dt.timedelta(days=6)
    if monday.year != sunday.year:
        span = f"{monday.day} {monday:%B %Y} – {sunday.day} {sunday:%B %Y}"
    elif monday.month != sunday.month:
        span = f"{monday.day} {monday:%B} – {sunday.day} {sunday:%B %Y}"
    else:
        span = f"{monday.day}–{sunday.day} {sunday:%B %Y}"
    return f"{list_name} — Week of {span}"
