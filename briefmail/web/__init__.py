"""The web faces: one FastAPI application for the public pages, the archive, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from briefmail.app import Briefmail
from briefmail.ops.metrics import collect, prometheus_text
from briefmail.web.archive import build_archive
from briefmail.web.public import WebDeps, build_router
from mailer.content import Issue
from mailer.render import Newsletter
from scheduler.dispatch import newsletter_identity
from scheduler.editions import StoredIssue
from subscribers.models import NewsletterList
from subscribers.tokens import TokenSigner

__all__ = ["create_web"]


def create_web(app: Briefmail) -> FastAPI:
    """The FastAPI app: subscriber pages, the archive and its feed, and a health check."""
    web = FastAPI(title="briefmail", docs_url=None, redoc_url=None, openapi_url=None)
    settings = app.settings.newsletter

    def identity(row: NewsletterList) -> Newsletter:
        return newsletter_identity(row, settings.postal_address or None, settings.language)

    def latest_issue(list_id: int) -> Issue | None:
        with app.sessions() as session:
            row = session.scalar(
                select(StoredIssue)
                .where(StoredIssue.list_id == list_id)
                .order_by(StoredIssue.date.desc(), StoredIssue.id.desc())
                .limit(1)
            )
            return row.to_issue() if row is not None else None

    deps = WebDeps(
        sessions=app.sessions,
        taxonomy=app.taxonomy,
        renderer=app.renderer,
        signer=TokenSigner(app.settings.secret()),
        transport=app.transport,
        identity=identity,
        latest_issue=latest_issue,
        base_url=settings.base_url,
        default_list=settings.slug,
        dkim=app.dkim,
        smtputf8=app.settings.smtp.smtputf8,
        trusted_proxies=app.settings.web.trusted_proxies,
    )
    # The subscribe requests carried out after their answer (tests wait for them here).
    web.state.signups = deps.signups
    web.include_router(build_router(deps))
    web.include_router(
        build_archive(app.sessions, app.renderer, identity, settings.base_url, settings.slug)
    )

    @web.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        with app.sessions() as session:
            text = prometheus_text(collect(session))
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @web.get("/healthz")
    def healthz() -> dict[str, str]:
        with app.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    return web
