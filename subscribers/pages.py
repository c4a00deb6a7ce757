"""The Jinja pages of the public site, and what every route answers with.

The pages are server-rendered and work without JavaScript; every value is autoescaped, and a
template that names an unknown value fails instead of rendering blank. A route that refuses a
request raises `Refused` (a status and one sentence for the reader), which `Pages.refused`
turns into the error page; a form whose CSRF token does not fit gets `Pages.retry`. The
public forms are guarded by `RateLimiter`s, in memory (one web process answers them).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from importlib import resources
from typing import Annotated, Any

import jinja2
from fastapi import Form, Request
from fastapi.responses import HTMLResponse

from subscribers.models import ConsentSource
from subscribers.service import Context
from subscribers.tokens import InvalidToken

__all__ = [
    "WORDING",
    "FormInt",
    "FormList",
    "FormText",
    "Pages",
    "RateLimiter",
    "Refused",
    "consent_context",
]

#: The version of the form wording, stored with every consent given through these pages.
#: Change it whenever the text a person agrees to changes.
WORDING = "2026-11-web-1"

# FastAPI resolves (string) annotations in the globals of the module that declares a route:
# route modules import these names, so they are globals there too.
FormText = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]
FormInt = Annotated[int, Form()]


class Refused(Exception):
    """A request that gets an error page: status and a message for the reader."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class Pages:
    """The page templates (subscribers/templates), loaded once per router."""

    def __init__(self) -> None:
        folder = resources.files("subscribers").joinpath("templates")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render one page template as the response."""
        body = self.env.get_template(name).render(**context)
        return HTMLResponse(body, status_code=status)

    def refused(self, exc: Refused) -> HTMLResponse:
        """The error page for a refused request."""
        return self.page("message.html", exc.status, title="Sorry", message=str(exc))

    def retry(self, exc: InvalidToken) -> HTMLResponse:
        """The page for a form whose CSRF token has expired or belongs to another page."""
        return self.page("message.html", 400, title="Please try again", message=f"{exc}.")


def consent_context(request: Request) -> Context:
    """Where a consent given through these pages came from, as the consent log records it."""
    return Context(
        source=ConsentSource.WEB,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        wording=WORDING,
    )


class RateLimiter:
    """Allows at most ``limit`` events per key in a sliding ``window`` of seconds (in memory)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        """Record an attempt for ``key``; False once the limit is reached."""
        now = self._clock()
        events = self._events[key]
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True
