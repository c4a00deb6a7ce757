"""What every resource module of the API shares: the app, the guards, and one way to add a route.

A resource is a class whose methods are the routes' handlers; `Api.add` registers one with the
guard of the scope it needs (which runs before anything else, so a request without a valid
token is answered 401 whatever its body) and the API's route class (every failure answered as
JSON). Handlers are plain functions of the request: they translate it into one call of a
library operation, and its result into JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends

from briefmail.accounts.models import Scope
from briefmail.web.api.auth import guard
from briefmail.web.api.errors import ApiRoute, error_body
from briefmail.web.sends import BackgroundSends

if TYPE_CHECKING:
    from briefmail.app import Briefmail

__all__ = ["ERRORS", "Api"]

#: The error answers every route may give, for the OpenAPI document.
_ERROR_SCHEMA = {
    "content": {
        "application/json": {
            "example": error_body("not_found", "no issue with id 7", None),
        }
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid token (`WWW-Authenticate: Bearer`)", **_ERROR_SCHEMA},
    403: {"description": "The token's scope is too low", **_ERROR_SCHEMA},
    404: {"description": "No such resource", **_ERROR_SCHEMA},
    409: {"description": "The resource's state does not allow this", **_ERROR_SCHEMA},
    422: {"description": "A field is not valid (`error.field` names it)", **_ERROR_SCHEMA},
}


@dataclass
class Api:
    """The application behind the API, the background sends, and a guard per scope."""

    app: Briefmail
    sends: BackgroundSends = field(default_factory=BackgroundSends)

    def __post_init__(self) -> None:
        self.guards = {scope: guard(self.app, scope) for scope in Scope}

    def router(self, tag: str) -> APIRouter:
        """An empty router of one resource (its routes answer every failure as JSON)."""
        return APIRouter(route_class=ApiRoute, tags=[tag], responses=ERRORS)

    def add(
        self,
        router: APIRouter,
        method: str,
        path: str,
        handler: Callable[..., Any],
        scope: Scope,
        *,
        status: int = 200,
        **options: Any,
    ) -> None:
        """Register ``handler`` for ``method path`` behind a token of ``scope``."""
        summary = (handler.__doc__ or "").strip().splitlines()[0].rstrip(".") or None
        router.add_api_route(
            path,
            handler,
            methods=[method],
            dependencies=[Depends(self.guards[scope])],
            status_code=status,
            summary=summary,
            description=f"Needs a token of scope **{scope}** (or higher).",
            **options,
        )
