"""The public page handlers: subscribe (double opt-in), confirm, preferences, unsubscribe.

Each page is a plain method of `PublicPages` (those behind a reader's own links are in
`subscribers.link_pages`, which it builds on): parse what was sent, call the service, render an
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

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from mailer.topics import Taxonomy
from subscribers.arrival import WeeklySlot, arrival_text, first_arrival
from subscribers.limits import RateLimiter
from subscribers.link_pages import LatestIssue, LinkPages
from subscribers.lists import all_lists
from subscribers.models import NewsletterList, Subscription, SubscriptionStatus
from subscribers.notices import FirstIssue, Notices
from subscribers.page_forms import (
    FORM_MAX_AGE,
    WORDING,
    PreferencesForm,
    SubscribeForm,
    UnsubscribeForm,
    Visitor,
    link_refused,
    no_longer_valid,
    sentence,
    too_many,
)
from subscribers.page_views import Answer, Refused, Views
from subscribers.rules import (
    InvalidAddress,
    check_deliverable,
    normalise_email,
)
from subscribers.service import confirm
from subscribers.signup import (
    Background,
    check_request,
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


@dataclass
class PublicPages(LinkPages):
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
    #: "Subscribe again" requests per subscription link: a few an hour (each mails a link).
    per_link: RateLimiter = field(default_factory=lambda: RateLimiter(3, 3600))
    #: Confirmation e-mails per person (`person_key`): one an hour, however it is spelt.
    per_person: RateLimiter = field(default_factory=lambda: RateLimiter(1, 3600))
    #: When the weekly digest starts (the welcome says when the first issue comes).
    weekly: WeeklySlot = field(default_factory=WeeklySlot)
    #: The title and web address of a list's newest sent issue, if any (for the welcome).
    latest_link: Callable[[int], tuple[str, str] | None] = lambda list_id: None
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
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
        chosen = [lists[0].slug] if lists else []
        page = self._subscribe_page(slug, lists, binding, chosen, step="address")
        # Set again each time, so its life starts anew with each form shown.
        return dataclasses.replace(page, form_cookie=binding)

    def front_page(self, slug: str | None, visitor: Visitor, **content: Any) -> Answer:
        """A front page (``content`` is its issues), with the subscribe form's first step."""
        try:
            lists = self._lists_for(slug)
        except Refused as exc:
            return self.views.refused(exc)
        binding = visitor.form_cookie or secrets.token_urlsafe(24)
        chosen = [lists[0].slug] if lists else []
        form = self._form(
            lists,
            "subscribe",
            binding,
            step="address",
            chosen_lists=chosen,
            error=None,
            values={},
            action="/subscribe" if slug is None else f"/lists/{slug}/subscribe",
            description=self.views.site.brands(slug or "").description,
            **content,
        )
        page = self.views.page("front.html", slug=slug, **form)
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
            return self.views.page("check_inbox.html", slug=slug)
        lists = [slug] if slug else list(form.lists)
        chosen = [n for n in available if n.slug in lists] or (available[:1] if slug else [])
        if form.step == "address":
            # Only the address is judged (no lookup); the choices come on the next page.
            return self._choices_page(slug, available, visitor.form_cookie, lists, form)
        if not self.per_ip.allow(visitor.ip):
            return self.views.refused(too_many(), slug)
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
        except InvalidAddress as exc:  # back to the first step, the field at fault
            return self._subscribe_page(
                slug, available, visitor.form_cookie, lists, form, exc, step="address"
            )
        except ValueError as exc:  # every rule's refusal (subscribers.rules) is a ValueError
            # Only what was typed is judged here, never who is subscribed: no lookup yet.
            return self._subscribe_page(slug, available, visitor.form_cookie, lists, form, exc)

        async def queue() -> None:
            self.signups.submit(lambda: self._carry_out(wish))

        # Queued once the answer has gone out, so not even the start of the work overlaps it.
        return dataclasses.replace(self.views.page("check_inbox.html", slug=slug), after=queue)

    def _choices_page(
        self,
        slug: str | None,
        available: Sequence[NewsletterList],
        binding: str,
        lists: Sequence[str],
        form: SubscribeForm,
    ) -> Answer:
        """The second step once the address is well-formed, else the first again with why."""
        step = "choices"
        error: Exception | None = None
        try:
            check_deliverable(normalise_email(form.email), smtputf8=self.smtputf8)
            if not any(n.slug in lists for n in available):
                raise ValueError("choose at least one newsletter")
        except ValueError as exc:
            step, error = "address", exc
        # The choices start from the defaults, never from what a stored subscription has.
        fresh = SubscribeForm(form.email, form.lists)
        return self._subscribe_page(slug, available, binding, lists, fresh, error, step=step)

    def _subscribe_page(
        self,
        slug: str | None,
        lists: Sequence[NewsletterList],
        binding: str,
        chosen_lists: Sequence[str],
        form: SubscribeForm | None = None,
        error: Exception | None = None,
        step: str = "choices",
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
            slug=slug,
            **self._form(
                lists,
                "subscribe",
                binding,
                step=step,
                chosen_lists=list(chosen_lists),
                chosen_names=[n.name for n in lists if n.slug in chosen_lists],
                description=self.views.site.brands(slug or "").description,
                error=None if error is None else sentence(str(error)),
                values=values,
                action="/subscribe" if slug is None else f"/lists/{slug}/subscribe",
            ),
        )

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
                slug=pending[0].newsletter.slug,
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
                    self._first_issue(s),
                )
                for s in confirmed
            ]
        for newsletter, email, topics, cadence, preferences, unsubscribe, first in welcomes:
            await self.notices.send(
                newsletter,
                email,
                "welcome",
                action_url=preferences,
                unsubscribe_url=f"{self.base_url}/unsubscribe/{unsubscribe}",
                topics=topics,
                cadence=cadence,
                first=first,
            )
        return self.views.page(
            "confirmed.html",
            slug=welcomes[0][0].slug,
            lists=[newsletter.name for newsletter, *_ in welcomes],
            preferences=[w[4] for w in welcomes],
        )

    def _first_issue(self, subscription: Subscription) -> FirstIssue:
        """What the welcome promises a new reader: the first issue's time, the latest one."""
        now = self.clock()
        zone = subscription.subscriber.timezone
        when = first_arrival(now, subscription.cadence, zone, subscription.send_hour, self.weekly)
        latest = self.latest_link(subscription.list_id)
        return FirstIssue(
            arrives=arrival_text(when, now, zone),
            latest_title=latest[0] if latest else None,
            latest_url=latest[1] if latest else None,
        )

    def _confirmation(self, session: Session, token: str) -> tuple[TokenClaims, list[Subscription]]:
        """The subscriptions a confirmation link names; Refused if the link is not valid."""
        try:
            claims = self.signer.read(Purpose.CONFIRM, token, max_age=CONFIRM_MAX_AGE)
        except InvalidToken as exc:
            raise link_refused(exc, confirming=True) from exc
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
            raise no_longer_valid()
        return claims, subscriptions

    def _already_confirmed(self, subscriptions: Sequence[Subscription], key: str) -> Answer:
        """Nothing left to confirm: say so, with the way to the preferences."""
        active = [s for s in subscriptions if s.status == SubscriptionStatus.CONFIRMED]
        if not active:  # unsubscribed (or suppressed) since: the link has done its work
            return self.views.refused(no_longer_valid())
        return self.views.page(
            "already_confirmed.html",
            slug=active[0].newsletter.slug,
            lists=[(s.newsletter.name, self._preferences_url(s, key)) for s in active],
        )

    # -- shared ----------------------------------------------------------------------------

    def _lists_for(self, slug: str | None) -> list[NewsletterList]:
        with self.sessions() as session:
            lists = all_lists(session)
        if slug is None:
            return lists
        chosen = [n for n in lists if n.slug == slug]
        if not chosen:
            raise Refused(
                404,
                f"There is no newsletter {slug!r} here.",
                title="No such newsletter",
                next=("See every newsletter on", "the front page", "/"),
            )
        return chosen
