"""The revision service: an editor's edits of a stored issue, in one transaction, as the actor."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from briefmail.app import Briefmail
from mailer.topics import UnknownTopic
from scheduler.editions import IssueStateError, UnknownIssue
from scheduler.revisions import EditError, Edits
from tests.conftest import FIXTURES

BRIEF = FIXTURES / "brief-mixed.txt"


def ingested(app: Briefmail, *, approve: bool = False) -> int:
    """The sample brief (4 stories) stored on the default list; its id."""
    result = app.content.ingest(BRIEF, approve=approve)
    assert result.issue_id is not None
    return result.issue_id


class TestEdit:
    def test_edits_are_applied_recorded_as_the_actor_and_shown(self, app: Briefmail) -> None:
        """Every edit of a call is made; the changes and `issue()` history name the app's actor."""
        issue_id = ingested(app, approve=True)
        edited = app.revisions.edit(
            issue_id, Edits(title="Corrected", topics=(1, ("policy", "chips")), move=(4, 1))
        )
        assert [(c.actor, c.action, c.field) for c in edited.changes] == [
            (app.actor, "edit", "title"),
            (app.actor, "edit", "story 1 topics"),
            (app.actor, "move", "story 4 place"),
        ]
        view = app.content.issue(issue_id)
        assert view.status == "approved"
        assert view.issue.title == "Corrected"
        assert view.issue.stories[1].topics == ("chips", "policy")
        assert view.issue.stories[0].title == "Editors' Note: Summer Schedule"
        recorded = [(c.action, c.field, c.before, c.after) for c in view.history[-3:]]
        assert recorded == [(c.action, c.field, c.before, c.after) for c in edited.changes]
        assert edited.as_json() == view.as_json()

    def test_nothing_is_changed_when_a_later_edit_is_refused(self, app: Briefmail) -> None:
        """A good title with an unknown topic is refused whole: the title stays, no history."""
        issue_id = ingested(app)
        before = app.content.issue(issue_id)
        with pytest.raises(UnknownTopic, match="^story 2: unknown topic crypto"):
            app.revisions.edit(issue_id, Edits(title="Corrected", topics=(2, ("crypto",))))
        assert app.content.issue(issue_id) == before

    def test_an_unknown_issue_or_a_bad_story_is_refused(self, app: Briefmail) -> None:
        """An id the list lacks is UnknownIssue; a story out of range names the range."""
        issue_id = ingested(app)
        with pytest.raises(UnknownIssue):
            app.revisions.edit(99, Edits(title="Corrected"))
        with pytest.raises(EditError, match="^story 12: the issue has 4 stories$"):
            app.revisions.edit(issue_id, Edits(drop=12))

    def test_a_sent_issue_is_refused(self, app: Briefmail) -> None:
        """Once a run sent the issue, an edit is refused and the issue is as it was sent."""
        import asyncio

        issue_id = ingested(app, approve=True)
        asyncio.run(app.send_issue(issue_id))  # no subscribers: the run exists, nobody gets it
        with pytest.raises(IssueStateError, match=f"^issue {issue_id} was sent; a sent issue"):
            app.revisions.edit(issue_id, Edits(subject="Too late"))
        assert app.content.issue(issue_id).issue.subject is None

    def test_topics_an_editor_set_survive_a_retag(self, app: Briefmail) -> None:
        """`content.retag` leaves the topics set through an edit alone."""
        issue_id = ingested(app)
        app.revisions.edit(issue_id, Edits(topics=(1, ("robotics",))))
        app.content.retag([issue_id])
        assert app.content.issue(issue_id).issue.stories[0].topics == ("robotics",)


class TestAsAnOperator:
    def test_an_edit_names_the_operator_who_made_it(self, app: Briefmail) -> None:
        """`edit(actor=…)` records the console operator in the issue's history, not the app."""
        issue_id = ingested(app)
        edited = app.revisions.edit(
            issue_id, Edits(subject="Fixed subject"), actor="console:ed@example.org"
        )
        assert [(c.actor, c.field) for c in edited.changes] == [
            ("console:ed@example.org", "subject")
        ]
        assert edited.view.history[-1].actor == "console:ed@example.org"

    def test_schedule_and_unschedule_are_recorded_as_the_operator(self, app: Briefmail) -> None:
        """A schedule in a named zone is stored in UTC and both changes name the operator."""
        issue_id = ingested(app, approve=True)
        day = dt.date.today() + dt.timedelta(days=30)
        scheduled = app.revisions.schedule(
            issue_id, f"{day} 07:00", "Europe/Berlin", actor="console:o@example.org"
        )
        berlin = dt.datetime.combine(day, dt.time(7), zoneinfo.ZoneInfo("Europe/Berlin"))
        assert scheduled.at == berlin and scheduled.at.tzinfo == dt.UTC
        assert app.content.issues(stage="scheduled")[0].id == issue_id
        assert app.revisions.unschedule(issue_id, actor="console:o@example.org") is True
        assert app.revisions.unschedule(issue_id, actor="console:o@example.org") is False
        history = app.content.issue(issue_id).history
        assert [(c.actor, c.action) for c in history[-2:]] == [
            ("console:o@example.org", "schedule"),
            ("console:o@example.org", "unschedule"),
        ]

    def test_a_draft_cannot_be_scheduled_or_released(self, app: Briefmail) -> None:
        """Scheduling or releasing a draft is refused with the library's hint; no run exists."""
        issue_id = ingested(app)
        with pytest.raises(IssueStateError, match="approve it first"):
            app.revisions.schedule(issue_id, f"{dt.date.today() + dt.timedelta(days=3)} 07:00")
        with pytest.raises(IssueStateError, match="approve it first"):
            app.revisions.release(issue_id)
        assert app.sending.run_of(issue_id) is None

    def test_release_plans_the_run_once_as_the_operator(self, app: Briefmail) -> None:
        """Release plans one run (a second release answers the same run), sent by the operator."""
        issue_id = ingested(app, approve=True)
        run_id = app.revisions.release(issue_id, actor="console:o@example.org")
        assert app.revisions.release(issue_id, actor="console:o@example.org") == run_id
        view = app.content.issue(issue_id)
        assert view.status == "sent"
        assert (view.history[-1].actor, view.history[-1].action) == (
            "console:o@example.org",
            "send",
        )
