"""Sources: the configured feeds and folders, listed, checked and polled into issues.

The poller itself (what is new, what changed, what to remember) is `scheduler.sources`; this
service builds its specs from ``[[sources]]``, gives it an HTTP fetcher, and is the `IssueSink`
it hands entries to: the same parse → tag → title → store path as `briefmail ingest`, stored as
a draft unless the source auto-approves, and recorded in the issue's history as the source's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scheduler.editions import (
    IssueAlreadySent,
    IssueChange,
    IssueStateError,
    IssueStatus,
    StoredIssue,
)
from scheduler.editions import Stored as StoreOutcome
from scheduler.sources import (
    PollReport,
    SourceEntry,
    SourceSpec,
    Stored,
    due,
    poll_source,
    source_state,
)
from subscribers.db import as_utc, utcnow
from subscribers.lists import get_list

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from briefmail.app import Briefmail
    from briefmail.settings import SourceSettings
    from scheduler.fetching import Fetcher

__all__ = ["SourceInfo", "SourcesService", "UnknownSource"]

#: History actions of an editor's hand (scheduler.revisions): a source never overwrites them.
_EDITS = ("edit", "drop", "move")
_OUTCOMES = {
    StoreOutcome.CREATED: "stored",
    StoreOutcome.UPDATED: "updated",
    StoreOutcome.UNCHANGED: "unchanged",
}


class UnknownSource(LookupError):
    """No configured source has this name."""


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A configured source and what the poller knows of it."""

    spec: SourceSpec
    polled_at: dt.datetime | None
    ok_at: dt.datetime | None
    error: str | None
    entries: int
    next_poll: dt.datetime | None

    def as_json(self) -> dict[str, object]:
        """The shape `sources list --json` prints."""
        spec = self.spec
        return {
            "name": spec.label,
            "list": spec.list_slug,
            "url": spec.url,
            "folder": str(spec.folder) if spec.folder else None,
            "approve": "auto" if spec.approve else "editor",
            "poll_minutes": spec.poll_minutes,
            "polled_at": _iso(self.polled_at),
            "ok_at": _iso(self.ok_at),
            "error": self.error,
            "entries": self.entries,
            "next_poll": _iso(self.next_poll),
        }


class SourcesService:
    """List, check and poll the configured sources; the poller's sink for what arrives."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app

    def specs(self, name: str | None = None) -> list[SourceSpec]:
        """The configured sources (only the one called ``name``, when given)."""
        specs = [self._spec(cfg) for cfg in self.app.settings.sources]
        if name is None:
            return specs
        chosen = [spec for spec in specs if spec.label == name]
        if not chosen:
            known = ", ".join(spec.label for spec in specs) or "none is configured"
            raise UnknownSource(f"no source named {name!r} (known: {known})")
        return chosen

    def _spec(self, cfg: SourceSettings) -> SourceSpec:
        return SourceSpec(
            label=cfg.label,
            list_slug=cfg.list,
            url=cfg.url,
            folder=self.app.settings.resolve(cfg.folder) if cfg.folder else None,
            approve=cfg.approve == "auto",
            poll_minutes=cfg.poll_minutes,
            format=cfg.format,
            timeout_seconds=cfg.timeout_seconds,
        )

    def listing(self) -> list[SourceInfo]:
        """Every configured source with its last poll, its error and its next due time."""
        from sqlalchemy import func, select

        infos = []
        with self.app.sessions() as session:
            for spec in self.specs():
                state = source_state(session, spec)
                entries = 0
                if state is not None:
                    entries = (
                        session.scalar(
                            select(func.count()).where(SourceEntry.source_id == state.id)
                        )
                        or 0
                    )
                polled = as_utc(state.polled_at) if state and state.polled_at else None
                infos.append(
                    SourceInfo(
                        spec,
                        polled,
                        as_utc(state.ok_at) if state and state.ok_at else None,
                        state.error if state else None,
                        entries,
                        polled + dt.timedelta(minutes=spec.poll_minutes) if polled else None,
                    )
                )
        return infos

    def check(self, name: str | None = None) -> list[PollReport]:
        """Fetch and read each source, storing nothing: what a poll would ingest."""
        return self._poll(self.specs(name), dry_run=True)

    def poll(self, name: str | None = None, *, due_only: bool = False) -> list[PollReport]:
        """Poll each source (only those due, for the scheduler's job) and ingest what is new."""
        specs = self.specs(name)
        if due_only:
            now = utcnow()
            with self.app.sessions() as session:
                specs = [spec for spec in specs if due(source_state(session, spec), spec, now)]
        return self._poll(specs, dry_run=False)

    def _poll(self, specs: list[SourceSpec], *, dry_run: bool) -> list[PollReport]:
        """Each source polled alone: one that fails says why and the others go on."""
        reports = []
        for spec in specs:
            missing = self._missing_list(spec)
            if missing is not None:
                reports.append(PollReport(spec.label, "error", missing))
                continue
            fetcher = self.fetcher(spec)
            try:
                reports.append(poll_source(spec, self.app.sessions, fetcher, self, dry_run=dry_run))
            finally:
                fetcher.close()
        return reports

    def _missing_list(self, spec: SourceSpec) -> str | None:
        """Why a source cannot be polled because its list does not exist (None: it does)."""
        from subscribers.lists import UnknownList

        with self.app.sessions() as session:
            try:
                get_list(session, spec.list_slug)
            except UnknownList as exc:
                return str(exc)
        return None

    def fetcher(self, spec: SourceSpec) -> Fetcher:
        """The HTTP fetcher a source's poll uses (its timeout from the source's settings)."""
        from scheduler.fetching import HttpFetcher

        base = self.app.settings.newsletter.base_url
        return HttpFetcher(
            timeout=spec.timeout_seconds, user_agent=f"briefmail feed reader (+{base})"
        )

    # -- scheduler.sources.IssueSink -------------------------------------------------------------

    def store(
        self,
        data: bytes,
        name: str,
        source: SourceSpec,
        *,
        base_url: str | None,
        received: dt.date | None,
        into: int | None,
    ) -> Stored:
        """Parse, tag, title and store what a source delivered (into its earlier issue)."""
        from mailer.ingest import read_issue_bytes
        from scheduler.editions import store_issue, tag_ingested

        parsed, detection = read_issue_bytes(data, name, source.format, received, base_url)
        issue = tag_ingested(
            parsed, self.app.taxonomy, from_json=detection.format == "json", path=name
        )
        with self.app.sessions() as session:
            newsletter = get_list(session, source.list_slug)
            issue = self.app.content.titled(issue, newsletter.slug, newsletter.name)
            if into is not None:
                _prepare_update(session, into, issue.key)
            row, outcome = store_issue(
                session,
                newsletter,
                issue,
                source_name=name[-500:],
                status=IssueStatus.APPROVED if source.approve else IssueStatus.DRAFT,
                actor=f"source:{source.label}"[:200],
            )
            session.commit()
            return Stored(row.id, _OUTCOMES[outcome])


def _prepare_update(session: Session, issue_id: int, key: str) -> None:
    """Let a changed entry update the issue it made: never a sent or withdrawn one.

    The issue keeps its id when the change gives it another key (a corrected article title).
    """
    from sqlalchemy import select

    row = session.get(StoredIssue, issue_id)
    if row is None:
        return  # deleted by an editor: the entry makes a new issue
    if row.status == IssueStatus.SENT:
        raise IssueAlreadySent(f"issue {row.id} was sent; a sent issue is never changed")
    if row.status == IssueStatus.WITHDRAWN:
        raise IssueStateError(f"issue {row.id} was withdrawn by an editor; left as it is")
    edited = session.scalar(
        select(IssueChange.actor)
        .where(IssueChange.issue_id == row.id, IssueChange.action.in_(_EDITS))
        .order_by(IssueChange.id.desc())
        .limit(1)
    )
    if edited is not None:
        # The publisher's correction would silently undo an editor's work: the editor decides.
        raise IssueStateError(
            f"issue {row.id} was edited by {edited}; the entry's change is not applied over it "
            "(ingest the page by hand with --replace to take it)"
        )
    if row.issue_key == key:
        return
    clash = session.scalar(
        select(StoredIssue.id).where(
            StoredIssue.list_id == row.list_id, StoredIssue.issue_key == key
        )
    )
    if clash is not None:
        raise IssueStateError(
            f"the changed entry is now the same issue as issue {clash}; issue {row.id} is "
            "left as it is"
        )
    row.issue_key = key
    session.flush()


def _iso(value: dt.datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None
