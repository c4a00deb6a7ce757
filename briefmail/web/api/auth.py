"""Who is calling: the bearer token, its scope, and the application acting for it.

A token is checked by a dependency that runs before the request's body is read, so a request
without a valid token gets 401 (with ``WWW-Authenticate: Bearer``) whatever else is wrong with
it, and a token of too low a scope gets 403. Scopes nest: read ⊂ write ⊂ send.

The library's operations record who acted from the application's ``actor`` (issue histories,
schedules); `Briefmail.acting_as` gives each request an application acting for its token
("api:NAME"), sharing the engine, the taxonomy and the renderer, so no request changes
another's actor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from briefmail.accounts.models import Scope
from briefmail.web.api.errors import ApiError

if TYPE_CHECKING:
    from briefmail.accounts.tokens import TokenView
    from briefmail.app import Briefmail

__all__ = ["Called", "Caller", "bearer", "current_caller", "guard"]

#: Shows the scheme in the OpenAPI document; the check itself is `Guard`'s.
bearer = HTTPBearer(auto_error=False, description="An API token: `briefmail tokens create`.")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class Caller:
    """One request's token, its address, and the application acting for it."""

    token: TokenView
    app: Briefmail
    ip: str | None

    @classmethod
    def of(cls, app: Briefmail, token: TokenView, request: Request) -> Caller:
        """The caller of a request let in by a guard."""
        ip = request.client.host if request.client else None
        return cls(token, app.acting_as(token.actor), ip)

    def audit(
        self,
        action: str,
        target: str | None = None,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Write one entry of this caller's action to the audit log."""
        self.app.audit.record(
            self.token.actor, action, target, before=before, after=after, ip=self.ip
        )


def guard(app: Briefmail, scope: Scope) -> Callable[..., Caller]:
    """The dependency that lets a request in with a live token of at least ``scope``."""

    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        caller: Caller | None = getattr(request.state, "api_caller", None)
        if caller is None:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise _unauthorized("send an API token: Authorization: Bearer <token>")
            token = app.tokens.verify(credentials.credentials)
            if token is None:
                raise _unauthorized("the API token is not valid (unknown or revoked)")
            caller = Caller.of(app, token, request)
            request.state.api_caller = caller
        if not caller.token.may(scope):
            raise ApiError(
                403,
                "insufficient_scope",
                f"this needs a token of scope {scope}; this token's scope is {caller.token.scope}",
            )
        return caller

    return check


def current_caller(request: Request) -> Caller:
    """The caller the route's guard let in (the guard always runs first)."""
    caller: Caller = request.state.api_caller
    return caller


#: A route's parameter for its caller: ``caller: Called``.
Called = Annotated[Caller, Depends(current_caller)]
