"""Where the public pages meet HTTP: who is asking, from where, and the answer as a response.

`PageAdapter.visitor` reads what a handler of `subscribers.pages` needs from a request, and
`PageAdapter.respond` turns its `Answer` into a Starlette response.

Who is asking: `client_ip` is the peer's address, unless the peer is one of the configured
trusted proxies (`web.trusted_proxies`), in which case X-Forwarded-For is read from the right,
skipping trusted hops; anyone else's X-Forwarded-For is ignored, because any client can send
one. Where from: `same_origin` checks a form POST's Sec-Fetch-Site, Origin or Referer against
the site, and `FormCookie` holds the short-lived random value the subscribe form's CSRF token
is bound to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.background import BackgroundTask

from subscribers.page_views import Answer
from subscribers.pages import FORM_MAX_AGE, Visitor

__all__ = [
    "FormCookie",
    "FormInt",
    "FormList",
    "FormText",
    "PageAdapter",
    "TrustedProxies",
    "client_ip",
    "same_origin",
]

# FastAPI resolves (string) annotations in the globals of the module that declares a route:
# route modules import these names, so they are globals there too.
FormText = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]
FormInt = Annotated[int, Form()]

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

    def __init__(self, base_url: str, max_age: int = FORM_MAX_AGE) -> None:
        self.secure = base_url.startswith("https://")
        # __Host-: only this host may set it, over HTTPS, for every path (no cookie tossing).
        self.name = "__Host-briefmail-form" if self.secure else "briefmail-form"
        self.max_age = max_age

    def read(self, request: Request) -> str:
        """The visitor's form cookie, or "" when there is none (or it is not one of ours)."""
        value = request.cookies.get(self.name, "")
        return value if 16 <= len(value) <= 64 else ""

    def set(self, response: Response, value: str) -> Response:
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


@dataclass(frozen=True, slots=True)
class PageAdapter:
    """Reads a request for a page handler, and turns the handler's answer into a response."""

    base_url: str
    proxies: TrustedProxies = ()

    @property
    def cookie(self) -> FormCookie:
        """The subscribe form's cookie on this site."""
        return FormCookie(self.base_url)

    def visitor(self, request: Request) -> Visitor:
        """Who sent the request: address, user agent, form cookie, and whether it is ours."""
        return Visitor(
            ip=client_ip(request, self.proxies),
            user_agent=request.headers.get("user-agent"),
            form_cookie=self.cookie.read(request),
            same_origin=same_origin(request, self.base_url),
        )

    def respond(self, answer: Answer) -> Response:
        """The answer as a response: its cookie set, its after-work run once it has gone out."""
        response: Response
        if answer.kind == "text":
            response = PlainTextResponse(answer.body, status_code=answer.status)
        else:
            response = HTMLResponse(answer.body, status_code=answer.status)
        if answer.form_cookie is not None:
            self.cookie.set(response, answer.form_cookie)
        if answer.after is not None:
            response.background = BackgroundTask(answer.after)
        return response
