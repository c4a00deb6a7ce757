"""Signing in and out of the console: /admin/login and /admin/logout.

The sign-in form has a CSRF token of its own before there is a session: a random value in a
short-lived cookie and, in the form, its HMAC under the site's secret (a signed double submit),
so another site cannot sign a browser in to an account of its choosing. A refusal says the same
for an unknown address as for a wrong password; too many failures answer 429, the same page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from briefmail.accounts.operators import LoginRefused, LoginThrottled
from briefmail.app import Briefmail
from briefmail.web.console.ui import CSRF, ROOT, ConsoleUI, Viewer, local_next

__all__ = ["LOGIN_COOKIE", "router"]

LOGIN_COOKIE = "briefmail_login"
_LOGIN_CONTEXT = b"briefmail console sign-in form\x00"
#: How long a sign-in form stays good to send.
_FORM_SECONDS = 2 * 3600

FormField = Annotated[str, Form()]


class LoginForm:
    """The sign-in form's own CSRF token, bound to a random cookie."""

    def __init__(self, app: Briefmail, ui: ConsoleUI) -> None:
        self._key = app.settings.secret().encode()
        self._ui = ui

    def token(self, nonce: str) -> str:
        """The form field that goes with this cookie value."""
        return hmac.new(self._key, _LOGIN_CONTEXT + nonce.encode(), hashlib.sha256).hexdigest()

    def check(self, request: Request, token: str) -> bool:
        """Whether the form's token matches the browser's sign-in cookie."""
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        return 16 <= len(nonce) <= 64 and hmac.compare_digest(self.token(nonce), token)

    def page(
        self,
        request: Request,
        *,
        next_url: str,
        email: str = "",
        message: str | None = None,
        status_code: int = 200,
    ) -> Response:
        """The sign-in page, with a fresh form cookie and its token."""
        nonce = secrets.token_urlsafe(24)
        response = self._ui.page(
            request,
            None,
            "login.html",
            status_code=status_code,
            login_csrf=self.token(nonce),
            next=next_url,
            email=email,
            message=message,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=_FORM_SECONDS,
            path=ROOT,
            secure=self._ui.secure,
            httponly=True,
            samesite="lax",
        )
        return response


def _missing_field(email: str, password: str) -> str | None:
    """What the sign-in form lacks, naming the field; None when both are there."""
    if not email.strip():
        return "email: enter your e-mail address."
    if not password:
        return "password: enter your password."
    return None


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET/POST /login and POST /logout."""
    routes = APIRouter()
    form = LoginForm(app, ui)

    @routes.get("/login")
    def login_page(request: Request, next: str = ROOT) -> Response:
        target = local_next(next)
        if ui.signed_in(request) is not None:
            return ui.redirect(target)
        return form.page(request, next_url=target)

    @routes.post("/login")
    def login(
        request: Request,
        email: FormField = "",
        password: FormField = "",
        csrf: FormField = "",
        next: FormField = ROOT,
    ) -> Response:
        target = local_next(next)
        if not ui.same_site(request) or not form.check(request, csrf):
            message = "The sign-in form had expired or came from another site: try again."
            return form.page(
                request, next_url=target, email=email, message=message, status_code=403
            )
        if missing := _missing_field(email, password):
            return form.page(
                request, next_url=target, email=email, message=missing, status_code=400
            )
        try:
            operator = app.operators.authenticate(email, password, ui.ip(request))
        except LoginThrottled as throttled:
            response = form.page(
                request, next_url=target, email=email, message=str(throttled), status_code=429
            )
            response.headers["retry-after"] = str(throttled.retry_after_seconds)
            return response
        except LoginRefused as refused:
            return form.page(
                request,
                next_url=target,
                email=email,
                message=refused.message.capitalize() + ".",
                status_code=401,
            )
        response = ui.redirect(target)
        ui.set_session(response, app.operators.open_session(operator))
        response.delete_cookie(LOGIN_COOKIE, path=ROOT)
        return response

    @routes.post("/logout", dependencies=[CSRF])
    def logout(request: Request, operator: Viewer) -> Response:
        app.audit.record(operator.actor, "logout", f"operator:{operator.email}", ip=ui.ip(request))
        response = ui.redirect(f"{ROOT}/login", "You are signed out.")
        ui.end_session(response)
        return response

    return routes
