"""/healthz (the database answers) and /metrics (Prometheus text) for whoever watches the site.

/healthz is open: it says only that the database answers, which a load balancer must learn
without credentials. /metrics says how much mail goes where, how many readers bounced and what
is queued: a competitor or a spammer would like to know, so it asks for an API token of the
read scope (`briefmail tokens create prometheus --scope read`), which Prometheus sends with
``authorization: {credentials: …}`` in its scrape config. A refusal is the API's JSON 401/403.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from briefmail.accounts.models import Scope
from briefmail.app import Briefmail
from briefmail.ops.metrics import collect, prometheus_text
from briefmail.web.api.auth import guard
from briefmail.web.api.errors import ApiRoute

__all__ = ["health_router"]

#: The Prometheus text exposition format's content type.
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def health_router(app: Briefmail) -> APIRouter:
    """GET /healthz, and GET /metrics for a read token."""
    router = APIRouter()
    # ApiRoute: a missing or revoked token is answered as the API answers it (JSON, 401).
    watched = APIRouter(route_class=ApiRoute)

    @watched.get(
        "/metrics",
        response_class=PlainTextResponse,
        dependencies=[Depends(guard(app, Scope.READ))],
    )
    def metrics() -> PlainTextResponse:
        """The delivery counters, as Prometheus scrapes them (a read token is required)."""
        with app.sessions() as session:
            text = prometheus_text(collect(session))
        return PlainTextResponse(text, media_type=PROMETHEUS)

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        """Ok once the database answers a query (an error otherwise)."""
        with app.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    router.include_router(watched)
    return router
