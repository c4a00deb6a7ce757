"""The dashboard at /admin: next sends, the last runs, subscriber growth and readers per topic.

The numbers come from `briefmail.services.insights`; this module only lays them out.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from briefmail.app import Briefmail
from briefmail.web.console.ui import ConsoleUI, Viewer

__all__ = ["router"]


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /admin: the dashboard."""
    routes = APIRouter()

    @routes.get("")
    def dashboard(request: Request, operator: Viewer) -> Response:
        return ui.page(request, operator, "dashboard.html")

    return routes
