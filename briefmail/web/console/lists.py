"""Lists at /admin/lists: each list's subscriptions by status, its newest issue, its archive."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from briefmail.app import Briefmail
from briefmail.services.insights import Insights
from briefmail.web.console.ui import ConsoleUI, Viewer

__all__ = ["router"]


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /lists."""
    routes = APIRouter()
    insights = Insights(app)

    @routes.get("/lists")
    def lists(request: Request, operator: Viewer) -> Response:
        return ui.page(
            request,
            operator,
            "lists.html",
            lists=insights.lists(),
            statuses=("confirmed", "pending", "unsubscribed", "bounced", "complained"),
            default=app.settings.newsletter.slug,
        )

    return routes
