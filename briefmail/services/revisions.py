"""An editor's changes to a stored issue, made by every face the same way: all or nothing.

The rules (what may be edited, when, and how each change is recorded) are in
scheduler/revisions.py; this service opens the transaction, acts as the app's actor and returns
the issue as `issues show` sees it.
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
    """The operation behind `issues edit`: an editor's changes to an unsent issue."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app

    def edit(self, issue_id: int, edits: Edits, list_slug: str | None = None) -> Edited:
        """Apply every edit to the list's issue in one transaction, recorded as the app's actor.

        On any refusal (unknown issue or topic, no such story, a sent issue) nothing is changed.
        """
        slug = self.app.content.list_slug(list_slug)
        with self.app.sessions() as session:
            newsletter = get_list(session, slug)
            row = load_issue(session, issue_id, newsletter)
            made = apply_edits(session, row, edits, self.app.taxonomy, self.app.actor)
            changes = tuple(
                Change(c.at, c.actor, c.action, c.field, c.before, c.after) for c in made
            )
            session.commit()
        return Edited(self.app.content.issue(issue_id, slug), changes)
