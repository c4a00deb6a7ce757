"""/api/v1/lists, /api/v1/suppressions and /api/v1/bounces (post a raw bounce report).

A suppression is kept as a hash of the address (an erased person leaves nothing readable), so
the listing shows the reason, the evidence and when, never an address; `GET
/api/v1/subscribers/{email}` tells whether one person is suppressed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from briefmail.accounts.models import Scope
from briefmail.web.api.auth import Called
from briefmail.web.api.base import Api
from briefmail.web.api.errors import ApiError
from briefmail.web.api.pagination import PageQuery, after_cursor, page_of, page_query
from subscribers.db import as_utc
from subscribers.models import Suppression

if TYPE_CHECKING:
    from briefmail.app import Briefmail

__all__ = ["MAX_REPORT", "FeedbackApi"]

#: The largest bounce report accepted (a DSN with the original message attached).
MAX_REPORT = 10 * 1024 * 1024


def _suppression_json(row: Suppression) -> dict[str, Any]:
    return {
        "id": row.id,
        "address_hash": row.address_hash,
        "reason": row.reason,
        "since": as_utc(row.created_at).isoformat(),
        "report_id": row.report_id,
        "diagnostic": row.diagnostic,
    }


async def _report_bytes(request: Request) -> bytes:
    """The posted report: a message/rfc822 body, or JSON ``{"raw": "…"}``."""
    data = await request.body()
    if len(data) > MAX_REPORT:
        raise ApiError(413, "too_large", f"a report may be at most {MAX_REPORT} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        import json

        try:
            body = json.loads(data)
        except ValueError as exc:
            raise ApiError(422, "invalid_json", "the body is not JSON") from exc
        raw = body.get("raw") if isinstance(body, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            raise ApiError(422, "missing_field", "raw is required (the report's text)", field="raw")
        return raw.encode("utf-8", "surrogateescape")
    if kind not in ("message/rfc822", "text/plain", "application/octet-stream", ""):
        raise ApiError(
            415, "unsupported_media_type", "post the report as message/rfc822, or JSON {raw}"
        )
    if not data.strip():
        raise ApiError(422, "missing_field", "the body is empty: post the report", field="raw")
    return data


class FeedbackApi:
    """Lists, suppressions, and bounce reports posted by a mail server's hook."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def router(self) -> APIRouter:
        """The lists, suppressions and bounces routes."""
        api, router = self.api, self.api.router("lists and feedback")
        api.add(router, "GET", "/lists", self.lists, Scope.READ)
        api.add(router, "GET", "/suppressions", self.suppressions, Scope.READ)
        api.add(
            router,
            "POST",
            "/bounces",
            self.bounce,
            Scope.WRITE,
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        "message/rfc822": {"schema": {"type": "string"}},
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["raw"],
                                "properties": {"raw": {"type": "string"}},
                            }
                        },
                    },
                }
            },
        )
        return router

    def lists(
        self, caller: Called, page: Annotated[PageQuery, Depends(page_query)]
    ) -> dict[str, Any]:
        """Every newsletter list, by slug."""
        rows = sorted(caller.app.content.lists(), key=lambda row: row.slug)
        chosen = after_cursor(rows, page, lambda row: row.slug)
        return page_of(chosen, page, lambda row: row.slug, lambda row: row.as_json()).as_json()

    def suppressions(
        self, caller: Called, page: Annotated[PageQuery, Depends(page_query)]
    ) -> dict[str, Any]:
        """Suppressed addresses (as hashes): reason, evidence and since when, newest first."""
        with caller.app.sessions() as session:
            query = select(Suppression).order_by(Suppression.id.desc()).limit(page.limit + 1)
            if isinstance(page.after, int):
                query = query.where(Suppression.id < page.after)
            rows = list(session.scalars(query))
            return page_of(rows, page, lambda row: row.id, _suppression_json).as_json()

    async def bounce(self, caller: Called, request: Request) -> dict[str, object]:
        """Apply one bounce or complaint report (gone and complaints suppress)."""
        from starlette.concurrency import run_in_threadpool

        data = await _report_bytes(request)
        summary = await run_in_threadpool(self._apply, caller.app, data)
        caller.audit("bounce.report", None, after=summary)
        return summary

    @staticmethod
    def _apply(app: Briefmail, data: bytes) -> dict[str, object]:
        with tempfile.TemporaryDirectory(prefix="briefmail-bounce-") as folder:
            path = Path(folder) / "report.eml"
            path.write_bytes(data)
            return app.feedback.process_bounces(path).as_json()
