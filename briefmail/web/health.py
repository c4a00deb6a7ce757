"""/healthz (the database answers) and /metrics (Prometheus text) for whoever watches the site."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from briefmail.app import Briefmail
from briefmail.ops.metrics import collect, prometheus_text

__all__ = ["health_router"]

#: The Prometheus text exposition format's content type.
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def health_router(app: Briefmail) -> APIRouter:
    """GET /healthz and GET /metrics."""
    router = APIRouter()

    @router.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """The delivery counters, as Prometheus scrapes them."""
        with app.sessions() as session:
            text = prometheus_text(collect(session))
        return PlainTextResponse(text, media_type=PROMETHEUS)

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        """Ok once the database answers a query (an error otherwise)."""
        with app.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    return router
