"""Runs: the list, a run's live progress and report, and pause / resume / cancel.

The console reads the ledger; it does not need to be the sender. A run's page polls a fragment
every 2 s (htmx) while the run is planning, sending or paused, whichever process sends it: the
CLI, a worker, the scheduler, or this one. When the run's status changes the fragment asks the
browser to reload once, so the report below it (chart, replies) is the finished run's. Without
JavaScript the page is the same, read at the moment it was loaded, and the buttons are forms.
Owners send, so only owners pause, resume and cancel.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from briefmail.app import Briefmail
from briefmail.services.insights import Insights
from briefmail.web.console import charts
from briefmail.web.console.ui import CSRF, ConsoleUI, Owner, Viewer
from briefmail.web.sends import BackgroundSends
from scheduler.runs import RunStateError, UnknownRun

__all__ = ["LIVE", "router"]

#: A run in one of these may still change without an operator: its page keeps polling.
LIVE = ("planning", "sending", "paused")
#: Runs per page of the list.
PAGE = 50


RESUMED = BackgroundSends()


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /runs, /runs/{id}, /runs/{id}/progress; POST pause, resume and cancel."""
    routes = APIRouter()
    insights = Insights(app)

    def progress_context(run_id: int) -> dict[str, Any]:
        try:
            progress = insights.progress(run_id)
        except UnknownRun:
            raise HTTPException(404, f"run: there is no run {run_id}.") from None
        return {"progress": progress, "live": progress.status in LIVE}

    @routes.get("/runs")
    def runs(request: Request, operator: Viewer, before: int | None = None) -> Response:
        found = insights.last_runs(PAGE + 1, before_id=before)
        return ui.page(
            request,
            operator,
            "runs.html",
            runs=[(run, charts.outcome_bar(run.counts)) for run in found[:PAGE]],
            older=found[PAGE - 1].id if len(found) > PAGE else None,
            colours=charts.STATUS_COLOURS,
        )

    @routes.get("/runs/{run_id}")
    def run_page(request: Request, operator: Viewer, run_id: int) -> Response:
        context = progress_context(run_id)
        report = app.sending.show(run_id)
        return ui.page(
            request,
            operator,
            "runs_show.html",
            report=report,
            title=insights.issue_title(report.summary.issue_id),
            chart=charts.per_minute(report.per_minute),
            variants=[
                (name or "every topic", counts) for name, counts in report.by_variant.items()
            ],
            colours=charts.STATUS_COLOURS,
            **context,
        )

    @routes.get("/runs/{run_id}/progress")
    def progress(
        request: Request, operator: Viewer, run_id: int, was: str | None = None
    ) -> Response:
        context = progress_context(run_id)
        response = ui.fragment(request, "_runs_progress.html", operator=operator, **context)
        if was is not None and was != context["progress"].status:
            response.headers["HX-Refresh"] = "true"  # the report below is now out of date
        return response

    _add_controls(routes, app, ui, insights)
    return routes


def _add_controls(routes: APIRouter, app: Briefmail, ui: ConsoleUI, insights: Insights) -> None:
    """POST pause, resume and cancel of a run (owners: they send), each audited."""

    def change(request: Request, operator: Any, run_id: int, verb: str) -> Response:
        back = f"/admin/runs/{run_id}"
        try:
            before = insights.progress(run_id).status
            if verb == "pause":
                status = app.sending.pause(run_id).status
                message = f"Run {run_id} is paused: its senders stop after the messages in flight."
            elif verb == "cancel":
                status = app.sending.cancel(run_id).status
                message = f"Run {run_id} is cancelled: nothing more of it is sent."
            else:
                if before != "paused":
                    raise RunStateError(f"run {run_id} is {before}; only a paused run resumes")
                RESUMED.start(
                    f"console-resume-{run_id}",
                    lambda: app.sending.resume(run_id),
                    key=(id(app), run_id),
                )
                status = "sending"
                message = f"Run {run_id} resumes: this server sends what it still owes."
        except UnknownRun:
            raise HTTPException(404, f"run: there is no run {run_id}.") from None
        except RunStateError as refused:
            return ui.redirect(back, f"{refused}.", tone="error")
        app.audit.record(
            operator.actor,
            f"run.{verb}",
            f"run:{run_id}",
            before={"status": before},
            after={"status": status},
            ip=ui.ip(request),
        )
        return ui.redirect(back, message)

    @routes.post("/runs/{run_id}/pause", dependencies=[CSRF])
    def pause(request: Request, operator: Owner, run_id: int) -> Response:
        return change(request, operator, run_id, "pause")

    @routes.post("/runs/{run_id}/resume", dependencies=[CSRF])
    def resume(request: Request, operator: Owner, run_id: int) -> Response:
        return change(request, operator, run_id, "resume")

    @routes.post("/runs/{run_id}/cancel", dependencies=[CSRF])
    def cancel(request: Request, operator: Owner, run_id: int) -> Response:
        return change(request, operator, run_id, "cancel")
