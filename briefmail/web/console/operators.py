"""Operators and API tokens at /admin/operators: who may sign in, with which role; the API's keys.

Owners only. Every change goes through `app.operators` / `app.tokens`, which refuse what must
not happen (a short password, the last owner removed or demoted) and write the audit log with
the signed-in owner as the actor. A new token is shown on the answer to the POST that made it,
once: it is never stored, so it cannot be shown again, and it never travels in a cookie or a URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from briefmail.accounts.models import Role, Scope
from briefmail.accounts.operators import LastOwner, OperatorView
from briefmail.app import Briefmail
from briefmail.web.console.ui import CSRF, ROOT, ConsoleUI, Owner
from subscribers.rules import RuleError

__all__ = ["router"]

HERE = f"{ROOT}/operators"
FormField = Annotated[str, Form()]


class _OperatorsPage:
    """The page and its forms; each POST answers a redirect, or the page again with the error."""

    def __init__(self, app: Briefmail, ui: ConsoleUI) -> None:
        self.app = app
        self.ui = ui

    def show(
        self,
        request: Request,
        operator: OperatorView,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        """The operators and tokens, with whatever a form left to show (error, new token)."""
        context.setdefault("form", {"email": "", "role": Role.EDITOR.value})
        return self.ui.page(
            request,
            operator,
            "operators.html",
            status_code=status_code,
            operators=self.app.operators.list(),
            tokens=self.app.tokens.list(),
            roles=[role.value for role in Role],
            scopes=[scope.value for scope in Scope],
            me=operator,
            **context,
        )

    def refused(
        self, request: Request, operator: OperatorView, exc: RuleError, **context: Any
    ) -> Response:
        """The page again, saying why (409 when it would leave no owner, else 400)."""
        status = 409 if isinstance(exc, LastOwner) else 400
        return self.show(request, operator, status_code=status, error=str(exc), **context)

    def page(self, request: Request, operator: Owner) -> Response:
        """GET: the operators and the API tokens."""
        return self.show(request, operator)

    def add(
        self,
        request: Request,
        operator: Owner,
        email: FormField = "",
        role: FormField = Role.EDITOR.value,
        password: FormField = "",
    ) -> Response:
        """POST: add an operator (the password is never shown back)."""
        try:
            added = self.app.operators.add(
                email, role, password, actor=operator.actor, ip=self.ui.ip(request)
            )
        except RuleError as exc:
            form = {"email": email, "role": role}
            return self.refused(request, operator, exc, form=form)
        return self.ui.redirect(HERE, f"Added {added.email} ({added.role.value}).")

    def set_role(
        self, request: Request, operator: Owner, email: FormField = "", role: FormField = ""
    ) -> Response:
        """POST: give an operator another role."""
        try:
            changed = self.app.operators.set_role(
                email, role, actor=operator.actor, ip=self.ui.ip(request)
            )
        except RuleError as exc:
            return self.refused(request, operator, exc)
        return self.ui.redirect(HERE, f"{changed.email} is now {changed.role.value}.")

    def remove(self, request: Request, operator: Owner, email: FormField = "") -> Response:
        """POST: remove an operator (their sessions end at once)."""
        try:
            self.app.operators.remove(email, actor=operator.actor, ip=self.ui.ip(request))
        except RuleError as exc:
            return self.refused(request, operator, exc)
        return self.ui.redirect(HERE, f"Removed {email.strip()}; their sessions have ended.")

    def create_token(
        self, request: Request, operator: Owner, name: FormField = "", scope: FormField = ""
    ) -> Response:
        """POST: create an API token and show it, this once."""
        try:
            raw, token = self.app.tokens.create(name, scope, operator.actor, ip=self.ui.ip(request))
        except RuleError as exc:
            return self.refused(request, operator, exc, token_form={"name": name, "scope": scope})
        return self.show(request, operator, created={"token": raw, "view": token})

    def revoke_token(self, request: Request, operator: Owner, token_id: int) -> Response:
        """POST: revoke an API token for good."""
        try:
            token = self.app.tokens.revoke(token_id, actor=operator.actor, ip=self.ui.ip(request))
        except RuleError as exc:
            return self.refused(request, operator, exc)
        return self.ui.redirect(HERE, f"Revoked token {token.id} ({token.name}).")


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /operators and its forms: add, change role, remove; create and revoke tokens."""
    page = _OperatorsPage(app, ui)
    routes = APIRouter()
    routes.add_api_route("/operators", page.page, methods=["GET"])
    posts: dict[str, Callable[..., Response]] = {
        "/operators/add": page.add,
        "/operators/role": page.set_role,
        "/operators/remove": page.remove,
        "/operators/tokens": page.create_token,
        "/operators/tokens/{token_id}/revoke": page.revoke_token,
    }
    for path, endpoint in posts.items():
        routes.add_api_route(path, endpoint, methods=["POST"], dependencies=[CSRF])
    return routes
