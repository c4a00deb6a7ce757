"""/api/v1/runs: where each send stands (counts by status), and pause, resume, cancel.

The figures are the ledger's, so a run sent by another process (`briefmail send`, a worker,
the scheduler) reads the same as one this API started.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from briefmail.accounts.models import Scope
from briefmail.web.api.auth import Called, Caller
from briefmail.web.api.base import Api
from briefmail.web.api.errors import ApiError
from briefmail.web.api.pagination import PageQuery, after_cursor, page_of, page_query

__all__ = ["RunsApi"]

#: A cancelled run is final: nothing resumes it (a done one may resend its uncertain ones).
_OVER = ("cancelled",)


class RunsApi:
    """Runs: listed, read, paused, resumed and cancelled."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def router(self) -> APIRouter:
        """The run routes."""
        api, router = self.api, self.api.router("runs")
        api.add(router, "GET", "/runs", self.list_runs, Scope.READ)
        api.add(router, "GET", "/runs/{run_id}", self.show, Scope.READ)
        api.add(router, "POST", "/runs/{run_id}/pause", self.pause, Scope.SEND)
        api.add(router, "POST", "/runs/{run_id}/resume", self.resume, Scope.SEND, status=202)
        api.add(router, "POST", "/runs/{run_id}/cancel", self.cancel, Scope.SEND)
        return router

    def list_runs(
        self, caller: Called, page: Annotated[PageQuery, Depends(page_query)]
    ) -> dict[str, Any]:
        """Every run, newest first, with its deliveries by status."""
        rows = sorted(caller.app.sending.runs(), key=lambda run: run.id, reverse=True)
        chosen = after_cursor(rows, page, lambda run: run.id, descending=True)
        return page_of(chosen, page, lambda run: run.id, lambda run: run.as_json()).as_json()

    def show(self, caller: Called, run_id: int) -> dict[str, Any]:
        """One run: counts by status, variant and reply; its problems; outcomes per minute."""
        return caller.app.sending.show(run_id).as_json()

    def pause(self, caller: Called, run_id: int) -> dict[str, Any]:
        """Pause the run: its senders stop after the messages in flight."""
        return self._change(caller, run_id, "pause")

    def cancel(self, caller: Called, run_id: int) -> dict[str, Any]:
        """Cancel the run: nothing more of it is sent (the issue may be sent again)."""
        return self._change(caller, run_id, "cancel")

    def _change(self, caller: Caller, run_id: int, verb: str) -> dict[str, Any]:
        sending = caller.app.sending
        before = sending.show(run_id).summary.status
        change = sending.pause(run_id) if verb == "pause" else sending.cancel(run_id)
        caller.audit(
            f"run.{verb}",
            f"run:{run_id}",
            before={"status": before},
            after={"status": change.status},
        )
        return change.as_json()

    def resume(self, caller: Called, run_id: int) -> JSONResponse:
        """Resume the run: unpaused, its uncertain deliveries sent again, in the background."""
        sending = caller.app.sending
        before = sending.show(run_id).summary.status
        if before in _OVER:
            raise ApiError(
                409, "run_state_conflict", f"run {run_id} is {before}: nothing to resume"
            )
        self.api.sends.start(f"api resume of run {run_id}", lambda: sending.resume(run_id))
        caller.audit("run.resume", f"run:{run_id}", before={"status": before})
        return JSONResponse(
            {"run_id": run_id, "status": "resuming", "counts": sending.counts(run_id)},
            status_code=202,
            headers={"Location": f"/api/v1/runs/{run_id}"},
        )
