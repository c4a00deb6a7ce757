"""The operators' console at /admin: server-rendered pages, htmx for the live parts.

Each page module exports `router(app, ui) -> APIRouter` with paths relative to /admin; this
module includes every one of them, by name, into the one `ConsoleRouter` (styled refusals and
the security headers on every answer), and gives each its place in the navigation.
"""

from __future__ import annotations

from fastapi import APIRouter

from briefmail.accounts.models import Role
from briefmail.app import Briefmail
from briefmail.web.console import (
    audit,
    auth,
    dashboard,
    issues,
    lists,
    operators,
    people,
    runs,
    settings,
    sources,
    static,
    suppressions,
    webhooks,
)
from briefmail.web.console.ui import ConsoleRouter, ConsoleUI, NavItem

__all__ = ["console_router"]


def console_router(app: Briefmail) -> APIRouter:
    """Every /admin page, each behind a signed-in operator of the role it needs."""
    ui = ConsoleUI(app)
    console = ConsoleRouter(ui)
    console.page_routes(static.router(app, ui))
    console.page_routes(auth.router(app, ui))
    console.page_routes(dashboard.router(app, ui))
    console.page_routes(issues.router(app, ui), nav=NavItem("Issues", "/admin/issues"))
    console.page_routes(runs.router(app, ui), nav=NavItem("Runs", "/admin/runs"))
    console.page_routes(people.router(app, ui), nav=NavItem("Subscribers", "/admin/subscribers"))
    console.page_routes(lists.router(app, ui), nav=NavItem("Lists", "/admin/lists"))
    console.page_routes(sources.router(app, ui), nav=NavItem("Sources", "/admin/sources"))
    console.page_routes(
        suppressions.router(app, ui), nav=NavItem("Suppressions", "/admin/suppressions")
    )
    console.page_routes(webhooks.router(app, ui), nav=NavItem("Webhooks", "/admin/webhooks"))
    console.page_routes(audit.router(app, ui), nav=NavItem("Audit log", "/admin/audit", Role.OWNER))
    console.page_routes(
        operators.router(app, ui), nav=NavItem("Operators", "/admin/operators", Role.OWNER)
    )
    console.page_routes(
        settings.router(app, ui), nav=NavItem("Settings", "/admin/settings", Role.OWNER)
    )
    return console
