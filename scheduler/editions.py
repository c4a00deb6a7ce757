"""Stored issues and their lifecycle: what was ingested or assembled, exactly as it will be sent.

An issue is identified on its list by its key (format and period; title for articles). Storing
is all or nothing, and idempotent: the same content again is a no-op; changed content updates the
issue, unless a run has already sent it (then only with ``replace``).

An issue is a `draft` until an editor approves it; only `approved` issues are planned, scheduled
or shown to readers, and an issue is `sent` once a run for it exists. Any issue but a sent one may
be `withdrawn` (and approved again later). Every change of status or content by an operator is an
IssueChange row (who, when, what, before and after), so `issues show` can tell its history.
Weekly digests are assembled in scheduler/digests.py and stored here like any other issue.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from mailer.content import GENERAL, Format, Issue, Role, Story, issue_to_json
from mailer.ingest import IngestError
from mailer.topics import Taxonomy
from scheduler.ledger import Run, RunStatus
from subscribers.db import Base, string_enum, utcnow
from subscribers.models import NewsletterList
from subscribers.outbox import record_event

__all__ = [
    "ISSUE_TRANSITIONS",
    "PUBLISHED",
    "IssueAlreadySent",
    "IssueChange",
    "IssueStateError",
    "IssueStatus",
    "Stored",
    "StoredIssue",
    "StoredStory",
    "UnknownIssue",
    "change_status",
    "content_hash",
    "delete_issue",
    "history",
    "list_issues",
    "load_issue",
    "newest_unsent_issue",
    "record_change",
    "reopen_after_cancel",
    "require_sendable",
    "retag_issue",
    "store_issue",
    "tag_ingested",
]


class IssueStatus(enum.StrEnum):
    """Where an issue is in its life: draft → approved → sent, or withdrawn."""

    DRAFT = "draft"
    APPROVED = "approved"
    SENT = "sent"
    WITHDRAWN = "withdrawn"


#: Which status an issue may move to from each. `sent → approved` happens only when the run that
#: sent it was cancelled and no other run has it (scheduler/dispatch.py), so it can be sent anew.
ISSUE_TRANSITIONS: dict[IssueStatus, frozenset[IssueStatus]] = {
    IssueStatus.DRAFT: frozenset({IssueStatus.APPROVED, IssueStatus.WITHDRAWN}),
    IssueStatus.APPROVED: frozenset({IssueStatus.DRAFT, IssueStatus.SENT, IssueStatus.WITHDRAWN}),
    IssueStatus.SENT: frozenset({IssueStatus.APPROVED}),
    IssueStatus.WITHDRAWN: frozenset({IssueStatus.DRAFT, IssueStatus.APPROVED}),
}
#: What an operator did, in an issue's history, by the status it moved to.
_VERBS = {
    IssueStatus.DRAFT: "reopen",
    IssueStatus.APPROVED: "approve",
    IssueStatus.SENT: "send",
    IssueStatus.WITHDRAWN: "withdraw",
}
#: Issues readers may see (planned, previewed, digested): approved ones, and those already sent.
PUBLISHED = (IssueStatus.APPROVED, IssueStatus.SENT)


class UnknownIssue(LookupError):
    """No stored issue has this id (on this list)."""

    def __init__(self, issue_id: int) -> None:
        self.issue_id = issue_id
        super().__init__(f"no issue with id {issue_id} (see `briefmail issues list`)")


class IssueAlreadySent(Exception):
    """Changed content for an issue that a run has already sent; needs an explicit replace."""


class IssueStateError(ValueError):
    """The operation needs the issue in another status (a draft cannot be sent, …)."""


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
    status: Mapped[IssueStatus] = mapped_column(
        string_enum(IssueStatus), default=IssueStatus.DRAFT, index=True
    )
    #: The piece's own summary as printed (an article's bullet block), if any.
    summary: Mapped[str | None] = mapped_column(Text)
    #: The Subject when it is not the title (an editor's, or the list's subject template).
    subject: Mapped[str | None] = mapped_column(String(500))
    #: The inbox preview text when it is not made from the story titles.
    preheader: Mapped[str | None] = mapped_column(String(500))
    #: A whole-issue send an editor scheduled for this instant (UTC); None: not scheduled.
    send_at: Mapped[dt.datetime | None]
    approved_at: Mapped[dt.datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(200))

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
            summary=self.summary,
            subject=self.subject,
            preheader=self.preheader,
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
    #: An editor set these topics by hand: retagging leaves them alone.
    topics_locked: Mapped[bool] = mapped_column(default=False)

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


class IssueChange(Base):
    """One operator's change to an issue: a status move or an edited field, before and after."""

    __tablename__ = "issue_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: Who did it: "cli:alice", "source:feed-name", later a console user's address.
    actor: Mapped[str] = mapped_column(String(200))
    #: What was done: "approve", "withdraw", "edit", "ingest", "schedule", …
    action: Mapped[str] = mapped_column(String(32))
    #: The field changed ("status", "title", "story 3 topics", …).
    field: Mapped[str] = mapped_column(String(100))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)


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
    status: IssueStatus = IssueStatus.APPROVED,
    actor: str | None = None,
) -> tuple[StoredIssue, Stored]:
    """Store an issue on a list as ``status`` (the caller commits); the row and what was done.

    The faces store what an operator ingests as a draft unless asked to approve it. Changed
    content of an approved issue is stored as ``status`` (a draft must be approved again); a
    withdrawn issue stays withdrawn unless approved; a sent one stays sent. Raises
    IssueAlreadySent when the content changed after a run sent the issue, unless
    ``replace_sent``. With ``actor``, the change is recorded in the issue's history.
    """
    digest = content_hash(issue)
    row = session.scalar(
        select(StoredIssue)
        .where(StoredIssue.list_id == newsletter.id, StoredIssue.issue_key == issue.key)
        .options(selectinload(StoredIssue.stories))
    )
    if row is not None and row.content_hash == digest:
        if row.status == IssueStatus.DRAFT and status == IssueStatus.APPROVED:
            change_status(session, row, IssueStatus.APPROVED, actor or "system")
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
        row = StoredIssue(list_id=newsletter.id, issue_key=issue.key, status=IssueStatus.DRAFT)
        session.add(row)
        outcome = Stored.CREATED
    _fill(row, issue, source_name, digest)
    session.flush()
    if actor is not None:
        record_change(session, row, actor, "ingest", "content", None, outcome.value)
    _settle_status(session, row, status, actor or "system")
    return row, outcome


def _fill(row: StoredIssue, issue: Issue, source_name: str | None, digest: str) -> None:
    row.title = issue.title
    row.date = issue.date
    row.period_end = issue.period_end
    row.format = issue.format.value
    row.posted = issue.posted
    row.tags = list(issue.tags)
    row.summary = issue.summary
    # An editor's subject and preheader outlive a re-ingest of the same issue.
    row.subject = issue.subject or row.subject
    row.preheader = issue.preheader or row.preheader
    row.source_name = source_name
    row.content_hash = digest
    row.stories.extend(_story_rows(issue))


def _settle_status(session: Session, row: StoredIssue, wanted: IssueStatus, actor: str) -> None:
    """The status stored content ends in (see store_issue)."""
    current = IssueStatus(row.status)
    if current == IssueStatus.SENT or current == wanted:
        return
    if current == IssueStatus.WITHDRAWN and wanted != IssueStatus.APPROVED:
        return
    change_status(session, row, wanted, actor)


def change_status(
    session: Session, row: StoredIssue, new: IssueStatus, actor: str, *, action: str | None = None
) -> None:
    """Move an issue to ``new`` and record who did it; IssueStateError if it may not move so."""
    current = IssueStatus(row.status)
    if new == current:
        return
    if new not in ISSUE_TRANSITIONS[current]:
        raise IssueStateError(
            f"issue {row.id} is {current}: it cannot become {new}"
            + (" (a sent issue stays in the archive)" if current == IssueStatus.SENT else "")
        )
    row.status = new
    if new == IssueStatus.APPROVED and current == IssueStatus.DRAFT:
        row.approved_at, row.approved_by = utcnow(), actor
    if new in (IssueStatus.DRAFT, IssueStatus.WITHDRAWN):
        row.send_at = None  # a schedule belongs to the approval it was made under
    record_change(session, row, actor, action or _VERBS[new], "status", current.value, new.value)
    if new == IssueStatus.APPROVED:
        event = {"issue_id": row.id, "list_id": row.list_id, "title": row.title}
        record_event(session, "issue.approved", event | {"date": row.date, "by": actor})


def record_change(
    session: Session,
    row: StoredIssue,
    actor: str,
    action: str,
    field: str,
    before: object,
    after: object,
) -> IssueChange:
    """Add one line to an issue's history (the caller commits)."""
    change = IssueChange(
        issue_id=row.id, actor=actor, action=action, field=field, before=before, after=after
    )
    session.add(change)
    return change


def history(session: Session, issue_id: int) -> list[IssueChange]:
    """An issue's changes, oldest first."""
    return list(
        session.scalars(
            select(IssueChange)
            .where(IssueChange.issue_id == issue_id)
            .order_by(IssueChange.at, IssueChange.id)
        )
    )


def require_sendable(row: StoredIssue) -> None:
    """Refuse to plan a send of an issue no editor approved (drafts, withdrawn issues)."""
    if row.status in PUBLISHED:
        return
    hint = (
        f"approve it first: briefmail issues approve {row.id}"
        if row.status == IssueStatus.DRAFT
        else f"it was withdrawn; approve it again to send it: briefmail issues approve {row.id}"
    )
    raise IssueStateError(f"issue {row.id} is a {row.status} and is not sent: {hint}")


def reopen_after_cancel(session: Session, issue_id: int, actor: str) -> bool:
    """A sent issue whose every run was cancelled is approved again, to be sent anew; True if so.

    The next send makes a new run that leaves out whoever the cancelled ones reached.
    """
    row = session.get(StoredIssue, issue_id)
    if row is None or row.status != IssueStatus.SENT:
        return False
    live = session.scalar(
        select(Run.id).where(Run.issue_id == issue_id, Run.status != RunStatus.CANCELLED).limit(1)
    )
    if live is not None:
        return False
    change_status(session, row, IssueStatus.APPROVED, actor, action="cancel")
    return True


def delete_issue(session: Session, row: StoredIssue) -> None:
    """Delete an issue that no run ever had (IssueStateError otherwise: the ledger needs it)."""
    run = session.scalar(select(Run.id).where(Run.issue_id == row.id).limit(1))
    if run is not None:
        raise IssueStateError(
            f"issue {row.id} was sent by run {run} and cannot be deleted; withdraw it instead"
        )
    session.delete(row)
    session.flush()


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
    """Tag a stored issue's stories again with ``taxonomy``; returns how many changed.

    Topics an editor set by hand (``topics_locked``) are kept.
    """
    issue = row.to_issue()
    tagged = taxonomy.tag_issue(issue)
    changed = 0
    for story_row, story in zip(row.stories, tagged.stories, strict=True):
        if story_row.topics_locked:
            continue
        if list(story.topics) != list(story_row.topics):
            story_row.topics = list(story.topics)
            changed += 1
    row.content_hash = content_hash(row.to_issue())
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
    """The list's newest approved issue of ``format`` no run has sent yet (what a job picks).

    An issue scheduled for a chosen time is not picked: it goes out at its time.
    """
    return session.scalar(
        select(StoredIssue)
        .where(
            StoredIssue.list_id == newsletter.id,
            StoredIssue.format == format.value,
            StoredIssue.status == IssueStatus.APPROVED,
            StoredIssue.send_at.is_(None),
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
