"""Stored issues and weekly digests: what was ingested or assembled, exactly as it will be sent.

An issue is identified on its list by its key (format and period; title for articles). Storing
is all or nothing, and idempotent: the same content again is a no-op; changed content updates the
issue, unless a run has already sent it (then only with ``replace``). A weekly digest is assembled
from the week's daily issues and stored like any other issue, so building it twice gives one.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process
from sqlalchemy import JSON, Date, ForeignKey, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from mailer.content import GENERAL, Format, Issue, Role, Story, issue_to_json
from mailer.ingest import IngestError
from mailer.topics import Taxonomy
from scheduler.ledger import Run
from subscribers.db import Base, utcnow
from subscribers.models import NewsletterList

__all__ = [
    "DigestError",
    "IssueAlreadySent",
    "Stored",
    "StoredIssue",
    "StoredStory",
    "UnknownIssue",
    "assemble_digest",
    "build_digest",
    "content_hash",
    "list_issues",
    "load_issue",
    "newest_unsent_issue",
    "parse_week",
    "retag_issue",
    "store_issue",
    "tag_ingested",
    "week_label",
]

#: Titles at least this similar (rapidfuzz token_sort_ratio, 0-100) from one source are one story.
TITLE_SIMILARITY = 90


class UnknownIssue(LookupError):
    """No stored issue has this id (on this list)."""

    def __init__(self, issue_id: int) -> None:
        self.issue_id = issue_id
        super().__init__(f"no issue with id {issue_id} (see `briefmail issues list`)")


class IssueAlreadySent(Exception):
    """Changed content for an issue that a run has already sent; needs an explicit replace."""


class DigestError(ValueError):
    """A digest cannot be built as asked (bad week, no daily issues)."""


class Stored(enum.StrEnum):
    """What storing an issue did."""

    CREATED = "stored"
    UNCHANGED = "already stored"
    UPDATED = "updated"


class StoredIssue(Base):
    """An ingested (or assembled) issue of one list."""

    __tablename__ = "issues"
    __table_args__ = (UniqueConstraint("list_id", "issue_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), index=True)
    #: Format and period (title for articles): a changed file with the same key updates the row.
    issue_key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    date: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    format: Mapped[str] = mapped_column(String(32))
    posted: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The file the issue was read from (None for assembled digests).
    source_name: Mapped[str | None] = mapped_column(String(500))
    #: sha256 of the reader-visible content: re-ingesting identical content is a no-op.
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    newsletter: Mapped[NewsletterList] = relationship()
    stories: Mapped[list[StoredStory]] = relationship(
        cascade="all, delete-orphan", order_by="StoredStory.position"
    )

    def to_issue(self) -> Issue:
        """The content value object this row stores."""
        return Issue(
            title=self.title,
            date=self.date,
            period_end=self.period_end,
            format=Format(self.format),
            posted=self.posted,
            tags=tuple(self.tags or ()),
            stories=tuple(s.to_story() for s in self.stories),
        )


class StoredStory(Base):
    """One story of a stored issue, with the topics tagging gave it and its source line."""

    __tablename__ = "stories"
    __table_args__ = (UniqueConstraint("issue_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    position: Mapped[int]
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(500))
    published: Mapped[str | None] = mapped_column(String(100))
    summary: Mapped[str] = mapped_column(Text)
    why_it_matters: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    link_text: Mapped[str | None] = mapped_column(Text)
    topics: Mapped[list[str]] = mapped_column(JSON)
    role: Mapped[str] = mapped_column(String(16), default=Role.STORY.value)
    group: Mapped[str | None] = mapped_column(String(64))
    line: Mapped[int | None]

    def to_story(self) -> Story:
        """The content value object this row stores."""
        return Story(
            position=self.position,
            title=self.title,
            summary=self.summary,
            source=self.source,
            published=self.published,
            why_it_matters=self.why_it_matters,
            url=self.url,
            link_text=self.link_text,
            topics=tuple(self.topics),
            role=Role(self.role),
            group=self.group,
            line=self.line,
        )


def content_hash(issue: Issue) -> str:
    """A stable digest of everything a reader would see of the issue (not source lines)."""
    data = issue_to_json(issue)
    for story in data["stories"]:  # type: ignore[attr-defined]
        story.pop("line")
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _story_rows(issue: Issue) -> list[StoredStory]:
    return [
        StoredStory(
            position=s.position,
            title=s.title,
            source=s.source,
            published=s.published,
            summary=s.summary,
            why_it_matters=s.why_it_matters,
            url=s.url,
            link_text=s.link_text,
            topics=list(s.topics),
            role=s.role.value,
            group=s.group,
            line=s.line,
        )
        for s in issue.stories
    ]


def store_issue(
    session: Session,
    newsletter: NewsletterList,
    issue: Issue,
    *,
    source_name: str | None = None,
    replace_sent: bool = False,
) -> tuple[StoredIssue, Stored]:
    """Store an issue on a list (the caller commits); returns the row and what was done.

    Raises IssueAlreadySent when the content changed after a run sent the issue, unless
    ``replace_sent``.
    """
    digest = content_hash(issue)
    row = session.scalar(
        select(StoredIssue)
        .where(StoredIssue.list_id == newsletter.id, StoredIssue.issue_key == issue.key)
        .options(selectinload(StoredIssue.stories))
    )
    if row is not None and row.content_hash == digest:
        return row, Stored.UNCHANGED
    if row is not None:
        sent = session.scalar(select(Run.id).where(Run.issue_id == row.id).limit(1))
        if sent is not None and not replace_sent:
            raise IssueAlreadySent(
                f"issue {row.id} ({issue.key}) was already sent by run {sent} and this file "
                "differs from it; pass --replace to store the new content anyway"
            )
        row.stories.clear()
        session.flush()  # the old stories' (issue, position) rows must go before new ones arrive
        outcome = Stored.UPDATED
    else:
        row = StoredIssue(list_id=newsletter.id, issue_key=issue.key)
        session.add(row)
        outcome = Stored.CREATED
    row.title = issue.title
    row.date = issue.date
    row.period_end = issue.period_end
    row.format = issue.format.value
    row.posted = issue.posted
    row.tags = list(issue.tags)
    row.source_name = source_name
    row.content_hash = digest
    row.stories.extend(_story_rows(issue))
    session.flush()
    return row, outcome


def tag_ingested(issue: Issue, taxonomy: Taxonomy, *, from_json: bool, path: str | Path) -> Issue:
    """Give an ingested issue its topics. JSON may bring its own; those must be known topics."""
    if from_json:
        known = {*taxonomy.ids, GENERAL}
        for story in issue.stories:
            unknown = sorted(set(story.topics) - known)
            if unknown:
                raise IngestError(
                    path,
                    story.line or 1,
                    f"story {story.position}: unknown topic {', '.join(unknown)} "
                    f"(valid topics: {', '.join(taxonomy.ids)})",
                )
    return taxonomy.tag_issue(issue, keep_existing=from_json)


def retag_issue(session: Session, row: StoredIssue, taxonomy: Taxonomy) -> int:
    """Tag a stored issue's stories again with ``taxonomy``; returns how many changed."""
    issue = row.to_issue()
    tagged = taxonomy.tag_issue(issue)
    changed = 0
    for story_row, story in zip(row.stories, tagged.stories, strict=True):
        if list(story.topics) != list(story_row.topics):
            story_row.topics = list(story.topics)
            changed += 1
    row.content_hash = content_hash(tagged)
    session.flush()
    return changed


def load_issue(
    session: Session, issue_id: int, newsletter: NewsletterList | None = None
) -> StoredIssue:
    """The stored issue with its stories; UnknownIssue if absent (or on another list)."""
    row = session.scalar(
        select(StoredIssue)
        .where(StoredIssue.id == issue_id)
        .options(selectinload(StoredIssue.stories))
    )
    if row is None or (newsletter is not None and row.list_id != newsletter.id):
        raise UnknownIssue(issue_id)
    return row


def newest_unsent_issue(
    session: Session, newsletter: NewsletterList, format: Format = Format.BRIEF
) -> StoredIssue | None:
    """The list's newest issue of ``format`` that no run has sent yet (what a job picks)."""
    return session.scalar(
        select(StoredIssue)
        .where(
            StoredIssue.list_id == newsletter.id,
            StoredIssue.format == format.value,
            ~select(Run.id).where(Run.issue_id == StoredIssue.id).exists(),
        )
        .order_by(StoredIssue.date.desc(), StoredIssue.id.desc())
        .limit(1)
    )


def list_issues(session: Session, newsletter: NewsletterList) -> list[StoredIssue]:
    """The list's issues, newest first."""
    return list(
        session.scalars(
            select(StoredIssue)
            .where(StoredIssue.list_id == newsletter.id)
            .options(selectinload(StoredIssue.stories))
            .order_by(StoredIssue.date.desc(), StoredIssue.id.desc())
        )
    )


# -- weekly digest ------------------------------------------------------------------------------


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
        )
        .options(selectinload(StoredIssue.stories))
        .order_by(StoredIssue.date, StoredIssue.id)
    ).all()
    if not dailies:
        raise DigestError(f"no daily issues on list {newsletter.slug!r} in {week_label(monday)}")
    title = f"{newsletter.name} — week {week_label(monday)}"
    digest = assemble_digest([d.to_issue() for d in dailies], monday, title, taxonomy)
    return store_issue(session, newsletter, digest)
