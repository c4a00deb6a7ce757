"""What every console page shares: who is signed in, CSRF, the layout, flashes and headers.

`ConsoleUI` is built once from the app. Its dependencies `viewer`, `editor` and `owner` answer
the signed-in operator of at least that role; without a session a browser is sent to the
sign-in page (an htmx request gets 401 with HX-Redirect), and a role too low gets a styled 403
page. `csrf` guards every POST: the `csrf` form field or the X-CSRF-Token header must be the
session's token, and a request from another site is refused whatever it carries.

Route modules that use `from __future__ import annotations` cannot name a closure's `ui` in an
annotation (FastAPI evaluates it in the module's globals), so the same dependencies exist as
module-level aliases: `operator: Viewer` (or Editor, Owner) and `dependencies=[CSRF]`.

A dependency that refuses raises `ConsoleAnswer`; `ConsoleRouter` (the /admin router) turns it,
an HTTPException or a form that does not validate into a styled page, and gives every /admin
response the security headers (a route may set its own first: see `frameable`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.types import Message, Receive, Scope, Send

from briefmail.accounts.models import Role
from briefmail.accounts.operators import OperatorView
from briefmail.app import Briefmail
from briefmail.web.forms import client_ip

__all__ = [
    "CSRF",
    "FLASH_COOKIE",
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "ConsoleAnswer",
    "ConsoleRouter",
    "ConsoleUI",
    "Editor",
    "NavItem",
    "Owner",
    "Viewer",
    "frameable",
    "local_next",
]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
SESSION_COOKIE = "briefmail_session"
FLASH_COOKIE = "briefmail_flash"
#: Where the console lives; its cookies are sent nowhere else.
ROOT = "/admin"

#: Every /admin answer carries these unless the route set its own.
SECURITY_HEADERS: Mapping[str, str] = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    # Inline styles are allowed (e-mail previews and SVG charts carry them); scripts are not.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-src 'self'; form-action 'self'; base-uri 'none'; "
        "object-src 'none'; frame-ancestors 'none'"
    ),
}


class ConsoleAnswer(Exception):
    """A response a dependency answers instead of the page: a redirect or a refusal."""

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__(response.status_code)


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the console's navigation, shown to operators of at least `role`."""

    label: str
    href: str
    role: Role = Role.VIEWER


def frameable(response: Response) -> Response:
    """Let the console's own pages show this response in a frame (e-mail previews)."""
    response.headers["x-frame-options"] = "SAMEORIGIN"
    response.headers["content-security-policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; "
        "frame-ancestors 'self'; base-uri 'none'"
    )
    return response


def local_next(value: str | None) -> str:
    """A `next` address if it is a console path on this site, else the dashboard."""
    if not value:
        return ROOT
    parts = urlsplit(value)
    path = parts.path
    if (
        parts.scheme
        or parts.netloc
        or "\\" in value
        or not (path == ROOT or path.startswith(ROOT + "/"))
        or path.startswith(ROOT + "/login")
    ):
        return ROOT
    return path + (f"?{parts.query}" if parts.query else "")


def _when(value: dt.datetime | None, missing: str = "—") -> str:
    """A time as operators read it: "2026-06-26 07:00 UTC"."""
    if value is None:
        return missing
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float | int | None) -> str:
    """A count with thousands separated by a thin space."""
    if value is None:
        return "—"
    return f"{value:,}".replace(",", "\u202f")


def _static_url(name: str) -> str:
    """The address of a console asset, versioned by its content (cached for a year)."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"{ROOT}/static/{name}?v={digest}"


class ConsoleUI:
    """The console's shared parts, built once from the app."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app
        self.secure = app.settings.newsletter.base_url.startswith("https://")
        self.session_seconds = int(app.settings.console.session_hours * 3600)
        self.nav: list[NavItem] = [NavItem("Dashboard", ROOT)]
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["when"] = _when
        self.templates.filters["number"] = _number
        self.templates.globals["Role"] = Role
        self.templates.globals["static"] = {
            name: _static_url(name) for name in ("console.css", "htmx.min.js")
        }

    # Who is asking

    def ip(self, request: Request) -> str:
        """The client's address (trusting X-Forwarded-For only from [web] trusted_proxies)."""
        return client_ip(request, self.app.settings.web.trusted_proxies)

    def signed_in(self, request: Request) -> OperatorView | None:
        """The operator this request's session cookie signs in, or None."""
        cached = getattr(request.state, "operator", None)
        if isinstance(cached, OperatorView):
            return cached
        operator = self.app.operators.session(request.cookies.get(SESSION_COOKIE))
        request.state.operator = operator
        return operator

    def _require(self, request: Request, role: Role) -> OperatorView:
        operator = self.signed_in(request)
        if operator is None:
            raise ConsoleAnswer(self._sign_in_first(request))
        if not operator.may(role):
            raise ConsoleAnswer(
                self.error(
                    request,
                    403,
                    "Not allowed",
                    f"This needs the {role.value} role; you are signed in as "
                    f"{operator.email} ({operator.role.value}).",
                )
            )
        return operator

    def viewer(self, request: Request) -> OperatorView:
        """Dependency: any signed-in operator."""
        return self._require(request, Role.VIEWER)

    def editor(self, request: Request) -> OperatorView:
        """Dependency: an editor or an owner."""
        return self._require(request, Role.EDITOR)

    def owner(self, request: Request) -> OperatorView:
        """Dependency: an owner."""
        return self._require(request, Role.OWNER)

    def _sign_in_first(self, request: Request) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request"):
            current = request.headers.get("hx-current-url")
            back = local_next(urlsplit(current).path if current else here)
            return Response(
                status_code=401, headers={"HX-Redirect": f"{ROOT}/login?next={quote(back)}"}
            )
        login = f"{ROOT}/login?next={quote(local_next(here))}"
        if request.method in ("GET", "HEAD"):
            return RedirectResponse(login, status_code=303)
        return self.error(
            request, 401, "Signed out", "Your session has ended: sign in again.", link=login
        )

    # Where a POST comes from

    def same_site(self, request: Request) -> bool:
        """False when the browser says the request comes from another site."""
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return False
        origin = request.headers.get("origin")
        if origin is None:
            return True  # non-browser clients: the CSRF token still has to match
        ours = {_origin(self.app.settings.newsletter.base_url), _origin(str(request.base_url))}
        return origin.lower() in ours

    async def csrf(self, request: Request) -> None:
        """Dependency for POST routes: the session's CSRF token, sent from our own pages."""
        if not self.same_site(request):
            raise ConsoleAnswer(
                self.error(request, 403, "Refused", "This form was sent from another site.")
            )
        token: object = request.headers.get("x-csrf-token")
        if token is None:
            token = (await request.form()).get("csrf")
        cookie = request.cookies.get(SESSION_COOKIE)
        if not isinstance(token, str) or not self.app.operators.check_csrf(cookie, token):
            raise ConsoleAnswer(
                self.error(
                    request,
                    403,
                    "Form expired",
                    "This form's security token is missing or has expired: "
                    "reload the page and try again.",
                )
            )

    # Answers

    def page(
        self,
        request: Request,
        operator: OperatorView | None,
        template: str,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """Render a page template (which extends base.html) for this operator."""
        flash = _read_flash(request)
        html = self.render(template, request=request, operator=operator, flash=flash, **context)
        response = HTMLResponse(html, status_code=status_code)
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path=ROOT)
        return response

    def render(self, template: str, *, request: Request, **context: Any) -> str:
        """A template rendered with what base.html needs (operator, csrf, nav) filled in."""
        operator = context.pop("operator", None)
        if operator is None:
            operator = getattr(request.state, "operator", None)
        cookie = request.cookies.get(SESSION_COOKIE)
        context.setdefault("flash", None)
        return self.templates.get_template(template).render(
            request=request,
            operator=operator,
            csrf=self.app.operators.csrf_token(cookie) if operator else "",
            nav=self._nav(operator, request.url.path),
            path=request.url.path,
            **context,
        )

    def fragment(self, request: Request, template: str, **context: Any) -> HTMLResponse:
        """A partial template for htmx to swap in (no layout around it)."""
        return HTMLResponse(self.render(template, request=request, **context))

    def redirect(self, url: str, flash: str | None = None, *, tone: str = "ok") -> Response:
        """A 303 to `url` (after a POST), with a message the next page shows once."""
        response = RedirectResponse(url, status_code=303)
        if flash:
            value = quote(json.dumps([tone, flash[:600]]))
            response.set_cookie(
                FLASH_COOKIE,
                value,
                max_age=120,
                path=ROOT,
                secure=self.secure,
                httponly=True,
                samesite="lax",
            )
        return response

    def error(
        self,
        request: Request,
        status_code: int,
        title: str,
        message: str,
        *,
        link: str | None = None,
        fields: list[str] | None = None,
    ) -> HTMLResponse:
        """A styled error page (refusals, missing things, forms that do not validate)."""
        operator = getattr(request.state, "operator", None)
        return self.page(
            request,
            operator,
            "error.html",
            status_code=status_code,
            title=title,
            message=message,
            link=link,
            fields=fields or [],
        )

    def _nav(self, operator: OperatorView | None, path: str) -> list[dict[str, Any]]:
        if operator is None:
            return []
        items = []
        for item in self.nav:
            if not operator.may(item.role):
                continue
            current = path == item.href if item.href == ROOT else path.startswith(item.href)
            items.append({"label": item.label, "href": item.href, "current": current})
        return items

    # The session cookie

    def set_session(self, response: Response, value: str) -> None:
        """Give the browser its session cookie (HttpOnly, SameSite=Lax, Secure on https)."""
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=self.session_seconds,
            path=ROOT,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def end_session(self, response: Response) -> None:
        """Take the session cookie back."""
        response.delete_cookie(
            SESSION_COOKIE, path=ROOT, secure=self.secure, httponly=True, samesite="lax"
        )


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        tone, text = json.loads(unquote(raw))
    except (ValueError, TypeError):
        return None
    if not isinstance(text, str) or tone not in ("ok", "error"):
        return None
    return {"tone": str(tone), "text": text}


class ConsoleRouter(APIRouter):
    """The /admin router: styled refusals and errors, and security headers on every answer."""

    def __init__(self, ui: ConsoleUI) -> None:
        super().__init__()
        self.ui = ui

    def page_routes(self, routes: APIRouter, *, nav: NavItem | None = None) -> None:
        """Include a page module's routes under /admin (and its entry in the navigation)."""
        self.include_router(routes, prefix=ROOT)
        if nav is not None:
            self.ui.nav.append(nav)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle a request with the console's error pages and headers."""
        scope[_UI_KEY] = self.ui
        handlers, status_handlers = scope.get("starlette.exception_handlers", ({}, {}))
        scope["starlette.exception_handlers"] = (
            {
                **handlers,
                ConsoleAnswer: _answer,
                HTTPException: self._http_error,
                RequestValidationError: self._invalid,
            },
            status_handlers,
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await super().handle(scope, receive, send_with_headers)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        titles = {404: "Not found", 405: "Not allowed here", 409: "Conflict"}
        detail = exc.detail if isinstance(exc.detail, str) else "That did not work."
        response = self.ui.error(
            request, exc.status_code, titles.get(exc.status_code, "Refused"), detail
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def _invalid(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = []
        for error in exc.errors():
            where = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
            fields.append(f"{'.'.join(where) or 'form'}: {error.get('msg', 'is not valid')}")
        return self.ui.error(
            request, 400, "Check the form", "Some fields were not accepted.", fields=fields
        )


async def _answer(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleAnswer)
    return exc.response


_UI_KEY = "briefmail.console"


def _ui(request: Request) -> ConsoleUI:
    ui = request.scope.get(_UI_KEY)
    assert isinstance(ui, ConsoleUI), "a console dependency outside the ConsoleRouter"
    return ui


def _viewer(request: Request) -> OperatorView:
    return _ui(request).viewer(request)


def _editor(request: Request) -> OperatorView:
    return _ui(request).editor(request)


def _owner(request: Request) -> OperatorView:
    return _ui(request).owner(request)


async def _csrf(request: Request) -> None:
    await _ui(request).csrf(request)


#: A route parameter that is the signed-in operator (any role, an editor, an owner).
Viewer = Annotated[OperatorView, Depends(_viewer)]
Editor = Annotated[OperatorView, Depends(_editor)]
Owner = Annotated[OperatorView, Depends(_owner)]
#: For a POST route's `dependencies=[CSRF]`: the session's token, from our own pages.
CSRF = Depends(_csrf)
