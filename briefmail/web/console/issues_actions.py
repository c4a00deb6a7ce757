"""What operators do to an issue from its page: edit, approve, withdraw, test, schedule, send.

Every form posts here and works without JavaScript (a 303 back to the issue page, the result
as a flash); the story and heading forms are enhanced with htmx, which gets the edited
fragment back instead. A refusal (a sent issue, an unknown topic, a time in the past) is the
library's own message, with nothing changed. Each action is written to the audit log as the
signed-in operator, who is also the actor of the issue's history.

"Send now" plans the run in the request (so the run's page exists when the browser gets
there) and sends it from a background thread of this process, as `briefmail send` would in a
terminal; the run's page reads the ledger, so it shows the progress whichever process sends.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from briefmail.accounts.operators import OperatorView
from briefmail.app import Briefmail
from briefmail.web.console.issues import REFUSALS
from briefmail.web.console.ui import CSRF, ConsoleUI, Editor, Owner
from briefmail.web.sends import BackgroundSends
from scheduler.revisions import Edits

if TYPE_CHECKING:
    from briefmail.web.console.issues import IssuePages

__all__ = ["MAX_TEST_ADDRESSES", "SENDERS", "IssueActions", "router"]

#: How many addresses one test send may name (a test, not a mailing).
MAX_TEST_ADDRESSES = 10


#: This process's background sends (the API has its own; both are the same kind).
SENDERS = BackgroundSends()


def _topics(values: list[str]) -> tuple[str, ...]:
    """Topic ids from checkboxes or one comma-separated field."""
    return tuple(t.strip() for value in values for t in value.split(",") if t.strip())


class IssueActions:
    """The POST routes of an issue's page (bound methods are the routes' endpoints)."""

    def __init__(self, app: Briefmail, ui: ConsoleUI, pages: IssuePages) -> None:
        self.app = app
        self.ui = ui
        self.pages = pages

    def _audit(
        self, request: Request, operator: OperatorView, action: str, issue_id: int, **states: Any
    ) -> None:
        self.app.audit.record(
            operator.actor, action, f"issue:{issue_id}", ip=self.ui.ip(request), **states
        )

    def _back(self, issue_id: int, flash: str, anchor: str = "") -> Response:
        return self.ui.redirect(f"/admin/issues/{issue_id}{anchor}", flash)

    def _edited(
        self,
        request: Request,
        operator: OperatorView,
        issue_id: int,
        edits: Edits,
        fragment: str,
        anchor: str,
    ) -> Response:
        """Apply one edit; the fragment for htmx, else back to the page (refusals shown)."""
        slug = self.pages.slug(issue_id)
        htmx = bool(request.headers.get("hx-request"))
        try:
            result = self.app.revisions.edit(issue_id, edits, slug, actor=operator.actor)
        except REFUSALS as exc:
            if not htmx:
                return self.pages.refused(request, operator, issue_id, exc)
            # htmx swaps 2xx answers only: the fragment again, the reason above it.
            return self.ui.fragment(
                request, fragment, error=str(exc), **self.pages.stories(issue_id, slug, operator)
            )
        for change in result.changes:
            self._audit(
                request,
                operator,
                f"issue.{change.action}",
                issue_id,
                before={change.field: change.before},
                after={change.field: change.after},
            )
        said = "; ".join(f"{c.field} changed" for c in result.changes) or "nothing to change"
        if htmx:
            answer = self.ui.fragment(
                request, fragment, done=said, **self.pages.stories(issue_id, slug, operator)
            )
            if result.changes:  # the previews and the audience on the page fetch themselves
                answer.headers["HX-Trigger"] = "issue-edited"
            return answer
        return self._back(issue_id, said, anchor)

    def heading(
        self,
        request: Request,
        operator: Editor,
        issue_id: int,
        title: Annotated[str, Form()] = "",
        subject: Annotated[str, Form()] = "",
        preheader: Annotated[str, Form()] = "",
    ) -> Response:
        """Title, subject and preheader (an empty subject or preheader: the default)."""
        edits = Edits(title=title, subject=subject, preheader=preheader)
        return self._edited(request, operator, issue_id, edits, "_issue_heading.html", "#heading")

    def story_topics(
        self,
        request: Request,
        operator: Editor,
        issue_id: int,
        place: int,
        topics: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        """Set one story's topics (none ticked: general)."""
        edits = Edits(topics=(place, _topics(topics or [])))
        return self._edited(request, operator, issue_id, edits, "_issue_stories.html", "#stories")

    def story_move(
        self,
        request: Request,
        operator: Editor,
        issue_id: int,
        place: int,
        to: Annotated[int, Form()],
    ) -> Response:
        """Move one story to another place (up and down are place ∓ 1)."""
        edits = Edits(move=(place, to))
        return self._edited(request, operator, issue_id, edits, "_issue_stories.html", "#stories")

    def story_drop(self, request: Request, operator: Editor, issue_id: int, place: int) -> Response:
        """Drop one story from the issue."""
        edits = Edits(drop=place)
        return self._edited(request, operator, issue_id, edits, "_issue_stories.html", "#stories")

    def approve(self, request: Request, operator: Editor, issue_id: int) -> Response:
        """Approve the issue so it may be sent (or scheduled)."""
        return self._move(request, operator, issue_id, "approve")

    def withdraw(self, request: Request, operator: Editor, issue_id: int) -> Response:
        """Withdraw an unsent issue (its schedule is dropped)."""
        return self._move(request, operator, issue_id, "withdraw")

    def _move(self, request: Request, operator: OperatorView, issue_id: int, verb: str) -> Response:
        slug = self.pages.slug(issue_id)
        before = self.app.content.issue(issue_id, slug).status
        operation = self.app.content.approve if verb == "approve" else self.app.content.withdraw
        try:
            done = operation(issue_id, slug, actor=operator.actor)
        except REFUSALS as exc:
            return self.pages.refused(request, operator, issue_id, exc)
        self._audit(
            request,
            operator,
            f"issue.{verb}",
            issue_id,
            before={"status": before},
            after={"status": done.status},
        )
        return self._back(issue_id, f"Issue {issue_id} {done.status}.")

    async def test_send(
        self,
        request: Request,
        operator: Editor,
        issue_id: int,
        to: Annotated[str, Form()] = "",
        topics: Annotated[str, Form()] = "",
    ) -> Response:
        """Mail a [TEST] copy of one variant to a few addresses; nothing is recorded."""
        slug = self.pages.slug(issue_id)
        addresses = [a for a in re.split(r"[\s,;]+", to) if a]
        if not addresses:
            return self.pages.refused(request, operator, issue_id, "to: give at least one address")
        if len(addresses) > MAX_TEST_ADDRESSES:
            return self.pages.refused(
                request, operator, issue_id, f"to: at most {MAX_TEST_ADDRESSES} addresses"
            )
        chosen = _topics([topics])
        sent: list[str] = []
        failures: tuple[type[Exception], ...] = (*REFUSALS, OSError)
        try:
            for address in addresses:
                await self.app.sending.test_copy(issue_id, slug, address, chosen)
                sent.append(address)
        except failures as exc:
            done = f" (sent to {', '.join(sent)} before that)" if sent else ""
            return self.pages.refused(request, operator, issue_id, f"{exc}{done}")
        self._audit(
            request,
            operator,
            "issue.test_send",
            issue_id,
            after={"to": addresses, "topics": list(chosen)},
        )
        label = ", ".join(chosen) or "every topic"
        return self._back(issue_id, f"Test copy ({label}) sent to {', '.join(addresses)}.")

    def schedule(
        self,
        request: Request,
        operator: Owner,
        issue_id: int,
        at: Annotated[str, Form()] = "",
        zone: Annotated[str, Form()] = "",
    ) -> Response:
        """Schedule the approved issue's send for a local time in a time zone."""
        slug = self.pages.slug(issue_id)
        before = self.app.content.issue(issue_id, slug).send_at
        if not at.strip():
            return self.pages.refused(
                request, operator, issue_id, "at: give a time as YYYY-MM-DD HH:MM"
            )
        try:
            done = self.app.revisions.schedule(
                issue_id, at, zone or None, slug, actor=operator.actor
            )
        except REFUSALS as exc:
            return self.pages.refused(request, operator, issue_id, exc)
        self._audit(
            request,
            operator,
            "issue.schedule",
            issue_id,
            before={"send_at": before.isoformat() if before else None},
            after={"send_at": done.at.isoformat(), "timezone": done.zone},
        )
        return self._back(
            issue_id,
            f"Scheduled for {done.local:%Y-%m-%d %H:%M} {done.zone} "
            f"({done.at:%Y-%m-%d %H:%M} UTC).",
        )

    def unschedule(self, request: Request, operator: Owner, issue_id: int) -> Response:
        """Clear the issue's scheduled send."""
        slug = self.pages.slug(issue_id)
        before = self.app.content.issue(issue_id, slug).send_at
        if not self.app.revisions.unschedule(issue_id, slug, actor=operator.actor):
            return self._back(issue_id, "The issue had no scheduled send.")
        self._audit(
            request,
            operator,
            "issue.unschedule",
            issue_id,
            before={"send_at": before.isoformat() if before else None},
            after={"send_at": None},
        )
        return self._back(issue_id, "The scheduled send is cleared.")

    def send_now(self, request: Request, operator: Owner, issue_id: int) -> Response:
        """Plan the run now and send it in the background; the run's page follows it."""
        slug = self.pages.slug(issue_id)
        try:
            run_id = self.app.revisions.release(issue_id, slug, actor=operator.actor)
        except REFUSALS as exc:
            return self.pages.refused(request, operator, issue_id, exc)
        app = self.app
        SENDERS.start(
            f"console-send-{run_id}",
            lambda: app.sending.send(run_id=run_id),
            key=(id(app), run_id),
        )
        self._audit(request, operator, "issue.send", issue_id, after={"run_id": run_id})
        return self.ui.redirect(f"/admin/runs/{run_id}", f"Issue {issue_id} is being sent.")


def router(app: Briefmail, ui: ConsoleUI, pages: IssuePages) -> APIRouter:
    """The POST routes of an issue's page, each behind the session's CSRF token."""
    actions = IssueActions(app, ui, pages)
    routes = APIRouter(dependencies=[CSRF])
    for path, endpoint in (
        ("/heading", actions.heading),
        ("/stories/{place}/topics", actions.story_topics),
        ("/stories/{place}/move", actions.story_move),
        ("/stories/{place}/drop", actions.story_drop),
        ("/approve", actions.approve),
        ("/withdraw", actions.withdraw),
        ("/test", actions.test_send),
        ("/schedule", actions.schedule),
        ("/unschedule", actions.unschedule),
        ("/send", actions.send_now),
    ):
        routes.add_api_route(f"/issues/{{issue_id}}{path}", endpoint, methods=["POST"])
    return routes
