"""Public pages: subscribe (double opt-in), confirm, preferences, unsubscribe (RFC 8058).

Server-rendered Jinja pages that work without JavaScript. Nothing here reveals whether an
address is subscribed: the subscribe form answers the same page either way. Links in messages
carry signed, purpose-bound tokens whose key is the subscriber's current token key, so a link
can only act on its own subscription and dies when the subscriber is erased. Forms carry a CSRF
token scoped to their page; the one-click unsubscribe POST (which mail providers send without
cookies or forms) is the one exception, as RFC 8058 requires.

Higher layers pass in what these pages need but this layer must not import: the latest issue of
a list (for the preferences preview) and the identity a list presents in its notices.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, Protocol

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from mailer.content import Issue, select_stories
from mailer.errors import DeliveryError
from mailer.message import build_message, domain_of, make_message_id
from mailer.render import Newsletter, Notice, Renderer
from mailer.topics import Taxonomy, UnknownTopic
from mailer.transport import Transport
from subscribers.lists import all_lists
from subscribers.models import (
    Cadence,
    ConsentSource,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    address_hash,
)
from subscribers.service import (
    Context,
    InvalidAddress,
    InvalidSendHour,
    InvalidTimezone,
    confirm,
    normalise_email,
    set_preferences,
    subscribe,
    unsubscribe_subscription,
)
from subscribers.tokens import CONFIRM_MAX_AGE, InvalidToken, Purpose, TokenSigner

__all__ = ["LatestIssue", "RateLimiter", "WebDeps", "build_router"]

#: The version of the form wording, stored with every consent given through these pages.
#: Change it whenever the text a person agrees to changes.
WORDING = "2026-11-web-1"
log = logging.getLogger("briefmail.web")


# Module level on purpose: FastAPI resolves these (string) annotations in the module's globals.
FormText = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]
FormInt = Annotated[int, Form()]


class LatestIssue(Protocol):
    """The newest issue of a list, for the preview on the preferences page."""

    def __call__(self, list_id: int) -> Issue | None:
        """Return the list's newest issue, or None."""
        ...


class RateLimiter:
    """Allows at most ``limit`` events per key in a sliding ``window`` of seconds (in memory)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        """Record an attempt for ``key``; False once the limit is reached."""
        now = self._clock()
        events = self._events[key]
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True


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
    per_ip: RateLimiter = field(default_factory=lambda: RateLimiter(20, 3600))
    per_address: RateLimiter = field(default_factory=lambda: RateLimiter(5, 3600))


def _pages() -> jinja2.Environment:
    folder = resources.files("subscribers").joinpath("templates")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class _Refused(Exception):
    """A request that gets an error page: status and a message for the reader."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def build_router(deps: WebDeps) -> APIRouter:
    """The subscriber pages as a FastAPI router."""
    router = APIRouter()
    env = _pages()

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = env.get_template(name).render(**context)
        return HTMLResponse(body, status_code=status)

    def refused(exc: _Refused) -> HTMLResponse:
        return page("message.html", exc.status, title="Sorry", message=str(exc))

    def context_of(request: Request) -> Context:
        return Context(
            source=ConsentSource.WEB,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            wording=WORDING,
        )

    def subscription_from(session: Session, purpose: Purpose, token: str) -> Subscription:
        try:
            claims = deps.signer.read(purpose, token)
        except InvalidToken as exc:
            raise _Refused(400, f"{exc}.") from exc
        subscription = session.scalar(
            select(Subscription)
            .where(Subscription.id == claims.subscription_ids[0])
            .options(selectinload(Subscription.subscriber), selectinload(Subscription.newsletter))
        )
        if subscription is None or subscription.subscriber.token_key != claims.key:
            raise _Refused(400, "This link is no longer valid.")
        return subscription

    def form_context(lists: Sequence[NewsletterList], scope: str, **extra: Any) -> dict[str, Any]:
        return {
            "lists": lists,
            "topics": deps.taxonomy.topics,
            "cadences": [c.value for c in Cadence],
            "csrf": deps.signer.make_csrf(scope),
            "hours": range(24),
            **extra,
        }

    async def send_notice(newsletter: NewsletterList, to: str, kind: Notice, **values: Any) -> None:
        rendered = deps.renderer.render_notice(kind, deps.identity(newsletter), **values)
        domain = domain_of(newsletter.from_address)
        message = build_message(
            rendered,
            sender=newsletter.from_address,
            to=to,
            list_headers=None,
            return_path=f"bounces@{domain}",
            message_id=make_message_id(domain),
        )
        transport = deps.transport()
        try:
            await transport.send(message)
        except DeliveryError as exc:
            # The page must look the same whatever happened; the operator reads the log.
            log.error("could not send the %s notice to %s: %s", kind, to, exc)
        finally:
            await transport.close()

    def lists_for(slug: str | None) -> list[NewsletterList]:
        with deps.sessions() as session:
            lists = all_lists(session)
        if slug is None:
            return lists
        chosen = [n for n in lists if n.slug == slug]
        if not chosen:
            raise _Refused(404, "There is no such newsletter.")
        return chosen

    def subscribe_form(request: Request, slug: str | None) -> HTMLResponse:
        try:
            lists = lists_for(slug)
        except _Refused as exc:
            return refused(exc)
        return page(
            "subscribe.html",
            **form_context(
                lists,
                "subscribe",
                chosen_lists=[lists[0].slug] if lists else [],
                error=None,
                values={},
                action=str(request.url.path),
            ),
        )

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
            deps.signer.check_csrf(csrf, "subscribe")
        except _Refused as exc:
            return refused(exc)
        except InvalidToken as exc:
            return page("message.html", 400, title="Please try again", message=f"{exc}.")
        values = {
            "email": email,
            "topics": topics,
            "cadence": cadence,
            "timezone": timezone,
            "send_hour": send_hour,
        }
        chosen = [n for n in available if n.slug in lists] or (available[:1] if slug else [])

        def form_error(message: str) -> HTMLResponse:
            """The form again, with what was typed and why it was refused."""
            return page(
                "subscribe.html",
                400,
                **form_context(
                    available,
                    "subscribe",
                    chosen_lists=lists,
                    error=message,
                    values=values,
                    action=str(request.url.path),
                ),
            )

        ip = request.client.host if request.client else "unknown"
        if website:  # the honeypot: people leave it empty, form-filling robots do not
            return page("check_inbox.html")
        try:
            address = normalise_email(email)
            if not chosen:
                raise ValueError("choose at least one newsletter")
            if cadence not in {c.value for c in Cadence}:
                raise ValueError(f"unknown cadence {cadence!r}")
            deps.taxonomy.validate(topics)
        except (InvalidAddress, UnknownTopic, ValueError) as exc:
            return form_error(str(exc))
        if not deps.per_ip.allow(ip) or not deps.per_address.allow(address):
            return page(
                "message.html",
                429,
                title="Too many requests",
                message="Too many subscription requests. Please try again later.",
            )
        pending: list[Subscription] = []
        try:
            with deps.sessions() as session:
                for newsletter in chosen:
                    existing = session.scalar(
                        select(Subscription)
                        .join(Subscriber)
                        .where(
                            Subscriber.email_hash == address_hash(address),
                            Subscription.list_id == newsletter.id,
                        )
                    )
                    if existing is not None and existing.status == SubscriptionStatus.CONFIRMED:
                        continue  # already subscribed: nothing changes, and nothing tells
                    pending.append(
                        subscribe(
                            session,
                            newsletter,
                            address,
                            taxonomy=deps.taxonomy,
                            topics=topics,
                            cadence=Cadence(cadence),
                            timezone=timezone,
                            send_hour=send_hour,
                            context=context_of(request),
                        )
                    )
                session.commit()
                if pending:
                    key = pending[0].subscriber.token_key
                    token = deps.signer.make(Purpose.CONFIRM, [s.id for s in pending], key)
                    first = pending[0].newsletter
        except (InvalidTimezone, InvalidSendHour) as exc:
            return form_error(str(exc))
        if pending:
            await send_notice(
                first,
                address,
                "confirm",
                action_url=f"{deps.base_url}/confirm/{token}",
                topics=topics,
                cadence=cadence,
                valid_days=CONFIRM_MAX_AGE // 86400,
            )
        return page("check_inbox.html")

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

    @router.get("/confirm/{token}", response_class=HTMLResponse)
    async def confirm_page(request: Request, token: str) -> HTMLResponse:
        """Confirm the subscriptions a confirmation link names; welcome the reader once."""
        try:
            claims = deps.signer.read(Purpose.CONFIRM, token, max_age=CONFIRM_MAX_AGE)
        except InvalidToken as exc:
            return page("message.html", 400, title="Sorry", message=f"{exc}.")
        with deps.sessions() as session:
            subscriptions = list(
                session.scalars(
                    select(Subscription)
                    .where(Subscription.id.in_(claims.subscription_ids))
                    .options(
                        selectinload(Subscription.subscriber),
                        selectinload(Subscription.newsletter),
                        selectinload(Subscription.topic_choices),
                    )
                )
            )
            if not subscriptions or any(
                s.subscriber.token_key != claims.key for s in subscriptions
            ):
                return page(
                    "message.html", 400, title="Sorry", message="This link is no longer valid."
                )
            confirmed = [s for s in subscriptions if confirm(session, s, context_of(request))]
            session.commit()
            links = [
                (
                    s.newsletter.name,
                    deps.signer.make(Purpose.PREFERENCES, s.id, claims.key),
                    deps.signer.make(Purpose.UNSUBSCRIBE, s.id, claims.key),
                )
                for s in subscriptions
            ]
            welcome = [
                (s.newsletter, s.subscriber.email, list(s.topics), str(s.cadence))
                for s in confirmed
            ]
        for (newsletter, email, topics, cadence), (_, pref, unsub) in zip(
            welcome, links, strict=False
        ):
            await send_notice(
                newsletter,
                email,
                "welcome",
                action_url=f"{deps.base_url}/preferences/{pref}",
                unsubscribe_url=f"{deps.base_url}/unsubscribe/{unsub}",
                topics=topics,
                cadence=cadence,
            )
        return page(
            "confirmed.html",
            lists=[name for name, _, _ in links],
            preferences=[f"{deps.base_url}/preferences/{p}" for _, p, _ in links],
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
            except _Refused as exc:
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
            except _Refused as exc:
                return refused(exc)
            except InvalidToken as exc:
                return page("message.html", 400, title="Please try again", message=f"{exc}.")
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
                    context=context_of(request),
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
            except _Refused as exc:
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
            except _Refused as exc:
                if one_click:
                    return PlainTextResponse(str(exc), status_code=exc.status)
                return refused(exc)
            except InvalidToken as exc:
                return page("message.html", 400, title="Please try again", message=f"{exc}.")
            context = context_of(request)
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
            await send_notice(newsletter, email, "goodbye", action_url=f"{deps.base_url}/subscribe")
        return page("unsubscribed.html", lists=names, subscribe=f"{deps.base_url}/subscribe")

    return router
