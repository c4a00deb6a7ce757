"""Public pages: subscribe (double opt-in), confirm, preferences, unsubscribe (RFC 8058).

Server-rendered Jinja pages that work without JavaScript. No GET changes anything: link scanners
(Safe Links and the like) fetch every link in a message before the reader sees it, so the
confirmation link opens a page with one button (`briefmail.web.confirm`), and only its POST
confirms and welcomes. Nothing here reveals whether an address is subscribed: the subscribe
form answers the same page after the same work either way, and what depends on the address
happens in the background afterwards (`subscribers.signup`). Links in messages carry signed,
purpose-bound tokens whose key is the subscriber's current token key, so a link can only act
on its own subscription and dies when the subscriber is erased. Forms carry a CSRF token
scoped to their page; the subscribe form's is also bound to a short-lived cookie, and its POST
must come from our own origin. The one-click unsubscribe POST (which mail providers send
without cookies or forms) is the one exception, as RFC 8058 requires.

Higher layers pass in what these pages need but this layer must not import: the latest issue of
a list (for the preferences preview), the identity a list presents in its notices and the DKIM
signer they are signed with (`subscribers.notices` builds them as newsletters are built).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker
from starlette.background import BackgroundTask

from briefmail.web.confirm import confirm_router
from mailer.content import Issue, select_stories
from mailer.dkim import DkimSigner
from mailer.render import Newsletter, Renderer
from mailer.topics import Taxonomy, UnknownTopic
from mailer.transport import Transport
from subscribers.lists import all_lists
from subscribers.models import Cadence, NewsletterList, Subscription
from subscribers.notices import Notices
from subscribers.pages import (
    FormCookie,
    FormInt,
    FormList,
    FormText,
    Pages,
    RateLimiter,
    Refused,
    TrustedProxies,
    client_ip,
    consent_context,
    same_origin,
)
from subscribers.service import (
    InvalidAddress,
    InvalidSendHour,
    InvalidTimezone,
    set_preferences,
    unsubscribe_subscription,
)
from subscribers.signup import (
    Background,
    SignupRequest,
    check_request,
    person_key,
    request_subscriptions,
)
from subscribers.tokens import CONFIRM_MAX_AGE, InvalidToken, Purpose, TokenSigner

__all__ = ["LatestIssue", "RateLimiter", "WebDeps", "build_router"]


class LatestIssue(Protocol):
    """The newest issue of a list, for the preview on the preferences page."""

    def __call__(self, list_id: int) -> Issue | None:
        """Return the list's newest issue, or None."""
        ...


@dataclass
class WebDeps:
    """Everything the public pages need, passed in by the composition root."""

    sessions: sessionmaker[Session]
    taxonomy: Taxonomy
    renderer: Renderer
    signer: TokenSigner
    transport: Callable[[], Transport]
    identity: Callable[[NewsletterList], Newsletter]
    latest_issue: LatestIssue
    base_url: str
    default_list: str
    #: Signs every notice, as the newsletters are signed (None: no key configured).
    dkim: DkimSigner | None = None
    #: The relay takes SMTPUTF8: only then may a local part be other than ASCII.
    smtputf8: bool = False
    #: Proxies whose X-Forwarded-For names the client (`web.trusted_proxies`).
    trusted_proxies: TrustedProxies = ()
    #: Subscribe requests per client IP (the visitor's own limit, answered with 429).
    per_ip: RateLimiter = field(default_factory=lambda: RateLimiter(20, 3600))
    #: Confirmation e-mails per person (`person_key`): one an hour, however it is spelt.
    per_person: RateLimiter = field(default_factory=lambda: RateLimiter(1, 3600))
    #: Where the half of a request that depends on the address runs, after the answer.
    signups: Background = field(default_factory=Background)


def build_router(deps: WebDeps) -> APIRouter:
    """The subscriber pages as a FastAPI router."""
    router = APIRouter()
    pages = Pages()
    page, refused, context_of = pages.page, pages.refused, consent_context
    cookie = FormCookie(deps.base_url)
    notices = Notices(deps.renderer, deps.identity, deps.transport, deps.dkim)
    router.include_router(
        confirm_router(
            sessions=deps.sessions,
            signer=deps.signer,
            notices=notices,
            pages=pages,
            base_url=deps.base_url,
            proxies=deps.trusted_proxies,
        )
    )

    def subscription_from(session: Session, purpose: Purpose, token: str) -> Subscription:
        try:
            claims = deps.signer.read(purpose, token)
        except InvalidToken as exc:
            raise Refused(400, f"{exc}.") from exc
        subscription = session.scalar(
            select(Subscription)
            .where(Subscription.id == claims.subscription_ids[0])
            .options(selectinload(Subscription.subscriber), selectinload(Subscription.newsletter))
        )
        if subscription is None or subscription.subscriber.token_key != claims.key:
            raise Refused(400, "This link is no longer valid.")
        return subscription

    def form_context(
        lists: Sequence[NewsletterList], scope: str, binding: str = "", **extra: Any
    ) -> dict[str, Any]:
        return {
            "lists": lists,
            "topics": deps.taxonomy.topics,
            "cadences": [c.value for c in Cadence],
            "csrf": deps.signer.make_csrf(scope, binding),
            "hours": range(24),
            **extra,
        }

    def lists_for(slug: str | None) -> list[NewsletterList]:
        with deps.sessions() as session:
            lists = all_lists(session)
        if slug is None:
            return lists
        chosen = [n for n in lists if n.slug == slug]
        if not chosen:
            raise Refused(404, "There is no such newsletter.")
        return chosen

    def subscribe_form(request: Request, slug: str | None) -> HTMLResponse:
        try:
            lists = lists_for(slug)
        except Refused as exc:
            return refused(exc)
        binding, _ = cookie.value_for(request)
        response = page(
            "subscribe.html",
            **form_context(
                lists,
                "subscribe",
                binding,
                chosen_lists=[lists[0].slug] if lists else [],
                error=None,
                values={},
                action=str(request.url.path),
            ),
        )
        return cookie.set(response, binding)  # set again each time: its life starts anew

    async def carry_out(wish: SignupRequest) -> None:
        """The half of a request that depends on who the address is: after the answer."""
        person = person_key(wish.address)
        if not deps.per_person.allows(person):
            return  # one confirmation per person per hour, however the address is spelt
        found = await asyncio.to_thread(store, wish)
        if found is not None:
            deps.per_person.allow(person)  # counted when sent: jobs run one at a time
            newsletter, address, token = found
            await notices.send(
                newsletter,
                address,
                "confirm",
                action_url=f"{deps.base_url}/confirm/{token}",
                topics=wish.topics,
                cadence=str(wish.cadence),
                valid_days=CONFIRM_MAX_AGE // 86400,
            )

    def store(wish: SignupRequest) -> tuple[NewsletterList, str, str] | None:
        with deps.sessions() as session:
            pending = request_subscriptions(session, wish, deps.taxonomy)
            session.commit()
            if not pending:
                return None
            subscriber = pending[0].subscriber
            token = deps.signer.make(Purpose.CONFIRM, [s.id for s in pending], subscriber.token_key)
            return pending[0].newsletter, subscriber.email, token

    async def subscribe_post(
        request: Request,
        slug: str | None,
        email: str,
        lists: list[str],
        topics: list[str],
        cadence: str,
        timezone: str,
        send_hour: int,
        csrf: str,
        website: str,
    ) -> HTMLResponse:
        try:
            available = lists_for(slug)
        except Refused as exc:
            return refused(exc)
        binding = cookie.read(request)
        try:
            if not same_origin(request, deps.base_url):
                raise InvalidToken("the form was sent from another site; please reload the page")
            deps.signer.check_csrf(csrf, "subscribe", binding, max_age=cookie.max_age)
        except InvalidToken as exc:
            return pages.retry(exc)
        if website:  # the honeypot: people leave it empty, form-filling robots do not
            return page("check_inbox.html")
        if not deps.per_ip.allow(client_ip(request, deps.trusted_proxies)):
            return page(
                "message.html",
                429,
                title="Too many requests",
                message="Too many subscription requests. Please try again later.",
            )
        chosen = [n for n in available if n.slug in lists] or (available[:1] if slug else [])
        try:
            wish = check_request(
                email,
                chosen,
                topics=topics,
                cadence=cadence,
                timezone=timezone,
                send_hour=send_hour,
                taxonomy=deps.taxonomy,
                smtputf8=deps.smtputf8,
                context=context_of(request, deps.trusted_proxies),
            )
        except (InvalidAddress, UnknownTopic, InvalidTimezone, InvalidSendHour, ValueError) as exc:
            # Only what was typed is judged here, never who is subscribed: no lookup yet.
            values = {
                "email": email,
                "topics": topics,
                "cadence": cadence,
                "timezone": timezone,
                "send_hour": send_hour,
            }
            return page(
                "subscribe.html",
                400,
                **form_context(
                    available,
                    "subscribe",
                    binding,
                    chosen_lists=lists,
                    error=str(exc),
                    values=values,
                    action=str(request.url.path),
                ),
            )

        async def queue() -> None:
            deps.signups.submit(lambda: carry_out(wish))

        # Queued once the answer has gone out, so not even the start of the work overlaps it.
        answer = page("check_inbox.html")
        answer.background = BackgroundTask(queue)
        return answer

    @router.get("/subscribe", response_class=HTMLResponse)
    def subscribe_page(request: Request) -> HTMLResponse:
        """The subscription form for every list."""
        return subscribe_form(request, None)

    @router.get("/lists/{slug}/subscribe", response_class=HTMLResponse)
    def list_subscribe_page(request: Request, slug: str) -> HTMLResponse:
        """The subscription form for one list."""
        return subscribe_form(request, slug)

    @router.post("/subscribe", response_class=HTMLResponse)
    async def subscribe_submit(
        request: Request,
        email: FormText = "",
        lists: FormList = [],  # noqa: B006 - FastAPI copies form defaults per request
        topics: FormList = [],  # noqa: B006
        cadence: FormText = "daily",
        timezone: FormText = "UTC",
        send_hour: FormInt = 7,
        csrf: FormText = "",
        website: FormText = "",
    ) -> HTMLResponse:
        """Start a subscription: a confirmation e-mail goes out; the page never tells more."""
        return await subscribe_post(
            request, None, email, lists, topics, cadence, timezone, send_hour, csrf, website
        )

    @router.post("/lists/{slug}/subscribe", response_class=HTMLResponse)
    async def list_subscribe_submit(
        request: Request,
        slug: str,
        email: FormText = "",
        topics: FormList = [],  # noqa: B006
        cadence: FormText = "daily",
        timezone: FormText = "UTC",
        send_hour: FormInt = 7,
        csrf: FormText = "",
        website: FormText = "",
    ) -> HTMLResponse:
        """Start a subscription to one list."""
        return await subscribe_post(
            request, slug, email, [slug], topics, cadence, timezone, send_hour, csrf, website
        )

    def preferences_view(
        subscription: Subscription,
        token: str,
        saved: bool = False,
        error: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        issue = deps.latest_issue(subscription.list_id)
        preview = None
        if issue is not None:
            stories = select_stories(issue.stories, frozenset(subscription.topics))
            preview = {
                "title": issue.title,
                "stories": [s.title for s in stories],
                "total": len(issue.stories),
            }
        return page(
            "preferences.html",
            status,
            **form_context(
                [subscription.newsletter],
                f"preferences:{token}",
                subscription=subscription,
                chosen=set(subscription.topics),
                saved=saved,
                error=error,
                preview=preview,
                token=token,
                unsubscribe=None,
            ),
        )

    @router.get("/preferences/{token}", response_class=HTMLResponse)
    def preferences_page(token: str) -> HTMLResponse:
        """The preference centre of one subscription."""
        with deps.sessions() as session:
            try:
                subscription = subscription_from(session, Purpose.PREFERENCES, token)
            except Refused as exc:
                return refused(exc)
            return preferences_view(subscription, token)

    @router.post("/preferences/{token}", response_class=HTMLResponse)
    def preferences_submit(
        request: Request,
        token: str,
        topics: FormList = [],  # noqa: B006
        cadence: FormText = "daily",
        timezone: FormText = "UTC",
        send_hour: FormInt = 7,
        csrf: FormText = "",
    ) -> HTMLResponse:
        """Save new choices; the page then previews what the new choice gets."""
        with deps.sessions() as session:
            try:
                subscription = subscription_from(session, Purpose.PREFERENCES, token)
                deps.signer.check_csrf(csrf, f"preferences:{token}")
            except Refused as exc:
                return refused(exc)
            except InvalidToken as exc:
                return pages.retry(exc)
            try:
                if cadence not in {c.value for c in Cadence}:
                    raise ValueError(f"unknown cadence {cadence!r}")
                set_preferences(
                    session,
                    subscription,
                    taxonomy=deps.taxonomy,
                    topics=topics,
                    cadence=Cadence(cadence),
                    timezone=timezone,
                    send_hour=send_hour,
                    context=context_of(request, deps.trusted_proxies),
                )
            except (UnknownTopic, InvalidTimezone, InvalidSendHour, ValueError) as exc:
                session.rollback()
                return preferences_view(subscription, token, error=str(exc), status=400)
            session.commit()
            return preferences_view(subscription, token, saved=True)

    @router.get("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe_page(token: str) -> HTMLResponse:
        """A page with one button (and a choice to leave every list)."""
        with deps.sessions() as session:
            try:
                subscription = subscription_from(session, Purpose.UNSUBSCRIBE, token)
            except Refused as exc:
                return refused(exc)
            return page(
                "unsubscribe.html",
                list_name=subscription.newsletter.name,
                csrf=deps.signer.make_csrf(f"unsubscribe:{token}"),
                token=token,
            )

    @router.post("/unsubscribe/{token}", response_model=None)
    async def unsubscribe_submit(request: Request, token: str) -> HTMLResponse | PlainTextResponse:
        """One-click (RFC 8058) or the page's button: unsubscribe at once."""
        form = await request.form()
        one_click = form.get("List-Unsubscribe") == "One-Click"
        with deps.sessions() as session:
            try:
                subscription = subscription_from(session, Purpose.UNSUBSCRIBE, token)
                if not one_click:
                    deps.signer.check_csrf(str(form.get("csrf", "")), f"unsubscribe:{token}")
            except Refused as exc:
                if one_click:
                    return PlainTextResponse(str(exc), status_code=exc.status)
                return refused(exc)
            except InvalidToken as exc:
                return pages.retry(exc)
            context = context_of(request, deps.trusted_proxies)
            targets = [subscription]
            if not one_click and form.get("all_lists"):
                targets = list(subscription.subscriber.subscriptions)
            changed = [
                s
                for s in targets
                if unsubscribe_subscription(
                    session, s, context, "one-click (RFC 8058)" if one_click else None
                )
            ]
            session.commit()
            newsletter, email = subscription.newsletter, subscription.subscriber.email
            names = [s.newsletter.name for s in targets]
        if one_click:
            # RFC 8058: answer at once, 200, no redirect, no cookie, nothing to click.
            return PlainTextResponse("You have been unsubscribed.\n")
        if changed:
            await notices.send(
                newsletter,
                email,
                "goodbye",
                action_url=f"{deps.base_url}/subscribe",
                unsubscribe_url=f"{deps.base_url}/unsubscribe/{token}",
            )
        return page("unsubscribed.html", lists=names, subscribe=f"{deps.base_url}/subscribe")

    return router
