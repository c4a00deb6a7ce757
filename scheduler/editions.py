"""Stored issues: what was ingested, for which list, exactly as it will be sent.

An issue is stored whole or not at all (one transaction), and storing the same content twice for
the same list returns the issue already stored instead of a duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import JSON, Date, ForeignKey, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from mailer.content import Issue, Story
from scheduler.ledger import Run
from subscribers.db import Base
from subscribers.models import NewsletterList

__all__ = [
    "StoredIssue",
    "StoredStory",
    "UnknownIssue",
    "issue_to_json",
    "list_issues",
    "load_issue",
    "newest_unsent_issue",
    "store_issue",
]


class UnknownIssue(LookupError):
    """No stored issue has this id (on this list)."""

    def __init__(self, issue_id: int) -> None:
        self.issue_id = issue_id
        super().__init__(f"no issue with id {issue_id} (see `briefmail issues list`)")


class StoredIssue(Base):
    """An ingested issue of one list."""

    __tablename__ = "issues"
    __table_args__ = (UniqueConstraint("list_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    date: Mapped[dt.date] = mapped_column(Date)
    format: Mapped[str] = mapped_column(String(32))
    posted: Mapped[str | None] = mapped_column(String(200))
    #: sha256 of the parsed content: re-ingesting the same issue finds this row.
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    newsletter: Mapped[NewsletterList] = relationship()
    stories: Mapped[list[StoredStory]] = relationship(
        cascade="all, delete-orphan", order_by="StoredStory.position"
    )

    def to_issue(self) -> Issue:
        """The content value object this row stores."""
        return Issue(
            title=self.title,
            date=self.date,
            format=self.format,
            posted=self.posted,
            stories=tuple(s.to_story() for s in self.stories),
        )


class StoredStory(Base):
    """One story of a stored issue, with the topics tagging gave it at ingest."""

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
        )


def content_hash(issue: Issue) -> str:
    """A stable digest of everything a reader would see of the issue."""
    payload = json.dumps(issue_to_json(issue, None), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def store_issue(
    session: Session, newsletter: NewsletterList, issue: Issue
) -> tuple[StoredIssue, bool]:
    """Store an issue on a list; returns (row, created). The caller commits."""
    digest = content_hash(issue)
    existing = session.scalar(
        select(StoredIssue).where(
            StoredIssue.list_id == newsletter.id, StoredIssue.content_hash == digest
        )
    )
    if existing is not None:
        return existing, False
    row = StoredIssue(
        list_id=newsletter.id,
        title=issue.title,
        date=issue.date,
        format=issue.format,
        posted=issue.posted,
        content_hash=digest,
        stories=[
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
            )
            for s in issue.stories
        ],
    )
    session.add(row)
    session.flush()
    return row, True


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


def newest_unsent_issue(session: Session, newsletter: NewsletterList) -> StoredIssue | None:
    """The list's newest issue that no run has sent yet (what the daily job picks)."""
    return session.scalar(
        select(StoredIssue)
        .where(
            StoredIssue.list_id == newsletter.id,
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


def issue_to_json(issue: Issue, issue_id: int | None) -> dict[str, object]:
    """The stable JSON shape of `briefmail ingest --json` and `issues show --json`."""
    return {
        "id": issue_id,
        "title": issue.title,
        "date": issue.date.isoformat(),
        "format": issue.format,
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
            }
            for s in issue.stories
        ],
    }
