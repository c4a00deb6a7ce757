"""What is published: lists, issues (ingest, show, digest, preview) and the topics they carry.

Every face calls these operations with plain arguments and gets plain results back; a list slug
of None means the configured default list ([newsletter] slug). The heavy parts (the format
readers, the renderer) are imported by the operation that needs them, so a command that only
lists issues starts fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.content import Issue, issue_to_json
from scheduler.digests import week_label
from scheduler.editions import (
    IssueStatus,
    Stored,
    StoredIssue,
    change_status,
    delete_issue,
    list_issues,
    load_issue,
    retag_issue,
)
from subscribers.db import as_utc
from subscribers.lists import all_lists, create_list, get_list

if TYPE_CHECKING:
    from briefmail.app import Briefmail
    from briefmail.ops.preview import Preview
    from mailer.ingest import Detection
    from mailer.topics import Evidence
    from subscribers.models import NewsletterList

#: What the issue list can be filtered by: the statuses, plus "scheduled" (approved, with a time).
STAGES = ("draft", "approved", "scheduled", "sent", "withdrawn")

__all__ = [
    "STAGES",
    "Change",
    "ContentService",
    "DigestResult",
    "IngestResult",
    "IssueSummary",
    "IssueView",
    "ListInfo",
    "Retagged",
    "StoryEvidence",
    "TopicInfo",
    "WrittenPreview",
]


@dataclass(frozen=True, slots=True)
class ListInfo:
    """A newsletter list as the faces show it."""

    slug: str
    name: str
    from_address: str
    list_id: str

    @classmethod
    def of(cls, row: NewsletterList) -> ListInfo:
        """The plain view of a stored list."""
        return cls(row.slug, row.name, row.from_address, row.list_id)

    def as_json(self) -> dict[str, str]:
        """The `briefmail lists list --json` shape."""
        return {
            "slug": self.slug,
            "name": self.name,
            "from": self.from_address,
            "list_id": self.list_id,
        }


@dataclass(frozen=True, slots=True)
class IngestResult:
    """An ingested issue: the parsed content, how its format was chosen, and the stored row."""

    issue: Issue
    detection: Detection
    stored: StoredIssue | None
    #: What storing did; None for a dry run.
    outcome: Stored | None

    @property
    def issue_id(self) -> int | None:
        """The stored issue's id; None for a dry run."""
        return self.stored.id if self.stored is not None else None

    def as_json(self) -> dict[str, object]:
        """The `briefmail ingest --json` shape."""
        return issue_to_json(self.issue, self.issue_id)


@dataclass(frozen=True, slots=True)
class IssueSummary:
    """One line of the list of stored issues."""

    id: int
    title: str
    date: dt.date
    format: str
    stories: int
    status: str = IssueStatus.DRAFT.value
    #: When an approved issue's scheduled send goes out (UTC); None: not scheduled.
    send_at: dt.datetime | None = None

    @classmethod
    def of(cls, row: StoredIssue) -> IssueSummary:
        """The line of a stored issue (its stories loaded)."""
        send_at = as_utc(row.send_at) if row.send_at is not None else None
        return cls(
            row.id, row.title, row.date, row.format, len(row.stories), str(row.status), send_at
        )

    @property
    def stage(self) -> str:
        """Where the issue stands for an operator: its status, or "scheduled" when it has a time."""
        if self.status == IssueStatus.APPROVED.value and self.send_at is not None:
            return "scheduled"
        return self.status

    def as_json(self) -> dict[str, object]:
        """The `briefmail issues list --json` shape."""
        return {
            "id": self.id,
            "title": self.title,
            "date": self.date.isoformat(),
            "format": self.format,
            "stories": self.stories,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Change:
    """One line of an issue's history: who did what to which field, before and after."""

    at: dt.datetime
    actor: str
    action: str
    field: str
    before: object
    after: object

    def as_json(self) -> dict[str, object]:
        """The history entry of `briefmail issues show --json`."""
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "field": self.field,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True, slots=True)
class IssueView:
    """A stored issue with its stories and their topics, its status and its history."""

    id: int
    issue: Issue
    status: str = "approved"
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    send_at: dt.datetime | None = None
    history: tuple[Change, ...] = ()

    def as_json(self) -> dict[str, object]:
        """The `briefmail issues show --json` shape: the ingest shape, status and history."""
        return {
            **issue_to_json(self.issue, self.id),
            "status": self.status,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at.isoformat() if self.approved_at else None,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "history": [change.as_json() for change in self.history],
        }


@dataclass(frozen=True, slots=True)
class DigestResult:
    """A week's digest issue and whether building it stored, changed or found it."""

    id: int
    issue: Issue
    outcome: Stored

    @property
    def groups(self) -> list[str]:
        """The digest's story groups in order."""
        return [str(group) for group in dict.fromkeys(s.group for s in self.issue.stories)]

    def as_json(self) -> dict[str, object]:
        """The `briefmail digest --json` shape (the ingest shape)."""
        return issue_to_json(self.issue, self.id)


@dataclass(frozen=True, slots=True)
class WrittenPreview:
    """One variant rendered for preview, and the files it was written to."""

    preview: Preview
    paths: list[Path]

    @property
    def html_bytes(self) -> int:
        """The size of the HTML part (Gmail clips above ~102 KB)."""
        return len(self.preview.rendered.html.encode())

    def as_json(self) -> dict[str, object]:
        """Which variant, how big, and where it was written."""
        return {
            "topics": list(self.preview.topics),
            "stories": self.preview.stories,
            "html_bytes": self.html_bytes,
            "paths": [str(path) for path in self.paths],
        }


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """One topic of the taxonomy, as subscribers choose it."""

    id: str
    label: str
    description: str
    parent: str | None
    keywords: tuple[str, ...]
    hints: tuple[str, ...]
    aliases: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        """The `briefmail topics list --json` shape."""
        return {
            "id": self.id,
            "label": self.label,
            "description": self.description,
            "parent": self.parent,
            "keywords": list(self.keywords),
            "hints": list(self.hints),
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True, slots=True)
class StoryEvidence:
    """Why one stored story has the topics it has (empty evidence: general)."""

    position: int
    title: str
    topics: tuple[str, ...]
    evidence: tuple[Evidence, ...]

    def as_json(self) -> dict[str, object]:
        """The story, its stored topics and one line per piece of evidence."""
        return {
            "position": self.position,
            "title": self.title,
            "topics": list(self.topics),
            "evidence": [item.describe() for item in self.evidence],
        }


@dataclass(frozen=True, slots=True)
class Retagged:
    """An issue tagged again: how many of its stories changed topics."""

    id: int
    changed: int
    stories: int

    def as_json(self) -> dict[str, int]:
        """Issue id, changed stories, stories."""
        return {"id": self.id, "changed": self.changed, "stories": self.stories}


class ContentService:
    """Lists, issues and topics: the operations behind `ingest`, `issues`, `digest`, `preview`."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app

    def list_slug(self, slug: str | None) -> str:
        """The list an operation works on: the one named, else the configured default."""
        return slug or self.app.settings.newsletter.slug

    def add_list(self, slug: str, name: str, from_address: str | None = None) -> ListInfo:
        """Create a newsletter list (its sender defaults to [newsletter] from)."""
        with self.app.sessions() as session:
            created = create_list(
                session, slug, name, from_address or self.app.settings.newsletter.from_
            )
            session.commit()
            return ListInfo.of(created)

    def lists(self) -> list[ListInfo]:
        """Every newsletter list."""
        with self.app.sessions() as session:
            return [ListInfo.of(row) for row in all_lists(session)]

    def ingest(
        self,
        path: Path,
        list_slug: str | None = None,
        *,
        format: str = "auto",
        dry_run: bool = False,
        replace: bool = False,
        approve: bool = False,
        actor: str | None = None,
    ) -> IngestResult:
        """Parse, tag and (unless dry_run) store an issue file on a list, all or nothing.

        The issue is stored as a draft for an editor to approve, unless ``approve``.
        """
        from mailer.ingest import read_issue  # the format readers are heavy: only for ingest
        from scheduler.editions import IssueStatus, store_issue, tag_ingested

        parsed, detection = read_issue(path, format)
        issue = tag_ingested(
            parsed, self.app.taxonomy, from_json=detection.format == "json", path=path
        )
        if dry_run:
            return IngestResult(issue, detection, None, None)
        with self.app.sessions() as session:
            newsletter = get_list(session, self.list_slug(list_slug))
            issue = self.titled(issue, newsletter.slug, newsletter.name)
            stored, outcome = store_issue(
                session,
                newsletter,
                issue,
                source_name=Path(path).name,
                replace_sent=replace,
                status=IssueStatus.APPROVED if approve else IssueStatus.DRAFT,
                actor=actor or self.app.actor,
            )
            session.commit()
            return IngestResult(issue, detection, stored, outcome)

    def ingest_text(
        self,
        text: str,
        list_slug: str | None = None,
        *,
        filename: str = "pasted.txt",
        format: str = "auto",
        dry_run: bool = False,
        approve: bool = False,
        actor: str | None = None,
    ) -> IngestResult:
        """`ingest` of text pasted or posted rather than read from a file (console, API).

        ``filename`` is what the upload was called: its suffix helps the format detection, as
        a file's does, and it is the issue's recorded source name.
        """
        import tempfile

        from mailer.ingest import IngestError

        name = Path(filename).name or "pasted.txt"
        with tempfile.TemporaryDirectory(prefix="briefmail-ingest-") as folder:
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            try:
                return self.ingest(
                    path, list_slug, format=format, dry_run=dry_run, approve=approve, actor=actor
                )
            except IngestError as exc:
                # The temporary folder means nothing to whoever pasted the text: their name.
                raise IngestError(name, exc.line, exc.reason) from None

    def titled(self, issue: Issue, slug: str, list_name: str) -> Issue:
        """The issue with a title readers understand and the list's subject template filled."""
        from scheduler.titles import fill_subject, list_name_fix, normalise_title

        title = list_name_fix(normalise_title(issue.title), list_name)
        subject = issue.subject
        wanted = self.app.settings.lists.get(slug)
        if subject is None and wanted is not None and wanted.subject:
            top = issue.stories[0].title if issue.stories else title
            subject = fill_subject(
                wanted.subject,
                slug,
                list_name=list_name,
                title=title,
                date=issue.date,
                top_story=top,
                stories=len(issue.stories),
            )
        return replace(issue, title=title, subject=subject)

    def issues(
        self, list_slug: str | None = None, *, stage: str | None = None
    ) -> list[IssueSummary]:
        """The list's stored issues, newest first; only those at ``stage`` when given.

        A stage is a status, or "scheduled" (approved with a send time); "approved" then means
        approved and not yet scheduled. An unknown stage is a ValueError naming the valid ones.
        """
        if stage is not None and stage not in STAGES:
            raise ValueError(f"stage: unknown {stage!r} (one of {', '.join(STAGES)})")
        with self.app.sessions() as session:
            newsletter = get_list(session, self.list_slug(list_slug))
            rows = [IssueSummary.of(row) for row in list_issues(session, newsletter)]
        return [row for row in rows if stage is None or row.stage == stage]

    def list_of(self, issue_id: int) -> str:
        """The slug of the list an issue belongs to (a console's URL names only the issue)."""
        from sqlalchemy import select

        from scheduler.editions import UnknownIssue
        from subscribers.models import NewsletterList

        with self.app.sessions() as session:
            slug = session.scalar(
                select(NewsletterList.slug)
                .join(StoredIssue, StoredIssue.list_id == NewsletterList.id)
                .where(StoredIssue.id == issue_id)
            )
        if slug is None:
            raise UnknownIssue(issue_id)
        return slug

    def audience_topics(self, issue_id: int, list_slug: str | None = None) -> list[tuple[str, ...]]:
        """The topic sets the issue's audience would get it for (at most 12; the variants)."""
        from briefmail.ops.preview import audience_variants

        return audience_variants(self.app, issue_id, self.list_slug(list_slug))

    def issue(self, issue_id: int, list_slug: str | None = None) -> IssueView:
        """One stored issue of the list; UnknownIssue if it is not there."""
        from scheduler.editions import history

        with self.app.sessions() as session:
            newsletter = get_list(session, self.list_slug(list_slug))
            row = load_issue(session, issue_id, newsletter)
            changes = tuple(
                Change(c.at, c.actor, c.action, c.field, c.before, c.after)
                for c in history(session, issue_id)
            )
            return IssueView(
                issue_id,
                row.to_issue(),
                str(row.status),
                row.approved_by,
                row.approved_at,
                row.send_at,
                changes,
            )

    def approve(
        self, issue_id: int, list_slug: str | None = None, *, actor: str | None = None
    ) -> IssueSummary:
        """Approve a draft (or withdrawn) issue so it may be sent; IssueStateError otherwise."""
        return self._move(issue_id, IssueStatus.APPROVED, list_slug, actor)

    def withdraw(
        self, issue_id: int, list_slug: str | None = None, *, actor: str | None = None
    ) -> IssueSummary:
        """Withdraw an unsent issue (its schedule is dropped); IssueStateError if sent."""
        return self._move(issue_id, IssueStatus.WITHDRAWN, list_slug, actor)

    def delete(self, issue_id: int, list_slug: str | None = None) -> IssueSummary:
        """Delete an issue no run ever had, with its stories and history (else IssueStateError)."""
        with self.app.sessions() as session:
            newsletter = get_list(session, self.list_slug(list_slug))
            row = load_issue(session, issue_id, newsletter)
            gone = IssueSummary.of(row)
            delete_issue(session, row)
            session.commit()
            return gone

    def _move(
        self, issue_id: int, new: IssueStatus, list_slug: str | None, actor: str | None
    ) -> IssueSummary:
        """Change one issue's status as ``actor`` (else the app's), recorded in its history."""
        with self.app.sessions() as session:
            newsletter = get_list(session, self.list_slug(list_slug))
            row = load_issue(session, issue_id, newsletter)
            change_status(session, row, new, actor or self.app.actor)
            session.commit()
            return IssueSummary.of(row)

    def digest(
        self, week: str | None = None, list_slug: str | None = None, *, today: dt.date | None = None
    ) -> DigestResult:
        """Assemble a week's daily issues into one digest (default: last week); idempotent."""
        from scheduler.digests import build_digest

        label = week or week_label((today or dt.date.today()) - dt.timedelta(days=7))
        with self.app.sessions() as session:
            newsletter = get_list(session, self.list_slug(list_slug))
            row, outcome = build_digest(session, newsletter, label, self.app.taxonomy)
            session.commit()
            return DigestResult(row.id, row.to_issue(), outcome)

    def preview(
        self,
        issue_id: int,
        list_slug: str | None = None,
        topics: Sequence[str] = (),
        *,
        html_path: Path | None = None,
        eml_path: Path | None = None,
    ) -> WrittenPreview:
        """Render one variant and write its HTML, text and .eml (default preview-ID.html)."""
        from briefmail.ops.preview import preview_variant, write_preview

        result = preview_variant(self.app, issue_id, self.list_slug(list_slug), topics)
        target = html_path or Path(f"preview-{issue_id}.html")
        return WrittenPreview(result, write_preview(result, target, eml_path))

    def variant(
        self, issue_id: int, list_slug: str | None = None, topics: Sequence[str] = ()
    ) -> Preview:
        """One variant rendered as a reader of ``topics`` gets it, written nowhere."""
        from briefmail.ops.preview import preview_variant

        return preview_variant(self.app, issue_id, self.list_slug(list_slug), topics)

    def variants(self, issue_id: int, list_slug: str | None = None) -> list[Preview]:
        """Every variant the issue's audience would get, rendered (empty ones left out)."""
        from briefmail.ops.preview import PreviewError, audience_variants, preview_variant

        slug = self.list_slug(list_slug)
        previews = []
        for variant in audience_variants(self.app, issue_id, slug):
            try:
                previews.append(preview_variant(self.app, issue_id, slug, variant))
            except PreviewError:
                continue  # a topic set that gets nothing from this issue has nothing to show
        return previews

    def topics(self) -> list[TopicInfo]:
        """The taxonomy: every topic subscribers can choose."""
        return [
            TopicInfo(
                t.id,
                t.label,
                t.description,
                t.parent,
                tuple(t.keywords),
                tuple(t.hints),
                tuple(t.aliases),
            )
            for t in self.app.taxonomy.topics
        ]

    def explain(self, issue_id: int, list_slug: str | None = None) -> list[StoryEvidence]:
        """Per story of a stored issue: its topics and which words matched which topic."""
        issue = self.issue(issue_id, list_slug).issue
        evidence = self.app.taxonomy.explain_issue(issue)
        return [
            StoryEvidence(story.position, story.title, tuple(story.topics), tuple(found or ()))
            for story, found in zip(issue.stories, evidence, strict=True)
        ]

    def retag(
        self, issue_ids: Sequence[int] | None, list_slug: str | None = None
    ) -> list[Retagged]:
        """Tag issues again with the current taxonomy (None: every issue); all or none."""
        with self.app.sessions() as session:
            newsletter = get_list(session, self.list_slug(list_slug))
            rows = (
                list_issues(session, newsletter)
                if issue_ids is None
                else [load_issue(session, n, newsletter) for n in issue_ids]
            )
            changed = [
                Retagged(row.id, retag_issue(session, row, self.app.taxonomy), len(row.stories))
                for row in rows
            ]
            session.commit()
            return changed
