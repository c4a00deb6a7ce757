"""People and consent: every change of a subscription happens here, and is recorded.

The rules hold whichever front end asked (CLI, web, import): addresses are normalised and
validated (a local part that is not ASCII only when the relay takes SMTPUTF8; an IDN domain
always, as it is sent as A-labels), topics must exist, time zones must be IANA names, and
every status change goes through `_transition`, which refuses moves the table below does not
allow and writes a ConsentEvent (when, what, from where, and the form wording agreed to).

    pending ──confirm──▶ confirmed ──unsubscribe──▶ unsubscribed
       │                    │  └──bounce/complaint──▶ bounced / complained
       └──unsubscribe──▶ unsubscribed
    any state ──subscribe again──▶ pending (or confirmed, when an operator holds the consent)

A subscribe request that is not the operator's (`confirmed=False`: the web form, `subscribers
add` without --confirmed) never changes a confirmed subscription, nor the time zone of a person
who has one: whoever typed the address may not be its owner. Only a confirmation posted by the
person makes a pending subscription count.

What counts as a valid address, zone, hour, cadence or topic is `subscribers.rules`; the names
of its exceptions and checks are kept here too (InvalidAddress, normalise_email, ...).

Suppressions (hard bounces, complaints, erasures) are global, kept as address hashes, and every
audience query excludes them; a fresh confirmation by the person lifts one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from mailer.topics import Taxonomy
from subscribers.db import utcnow
from subscribers.models import (
    Cadence,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    TopicChoice,
    address_hash,
    new_token_key,
)
from subscribers.outbox import record_event
from subscribers.rules import (
    DEFAULT_CADENCE,
    DEFAULT_SEND_HOUR,
    DEFAULT_TIMEZONE,
    InvalidAddress,
    InvalidSendHour,
    InvalidTimezone,
    check_deliverable,
    check_timezone,
    normalise_email,
    parse_send_hour,
    parse_topics,
)

__all__ = [
    "TRANSITIONS",
    "Context",
    "InvalidAddress",
    "InvalidSendHour",
    "InvalidTimezone",
    "NotSubscribed",
    "check_deliverable",
    "check_timezone",
    "confirm",
    "erase",
    "export_person",
    "find_subscriber",
    "list_subscriptions",
    "normalise_email",
    "record_bounce",
    "set_preferences",
    "subscribe",
    "suppress",
    "suppression_of",
    "unsubscribe",
    "unsubscribe_subscription",
]

S = SubscriptionStatus
#: Which status may follow which: the one table every front end (and the importer) applies.
TRANSITIONS = {
    S.PENDING: {S.CONFIRMED, S.UNSUBSCRIBED, S.PENDING},
    S.CONFIRMED: {S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED, S.CONFIRMED},
    S.UNSUBSCRIBED: {S.PENDING, S.CONFIRMED, S.UNSUBSCRIBED},
    S.BOUNCED: {S.PENDING, S.CONFIRMED, S.UNSUBSCRIBED},
    S.COMPLAINED: {S.PENDING, S.CONFIRMED, S.UNSUBSCRIBED},
}


class NotSubscribed(LookupError):
    """The address has no subscription on this list."""


@dataclass(frozen=True, slots=True)
class Context:
    """Where a change came from, for the consent record."""

    source: ConsentSource = ConsentSource.CLI
    ip: str | None = None
    user_agent: str | None = None
    #: The version of the form wording the person saw (web), if any.
    wording: str | None = None


CLI = Context()


def _record(
    session: Session,
    subscriber: Subscriber,
    action: ConsentAction,
    context: Context,
    list_id: int | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        ConsentEvent(
            subscriber_id=subscriber.id,
            list_id=list_id,
            action=action,
            source=context.source,
            ip=context.ip,
            user_agent=(context.user_agent or "")[:400] or None,
            wording=context.wording,
            detail=detail,
        )
    )


def _transition(
    session: Session,
    subscription: Subscription,
    status: SubscriptionStatus,
    action: ConsentAction,
    context: Context,
    detail: str | None = None,
) -> None:
    """The one place a subscription's status changes."""
    if status not in TRANSITIONS[subscription.status]:
        raise ValueError(f"a {subscription.status} subscription cannot become {status}")
    before, subscription.status = subscription.status, status
    subscription.updated_at = utcnow()
    _record(session, subscription.subscriber, action, context, subscription.list_id, detail)
    if status != before and status in _ANNOUNCED:
        _announce(session, subscription, _ANNOUNCED[status], context, detail)


#: The subscription statuses webhooks hear of (bounced and complained: subscriber.suppressed).
_ANNOUNCED = {S.CONFIRMED: "subscriber.confirmed", S.UNSUBSCRIBED: "subscriber.unsubscribed"}


def _announce(
    session: Session,
    subscription: Subscription,
    kind: str,
    context: Context,
    detail: str | None = None,
) -> None:
    """Tell the webhooks of a subscription's change, in the change's own transaction."""
    subscriber = subscription.subscriber
    payload = {
        "email": subscriber.email,
        "subscriber_id": subscriber.id,
        "list": subscription.newsletter.slug,
        "source": str(context.source),
        "detail": detail,
    }
    record_event(session, kind, payload)


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this address (normalised first), or None."""
    return session.scalar(
        select(Subscriber).where(Subscriber.email_hash == address_hash(normalise_email(email)))
    )


def subscribe(
    session: Session,
    newsletter: NewsletterList,
    email: str,
    *,
    taxonomy: Taxonomy,
    topics: Iterable[str] = (),
    cadence: Cadence = DEFAULT_CADENCE,
    timezone: str = DEFAULT_TIMEZONE,
    send_hour: int = DEFAULT_SEND_HOUR,
    name: str | None = None,
    confirmed: bool = False,
    context: Context = CLI,
    smtputf8: bool = False,
) -> Subscription:
    """Create or renew a subscription; checks everything before writing anything.

    Unless ``confirmed`` (the operator holds the consent), a confirmed subscription is returned
    unchanged and a person with any confirmed subscription keeps their time zone.
    """
    address = check_deliverable(normalise_email(email), smtputf8=smtputf8)
    chosen = parse_topics(topics, taxonomy)
    zone = check_timezone(timezone)
    parse_send_hour(send_hour)
    subscriber = _person(session, address, zone, name, confirmed=confirmed)
    subscription = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber.id, Subscription.list_id == newsletter.id
        )
    )
    if subscription is not None and subscription.status == S.CONFIRMED and not confirmed:
        return subscription  # the request may not be its owner's: nothing changes, nothing tells
    status = S.CONFIRMED if confirmed else S.PENDING
    if subscription is None:
        subscription = Subscription(
            subscriber=subscriber,
            list_id=newsletter.id,
            status=status,
            cadence=cadence,
            send_hour=send_hour,
        )
        session.add(subscription)
        session.flush()
        action = (
            ConsentAction.IMPORT
            if context.source == ConsentSource.IMPORT
            else ConsentAction.SUBSCRIBE
        )
        detail = "confirmed by the operator" if confirmed else None
        _record(session, subscriber, action, context, newsletter.id, detail)
        if confirmed:
            _announce(session, subscription, "subscriber.confirmed", context, detail)
    else:
        subscription.cadence = cadence
        subscription.send_hour = send_hour
        if subscription.status != status:
            _transition(session, subscription, status, ConsentAction.SUBSCRIBE, context)
    subscription.topic_choices = [TopicChoice(topic=topic) for topic in chosen]
    session.flush()
    return subscription


def _person(
    session: Session, address: str, zone: str, name: str | None, *, confirmed: bool
) -> Subscriber:
    """The subscriber of a checked address, created or updated as a subscribe request may."""
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.email_hash == address_hash(address))
    )
    if subscriber is None:
        subscriber = Subscriber(
            email=address, email_hash=address_hash(address), timezone=zone, name=name
        )
        session.add(subscriber)
        session.flush()
        return subscriber
    # Whoever typed the address may not own it: only the operator, or a person with nothing
    # confirmed yet, moves the time zone every list's sends are timed by.
    if confirmed or not _has_confirmed(session, subscriber):
        subscriber.timezone = zone
    subscriber.name = name or subscriber.name
    return subscriber


def _has_confirmed(session: Session, subscriber: Subscriber) -> bool:
    found = session.scalar(
        select(Subscription.id)
        .where(Subscription.subscriber_id == subscriber.id, Subscription.status == S.CONFIRMED)
        .limit(1)
    )
    return found is not None


def confirm(session: Session, subscription: Subscription, context: Context) -> bool:
    """Confirm a pending subscription (the person followed the link); False if it was not pending.

    A confirmation is fresh, explicit consent: it lifts any suppression of the address.
    """
    if subscription.status != S.PENDING:
        return False
    _transition(session, subscription, S.CONFIRMED, ConsentAction.CONFIRM, context)
    session.execute(
        delete(Suppression).where(Suppression.address_hash == subscription.subscriber.email_hash)
    )
    session.flush()
    return True


def set_preferences(
    session: Session,
    subscription: Subscription,
    *,
    taxonomy: Taxonomy,
    topics: Iterable[str],
    cadence: Cadence,
    timezone: str,
    send_hour: int,
    context: Context,
) -> Subscription:
    """Change topics, cadence, time zone and send hour together, recorded as one event."""
    chosen = parse_topics(topics, taxonomy)
    zone = check_timezone(timezone)
    parse_send_hour(send_hour)
    subscription.topic_choices = [TopicChoice(topic=topic) for topic in chosen]
    subscription.cadence = cadence
    subscription.send_hour = send_hour
    subscription.subscriber.timezone = zone
    subscription.updated_at = utcnow()
    detail = f"topics={','.join(chosen) or '*'} cadence={cadence} tz={zone} hour={send_hour}"
    _record(
        session,
        subscription.subscriber,
        ConsentAction.PREFERENCES,
        context,
        subscription.list_id,
        detail,
    )
    session.flush()
    return subscription


def unsubscribe_subscription(
    session: Session, subscription: Subscription, context: Context, detail: str | None = None
) -> bool:
    """Unsubscribe (kept, so the record of consent survives); False if it already was."""
    if subscription.status == S.UNSUBSCRIBED:
        return False
    _transition(session, subscription, S.UNSUBSCRIBED, ConsentAction.UNSUBSCRIBE, context, detail)
    session.flush()
    return True


def unsubscribe(
    session: Session, newsletter: NewsletterList, email: str, context: Context = CLI
) -> Subscription:
    """Unsubscribe an address from a list; NotSubscribed if it has no subscription there."""
    address = normalise_email(email)
    subscription = session.scalar(
        select(Subscription)
        .join(Subscriber)
        .where(
            Subscriber.email_hash == address_hash(address), Subscription.list_id == newsletter.id
        )
    )
    if subscription is None:
        raise NotSubscribed(f"{address} is not subscribed to {newsletter.slug!r}")
    unsubscribe_subscription(session, subscription, context)
    return subscription


def suppress(
    session: Session,
    email: str,
    reason: str,
    *,
    report_id: str | None = None,
    diagnostic: str | None = None,
) -> None:
    """Never mail this address again (until the person confirms a new subscription).

    ``report_id`` and ``diagnostic`` are the evidence when a bounce report caused it; an
    address suppressed already keeps its first reason and evidence.
    """
    digest = address_hash(email)
    if session.scalar(select(Suppression.id).where(Suppression.address_hash == digest)) is None:
        session.add(
            Suppression(
                address_hash=digest,
                reason=reason,
                report_id=report_id[:200] if report_id else None,
                diagnostic=diagnostic,
            )
        )
        session.flush()
        # An erased address is not repeated to anybody: the event names its hash only.
        shown = None if reason == "erased" else email
        event = {"email": shown, "address_hash": digest, "reason": reason}
        record_event(session, "subscriber.suppressed", event | {"diagnostic": diagnostic})


def suppression_of(session: Session, email: str) -> Suppression | None:
    """The suppression of an address (normalised first), with its evidence, or None."""
    digest = address_hash(normalise_email(email))
    return session.scalar(select(Suppression).where(Suppression.address_hash == digest))


#: Context of changes made by processing bounces and complaints.
BOUNCES = Context(source=ConsentSource.BOUNCE)


def record_bounce(
    session: Session,
    subscriber: Subscriber,
    list_id: int,
    *,
    complaint: bool,
    detail: str,
    reason: str | None = None,
    report_id: str | None = None,
    diagnostic: str | None = None,
) -> None:
    """Stop mailing an address that bounced for good or complained: suppress it everywhere.

    The list's subscription becomes `bounced` or `complained` (with a consent event saying why),
    so the record shows the person did not leave by choice; a fresh confirmation lifts it.
    ``reason`` names the suppression (default "complaint" or "hard bounce"); ``report_id`` and
    ``diagnostic`` are its evidence.
    """
    status = S.COMPLAINED if complaint else S.BOUNCED
    action = ConsentAction.COMPLAINT if complaint else ConsentAction.BOUNCE
    subscription = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber.id, Subscription.list_id == list_id
        )
    )
    if (
        subscription is not None
        and subscription.status != status
        and status in TRANSITIONS[subscription.status]
    ):
        _transition(session, subscription, status, action, BOUNCES, detail[:200])
    suppress(
        session,
        subscriber.email,
        reason or ("complaint" if complaint else "hard bounce"),
        report_id=report_id,
        diagnostic=diagnostic,
    )


def erase(session: Session, email: str) -> bool:
    """Remove everything personal about an address (GDPR Art. 17); keep only its suppression.

    The subscriber row stays, anonymised, so past deliveries keep their counts; its token key is
    rotated so every link ever sent stops working. False if the address is unknown.
    """
    address = normalise_email(email)
    suppress(session, address, "erased")
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.email_hash == address_hash(address))
    )
    if subscriber is None:
        return False
    session.execute(delete(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber.id))
    for subscription in list(subscriber.subscriptions):
        session.delete(subscription)
    subscriber.email = f"erased-{subscriber.id}@erased.invalid"
    subscriber.email_hash = address_hash(subscriber.email)
    subscriber.name = None
    subscriber.timezone = DEFAULT_TIMEZONE
    subscriber.token_key = new_token_key()
    session.flush()
    return True


def export_person(session: Session, email: str) -> dict[str, Any]:
    """Everything held about one person (GDPR Art. 15/20); NotSubscribed if unknown."""
    address = normalise_email(email)
    subscriber = session.scalar(
        select(Subscriber)
        .where(Subscriber.email_hash == address_hash(address))
        .options(
            selectinload(Subscriber.subscriptions).selectinload(Subscription.topic_choices),
            selectinload(Subscriber.subscriptions).selectinload(Subscription.newsletter),
        )
    )
    if subscriber is None:
        raise NotSubscribed(f"no data is held about {address}")
    events = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.subscriber_id == subscriber.id)
        .order_by(ConsentEvent.id)
    )
    suppressed = session.scalar(
        select(Suppression.reason).where(Suppression.address_hash == subscriber.email_hash)
    )
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "timezone": subscriber.timezone,
        "created_at": subscriber.created_at.isoformat(),
        "suppressed": suppressed,
        "subscriptions": [
            {
                "list": s.newsletter.slug,
                "status": str(s.status),
                "cadence": str(s.cadence),
                "send_hour": s.send_hour,
                "topics": list(s.topics),
                "created_at": s.created_at.isoformat(),
                "updated_at": s.updated_at.isoformat(),
            }
            for s in subscriber.subscriptions
        ],
        "consent_events": [
            {
                "at": e.created_at.isoformat(),
                "action": str(e.action),
                "source": str(e.source),
                "list_id": e.list_id,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "wording": e.wording,
                "detail": e.detail,
            }
            for e in events
        ],
    }


def list_subscriptions(session: Session, newsletter: NewsletterList) -> list[Subscription]:
    """Every subscription of a list with its subscriber and topics, by address."""
    return list(
        session.scalars(
            select(Subscription)
            .join(Subscriber)
            .where(Subscription.list_id == newsletter.id)
            .options(
                selectinload(Subscription.subscriber), selectinload(Subscription.topic_choices)
            )
            .order_by(Subscriber.email)
        )
    )
