"""The console's own assets (its stylesheet and the vendored htmx), served by briefmail itself.

No CDN and no build chain: htmx.min.js is a byte-for-byte copy of the npm package's
dist/htmx.min.js (a test keeps them equal). Pages ask for `?v=<content hash>`, so a browser may
keep an asset for a year and still sees a new one the moment it changes.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from briefmail.app import Briefmail
from briefmail.web.console.ui import STATIC, ConsoleUI

__all__ = ["ASSETS", "router"]

#: The files served, with their media types; nothing else under static/ is reachable.
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "htmx.min.js": "text/javascript; charset=utf-8",
}


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /static/{name}: one of ASSETS, with an ETag and long caching."""
    routes = APIRouter()
    files = {name: (STATIC / name).read_bytes() for name in ASSETS}
    tags = {name: f'"{hashlib.sha256(body).hexdigest()[:16]}"' for name, body in files.items()}

    @routes.get("/static/{name}")
    def asset(request: Request, name: str) -> Response:
        if name not in files:
            raise HTTPException(404, f"No console asset is called {name!r}.")
        headers = {
            "etag": tags[name],
            "cache-control": "public, max-age=31536000, immutable",
        }
        if request.headers.get("if-none-match") == tags[name]:
            return Response(status_code=304, headers=headers)
        return Response(files[name], media_type=ASSETS[name], headers=headers)

    return routes
