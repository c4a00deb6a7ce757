"""The REST API at /api/v1 (bearer tokens; OpenAPI at /api/openapi.json, Swagger UI at /api/docs).

Every route calls the same library operations as the CLI and the console: the modules here
only translate a request into one call and its result (or refusal) into JSON. Swagger UI is
served from the copy vendored in ``static/`` (npm's swagger-ui-dist is its source; a test keeps
them identical) by three fixed routes: the docs page loads nothing from anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from briefmail.app import Briefmail
from briefmail.web.api.base import Api
from briefmail.web.api.errors import PageForError, install_error_handlers
from briefmail.web.api.feedback import FeedbackApi
from briefmail.web.api.issues import IssuesApi
from briefmail.web.api.runs import RunsApi
from briefmail.web.api.sending import IssueSendingApi
from briefmail.web.api.subscribers import SubscribersApi
from briefmail.web.sends import BackgroundSends

__all__ = ["OPENAPI_URL", "VENDORED", "BackgroundSends", "api_router", "install_api_docs"]

STATIC = Path(__file__).resolve().parent / "static"
#: The vendored files of npm's swagger-ui-dist (a test checks they are byte-identical).
VENDORED = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
OPENAPI_URL = "/api/openapi.json"
DESCRIPTION = """\
Run a briefmail newsletter from another program.

Every request carries a token: `Authorization: Bearer <token>` (create one with `briefmail
tokens create --scope read|write|send`). Scopes nest: **read** ⊂ **write** (create, edit,
approve, test-send, change subscribers) ⊂ **send** (send, schedule, pause/resume/cancel, erase).

Errors are `{"error": {"code": "stable_snake_case", "message": "…", "field": "…"}}`. Listings
are paged by cursor: `?limit=50&cursor=…` answers `{"data": [...], "next_cursor": …}`. A POST
that creates or sends takes an `Idempotency-Key` header: a retry with the same key and body
gets the first answer again (`Idempotent-Replayed: true`).
"""


def api_router(app: Briefmail, sends: BackgroundSends | None = None) -> APIRouter:
    """Every /api/v1 route, each behind a token of the scope it needs."""
    api = Api(app, sends or BackgroundSends())
    router = APIRouter(prefix="/api/v1")
    for resource in (IssuesApi, IssueSendingApi, RunsApi, SubscribersApi, FeedbackApi):
        router.include_router(resource(api).router())
    return router


def install_api_docs(web: FastAPI, page: PageForError | None = None) -> None:
    """The API's error shape, /api/openapi.json, Swagger UI at /api/docs and its vendored files.

    Each is a plain GET route (no static mount): only these three files are served. A browser's
    refusal outside /api is ``page``'s (briefmail.web.front.error_page).
    """
    install_error_handlers(web, page)
    web.description = DESCRIPTION

    @web.get(OPENAPI_URL, include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(web.openapi())

    @web.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title="briefmail API",
            swagger_js_url="/api/static/swagger-ui-bundle.js",
            swagger_css_url="/api/static/swagger-ui.css",
            swagger_favicon_url="/api/static/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    for name, media_type in VENDORED.items():
        web.add_api_route(
            f"/api/static/{name}",
            _vendored(name, media_type),
            methods=["GET"],
            include_in_schema=False,
        )


def _vendored(name: str, media_type: str) -> Callable[[], FileResponse]:
    """The route serving one vendored file (cached for a day: it changes with the package)."""
    path = STATIC / name

    def serve() -> FileResponse:
        return FileResponse(
            path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )

    serve.__name__ = f"api_static_{name.replace('-', '_').replace('.', '_')}"
    return serve
