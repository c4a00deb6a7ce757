"""/api/v1/issues: create (raw text or the ingest JSON shape), read, edit, approve, withdraw.

What is sent, previewed and scheduled is in `briefmail.web.api.sending`; both call the same
library operations as `briefmail ingest` and `briefmail issues …`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from briefmail.accounts.models import Scope
from briefmail.web.api.auth import Called, Caller
from briefmail.web.api.base import Api
from briefmail.web.api.errors import ApiError, translate
from briefmail.web.api.idempotency import idempotent
from briefmail.web.api.pagination import PageQuery, after_cursor, page_of, page_query
from scheduler.revisions import Edits

__all__ = ["IssueEdit", "IssuesApi", "NewIssue"]

ListSlug = Annotated[
    str | None, Query(alias="list", description="The list (default: [newsletter] slug).")
]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retry-safe: the first answer is replayed."),
]


class NewIssue(BaseModel):
    """An issue to ingest: its raw source (``text``) or the ingest JSON shape (``issue``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    list_slug: str | None = Field(
        None, alias="list", description="The list's slug (default: [newsletter] slug)."
    )
    text: str | None = Field(None, description="The issue's raw source, in any ingest format.")
    issue: dict[str, Any] | None = Field(None, description="The `briefmail ingest --json` shape.")
    filename: str | None = Field(None, description="What the upload was called (helps detection).")
    format: str = Field("auto", description="The source format, or auto to detect it.")


class StoryTopics(BaseModel):
    """One story's new topics (none: the story is `general`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    story: int = Field(description="The story's 1-based place.")
    topics: list[str]


class StoryMove(BaseModel):
    """One story moved to another place."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    story: int = Field(description="The story's 1-based place.")
    to: int = Field(description="The place it moves to.")


class IssueEdit(BaseModel):
    """An editor's changes to an unsent issue, all applied or none (`briefmail issues edit`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str | None = None
    subject: str | None = Field(None, description='"" goes back to the default (the title).')
    preheader: str | None = Field(None, description='"" goes back to the default.')
    topics: StoryTopics | None = None
    drop: int | None = Field(None, description="The place of a story to drop.")
    move: StoryMove | None = None

    def edits(self) -> Edits:
        """The library's description of these changes."""
        return Edits(
            title=self.title,
            subject=self.subject,
            preheader=self.preheader,
            topics=(self.topics.story, tuple(self.topics.topics)) if self.topics else None,
            drop=self.drop,
            move=(self.move.story, self.move.to) if self.move else None,
        )


def issue_json(caller: Caller, issue_id: int, slug: str | None) -> dict[str, Any]:
    """An issue as `briefmail issues show --json` prints it, with its list."""
    content = caller.app.content
    return {"list": content.list_slug(slug), **content.issue(issue_id, slug).as_json()}


class IssuesApi:
    """Issues: listed, created, read, edited, approved and withdrawn."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def router(self) -> APIRouter:
        """The issue routes."""
        api, router = self.api, self.api.router("issues")
        api.add(router, "GET", "/issues", self.list_issues, Scope.READ)
        api.add(router, "POST", "/issues", self.create, Scope.WRITE, status=201)
        api.add(router, "GET", "/issues/{issue_id}", self.show, Scope.READ)
        api.add(router, "PATCH", "/issues/{issue_id}", self.edit, Scope.WRITE)
        api.add(router, "POST", "/issues/{issue_id}/approve", self.approve, Scope.WRITE)
        api.add(router, "POST", "/issues/{issue_id}/withdraw", self.withdraw, Scope.WRITE)
        return router

    def list_issues(
        self,
        caller: Called,
        page: Annotated[PageQuery, Depends(page_query)],
        slug: ListSlug = None,
        status: Annotated[
            str | None, Query(description="draft, approved, sent, withdrawn.")
        ] = None,
    ) -> dict[str, Any]:
        """The list's issues, newest first."""
        rows = sorted(caller.app.content.issues(slug), key=lambda row: row.id, reverse=True)
        if status is not None:
            rows = [row for row in rows if row.status == status]
        chosen = after_cursor(rows, page, lambda row: row.id, descending=True)
        return page_of(chosen, page, lambda row: row.id, lambda row: row.as_json()).as_json()

    def create(
        self, caller: Called, body: NewIssue, request: Request, key: IdempotencyKey = None
    ) -> JSONResponse:
        """Ingest an issue as a draft: raw ``text``, or ``issue`` in the ingest JSON shape."""
        route = f"POST {request.url.path}"
        return idempotent(caller, key, route, body.model_dump(), lambda: self._create(caller, body))

    def _create(self, caller: Caller, body: NewIssue) -> JSONResponse:
        if (body.text is None) == (body.issue is None):
            raise ApiError(
                422,
                "missing_field",
                "send either text (the raw source) or issue (JSON)",
                field="text",
            )
        from mailer.ingest.base import IngestError

        if body.issue is not None:
            text, filename, fmt, field = json.dumps(body.issue), "issue.json", "json", "issue"
        else:
            assert body.text is not None
            text, filename, fmt, field = (
                body.text,
                body.filename or "pasted.txt",
                body.format,
                "text",
            )
        try:
            result = caller.app.content.ingest_text(
                text, body.list_slug, filename=filename, format=fmt, actor=caller.token.actor
            )
        except IngestError as exc:
            refused = translate(exc)
            assert refused is not None
            refused.field = field
            raise refused from exc
        assert result.issue_id is not None
        assert result.outcome is not None
        caller.audit("issue.create", f"issue:{result.issue_id}", after={"outcome": result.outcome})
        answer = {
            **issue_json(caller, result.issue_id, body.list_slug),
            "outcome": str(result.outcome),
            "detection": {
                "format": result.detection.format,
                "reason": result.detection.reason,
                "warnings": list(result.detection.warnings),
            },
        }
        created = str(result.outcome) == "stored"
        return JSONResponse(answer, status_code=201 if created else 200)

    def show(self, caller: Called, issue_id: int, slug: ListSlug = None) -> dict[str, Any]:
        """One issue: its stories and their topics, its status and its history."""
        return issue_json(caller, issue_id, slug)

    def edit(
        self, caller: Called, issue_id: int, body: IssueEdit, slug: ListSlug = None
    ) -> dict[str, Any]:
        """Change title, subject, preheader, a story's topics, drop or move a story."""
        edits = body.edits()
        if edits.empty:
            raise ApiError(422, "nothing_to_change", "the edit changes nothing: name a field")
        edited = caller.app.revisions.edit(issue_id, edits, slug)
        caller.audit(
            "issue.edit",
            f"issue:{issue_id}",
            before={change.field: change.before for change in edited.changes},
            after={change.field: change.after for change in edited.changes},
        )
        return {"list": caller.app.content.list_slug(slug), **edited.as_json()}

    def approve(self, caller: Called, issue_id: int, slug: ListSlug = None) -> dict[str, Any]:
        """Approve a draft (or withdrawn) issue so it may be sent."""
        return self._move(caller, issue_id, slug, "approve")

    def withdraw(self, caller: Called, issue_id: int, slug: ListSlug = None) -> dict[str, Any]:
        """Withdraw an unsent issue (its scheduled send is dropped)."""
        return self._move(caller, issue_id, slug, "withdraw")

    def _move(self, caller: Caller, issue_id: int, slug: str | None, verb: str) -> dict[str, Any]:
        content = caller.app.content
        before = content.issue(issue_id, slug).status
        moved = (
            content.approve(issue_id, slug)
            if verb == "approve"
            else content.withdraw(issue_id, slug)
        )
        caller.audit(
            f"issue.{verb}",
            f"issue:{issue_id}",
            before={"status": before},
            after={"status": moved.status},
        )
        return issue_json(caller, issue_id, slug)
