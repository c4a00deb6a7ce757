"""The security headers of the reader-facing pages, and the one script those pages load.

Every answer outside /admin and /api (the subscribe and preferences pages, the archive, its
feed, the health check) carries a Content-Security-Policy that allows no inline script and no
framing, a Referrer-Policy that tells other sites only our origin, and nosniff. The console and
the API set their own: the console frames its e-mail previews, and Swagger UI at /api/docs has
its own scripts. A header a route set itself is kept.

The subscribe form's only script (pre-filling the reader's time zone) is the file
``static/subscribe.js``, served at ``/assets/subscribe.js`` with an ETag, so the policy needs
no 'unsafe-inline' for scripts. Styles may be inline: the archive shows the issue as mailed,
and e-mail HTML carries its CSS inline. Images may come from https: an issue's pictures are
the publisher's, wherever they are hosted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

__all__ = ["PUBLIC_HEADERS", "SCRIPT", "assets_router", "install_security_headers"]

#: What every reader-facing answer carries unless its route set the header itself.
PUBLIC_HEADERS: Mapping[str, str] = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: https:; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-content-type-options": "nosniff",
}
#: The public pages' script, and where they load it from.
SCRIPT = Path(__file__).resolve().parent / "static" / "subscribe.js"
SCRIPT_PATH = "/assets/subscribe.js"
#: Faces that send their own headers.
_OWN_HEADERS = ("/admin", "/api")


def install_security_headers(web: FastAPI) -> None:
    """Add PUBLIC_HEADERS to every answer outside /admin and /api (kept where already set)."""

    @web.middleware("http")
    async def secure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(_OWN_HEADERS):
            for name, value in PUBLIC_HEADERS.items():
                response.headers.setdefault(name, value)
        return response


def assets_router() -> APIRouter:
    """GET /assets/subscribe.js: the public pages' one script, with an ETag."""
    router = APIRouter()
    body = SCRIPT.read_bytes()
    tag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'

    @router.get(SCRIPT_PATH)
    def script(request: Request) -> Response:
        """The time-zone pre-fill script (cached for a day; revalidated by its ETag)."""
        headers = {"etag": tag, "cache-control": "public, max-age=86400"}
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)

    return router
