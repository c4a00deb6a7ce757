"""Subscribing, unsubscribing and the audience queries every send is planned from.

Every change of a subscription happens through a function here, so the rules (normalised address,
known topics, valid time zone) hold no matter which front end — CLI, web, import — asked.
"""

from __future__ import annotations

import zoneinfo
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import email_validator
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session, selectinload

from mailer.topics import Taxonomy
from subscribers.db import utcnow
from subscribers.models import (
    Cadence,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    TopicChoice,
)

__all__ = [
    "AudienceMember",
    "InvalidAddress",
    "InvalidTimezone",
    "NotSubscribed",
    "audience_census",
    "iter_audience",
    "list_subscriptions",
    "normalise_email",
    "subscribe",
    "unsubscribe",
]


class InvalidAddress(ValueError):
    """An e-mail address that is not valid; the message names it and says why."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        super().__init__(f"invalid e-mail address {address!r}: {reason}")


class InvalidTimezone(ValueError):
    """A time zone that is not an IANA zone name."""

    def __init__(self, zone: str) -> None:
        super().__init__(f"unknown time zone {zone!r} (use an IANA name such as Europe/Berlin)")


class NotSubscribed(LookupError):
    """The address has no subscription on this list."""


@dataclass(frozen=True, slots=True)
class AudienceMember:
    """What planning needs of one eligible subscriber: who, and which topics."""

    subscriber_id: int
    subscription_id: int
    email: str
    topics: frozenset[str]


def normalise_email(address: str) -> str:
    """The canonical form of an address (domain lowercased, IDN encoded); InvalidAddress if bad."""
    try:
        result = email_validator.validate_email(address.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise InvalidAddress(address, str(exc)) from exc
    return str(result.normalized)


def _check_timezone(zone: str) -> str:
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidTimezone(zone) from None
    return zone


def subscribe(
    session: Session,
    newsletter: NewsletterList,
    email: str,
    *,
    taxonomy: Taxonomy,
    topics: Iterable[str] = (),
    cadence: Cadence = Cadence.DAILY,
    timezone: str = "UTC",
    confirmed: bool = False,
) -> Subscription:
    """Create or renew a subscription; checks address, topics and time zone before writing."""
    address = normalise_email(email)
    chosen = taxonomy.validate(topics)
    zone = _check_timezone(timezone)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address))
    if subscriber is None:
        subscriber = Subscriber(email=address, timezone=zone)
        session.add(subscriber)
        session.flush()
    else:
        subscriber.timezone = zone
    subscription = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber.id, Subscription.list_id == newsletter.id
        )
    )
    status = SubscriptionStatus.CONFIRMED if confirmed else SubscriptionStatus.PENDING
    if subscription is None:
        subscription = Subscription(
            subscriber_id=subscriber.id, list_id=newsletter.id, status=status, cadence=cadence
        )
        session.add(subscription)
    else:
        subscription.status = status
        subscription.cadence = cadence
        subscription.updated_at = utcnow()
    subscription.topic_choices = [TopicChoice(topic=topic) for topic in chosen]
    session.flush()
    return subscription


def unsubscribe(session: Session, newsletter: NewsletterList, email: str) -> Subscription:
    """Mark the subscription unsubscribed (kept, so the record of consent survives)."""
    address = normalise_email(email)
    subscription = session.scalar(
        select(Subscription)
        .join(Subscriber)
        .where(Subscriber.email == address, Subscription.list_id == newsletter.id)
    )
    if subscription is None:
        raise NotSubscribed(f"{address} is not subscribed to {newsletter.slug!r}")
    subscription.status = SubscriptionStatus.UNSUBSCRIBED
    subscription.updated_at = utcnow()
    session.flush()
    return subscription


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


def iter_audience(
    session: Session, list_id: int, cadence: Cadence | None, batch_size: int = 1000
) -> Iterator[Sequence[AudienceMember]]:
    """Yield confirmed subscribers of a list (with this cadence; None: any), a batch at a time.

    Keyset pagination (``id > last``) keeps memory at one batch and stays fast at any offset.
    """
    last_id = 0
    same_cadence = Subscription.cadence == cadence if cadence is not None else true()
    while True:
        rows = session.execute(
            select(Subscription.id, Subscription.subscriber_id, Subscriber.email)
            .join(Subscriber)
            .where(
                Subscription.list_id == list_id,
                Subscription.status == SubscriptionStatus.CONFIRMED,
                same_cadence,
                Subscription.id > last_id,
            )
            .order_by(Subscription.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return
        topics: dict[int, set[str]] = {}
        for subscription_id, topic in session.execute(
            select(TopicChoice.subscription_id, TopicChoice.topic).where(
                TopicChoice.subscription_id.in_([row[0] for row in rows])
            )
        ):
            topics.setdefault(subscription_id, set()).add(topic)
        yield [
            AudienceMember(
                subscriber_id=subscriber_id,
                subscription_id=subscription_id,
                email=email,
                topics=frozenset(topics.get(subscription_id, ())),
            )
            for subscription_id, subscriber_id, email in rows
        ]
        last_id = rows[-1][0]


def audience_census(session: Session, list_id: int, cadence: Cadence | None) -> Counter[str]:
    """Count the list's subscriptions that a send of ``cadence`` skips, by reason."""
    counts: Counter[str] = Counter()
    for status, sub_cadence, n in session.execute(
        select(Subscription.status, Subscription.cadence, func.count())
        .where(Subscription.list_id == list_id)
        .group_by(Subscription.status, Subscription.cadence)
    ):
        if status != SubscriptionStatus.CONFIRMED:
            counts[str(status)] += n
        elif cadence is not None and sub_cadence != cadence:
            counts[f"cadence {sub_cadence}"] += n
    return counts
