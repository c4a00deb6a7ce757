"""The Jinja pages of the public site, and what every route answers with.

The pages are server-rendered and work without JavaScript; every value is autoescaped, and a
template that names an unknown value fails instead of rendering blank. A route that refuses a
request raises `Refused` (a status and one sentence for the reader), which `Pages.refused`
turns into the error page; a form whose CSRF token does not fit gets `Pages.retry`. The
public forms are guarded by `RateLimiter`s, in memory (one web process answers them).

Who is asking: `client_ip` is the peer's address, unless the peer is one of the configured
trusted proxies (`web.trusted_proxies`), in which case X-Forwarded-For is read from the right,
skipping trusted hops; anyone else's X-Forwarded-For is ignored, because any client can send
one. Where from: `same_origin` checks a form POST's Sec-Fetch-Site, Origin or Referer against
the site, and `FormCookie` holds the short-lived random value the subscribe form's CSRF
token is bound to.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlsplit

import jinja2
from fastapi import Form, Request
from fastapi.responses import HTMLResponse

from subscribers.models import ConsentSource
from subscribers.service import Context
from subscribers.tokens import InvalidToken

__all__ = [
    "WORDING",
    "FormCookie",
    "FormInt",
    "FormList",
    "FormText",
    "Pages",
    "RateLimiter",
    "Refused",
    "TrustedProxies",
    "client_ip",
    "consent_context",
    "same_origin",
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


#: The networks whose X-Forwarded-For is believed (``web.trusted_proxies``).
TrustedProxies = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


def _trusted(address: str, proxies: TrustedProxies) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_ip(request: Request, proxies: TrustedProxies = ()) -> str:
    """The visitor's IP: the peer, or the nearest untrusted hop a trusted proxy forwarded for."""
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    # Each proxy appends the address it received from, so the rightmost hop that is not one
    # of ours is the client; anything to its left the client may have written itself.
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage from a proxy we trust: fall back to what we can see
    return hops[0] if hops else peer


def consent_context(request: Request, proxies: TrustedProxies = ()) -> Context:
    """Where a consent given through these pages came from, as the consent log records it."""
    return Context(
        source=ConsentSource.WEB,
        ip=client_ip(request, proxies),
        user_agent=request.headers.get("user-agent"),
        wording=WORDING,
    )


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, base_url: str) -> bool:
    """Whether a POST comes from one of our own pages (OWASP: Fetch Metadata, Origin, Referer).

    A browser says where a request comes from in Sec-Fetch-Site (all current ones), Origin
    (with every form POST, "null" under some referrer policies) and Referer (our pages send it
    to our own origin only). A request that says none of these is refused: it cannot be told
    apart from a forged one.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    ours = {_origin(base_url), _origin(str(request.base_url))} - {None}
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin.lower() in ours
    referer = request.headers.get("referer")
    return referer is not None and _origin(referer) in ours


class FormCookie:
    """The short-lived random cookie the subscribe form's CSRF token is bound to."""

    def __init__(self, base_url: str, max_age: int = 2 * 3600) -> None:
        self.secure = base_url.startswith("https://")
        # __Host-: only this host may set it, over HTTPS, for every path (no cookie tossing).
        self.name = "__Host-briefmail-form" if self.secure else "briefmail-form"
        self.max_age = max_age

    def read(self, request: Request) -> str:
        """The visitor's form cookie, or "" when there is none."""
        value = request.cookies.get(self.name, "")
        return value if 16 <= len(value) <= 64 else ""

    def value_for(self, request: Request) -> tuple[str, bool]:
        """The visitor's cookie value, or a new one; and whether it must be set."""
        value = self.read(request)
        return (value, False) if value else (secrets.token_urlsafe(24), True)

    def set(self, response: HTMLResponse, value: str) -> HTMLResponse:
        """Set the cookie on a response (HttpOnly, SameSite=Lax, Secure on HTTPS)."""
        response.set_cookie(
            self.name,
            value,
            max_age=self.max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )
        return response


class RateLimiter:
    """Allows at most ``limit`` events per key in a sliding ``window`` of seconds (in memory)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        """Record an attempt for ``key``; False once the limit is reached."""
        if not self.allows(key):
            return False
        self._events[key].append(self._clock())
        return True

    def allows(self, key: str) -> bool:
        """Whether an attempt for ``key`` would be allowed now (nothing is recorded)."""
        events = self._events.get(key)
        if events is None:
            return True
        cutoff = self._clock() - self.window
        while events and events[0] <= cutoff:
            events.popleft()
        if not events:
            del self._events[key]  # keys of the past must not pile up in memory
        return len(events) < self.limit
