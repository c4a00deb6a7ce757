"""An editor's changes to a stored issue, made by every face the same way: all or nothing.

The rules (what may be edited, when, and how each change is recorded) are in
scheduler/revisions.py and scheduler/scheduling.py; this service opens the transaction, acts as
the operator who asked (the app's actor when none is named) and returns the issue as `issues
show` sees it. Scheduling a send and releasing an issue to a run are changes of the issue too:
each is a line of its history, under the name of whoever made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from briefmail.services.content import Change, IssueView
from scheduler.editions import load_issue
from scheduler.revisions import Edits, apply_edits
from subscribers.lists import get_list

if TYPE_CHECKING:
    from briefmail.app import Briefmail
    from briefmail.services.sending import Scheduled

__all__ = ["Edited", "RevisionService"]


@dataclass(frozen=True, slots=True)
class Edited:
    """An edited issue as it now stands, and the changes the edit made (none: it was so)."""

    view: IssueView
    changes: tuple[Change, ...]

    def as_json(self) -> dict[str, object]:
        """The `briefmail issues edit --json` shape: the `issues show --json` one."""
        return self.view.as_json()


class RevisionService:
    """The operations behind `issues edit` and `send --at`, as any operator: edits, schedules."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app

    def edit(
        self,
        issue_id: int,
        edits: Edits,
        list_slug: str | None = None,
        *,
        actor: str | None = None,
    ) -> Edited:
        """Apply every edit to the list's issue in one transaction, recorded as ``actor``.

        On any refusal (unknown issue or topic, no such story, a sent issue) nothing is changed.
        """
        slug = self.app.content.list_slug(list_slug)
        with self.app.sessions() as session:
            newsletter = get_list(session, slug)
            row = load_issue(session, issue_id, newsletter)
            made = apply_edits(session, row, edits, self.app.taxonomy, actor or self.app.actor)
            changes = tuple(
                Change(c.at, c.actor, c.action, c.field, c.before, c.after) for c in made
            )
            session.commit()
        return Edited(self.app.content.issue(issue_id, slug), changes)

    def schedule(
        self,
        issue_id: int,
        at: str,
        zone: str | None = None,
        list_slug: str | None = None,
        *,
        actor: str | None = None,
    ) -> Scheduled:
        """Schedule an approved issue's send for a local time ("2026-06-27 07:00") in ``zone``.

        `sending.schedule_send` as a named operator: ScheduleError for a time that cannot be
        used (unreadable, past), InvalidTimezone for an unknown zone, IssueStateError for an
        issue that is not approved.
        """
        from briefmail.services.sending import Scheduled
        from scheduler.scheduling import parse_send_time, schedule_send
        from subscribers.db import utcnow

        zone = zone or self.app.settings.schedule.timezone
        instant = parse_send_time(at, zone)
        with self.app.sessions() as session:
            newsletter = get_list(session, self.app.content.list_slug(list_slug))
            row = load_issue(session, issue_id, newsletter)
            schedule_send(session, row, instant, actor or self.app.actor, utcnow())
            session.commit()
            return Scheduled(issue_id, row.title, instant, zone)

    def unschedule(
        self, issue_id: int, list_slug: str | None = None, *, actor: str | None = None
    ) -> bool:
        """Clear an issue's scheduled send as ``actor``; False when it had none."""
        from scheduler.scheduling import unschedule

        with self.app.sessions() as session:
            newsletter = get_list(session, self.app.content.list_slug(list_slug))
            row = load_issue(session, issue_id, newsletter)
            cleared = unschedule(session, row, actor or self.app.actor)
            session.commit()
            return cleared

    def release(
        self, issue_id: int, list_slug: str | None = None, *, actor: str | None = None
    ) -> int:
        """Plan the approved issue's run, recorded as sent by ``actor``; the run's id.

        Nothing is sent yet: the caller sends the run (`sending.send(run_id=…)`) where it
        likes — a console starts it in the background and shows the run's page at once.
        IssueStateError for a draft or withdrawn issue; an issue already sent gets its run back
        (planning is idempotent), so a second press of "send now" sends nobody twice.
        """
        with self.app.sessions() as session:
            load_issue(session, issue_id, get_list(session, self.app.content.list_slug(list_slug)))
        dispatcher = self.app.sending.dispatcher()
        dispatcher.actor = actor or self.app.actor
        return dispatcher.plan(issue_id)
