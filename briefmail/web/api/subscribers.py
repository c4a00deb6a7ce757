"""/api/v1/subscribers: list, add (double opt-in or an import), read, change, confirm, remove.

Adding is `PeopleService.add`, the operation behind `briefmail subscribers add` and the
console: a new pending reader gets the confirmation e-mail, an address already on the list
changes only with ``update``, a suppressed one is refused with its reason. A person is named by
their address in the path (URL-encoded: ``reader%2Btag@example.org``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from briefmail.accounts.models import Scope
from briefmail.services.people import SubscriptionView
from briefmail.web.api.auth import Called, Caller
from briefmail.web.api.base import Api
from briefmail.web.api.idempotency import idempotent
from briefmail.web.api.issues import ListSlug
from briefmail.web.api.pagination import PageQuery, encode_cursor, page_query
from subscribers.db import as_utc
from subscribers.directory import Found
from subscribers.directory import Query as DirectoryQuery
from subscribers.models import Cadence, ConsentSource, SubscriptionStatus
from subscribers.rules import DEFAULT_SEND_HOUR
from subscribers.service import Context

__all__ = ["NewSubscriber", "Preferences", "SubscribersApi"]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retry-safe: the first answer is replayed."),
]


class NewSubscriber(BaseModel):
    """An address to add to a list, pending its owner's confirmation unless ``confirmed``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    email: str
    list_slug: str | None = Field(None, alias="list", description="The list's slug.")
    topics: list[str] = Field(default_factory=list, description="None chosen: every topic.")
    cadence: str = "daily"
    timezone: str = "UTC"
    send_hour: int = DEFAULT_SEND_HOUR
    confirmed: bool = Field(False, description="An import whose consent the operator holds.")
    send_email: bool = Field(True, description="Mail the confirmation to a pending reader.")
    update: bool = Field(False, description="Change an address already on the list.")


class Preferences(BaseModel):
    """A reader's settings to change; a field left out keeps its value."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    list_slug: str | None = Field(None, alias="list", description="The list's slug.")
    topics: list[str] | None = Field(None, description="[] means every topic.")
    cadence: str | None = None
    timezone: str | None = None
    send_hour: int | None = None


def view_json(view: SubscriptionView) -> dict[str, Any]:
    """A subscription as the API shows it (its list and send hour too)."""
    return {**view.as_json(), "list": view.list, "send_hour": view.send_hour}


def _found_json(row: Found, slug: str) -> dict[str, Any]:
    """One search result as the API shows a subscription."""
    return {
        "email": row.email,
        "list": slug,
        "status": row.status,
        "cadence": row.cadence,
        "timezone": row.timezone,
        "send_hour": row.send_hour,
        "topics": list(row.topics),
        "created_at": as_utc(row.created_at).isoformat(),
    }


def _context(caller: Caller, *, imported: bool = False) -> Context:
    """The consent record's "where": the operator's tool, named by the token."""
    source = ConsentSource.IMPORT if imported else ConsentSource.CLI
    return Context(source=source, ip=None, user_agent=f"briefmail API ({caller.token.actor})")


class SubscribersApi:
    """Subscribers of the lists and what is held about each person."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def router(self) -> APIRouter:
        """The subscriber routes."""
        api, router = self.api, self.api.router("subscribers")
        path = "/subscribers/{email}"
        api.add(router, "GET", "/subscribers", self.list_subscribers, Scope.READ)
        api.add(router, "POST", "/subscribers", self.add, Scope.WRITE, status=201)
        api.add(router, "GET", path, self.show, Scope.READ)
        api.add(router, "PATCH", path, self.change, Scope.WRITE)
        api.add(router, "DELETE", path, self.unsubscribe, Scope.WRITE)
        api.add(router, "POST", f"{path}/confirm", self.confirm, Scope.WRITE)
        api.add(router, "POST", f"{path}/resend-confirmation", self.resend, Scope.WRITE)
        api.add(router, "POST", f"{path}/erase", self.erase, Scope.SEND)
        api.add(router, "GET", f"{path}/export", self.export, Scope.READ)
        return router

    def list_subscribers(
        self,
        caller: Called,
        page: Annotated[PageQuery, Depends(page_query)],
        slug: ListSlug = None,
        status: Annotated[
            SubscriptionStatus | None, Query(description="Only subscriptions in this status.")
        ] = None,
        q: Annotated[str, Query(description="Part of the address (any case).")] = "",
        topic: Annotated[str | None, Query(description="Readers who receive this topic.")] = None,
        cadence: Annotated[Cadence | None, Query()] = None,
    ) -> dict[str, Any]:
        """A list's subscriptions, newest first, a page at a time, with counts per status."""
        chosen = caller.app.people.list_slug(slug)
        before = page.after if isinstance(page.after, int) else None
        query = DirectoryQuery(
            text=q, status=status, topic=topic, cadence=cadence, before_id=before, limit=page.limit
        )
        found = caller.app.people.search(query, chosen)
        return {
            "data": [_found_json(row, chosen) for row in found.rows],
            "next_cursor": encode_cursor(found.next_before) if found.next_before else None,
            "counts": found.counts,
        }

    def add(
        self, caller: Called, body: NewSubscriber, request: Request, key: IdempotencyKey = None
    ) -> JSONResponse:
        """Add an address: pending and sent the confirmation e-mail, or ``confirmed`` (import)."""
        route = f"POST {request.url.path}"
        return idempotent(caller, key, route, body.model_dump(), lambda: self._add(caller, body))

    def _add(self, caller: Caller, body: NewSubscriber) -> JSONResponse:
        added = caller.app.people.add(
            body.email,
            body.list_slug,
            topics=body.topics,
            cadence=body.cadence,
            timezone=body.timezone,
            send_hour=body.send_hour,
            confirmed=body.confirmed,
            send_email=body.send_email,
            update=body.update,
            actor=caller.token.actor,
            context=_context(caller, imported=body.confirmed),
        )
        view = added.subscription  # audited by the service, by subscriber id
        answer = {**added.as_json(), "list": view.list, "send_hour": view.send_hour}
        return JSONResponse(answer, status_code=201 if added.outcome == "created" else 200)

    def show(self, caller: Called, email: str) -> dict[str, Any]:
        """A person: subscriptions, consent history, suppression and its evidence, deliveries."""
        return caller.app.people.profile(email)

    def change(self, caller: Called, email: str, body: Preferences) -> dict[str, Any]:
        """Change a reader's topics, cadence, time zone or send hour (others kept)."""
        view = caller.app.people.change_preferences(
            email,
            body.list_slug,
            topics=body.topics,
            cadence=body.cadence,
            timezone=body.timezone,
            send_hour=body.send_hour,
            context=_context(caller),
            actor=caller.token.actor,
            ip=caller.ip,
        )
        return view_json(view)

    def unsubscribe(self, caller: Called, email: str, slug: ListSlug = None) -> dict[str, Any]:
        """Unsubscribe the address from the list (its consent history is kept)."""
        view = caller.app.people.unsubscribe(
            email, slug, context=_context(caller), actor=caller.token.actor, ip=caller.ip
        )
        return view_json(view)

    def confirm(self, caller: Called, email: str, slug: ListSlug = None) -> dict[str, Any]:
        """Record the person's confirmation (given by reply, on paper); ``changed`` if pending."""
        view, changed = caller.app.people.confirm_for(email, slug, actor=caller.token.actor)
        return {**view_json(view), "changed": changed}

    def resend(self, caller: Called, email: str, slug: ListSlug = None) -> dict[str, Any]:
        """Mail the confirmation again (at most one an hour per address; ``skipped`` says why)."""
        [sent] = caller.app.people.resend_confirmation([email], slug, actor=caller.token.actor)
        return sent.as_json()

    def erase(self, caller: Called, email: str) -> dict[str, Any]:
        """Erase everything held about the person; only a suppression hash remains."""
        # Audited by the service, by subscriber id: an erasure leaves no address behind.
        erased = caller.app.people.erase(email, actor=caller.token.actor, ip=caller.ip)
        return erased.as_json()

    def export(self, caller: Called, email: str) -> dict[str, Any]:
        """Everything held about the person (GDPR Art. 15/20), as JSON."""
        return caller.app.people.export_data(email)
