"""Sources at /admin/sources: each feed or folder, its last and next poll, its last error.

"Poll now" (editors: what arrives becomes a draft, or an approved issue for an `approve =
"auto"` source) polls that one source in this request, as `briefmail sources poll NAME` does,
and the page after it says what the poll did.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from briefmail.app import Briefmail
from briefmail.services.sources import UnknownSource
from briefmail.web.console.ui import CSRF, ConsoleUI, Editor, Viewer

__all__ = ["router", "summary"]

FormText = Annotated[str, Form()]


def summary(status: str, error: str | None, counts: dict[str, int], seen: int) -> str:
    """One line saying what a poll did."""
    if status == "error":
        return f"failed: {error}"
    done = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()) if n)
    parts = [status, done or "nothing new"]
    if seen:
        parts.append(f"{seen} seen before")
    return "; ".join(parts)


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /sources and POST /sources/poll."""
    routes = APIRouter()

    @routes.get("/sources")
    def sources(request: Request, operator: Viewer) -> Response:
        return ui.page(request, operator, "sources.html", sources=app.sources.listing())

    @routes.post("/sources/poll", dependencies=[CSRF])
    def poll(request: Request, operator: Editor, name: FormText = "") -> Response:
        try:
            reports = app.sources.poll(name)
        except UnknownSource as exc:
            return ui.redirect("/admin/sources", f"name: {exc}", tone="error")
        report = reports[0]
        counts: dict[str, int] = {}
        for entry in report.entries:
            counts[entry.action] = counts.get(entry.action, 0) + 1
        line = summary(report.status, report.error, counts, report.seen)
        app.audit.record(
            operator.actor,
            "source.poll",
            f"source:{name}",
            after={"status": report.status, "entries": counts},
            ip=ui.ip(request),
        )
        tone = "error" if report.status == "error" else "ok"
        return ui.redirect("/admin/sources", f"{name}: {line}.", tone=tone)

    return routes
