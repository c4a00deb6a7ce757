"""Subscribers at /admin/subscribers: search, a person's page, and what an operator does to one.

The search filters a list by address (substring), status, topic and cadence, a keyset page at
a time, with the counts per status. A person's page (by subscriber id: addresses stay out of
URLs and logs) shows their subscriptions, consent history, recent deliveries, bounces and any
suppression with its evidence. Confirm, resend the confirmation and unsubscribe are editors';
erasing is an owner's, and only after the operator types the address. Every action goes
through `app.people` (the operations the CLI and the API use) with the operator as the actor,
which writes the audit entry. CSV import and export live in `people_import`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from briefmail.app import Briefmail
from briefmail.web.console import people_import
from briefmail.web.console.ui import CSRF, ConsoleUI, Editor, Owner, Viewer
from subscribers.directory import Query as Search
from subscribers.models import Cadence, SubscriptionStatus
from subscribers.service import NotSubscribed, normalise_email

__all__ = ["router"]

FormText = Annotated[str, Form()]


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """The search, the person's page and its actions, and (people_import) import and export."""
    routes = APIRouter()
    people_import.add_routes(routes, app, ui)  # before /subscribers/{id}: "import" is no id
    _search_routes(routes, app, ui)
    _person_routes(routes, app, ui)
    _action_routes(routes, app, ui)
    return routes


def parse_search(app: Briefmail, values: dict[str, str], lists: list[str]) -> Search:
    """The search form's fields checked (ValueError names the field) into a query."""
    slug = values.get("list") or app.settings.newsletter.slug
    if slug not in lists:
        raise ValueError(f"list: there is no list {slug!r}")
    status = values.get("status") or None
    if status is not None and status not in {s.value for s in SubscriptionStatus}:
        raise ValueError(f"status: {status!r} is not one of {', '.join(SubscriptionStatus)}")
    cadence = values.get("cadence") or None
    if cadence is not None and cadence not in {c.value for c in Cadence}:
        raise ValueError(f"cadence: {cadence!r} is not one of {', '.join(Cadence)}")
    topic = values.get("topic") or None
    if topic is not None and topic not in {t.id for t in app.taxonomy.topics}:
        raise ValueError(f"topic: {topic!r} is not a topic")
    before = values.get("before") or None
    if before is not None and not before.isdigit():
        raise ValueError("before: the page cursor must be a number")
    return Search(
        text=values.get("q", "")[:320],
        status=SubscriptionStatus(status) if status else None,
        topic=topic,
        cadence=Cadence(cadence) if cadence else None,
        before_id=int(before) if before else None,
    )


def _search_routes(routes: APIRouter, app: Briefmail, ui: ConsoleUI) -> None:
    """GET /subscribers: the filtered, paged search with counts per status."""

    @routes.get("/subscribers")
    def subscribers(request: Request, operator: Viewer) -> Response:
        lists = [n.slug for n in app.content.lists()]
        values = dict(request.query_params)
        try:
            query = parse_search(app, values, lists)
        except ValueError as exc:
            return ui.error(request, 400, "Check the search", str(exc))
        slug = values.get("list") or app.settings.newsletter.slug
        page = app.people.search(query, slug)
        following = {k: v for k, v in values.items() if k != "before" and v}
        return ui.page(
            request,
            operator,
            "people.html",
            page=page,
            values=values,
            slug=slug,
            lists=lists,
            statuses=[s.value for s in SubscriptionStatus],
            cadences=[c.value for c in Cadence],
            topics=app.taxonomy.topics,
            following=following,
        )


def _email_or_404(app: Briefmail, subscriber_id: int) -> str:
    """The subscriber's address, or a 404 page."""
    try:
        return app.people.email_of(subscriber_id)
    except NotSubscribed:
        raise HTTPException(404, f"There is no subscriber {subscriber_id}.") from None


HERE = "/admin/subscribers/{}"


def _person_routes(routes: APIRouter, app: Briefmail, ui: ConsoleUI) -> None:
    """GET /subscribers/{id}, and the owner's POST /subscribers/{id}/erase."""

    @routes.get("/subscribers/{subscriber_id}")
    def person(request: Request, operator: Viewer, subscriber_id: int) -> Response:
        email = _email_or_404(app, subscriber_id)
        try:
            profile = app.people.profile(email)
        except (NotSubscribed, ValueError):  # erased: the anonymised row holds nothing to show
            profile = None
        return ui.page(
            request, operator, "people_show.html", profile=profile, id=subscriber_id, email=email
        )

    @routes.post("/subscribers/{subscriber_id}/erase", dependencies=[CSRF])
    def erase(
        request: Request, operator: Owner, subscriber_id: int, typed: FormText = ""
    ) -> Response:
        email = _email_or_404(app, subscriber_id)
        if not same_address(typed, email):
            return ui.redirect(
                HERE.format(subscriber_id),
                "typed: type the subscriber's address exactly to erase them; nothing was erased.",
                tone="error",
            )
        app.people.erase(email, actor=operator.actor, ip=ui.ip(request))
        return ui.redirect(
            "/admin/subscribers", f"Subscriber {subscriber_id} erased: only a suppression remains."
        )


def _action_routes(routes: APIRouter, app: Briefmail, ui: ConsoleUI) -> None:
    """An editor's POST /subscribers/{id}/confirm, /resend and /unsubscribe (per list)."""

    @routes.post("/subscribers/{subscriber_id}/confirm", dependencies=[CSRF])
    def confirm(
        request: Request, operator: Editor, subscriber_id: int, list: FormText = ""
    ) -> Response:
        email = _email_or_404(app, subscriber_id)
        try:
            view, changed = app.people.confirm_for(email, list or None, actor=operator.actor)
        except (ValueError, NotSubscribed) as exc:
            return ui.redirect(HERE.format(subscriber_id), str(exc), tone="error")
        said = "confirmed" if changed else f"{view.status}, not pending: nothing changed"
        return ui.redirect(HERE.format(subscriber_id), f"{view.list}: {said}.")

    @routes.post("/subscribers/{subscriber_id}/resend", dependencies=[CSRF])
    def resend(
        request: Request, operator: Editor, subscriber_id: int, list: FormText = ""
    ) -> Response:
        email = _email_or_404(app, subscriber_id)
        try:
            (result,) = app.people.resend_confirmation([email], list or None, actor=operator.actor)
        except (ValueError, NotSubscribed) as exc:
            return ui.redirect(HERE.format(subscriber_id), str(exc), tone="error")
        tone = "ok" if result.sent else "error"
        return ui.redirect(HERE.format(subscriber_id), f"{result}.", tone=tone)

    @routes.post("/subscribers/{subscriber_id}/unsubscribe", dependencies=[CSRF])
    def leave(
        request: Request, operator: Editor, subscriber_id: int, list: FormText = ""
    ) -> Response:
        email = _email_or_404(app, subscriber_id)
        try:
            view = app.people.unsubscribe(
                email, list or None, actor=operator.actor, ip=ui.ip(request)
            )
        except (ValueError, NotSubscribed) as exc:
            return ui.redirect(HERE.format(subscriber_id), str(exc), tone="error")
        return ui.redirect(HERE.format(subscriber_id), f"{view.list}: unsubscribed.")


def same_address(typed: str, email: str) -> bool:
    """Whether the operator typed this address (as normalised; case does not matter)."""
    try:
        return normalise_email(typed).lower() == email.lower()
    except ValueError:  # not an address at all
        return False
