"""The dashboard at /admin: next sends, the last runs, subscriber growth and readers per topic.

The numbers come from `briefmail.services.insights`; this module only lays them out. The last
runs' card refreshes itself (htmx, every 5 s) while a send runs in any process.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from briefmail.app import Briefmail
from briefmail.services.insights import Insights
from briefmail.web.console import charts
from briefmail.web.console.ui import ConsoleUI, Viewer

__all__ = ["WINDOWS", "router"]

#: The growth windows an operator may pick (days).
WINDOWS = (30, 90)


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /admin (the dashboard) and GET /admin/dashboard/runs (its live runs card)."""
    routes = APIRouter()
    insights = Insights(app)

    def runs_context() -> dict[str, Any]:
        runs = insights.last_runs()
        return {
            "runs": [(run, charts.outcome_bar(run.counts)) for run in runs],
            "live": any(run.status in ("planning", "sending") for run in runs),
            "colours": charts.STATUS_COLOURS,
        }

    @routes.get("")
    def dashboard(request: Request, operator: Viewer, days: int = 30) -> Response:
        if days not in WINDOWS:
            return ui.error(
                request, 400, "Check the address", f"days: one of {', '.join(map(str, WINDOWS))}"
            )
        growth = insights.growth(days)
        topics = insights.readers_per_topic()
        return ui.page(
            request,
            operator,
            "dashboard.html",
            days=days,
            windows=WINDOWS,
            next_sends=insights.next_sends(),
            growth=growth,
            growth_chart=charts.line_chart(
                [(d.day, d.active) for d in growth.days],
                label=f"Confirmed readers over {days} days",
                bars_under=[(d.joined, d.left) for d in growth.days],
            ),
            topics_chart=charts.bars(
                [(t.label, t.readers) for t in topics], label="Confirmed readers per topic"
            ),
            **runs_context(),
        )

    @routes.get("/dashboard/runs")
    def runs_card(request: Request, operator: Viewer) -> Response:
        return ui.fragment(request, "_dashboard_runs.html", operator=operator, **runs_context())

    return routes
