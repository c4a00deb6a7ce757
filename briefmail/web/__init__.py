"""The web face: one FastAPI application: public pages, archive, console, API, health, metrics."""

from __future__ import annotations

from fastapi import FastAPI

from briefmail.app import Briefmail
from briefmail.web.api import BackgroundSends, api_router, install_api_docs
from briefmail.web.archive import Archive, archive_router
from briefmail.web.console import console_router
from briefmail.web.front import FrontPages, error_page, front_router
from briefmail.web.headers import assets_router, install_security_headers
from briefmail.web.health import health_router
from briefmail.web.public import public_router
from briefmail.web.wiring import list_identity, page_adapter, public_pages

__all__ = ["create_web"]


def create_web(app: Briefmail) -> FastAPI:
    """The FastAPI app: subscriber pages, archive and feed, console, API, health and metrics.

    Only the API's routes are in the OpenAPI document (/api/openapi.json, shown at /api/docs).
    """
    # The OpenAPI document and the docs are the API's own routes (install_api_docs).
    web = FastAPI(
        title="briefmail API", version="1", docs_url=None, redoc_url=None, openapi_url=None
    )
    pages = public_pages(app)
    # The subscribe requests carried out after their answer (tests wait for them here).
    web.state.signups = pages.signups
    http = page_adapter(app)
    web.include_router(public_router(pages, http), include_in_schema=False)
    front = FrontPages(app.sessions, pages, app.taxonomy.label, app.settings.newsletter.slug)
    web.include_router(front_router(front, http), include_in_schema=False)
    settings = app.settings.newsletter
    archive = Archive(
        app.sessions,
        app.renderer,
        list_identity(app),
        settings.base_url,
        settings.slug,
        pages.views,
    )
    web.include_router(archive_router(archive), include_in_schema=False)
    web.include_router(health_router(app), include_in_schema=False)
    web.include_router(assets_router(), include_in_schema=False)
    web.include_router(console_router(app), include_in_schema=False)
    # The sends the API started, each in a thread after its answer (tests wait for them here).
    web.state.api_sends = BackgroundSends()
    web.include_router(api_router(app, web.state.api_sends))
    install_api_docs(web, error_page(pages))
    install_security_headers(web)
    return web
