"""The pages a reader reaches from links in their own e-mails: preferences and unsubscribe.

`LinkPages` holds the handlers behind the signed links every message carries (the preference
centre, "subscribe again" once it has ended, the unsubscribe page and RFC 8058's one-click
POST), and the confirmation e-mail they share with the subscribe form. `PublicPages`
(subscribers.pages) is built on it and adds the form and the confirmation link; what the pages
promise (no GET changes anything, nothing tells who is subscribed) is said there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from mailer.content import Issue, select_stories
from mailer.topics import Taxonomy
from subscribers.limits import RateLimiter
from subscribers.models import NewsletterList, Subscription, SubscriptionStatus
from subscribers.notices import Notices
from subscribers.page_forms import (
    PreferencesForm,
    UnsubscribeForm,
    Visitor,
    link_refused,
    no_longer_valid,
    sentence,
    too_many,
)
from subscribers.page_views import Answer, Refused, Views
from subscribers.rules import Cadence, parse_cadence
from subscribers.service import set_preferences, unsubscribe_subscription
from subscribers.signup import (
    Background,
    SignupRequest,
    check_request,
    claim_confirmation,
    person_key,
    release_confirmation,
    request_subscriptions,
)
from subscribers.tokens import CONFIRM_MAX_AGE, InvalidToken, Purpose, TokenSigner

__all__ = ["LatestIssue", "LinkPages"]


class LatestIssue(Protocol):
    """The newest issue of a list, for the preview on the preferences page."""

    def __call__(self, list_id: int) -> Issue | None:
        """Return the list's newest issue, or None."""
        ...


class LinkPages:
    """The handlers behind a reader's own links; `PublicPages` supplies what they need."""

    # Set by PublicPages (a dataclass), which declares each with its default.
    sessions: sessionmaker[Session]
    taxonomy: Taxonomy
    signer: TokenSigner
    notices: Notices
    latest_issue: LatestIssue
    base_url: str
    per_link: RateLimiter
    per_person: RateLimiter
    signups: Background
    views: Views

    # -- the confirmation e-mail (the subscribe form's, and "subscribe again") ---------------

    async def _carry_out(self, wish: SignupRequest, *, own_link: bool = False) -> None:
        """The half of a request that depends on who the address is: after the answer.

        ``own_link``: the request came through the reader's own signed link (subscribe again
        from the preferences), which only their mailbox holds, so the hour's limit, there
        against mailing someone who did not ask, does not hold it back.
        """
        person = person_key(wish.address)
        if not own_link and not self.per_person.allows(person):
            return  # one confirmation per person per hour, however the address is spelt
        found = await asyncio.to_thread(self._store, wish, own_link)
        if found is None:
            return
        self.per_person.allow(person)  # counted when sent: jobs run one at a time
        newsletter, subscriber_id, address, token, previous = found
        sent = await self.notices.send(
            newsletter,
            address,
            "confirm",
            action_url=f"{self.base_url}/confirm/{token}",
            topics=wish.topics,
            cadence=str(wish.cadence),
            valid_days=CONFIRM_MAX_AGE // 86400,
        )
        if not sent:  # the relay refused or was away: the reader may ask again at once
            await asyncio.to_thread(self._release, subscriber_id, previous)

    def _store(
        self, wish: SignupRequest, force: bool = False
    ) -> tuple[NewsletterList, int, str, str, dt.datetime | None] | None:
        """Apply the request; what to mail, unless nothing waits or a link went this hour."""
        with self.sessions() as session:
            pending = request_subscriptions(session, wish, self.taxonomy)
            if not pending:
                session.commit()
                return None
            subscriber = pending[0].subscriber
            won, previous = claim_confirmation(session, subscriber.id, force=force)
            session.commit()
            if not won:  # another request, perhaps in another process, mailed one this hour
                return None
            token = self.signer.make(Purpose.CONFIRM, [s.id for s in pending], subscriber.token_key)
            return pending[0].newsletter, subscriber.id, subscriber.email, token, previous

    def _release(self, subscriber_id: int, previous: dt.datetime | None) -> None:
        with self.sessions() as session:
            release_confirmation(session, subscriber_id, previous)
            session.commit()

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
            if subscription.status != SubscriptionStatus.CONFIRMED:
                # Nothing is sent on this subscription: "saved" would promise issues that never
                # come. The page offers to subscribe again instead.
                return self._preferences(subscription, token)
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
            slug=subscription.newsletter.slug,
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

    def resubscribe(self, token: str, form: PreferencesForm, visitor: Visitor) -> Answer:
        """Subscribe again from an ended subscription's preferences: a new confirmation first."""
        with self.sessions() as session:
            try:
                subscription = self._subscription(session, Purpose.PREFERENCES, token)
                self.signer.check_csrf(form.csrf, f"preferences:{token}")
            except Refused as exc:
                return self.views.refused(exc)
            except InvalidToken as exc:
                return self.views.retry(exc)
            slug = subscription.newsletter.slug
            if subscription.status == SubscriptionStatus.CONFIRMED:
                return self._preferences(subscription, token)  # nothing to do: still subscribed
            if not self.per_link.allow(f"resubscribe:{subscription.id}"):
                return self.views.refused(too_many(), slug)
            try:
                wish = check_request(
                    subscription.subscriber.email,
                    [subscription.newsletter],
                    topics=form.topics,
                    cadence=form.cadence,
                    timezone=form.timezone,
                    send_hour=form.send_hour,
                    taxonomy=self.taxonomy,
                    smtputf8=True,  # the address was taken once: it is the reader's own
                    context=visitor.context(),
                )
            except ValueError as exc:
                return self._preferences(subscription, token, error=sentence(str(exc)))

        async def queue() -> None:
            self.signups.submit(lambda: self._carry_out(wish, own_link=True))

        # Double opt-in again, as on the subscribe form.
        return dataclasses.replace(self.views.page("check_inbox.html", slug=slug), after=queue)

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
                slug=subscription.newsletter.slug,
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
            # Where to come back: the preferences page offers to subscribe again.
            preferences = self._preferences_url(subscription, subscription.subscriber.token_key)
        if form.one_click:
            # RFC 8058: answer at once, 200, no redirect, no cookie, nothing to click.
            return self.views.text("You have been unsubscribed.\n")
        if changed:
            await self.notices.send(
                newsletter,
                email,
                "goodbye",
                action_url=preferences,
                unsubscribe_url=f"{self.base_url}/unsubscribe/{token}",
            )
        return self.views.page(
            "unsubscribed.html",
            slug=newsletter.slug,
            lists=names,
            preferences=preferences,
        )

    # -- shared ----------------------------------------------------------------------------

    def _subscription(self, session: Session, purpose: Purpose, token: str) -> Subscription:
        """The subscription a preferences or unsubscribe link names; Refused if not valid."""
        try:
            claims = self.signer.read(purpose, token)
        except InvalidToken as exc:
            raise link_refused(exc) from exc
        subscription = session.scalar(
            select(Subscription)
            .where(Subscription.id == claims.subscription_ids[0])
            .options(selectinload(Subscription.subscriber), selectinload(Subscription.newsletter))
        )
        if subscription is None or subscription.subscriber.token_key != claims.key:
            raise no_longer_valid()
        return subscription

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
