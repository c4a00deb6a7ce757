"""Who a list reaches: the confirmed, unsuppressed readers a send plans, in id ranges.

Planning reads the audience in the database (`audience_select` with a range of subscription
ids); previews and dry runs stream it in batches (`iter_audience`); `audience_census` says why
the rest of a list is not reached. The rules of who may be reached are in `subscribers.service`;
this module only reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, select, true
from sqlalchemy.orm import Session

from subscribers.models import (
    Cadence,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    TopicChoice,
)
from subscribers.rules import DEFAULT_SEND_HOUR, DEFAULT_TIMEZONE

__all__ = ["AudienceMember", "audience_census", "audience_ids", "audience_select", "iter_audience"]


@dataclass(frozen=True, slots=True)
class AudienceMember:
    """What planning needs of one eligible subscriber: who, and which topics."""

    subscriber_id: int
    subscription_id: int
    email: str
    topics: frozenset[str]
    #: Their IANA time zone and the local hour they want the daily issue at.
    timezone: str = DEFAULT_TIMEZONE
    send_hour: int = DEFAULT_SEND_HOUR


def _not_suppressed() -> Any:
    return ~exists().where(Suppression.address_hash == Subscriber.email_hash)


def audience_select(list_id: int, cadence: Cadence | None) -> Select[int, int, str, str, str, int]:
    """Who a send of a list reaches, one row per confirmed, unsuppressed subscription.

    Columns: subscription id, subscriber id, email, topics (comma-joined in no particular order;
    "" for every topic), time zone, send hour. Add a range of subscription ids to read a part.
    """
    same_cadence = Subscription.cadence == cadence if cadence is not None else true()
    topics = (
        select(func.coalesce(func.aggregate_strings(TopicChoice.topic, ","), ""))
        .where(TopicChoice.subscription_id == Subscription.id)
        .scalar_subquery()
    )
    return (
        select(
            Subscription.id,
            Subscription.subscriber_id,
            Subscriber.email,
            topics.label("topics"),
            Subscriber.timezone,
            Subscription.send_hour,
        )
        .join(Subscriber)
        .where(
            Subscription.list_id == list_id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
            same_cadence,
            _not_suppressed(),
        )
    )


def audience_ids(session: Session, list_id: int) -> tuple[int, int]:
    """The lowest and highest subscription id of a list ((0, -1) when it has none)."""
    low, high = session.execute(
        select(func.min(Subscription.id), func.max(Subscription.id)).where(
            Subscription.list_id == list_id
        )
    ).one()
    return (0, -1) if low is None else (int(low), int(high))


def iter_audience(
    session: Session, list_id: int, cadence: Cadence | None, batch_size: int = 1000
) -> Iterator[Sequence[AudienceMember]]:
    """Yield confirmed, unsuppressed subscribers of a list (with this cadence; None: any).

    Keyset pagination (``id > last``) keeps memory at one batch and stays fast at any offset.
    """
    last_id = 0
    query = audience_select(list_id, cadence).order_by(Subscription.id).limit(batch_size)
    while True:
        rows = session.execute(query.where(Subscription.id > last_id)).all()
        if not rows:
            return
        yield [
            AudienceMember(
                subscriber_id=subscriber_id,
                subscription_id=subscription_id,
                email=email,
                topics=frozenset(topics.split(",")) if topics else frozenset(),
                timezone=zone,
                send_hour=hour,
            )
            for subscription_id, subscriber_id, email, topics, zone, hour in rows
        ]
        last_id = rows[-1][0]


def audience_census(session: Session, list_id: int, cadence: Cadence | None) -> Counter[str]:
    """Count the list's subscriptions that a send of ``cadence`` skips, by reason."""
    counts: Counter[str] = Counter()
    suppressed = exists().where(Suppression.address_hash == Subscriber.email_hash)
    for status, sub_cadence, is_suppressed, n in session.execute(
        select(Subscription.status, Subscription.cadence, suppressed, func.count())
        .join(Subscriber)
        .where(Subscription.list_id == list_id)
        .group_by(Subscription.status, Subscription.cadence, suppressed)
    ):
        if status != SubscriptionStatus.CONFIRMED:
            counts[str(status)] += n
        elif is_suppressed:
            counts["suppressed"] += n
        elif cadence is not None and sub_cadence != cadence:
            counts[f"cadence {sub_cadence}"] += n
    return counts
