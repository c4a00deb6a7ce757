"""The public page handlers: subscribe (double opt-in), confirm, preferences, unsubscribe.

Each page is a plain method of `PublicPages`: parse what was sent, call the service, render an
`Answer`. A handler takes plain values (the form's fields, the `Visitor`, the link's token) and
knows no HTTP; `briefmail.web` reads the request, calls it and turns the answer into a response,
and tests call the handlers directly.

No GET changes anything: link scanners (Safe Links and the like) fetch every link in a message
before the reader sees it, so the confirmation link opens a page with one button, and only its
POST confirms and welcomes. Nothing here reveals whether an address is subscribed: the
subscribe form answers the same page after the same work either way, and what depends on the
address happens after the answer (`Answer.after`, see `subscribers.signup`). Links in
messages carry signed, purpose-bound tokens whose key is the subscriber's current token key,
so a link can only act on its own subscription and dies when the subscriber is erased. Forms
carry a CSRF token scoped to their page; the subscribe form's is also bound to the visitor's
form cookie, and its POST must come from our own origin. The one-click unsubscribe POST (which
mail providers send without cookies or forms) is the one exception, as RFC 8058 requires.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from mailer.content import Issue, select_stories
from mailer.topics import Taxonomy
from subscribers.limits import RateLimiter
from subscribers.lists import all_lists
from subscribers.models import ConsentSource, NewsletterList, Subscription, SubscriptionStatus
from subscribers.notices import Notices
from subscribers.page_views import Answer, Refused, Views
from subscribers.rules import (
    DEFAULT_CADENCE,
    DEFAULT_SEND_HOUR,
    DEFAULT_TIMEZONE,
    Cadence,
    parse_cadence,
)
from subscribers.service import Context, confirm, set_preferences, unsubscribe_subscription
from subscribers.signup import (
    Background,
    SignupRequest,
    check_request,
    person_key,
    request_subscriptions,
)
from subscribers.tokens import CONFIRM_MAX_AGE, InvalidToken, Purpose, TokenClaims, TokenSigner

__all__ = [
    "FORM_MAX_AGE",
    "WORDING",
    "LatestIssue",
    "PreferencesForm",
    "PublicPages",
    "SubscribeForm",
    "UnsubscribeForm",
    "Visitor",
]

#: The version of the form wording, stored with every consent given through these pages.
#: Change it whenever the text a person agrees to changes.
WORDING = "2026-11-web-1"

#: How long a subscribe form (its CSRF token and the cookie it is bound to) stays good.
FORM_MAX_AGE = 2 * 3600

_NO_LONGER_VALID = "This link is no longer valid."


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who sent a request, as the web face read it: what consent records and limits need."""

    #: The client's address (the peer, or what a trusted proxy forwarded for).
    ip: str
    user_agent: str | None = None
    #: The visitor's subscribe-form cookie ("" when none came with the request).
    form_cookie: str = ""
    #: Whether the request says it comes from one of our own pages (Fetch Metadata, Origin…).
    same_origin: bool = False

    def context(self) -> Context:
        """Where a consent given by this visitor came from, as the consent log records it."""
        return Context(
            source=ConsentSource.WEB, ip=self.ip, user_agent=self.user_agent, wording=WORDING
        )


@dataclass(frozen=True, slots=True)
class SubscribeForm:
    """The fields of the subscribe form, as posted."""

    email: str = ""
    lists: Sequence[str] = ()
    topics: Sequence[str] = ()
    cadence: str = DEFAULT_CADENCE.value
    timezone: str = DEFAULT_TIMEZONE
    send_hour: int = DEFAULT_SEND_HOUR
    csrf: str = ""
    #: The honeypot: hidden from people, filled in by form-filling robots.
    website: str = ""


@dataclass(frozen=True, slots=True)
class PreferencesForm:
    """The fields of the preferences form, as posted."""

    topics: Sequence[str] = ()
    cadence: str = DEFAULT_CADENCE.value
    timezone: str = DEFAULT_TIMEZONE
    send_hour: int = DEFAULT_SEND_HOUR
    csrf: str = ""


@dataclass(frozen=True, slots=True)
class UnsubscribeForm:
    """An unsubscribe POST: the page's button (with CSRF) or a mail provider's one-click."""

    #: The body was ``List-Unsubscribe=One-Click`` (RFC 8058): no CSRF, a plain answer.
    one_click: bool = False
    csrf: str = ""
    #: Leave every list the subscriber is on, not just the link's.
    all_lists: bool = False


class LatestIssue(Protocol):
    """The newest issue of a list, for the preview on the preferences page."""

    def __call__(self, list_id: int) -> Issue | None:
        """Return the list's newest issue, or None."""
        ...


@dataclass
class PublicPages:
    """The public pages as plain handlers; the composition root passes in what they need."""

    sessions: sessionmaker[Session]
    taxonomy: Taxonomy
    signer: TokenSigner
    notices: Notices
    latest_issue: LatestIssue
    base_url: str
    #: The relay takes SMTPUTF8: only then may a local part be other than ASCII.
    smtputf8: bool = False
    #: Subscribe requests per client IP (the visitor's own limit, answered with 429).
    per_ip: RateLimiter = field(default_factory=lambda: RateLimiter(20, 3600))
    #: Confirmation e-mails per person (`person_key`): one an hour, however it is spelt.
    per_person: RateLimiter = field(default_factory=lambda: RateLimiter(1, 3600))
    #: Where the half of a request that depends on the address runs, after the answer.
    signups: Background = field(default_factory=Background)
    views: Views = field(default_factory=Views)

    # -- subscribe -------------------------------------------------------------------------

    def subscribe_form(self, slug: str | None, visitor: Visitor) -> Answer:
        """The subscription form for every list (slug None) or one; it (re)sets the form cookie."""
        try:
            lists = self._lists_for(slug)
        except Refused as exc:
            return self.views.refused(exc)
        binding = visitor.form_cookie or secrets.token_urlsafe(24)
        page = self._subscribe_page(slug, lists, binding, [lists[0].slug] if lists else [])
        # Set again each time, so its life starts anew with each form shown.
        return dataclasses.replace(page, form_cookie=binding)

    def subscribe(self, slug: str | None, form: SubscribeForm, visitor: Visitor) -> Answer:
        """Start a subscription: the same "check your inbox" for everyone; the mail comes after."""
        try:
            available = self._lists_for(slug)
        except Refused as exc:
            return self.views.refused(exc)
        try:
            if not visitor.same_origin:
                raise InvalidToken("the form was sent from another site; please reload the page")
            self.signer.check_csrf(
                form.csrf, "subscribe", visitor.form_cookie, max_age=FORM_MAX_AGE
            )
        except InvalidToken as exc:
            return self.views.retry(exc)
        if form.website:  # the honeypot: people leave it empty, form-filling robots do not
            return self.views.page("check_inbox.html")
        if not self.per_ip.allow(visitor.ip):
            return self.views.page(
                "message.html",
                429,
                title="Too many requests",
                message="Too many subscription requests. Please try again later.",
            )
        lists = [slug] if slug else list(form.lists)
        chosen = [n for n in available if n.slug in lists] or (available[:1] if slug else [])
        try:
            wish = check_request(
                form.email,
                chosen,
                topics=form.topics,
                cadence=form.cadence,
                timezone=form.timezone,
                send_hour=form.send_hour,
                taxonomy=self.taxonomy,
                smtputf8=self.smtputf8,
                context=visitor.context(),
            )
        except ValueError as exc:  # every rule's refusal (subscribers.rules) is a ValueError
            # Only what was typed is judged here, never who is subscribed: no lookup yet.
            return self._subscribe_page(slug, available, visitor.form_cookie, lists, form, exc)

        async def queue() -> None:
            self.signups.submit(lambda: self._carry_out(wish))

        # Queued once the answer has gone out, so not even the start of the work overlaps it.
        return dataclasses.replace(self.views.page("check_inbox.html"), after=queue)

    def _subscribe_page(
        self,
        slug: str | None,
        lists: Sequence[NewsletterList],
        binding: str,
        chosen_lists: Sequence[str],
        form: SubscribeForm | None = None,
        error: Exception | None = None,
    ) -> Answer:
        values: dict[str, Any] = {}
        if form is not None:  # shown again as typed, autoescaped
            values = {
                "email": form.email,
                "topics": list(form.topics),
                "cadence": form.cadence,
                "timezone": form.timezone,
                "send_hour": form.send_hour,
            }
        return self.views.page(
            "subscribe.html",
            200 if error is None else 400,
            **self._form(
                lists,
                "subscribe",
                binding,
                chosen_lists=list(chosen_lists),
                error=None if error is None else str(error),
                values=values,
                action="/subscribe" if slug is None else f"/lists/{slug}/subscribe",
            ),
        )

    async def _carry_out(self, wish: SignupRequest) -> None:
        """The half of a request that depends on who the address is: after the answer."""
        person = person_key(wish.address)
        if not self.per_person.allows(person):
            return  # one confirmation per person per hour, however the address is spelt
        found = await asyncio.to_thread(self._store, wish)
        if found is not None:
            self.per_person.allow(person)  # counted when sent: jobs run one at a time
            newsletter, address, token = found
            await self.notices.send(
                newsletter,
                address,
                "confirm",
                action_url=f"{self.base_url}/confirm/{token}",
                topics=wish.topics,
                cadence=str(wish.cadence),
                valid_days=CONFIRM_MAX_AGE // 86400,
            )

    def _store(self, wish: SignupRequest) -> tuple[NewsletterList, str, str] | None:
        with self.sessions() as session:
            pending = request_subscriptions(session, wish, self.taxonomy)
            session.commit()
            if not pending:
                return None
            subscriber = pending[0].subscriber
            ids = [s.id for s in pending]
            token = self.signer.make(Purpose.CONFIRM, ids, subscriber.token_key)
            return pending[0].newsletter, subscriber.email, token

    # -- confirm ---------------------------------------------------------------------------

    def confirm_page(self, token: str) -> Answer:
        """One button that confirms; showing it changes nothing (link scanners fetch it)."""
        with self.sessions() as session:
            try:
                claims, subscriptions = self._confirmation(session, token)
            except Refused as exc:
                return self.views.refused(exc)
            pending = [s for s in subscriptions if s.status == SubscriptionStatus.PENDING]
            if not pending:
                return self._already_confirmed(subscriptions, claims.key)
            return self.views.page(
                "confirm.html",
                lists=[s.newsletter.name for s in pending],
                csrf=self.signer.make_csrf(f"confirm:{token}"),
            )

    async def confirm(self, token: str, csrf: str, visitor: Visitor) -> Answer:
        """Confirm the subscriptions a confirmation link names; welcome the reader once."""
        with self.sessions() as session:
            try:
                claims, subscriptions = self._confirmation(session, token)
                self.signer.check_csrf(csrf, f"confirm:{token}")
            except Refused as exc:
                return self.views.refused(exc)
            except InvalidToken as exc:
                return self.views.retry(exc)
            context = visitor.context()
            confirmed = [s for s in subscriptions if confirm(session, s, context)]
            session.commit()
            if not confirmed:  # a second press, or another tab: nobody is welcomed twice
                return self._already_confirmed(subscriptions, claims.key)
            welcomes = [
                (
                    s.newsletter,
                    s.subscriber.email,
                    list(s.topics),
                    str(s.cadence),
                    self._preferences_url(s, claims.key),
                    self.signer.make(Purpose.UNSUBSCRIBE, s.id, claims.key),
                )
                for s in confirmed
            ]
        for newsletter, email, topics, cadence, preferences, unsubscribe in welcomes:
            await self.notices.send(
                newsletter,
                email,
                "welcome",
                action_url=preferences,
                unsubscribe_url=f"{self.base_url}/unsubscribe/{unsubscribe}",
                topics=topics,
                cadence=cadence,
            )
        return self.views.page(
            "confirmed.html",
            lists=[newsletter.name for newsletter, *_ in welcomes],
            preferences=[preferences for *_, preferences, _ in welcomes],
        )

    def _confirmation(self, session: Session, token: str) -> tuple[TokenClaims, list[Subscription]]:
        """The subscriptions a confirmation link names; Refused if the link is not valid."""
        try:
            claims = self.signer.read(Purpose.CONFIRM, token, max_age=CONFIRM_MAX_AGE)
        except InvalidToken as exc:
            raise Refused(400, f"{exc}.") from exc
        subscriptions = list(
            session.scalars(
                select(Subscription)
                .where(Subscription.id.in_(claims.subscription_ids))
                .order_by(Subscription.id)
                .options(
                    selectinload(Subscription.subscriber),
                    selectinload(Subscription.newsletter),
                    selectinload(Subscription.topic_choices),
                )
            )
        )
        if not subscriptions or any(s.subscriber.token_key != claims.key for s in subscriptions):
            raise Refused(400, _NO_LONGER_VALID)
        return claims, subscriptions

    def _already_confirmed(self, subscriptions: Sequence[Subscription], key: str) -> Answer:
        """Nothing left to confirm: say so, with the way to the preferences."""
        active = [s for s in subscriptions if s.status == SubscriptionStatus.CONFIRMED]
        if not active:  # unsubscribed (or suppressed) since: the link has done its work
            return self.views.refused(Refused(400, _NO_LONGER_VALID))
        return self.views.page(
            "already_confirmed.html",
            lists=[(s.newsletter.name, self._preferences_url(s, key)) for s in active],
        )

    def _preferences_url(self, subscription: Subscription, key: str) -> str:
        token = self.signer.make(Purpose.PREFERENCES, subscription.id, key)
        return f"{self.base_url}/preferences/{token}"

    # -- preferences -----------------------------------------------------------------------

    def preferences_page(self, token: str) -> Answer:
        """The preference centre of one subscription."""
        with self.sessions() as session:
            try:
                subscription = self._subscription(session, Purpose.PREFERENCES, token)
            except Refused as exc:
                return self.views.refused(exc)
            return self._preferences(subscription, token)

    def save_preferences(self, token: str, form: PreferencesForm, visitor: Visitor) -> Answer:
        """Save new choices; the page then previews what the new choice gets."""
        with self.sessions() as session:
            try:
                subscription = self._subscription(session, Purpose.PREFERENCES, token)
                self.signer.check_csrf(form.csrf, f"preferences:{token}")
            except Refused as exc:
                return self.views.refused(exc)
            except InvalidToken as exc:
                return self.views.retry(exc)
            try:
                set_preferences(
                    session,
                    subscription,
                    taxonomy=self.taxonomy,
                    topics=form.topics,
                    cadence=parse_cadence(form.cadence),
                    timezone=form.timezone,
                    send_hour=form.send_hour,
                    context=visitor.context(),
                )
            except ValueError as exc:  # every rule's refusal (subscribers.rules) is a ValueError
                session.rollback()
                return self._preferences(subscription, token, error=str(exc))
            session.commit()
            return self._preferences(subscription, token, saved=True)

    def _preferences(
        self, subscription: Subscription, token: str, saved: bool = False, error: str | None = None
    ) -> Answer:
        issue = self.latest_issue(subscription.list_id)
        preview = None
        if issue is not None:
            stories = select_stories(issue.stories, frozenset(subscription.topics))
            preview = {
                "title": issue.title,
                "stories": [s.title for s in stories],
                "total": len(issue.stories),
            }
        return self.views.page(
            "preferences.html",
            200 if error is None else 400,
            **self._form(
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

    # -- unsubscribe -----------------------------------------------------------------------

    def unsubscribe_page(self, token: str) -> Answer:
        """A page with one button (and a choice to leave every list)."""
        with self.sessions() as session:
            try:
                subscription = self._subscription(session, Purpose.UNSUBSCRIBE, token)
            except Refused as exc:
                return self.views.refused(exc)
            return self.views.page(
                "unsubscribe.html",
                list_name=subscription.newsletter.name,
                csrf=self.signer.make_csrf(f"unsubscribe:{token}"),
                token=token,
            )

    async def unsubscribe(self, token: str, form: UnsubscribeForm, visitor: Visitor) -> Answer:
        """One-click (RFC 8058) or the page's button: unsubscribe at once."""
        with self.sessions() as session:
            try:
                subscription = self._subscription(session, Purpose.UNSUBSCRIBE, token)
                if not form.one_click:
                    self.signer.check_csrf(form.csrf, f"unsubscribe:{token}")
            except Refused as exc:
                if form.one_click:
                    return self.views.text(str(exc), exc.status)
                return self.views.refused(exc)
            except InvalidToken as exc:
                return self.views.retry(exc)
            targets = [subscription]
            if not form.one_click and form.all_lists:
                targets = list(subscription.subscriber.subscriptions)
            how = "one-click (RFC 8058)" if form.one_click else None
            context = visitor.context()
            changed = [s for s in targets if unsubscribe_subscription(session, s, context, how)]
            session.commit()
            newsletter, email = subscription.newsletter, subscription.subscriber.email
            names = [s.newsletter.name for s in targets]
        if form.one_click:
            # RFC 8058: answer at once, 200, no redirect, no cookie, nothing to click.
            return self.views.text("You have been unsubscribed.\n")
        if changed:
            await self.notices.send(
                newsletter,
                email,
                "goodbye",
                action_url=f"{self.base_url}/subscribe",
                unsubscribe_url=f"{self.base_url}/unsubscribe/{token}",
            )
        subscribe = f"{self.base_url}/subscribe"
        return self.views.page("unsubscribed.html", lists=names, subscribe=subscribe)

    # -- shared ----------------------------------------------------------------------------

    def _subscription(self, session: Session, purpose: Purpose, token: str) -> Subscription:
        """The subscription a preferences or unsubscribe link names; Refused if not valid."""
        try:
            claims = self.signer.read(purpose, token)
        except InvalidToken as exc:
            raise Refused(400, f"{exc}.") from exc
        subscription = session.scalar(
            select(Subscription)
            .where(Subscription.id == claims.subscription_ids[0])
            .options(selectinload(Subscription.subscriber), selectinload(Subscription.newsletter))
        )
        if subscription is None or subscription.subscriber.token_key != claims.key:
            raise Refused(400, _NO_LONGER_VALID)
        return subscription

    def _lists_for(self, slug: str | None) -> list[NewsletterList]:
        with self.sessions() as session:
            lists = all_lists(session)
        if slug is None:
            return lists
        chosen = [n for n in lists if n.slug == slug]
        if not chosen:
            raise Refused(404, "There is no such newsletter.")
        return chosen

    def _form(
        self, lists: Sequence[NewsletterList], scope: str, binding: str = "", **extra: Any
    ) -> dict[str, Any]:
        """What every form page shows: the lists, topics, cadences, hours and its CSRF token."""
        return {
            "lists": lists,
            "topics": self.taxonomy.topics,
            "cadences": [c.value for c in Cadence],
            "csrf": self.signer.make_csrf(scope, binding),
            "hours": range(24),
            **extra,
        }
