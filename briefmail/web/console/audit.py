"""The audit log at /admin/audit: who did what, when and from where, filtered and paged.

Owners only: the log holds every operator's address and the addresses they came from. Pages go
back in time by the last entry's id (`before`), so an entry recorded while reading is never
shown twice or skipped.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from briefmail.accounts.audit import AuditView
from briefmail.app import Briefmail
from briefmail.web.console.ui import ConsoleUI, Owner

__all__ = ["PAGE", "router"]

#: Entries on one page of the log.
PAGE = 50


def _state(value: dict[str, Any] | None) -> str:
    """A before/after state as one compact line ("" when there is none)."""
    if not value:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _row(entry: AuditView) -> dict[str, Any]:
    """What one table row shows of an entry."""
    return {
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target or "",
        "before": _state(entry.before),
        "after": _state(entry.after),
        "ip": entry.ip or "",
        "failed": entry.action.endswith(".failed"),
    }


def _older(entries: list[AuditView], actor: str, action: str) -> str | None:
    """The address of the next (older) page, keeping the filters; None on the last page."""
    if len(entries) <= PAGE:
        return None
    query = {"actor": actor, "action": action, "before": str(entries[PAGE - 1].id)}
    return "/admin/audit?" + urlencode({key: value for key, value in query.items() if value})


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /audit: the log, newest first, filtered by actor and action."""
    routes = APIRouter()

    @routes.get("/audit")
    def audit_log(
        request: Request,
        operator: Owner,
        actor: Annotated[str, Query(max_length=400)] = "",
        action: Annotated[str, Query(max_length=100)] = "",
        before: Annotated[int | None, Query(ge=1)] = None,
    ) -> Response:
        actor, action = actor.strip(), action.strip()
        # One more than a page: whether an older page exists, without counting the log.
        entries = app.audit.entries(
            limit=PAGE + 1, before_id=before, actor=actor or None, action=action or None
        )
        return ui.page(
            request,
            operator,
            "audit.html",
            entries=[_row(entry) for entry in entries[:PAGE]],
            actor=actor,
            action=action,
            paged=before is not None,
            older=_older(entries, actor, action),
        )

    return routes
