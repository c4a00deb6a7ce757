"""Confirmation e-mails an operator sends: the public form's own message, at most one an hour.

`subscribers add` (without --confirmed), `resend-confirmation`, an import's
--send-confirmations, the console and the API all come here. The message is the one the
public subscribe form sends (`subscribers.notices`, the same template, headers and DKIM
signature), with a confirmation link for the pending subscription.

At most one confirmation goes to an address per hour, whoever asks and from whichever
process: each one an operator sends is written to the audit log (action
``subscriber.confirmation_sent``, target ``subscriber:ID``, never the address, so an erasure
leaves no address behind), and a subscribe through the public form in the last hour counts as
one too (the form mails a confirmation after each request). A send that fails is reported with
the relay's words and leaves no record, so it can be tried again at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select

from briefmail.accounts.audit import write as audit
from briefmail.accounts.models import AuditEntry
from subscribers.db import as_utc, utcnow
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from briefmail.app import Briefmail
    from mailer.message import OutgoingMessage
    from mailer.render import Newsletter

__all__ = ["ACTION", "INTERVAL", "ConfirmationSent", "send_confirmations"]

#: The audit action of a confirmation e-mail an operator sent.
ACTION = "subscriber.confirmation_sent"
#: At most one confirmation per address in this long.
INTERVAL = dt.timedelta(hours=1)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ConfirmationSent:
    """What became of one address's confirmation: sent, skipped (and why) or failed."""

    email: str
    sent: bool
    #: Why nothing was sent, when nothing was tried ("sent at 18:02 UTC, less than an hour ago").
    skipped: str | None = None
    #: The relay's refusal or the connection error, when the send failed.
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        """The address and what happened to its confirmation."""
        return {
            "email": self.email,
            "sent": self.sent,
            "skipped": self.skipped,
            "error": self.error,
        }

    def __str__(self) -> str:
        """One line for the operator."""
        if self.sent:
            return f"{self.email}: confirmation e-mail sent"
        if self.error is not None:
            return f"{self.email}: confirmation NOT sent: {self.error}"
        return f"{self.email}: confirmation skipped: {self.skipped}"


def last_sent(session: Session, subscriber_id: int) -> dt.datetime | None:
    """When the newest confirmation went to this subscriber (operator or public form), or None."""
    by_operator = session.scalar(
        select(func.max(AuditEntry.at)).where(
            AuditEntry.action == ACTION, AuditEntry.target == f"subscriber:{subscriber_id}"
        )
    )
    by_form = session.scalar(
        select(func.max(ConsentEvent.created_at)).where(
            ConsentEvent.subscriber_id == subscriber_id,
            ConsentEvent.action == ConsentAction.SUBSCRIBE,
            ConsentEvent.source == ConsentSource.WEB,
        )
    )
    person = session.get(Subscriber, subscriber_id)
    by_page = person.confirmation_sent_at if person is not None else None
    found = [as_utc(at) for at in (by_operator, by_form, by_page) if at is not None]
    return max(found) if found else None


def send_confirmations(
    app: Briefmail, subscriptions: Sequence[Subscription], session: Session, *, actor: str
) -> list[ConfirmationSent]:
    """Mail each pending subscription its confirmation link (one relay connection for all).

    ``subscriptions`` belong to ``session``; the audit entries of the sent ones are written
    in it, and the caller commits. One that is not pending, or whose address had a
    confirmation less than an hour ago, is skipped with the reason.
    """
    from subscribers.notices import Notices
    from subscribers.tokens import CONFIRM_MAX_AGE, Purpose, TokenSigner

    signer = TokenSigner(app.settings.secret())
    notices = Notices(app.renderer, _identity(app), app.transport, app.dkim)
    now = utcnow()
    results: dict[int, ConfirmationSent] = {}
    messages: list[tuple[Subscription, OutgoingMessage]] = []
    for subscription in subscriptions:
        email = subscription.subscriber.email
        why = _skip_reason(session, subscription, now)
        if why is not None:
            results[subscription.id] = ConfirmationSent(email, False, skipped=why)
            continue
        token = signer.make(Purpose.CONFIRM, [subscription.id], subscription.subscriber.token_key)
        message = notices.build(
            subscription.newsletter,
            email,
            "confirm",
            action_url=f"{app.settings.newsletter.base_url}/confirm/{token}",
            topics=subscription.topics,
            cadence=str(subscription.cadence),
            valid_days=CONFIRM_MAX_AGE // 86400,
        )
        messages.append((subscription, message))
    errors = run_sync(_deliver(app, [message for _, message in messages]))
    for (subscription, _), error in zip(messages, errors, strict=True):
        email = subscription.subscriber.email
        results[subscription.id] = ConfirmationSent(email, error is None, error=error)
        if error is None:
            target = f"subscriber:{subscription.subscriber_id}"
            audit(session, actor, ACTION, target, after={"list": subscription.newsletter.slug})
    return [results[s.id] for s in subscriptions]


def _skip_reason(session: Session, subscription: Subscription, now: dt.datetime) -> str | None:
    """Why this subscription gets no confirmation now, or None when it may get one."""
    if subscription.status != SubscriptionStatus.PENDING:
        return f"the subscription is {subscription.status}, not pending"
    sent = last_sent(session, subscription.subscriber_id)
    if sent is not None and now - sent < INTERVAL:
        return (
            f"one was sent at {sent:%Y-%m-%d %H:%M} UTC, less than an hour ago "
            "(at most one an hour per address)"
        )
    return None


async def _deliver(app: Briefmail, messages: Sequence[OutgoingMessage]) -> list[str | None]:
    """Send each message over one transport; the error text of each that failed, else None."""
    from mailer.errors import DeliveryError

    if not messages:
        return []
    errors: list[str | None] = []
    transport = app.transport()
    try:
        for message in messages:
            try:
                await transport.send(message)
                errors.append(None)
            except (DeliveryError, OSError) as exc:
                errors.append(str(exc) or type(exc).__name__)
    finally:
        await transport.close()
    return errors


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, even under a running event loop.

    The console and the API call the library from their threads; a caller already inside a
    loop gets the coroutine run on a worker thread's own loop instead of a nested one.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _identity(app: Briefmail) -> Callable[[NewsletterList], Newsletter]:
    """How a list presents itself in notices: as in its newsletters (briefmail.web does so too)."""
    from scheduler.messages import newsletter_identity

    settings = app.settings.newsletter

    def identity(row: NewsletterList) -> Newsletter:
        brand = app.settings.brand(row.slug)
        return newsletter_identity(row, settings.postal_address or None, settings.language, brand)

    return identity
