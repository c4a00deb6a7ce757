"""Webhooks at /admin/webhooks: each configured webhook, its recent events and their attempts.

Every reader of the console sees what each webhook was told and how it answered: the event's
state (pending, delivered, failed), how many attempts it took, the last HTTP status or error,
when it is tried next, and its latest attempts. Owners may send a signed test event
(`webhook.test`) to one webhook and see its answer at once; the test is in the audit log.
The page reads the outbox; the deliveries themselves are the scheduler's (or `briefmail
webhooks deliver`), whichever process runs them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from briefmail.accounts.models import Role
from briefmail.app import Briefmail
from briefmail.services.webhooks import DeliveryView, UnknownWebhook, WebhookInfo
from briefmail.settings import SettingsError
from briefmail.web.console.ui import CSRF, ConsoleUI, Owner, Viewer

__all__ = ["RECENT", "router"]

#: Recent deliveries shown per webhook.
RECENT = 20
_TONES = {"delivered": "ok", "pending": "warn", "failed": "bad"}


def _delivery(view: DeliveryView) -> dict[str, Any]:
    """What one row shows of a delivery."""
    return {
        "id": view.id,
        "event_id": view.event_id,
        "kind": view.kind,
        "created_at": view.created_at,
        "state": view.state,
        "tone": _TONES.get(view.state, ""),
        "attempts": view.attempts,
        "answer": view.last_error or (f"HTTP {view.last_status}" if view.last_status else ""),
        "next_attempt_at": view.next_attempt_at,
        "history": [
            {
                "at": attempt.at,
                "answer": attempt.error or f"HTTP {attempt.status}",
                "ok": attempt.error is None,
                "ms": attempt.duration_ms,
            }
            for attempt in view.history
        ],
    }


def _webhook(app: Briefmail, info: WebhookInfo) -> dict[str, Any]:
    """One webhook's card: its settings, counts and recent deliveries."""
    return {
        "name": info.name,
        "url": info.url,
        "events": info.events,
        "secret_env": info.secret_env,
        "secret_set": info.secret_set,
        "counts": {state: info.counts.get(state, 0) for state in _TONES},
        "deliveries": [_delivery(d) for d in app.webhooks.recent(RECENT, webhook=info.url)],
    }


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /webhooks (every operator) and POST /webhooks/test (owners)."""
    routes = APIRouter()

    @routes.get("/webhooks")
    def webhooks_page(
        request: Request,
        operator: Viewer,
        webhook: Annotated[str, Query(max_length=2000)] = "",
    ) -> Response:
        infos = app.webhooks.listing(strict=False)
        if webhook:
            infos = [info for info in infos if webhook in (info.name, info.url)]
        return ui.page(
            request,
            operator,
            "webhooks.html",
            webhooks=[_webhook(app, info) for info in infos],
            chosen=webhook,
            may_test=operator.may(Role.OWNER),
        )

    @routes.post("/webhooks/test", dependencies=[CSRF])
    def webhooks_test(
        request: Request,
        operator: Owner,
        webhook: Annotated[str, Form(min_length=1, max_length=2000)],
    ) -> Response:
        try:
            delivery = app.webhooks.send_test(webhook, actor=operator.actor)
        except (UnknownWebhook, SettingsError) as exc:
            return ui.redirect("/admin/webhooks", str(exc), tone="error")
        app.audit.record(
            operator.actor,
            "webhook.test",
            f"webhook:{delivery.webhook}",
            after={"state": delivery.state, "status": delivery.last_status},
            ip=ui.ip(request),
        )
        if delivery.state == "delivered":
            said = f"{delivery.webhook}: test event delivered (HTTP {delivery.last_status})."
            return ui.redirect("/admin/webhooks", said)
        said = f"{delivery.webhook}: test event not delivered: {delivery.last_error}"
        return ui.redirect("/admin/webhooks", said, tone="error")

    return routes
