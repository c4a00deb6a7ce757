"""Suppressions and bounces at /admin/suppressions: who is never mailed, and the evidence why.

Each suppression shows its reason, since when, and the report and the receiving server's words
that caused it; the address while a subscriber row still holds it (suppressions themselves are
hashes). Recent bounce and complaint records are listed beside them. An owner may lift a
suppression a bounce caused (a misread report, a mailbox that exists again), audited with what
it held; an erasure or a complaint is the person's own word, and the library refuses to lift it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from briefmail.app import Briefmail
from briefmail.web.console.ui import CSRF, ConsoleUI, Owner, Viewer
from subscribers.directory import LOCKED_REASONS, SuppressionLocked

__all__ = ["router"]


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /suppressions and POST /suppressions/{id}/lift."""
    routes = APIRouter()

    @routes.get("/suppressions")
    def suppressions(
        request: Request, operator: Viewer, reason: str = "", before: int | None = None
    ) -> Response:
        rows, cursor, counts = app.feedback.suppressions(reason=reason or None, before_id=before)
        bounces = app.feedback.recent_bounces(50)
        return ui.page(
            request,
            operator,
            "suppressions.html",
            rows=rows,
            cursor=cursor,
            counts=counts,
            reason=reason,
            bounces=bounces,
            locked=sorted(LOCKED_REASONS),
        )

    @routes.post("/suppressions/{suppression_id}/lift", dependencies=[CSRF])
    def lift(request: Request, operator: Owner, suppression_id: int) -> Response:
        try:
            reason = app.feedback.lift_suppression(
                suppression_id, actor=operator.actor, ip=ui.ip(request)
            )
        except (SuppressionLocked, LookupError) as exc:
            return ui.redirect("/admin/suppressions", str(exc), tone="error")
        return ui.redirect(
            "/admin/suppressions",
            f"Suppression {suppression_id} ({reason}) lifted: the address may be mailed again.",
        )

    return routes
