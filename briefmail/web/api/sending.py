"""/api/v1/issues/{id}/…: preview a variant, dry-run, test-send, send and schedule an issue.

A send plans the issue's run in the request (the answer carries the run's id; a draft is
refused at once) and sends it in the background (`briefmail.web.sends`): the answer is
202 and ``GET /api/v1/runs/{id}`` follows the run.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from briefmail.accounts.models import Scope
from briefmail.web.api.auth import Called, Caller
from briefmail.web.api.base import Api
from briefmail.web.api.errors import ApiError
from briefmail.web.api.idempotency import idempotent
from briefmail.web.api.issues import ListSlug

__all__ = ["IssueSendingApi", "ScheduleRequest", "TestSend"]

#: The most addresses one test send mails (a test, not a send).
MAX_TEST_RECIPIENTS = 10

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retry-safe: the first answer is replayed."),
]


class TestSend(BaseModel):
    """Where to mail one [TEST] copy of a variant."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: list[str] = Field(min_length=1, max_length=MAX_TEST_RECIPIENTS)
    topics: list[str] = Field(default_factory=list, description="The variant (none: every topic).")
    list_slug: str | None = Field(None, alias="list", description="The list's slug.")


class ScheduleRequest(BaseModel):
    """When an approved issue goes out: a local time in a zone."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    at: str = Field(
        description='"YYYY-MM-DD HH:MM" in ``timezone``.', examples=["2026-06-27 07:00"]
    )
    timezone: str | None = Field(None, description="IANA zone (default: [schedule] timezone).")
    list_slug: str | None = Field(None, alias="list", description="The list's slug.")


class SendRequest(BaseModel):
    """Which list the issue is on (optional; the body may be empty)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    list_slug: str | None = Field(None, alias="list", description="The list's slug.")


def _topics(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _not_approved(caller: Caller, issue_id: int, slug: str | None, doing: str) -> None:
    """409 `issue_not_approved` before a send or schedule of a draft or withdrawn issue."""
    status = caller.app.content.issue(issue_id, slug).status
    if status in ("draft", "withdrawn"):
        raise ApiError(
            409,
            "issue_not_approved",
            f"issue {issue_id} is a {status}: approve it before it is {doing} "
            f"(POST /api/v1/issues/{issue_id}/approve)",
        )


class IssueSendingApi:
    """Preview, dry-run, test-send, send and schedule."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def router(self) -> APIRouter:
        """The routes that show what an issue sends, and send it."""
        api, router = self.api, self.api.router("sending")
        api.add(
            router,
            "GET",
            "/issues/{issue_id}/preview",
            self.preview,
            Scope.READ,
            response_class=HTMLResponse,
        )
        api.add(router, "GET", "/issues/{issue_id}/dry-run", self.dry_run, Scope.READ)
        api.add(router, "POST", "/issues/{issue_id}/test-send", self.test_send, Scope.WRITE)
        api.add(router, "POST", "/issues/{issue_id}/send", self.send, Scope.SEND, status=202)
        api.add(router, "POST", "/issues/{issue_id}/schedule", self.schedule, Scope.SEND)
        api.add(router, "DELETE", "/issues/{issue_id}/schedule", self.unschedule, Scope.SEND)
        return router

    def preview(
        self,
        caller: Called,
        issue_id: int,
        slug: ListSlug = None,
        topics: Annotated[str | None, Query(description="The variant: topic ids, a,b.")] = None,
        format: Annotated[Literal["html", "text"], Query()] = "html",
    ) -> Response:
        """One variant's HTML (or plain text) as its readers would get it."""
        from briefmail.ops.preview import preview_variant

        content = caller.app.content
        found = preview_variant(caller.app, issue_id, content.list_slug(slug), _topics(topics))
        if format == "text":
            return PlainTextResponse(found.rendered.text)
        return HTMLResponse(found.rendered.browser_html)  # the cid: logo as a data: URI

    def dry_run(self, caller: Called, issue_id: int, slug: ListSlug = None) -> dict[str, Any]:
        """Who a send would reach now, by variant and local send hour; nothing is written."""
        content = caller.app.content
        content.issue(issue_id, slug)  # 404 for an issue of another list
        return caller.app.sending.dry_run(issue_id, content.list_slug(slug)).as_json()

    def test_send(
        self,
        caller: Called,
        issue_id: int,
        body: TestSend,
        request: Request,
        key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Mail one [TEST] copy of a variant to each address; nothing is recorded."""
        route = f"POST {request.url.path}"
        return idempotent(
            caller, key, route, body.model_dump(), lambda: self._test_send(caller, issue_id, body)
        )

    def _test_send(self, caller: Caller, issue_id: int, body: TestSend) -> JSONResponse:
        from subscribers.rules import normalise_email

        slug = caller.app.content.list_slug(body.list_slug)
        addresses = [normalise_email(address) for address in body.to]  # all checked first
        sent = []
        for address in addresses:
            copy = asyncio.run(caller.app.sending.test_copy(issue_id, slug, address, body.topics))
            sent.append(address)
        caller.audit("issue.test_send", f"issue:{issue_id}", after={"to": sent})
        return JSONResponse(
            {
                "issue_id": issue_id,
                "to": sent,
                "topics": list(copy.topics),
                "subject": copy.rendered.subject,
                "stories": copy.stories,
            }
        )

    def send(
        self,
        caller: Called,
        issue_id: int,
        request: Request,
        body: SendRequest | None = None,
        key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Send the approved issue now: the run is planned, then sent in the background."""
        slug = body.list_slug if body is not None else None
        route = f"POST {request.url.path}"
        shown = {"list": slug}
        return idempotent(caller, key, route, shown, lambda: self._send(caller, issue_id, slug))

    def _send(self, caller: Caller, issue_id: int, slug: str | None) -> JSONResponse:
        _not_approved(caller, issue_id, slug, "sent")
        sending = caller.app.sending
        run_id = sending.plan(issue_id)
        self.api.sends.start(f"api send of run {run_id}", lambda: sending.send(run_id=run_id))
        caller.audit("issue.send", f"issue:{issue_id}", after={"run_id": run_id})
        counts = sending.counts(run_id)
        return JSONResponse(
            {"run_id": run_id, "issue_id": issue_id, "status": "sending", "counts": counts},
            status_code=202,
            headers={"Location": f"/api/v1/runs/{run_id}"},
        )

    def schedule(self, caller: Called, issue_id: int, body: ScheduleRequest) -> dict[str, Any]:
        """Schedule the approved issue's send for a local time; the scheduler sends it."""
        _not_approved(caller, issue_id, body.list_slug, "scheduled")
        before = caller.app.content.issue(issue_id, body.list_slug).send_at
        scheduled = caller.app.sending.schedule_send(
            issue_id, body.at, body.timezone, body.list_slug
        )
        caller.audit(
            "issue.schedule",
            f"issue:{issue_id}",
            before={"send_at": before.isoformat() if before else None},
            after={"send_at": scheduled.at.isoformat(), "timezone": scheduled.zone},
        )
        return scheduled.as_json()

    def unschedule(self, caller: Called, issue_id: int, slug: ListSlug = None) -> dict[str, Any]:
        """Clear the issue's scheduled send (``unscheduled`` false: it had none)."""
        before = caller.app.content.issue(issue_id, slug).send_at
        cleared = caller.app.sending.unschedule_send(issue_id, slug)
        if cleared:
            caller.audit(
                "issue.unschedule",
                f"issue:{issue_id}",
                before={"send_at": before.isoformat() if before else None},
                after={"send_at": None},
            )
        return {"issue_id": issue_id, "unscheduled": cleared}
