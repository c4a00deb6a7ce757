"""The confirmation link's routes: GET shows one button, POST confirms (thin adapters).

Corporate link scanners fetch every link in a message before the reader sees it, so only the
POST of the page's button confirms, records the consent and sends the welcome
(`subscribers.pages.PublicPages.confirm`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from briefmail.web.forms import FormText, PageAdapter
from subscribers.pages import PublicPages

__all__ = ["confirm_router"]


def confirm_router(pages: PublicPages, http: PageAdapter) -> APIRouter:
    """GET /confirm/TOKEN (the button) and POST /confirm/TOKEN (confirm and welcome)."""
    router = APIRouter()

    @router.get("/confirm/{token}", response_class=HTMLResponse)
    def confirm_page(token: str) -> Response:
        """One button that confirms; the GET itself changes nothing (link scanners fetch it)."""
        return http.respond(pages.confirm_page(token))

    @router.post("/confirm/{token}", response_class=HTMLResponse)
    async def confirm_submit(request: Request, token: str, csrf: FormText = "") -> Response:
        """Confirm the subscriptions a confirmation link names; welcome the reader once."""
        return http.respond(await pages.confirm(token, csrf, http.visitor(request)))

    return router
