"""The web face: one FastAPI application: public pages, archive, console, API, health, metrics."""

from __future__ import annotations

from fastapi import FastAPI

from briefmail.app import Briefmail
from briefmail.web.api import api_router
from briefmail.web.archive import Archive, archive_router
from briefmail.web.console import console_router
from briefmail.web.health import health_router
from briefmail.web.public import public_router
from briefmail.web.wiring import list_identity, page_adapter, public_pages

__all__ = ["create_web"]


def create_web(app: Briefmail) -> FastAPI:
    """The FastAPI app: subscriber pages, the archive and its feed, health and metrics."""
    web = FastAPI(title="briefmail", docs_url=None, redoc_url=None, openapi_url=None)
    pages = public_pages(app)
    # The subscribe requests carried out after their answer (tests wait for them here).
    web.state.signups = pages.signups
    web.include_router(public_router(pages, page_adapter(app)))
    settings = app.settings.newsletter
    archive = Archive(
        app.sessions, app.renderer, list_identity(app), settings.base_url, settings.slug
    )
    web.include_router(archive_router(archive))
    web.include_router(health_router(app))
    web.include_router(console_router(app))
    web.include_router(api_router(app))
    return web
