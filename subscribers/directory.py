"""Finding people: the console's subscriber search and its suppressions, a page at a time.

Pages are keyset pages (newest subscription first, the last id seen as the cursor), so page
500 of 100,000 readers costs what page 1 does, and readers added meanwhile do not shift it.
The address filter is a substring match (case-insensitive); a topic filter finds the readers
who *receive* the topic: those who chose it and those who chose nothing (every topic).

Suppressions are address hashes; the address is shown only while a subscriber row still holds
it (an erased person's row no longer does). A suppression may be lifted by an operator only
when a bounce caused it (a misread report, a mailbox that exists again): an erasure or a
complaint is the person's own word, and only their fresh confirmation lifts those.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from subscribers.db import as_utc
from subscribers.models import (
    Cadence,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    TopicChoice,
)

__all__ = [
    "LOCKED_REASONS",
    "Found",
    "Page",
    "Query",
    "SuppressionLocked",
    "SuppressionRow",
    "emails_of",
    "lift_suppression",
    "search",
    "suppression_reasons",
    "suppressions",
]

#: Suppressions only the person lifts (by confirming a new subscription), never an operator.
LOCKED_REASONS = frozenset({"erased", "complaint"})


class SuppressionLocked(ValueError):
    """An operator may not lift this suppression (an erasure or a complaint)."""


@dataclass(frozen=True, slots=True)
class Query:
    """What the search asks for; empty fields do not filter."""

    #: The list searched (`PeopleService.search` fills it in from the list's slug).
    list_id: int = 0
    text: str = ""
    status: SubscriptionStatus | None = None
    topic: str | None = None
    cadence: Cadence | None = None
    #: The last subscription id of the page before (keyset cursor), or None for the first.
    before_id: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Found:
    """One subscription in the search results."""

    subscription_id: int
    subscriber_id: int
    email: str
    status: str
    cadence: str
    timezone: str
    send_hour: int
    topics: tuple[str, ...]
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Page:
    """One page of results, the cursor of the next (None: last page) and counts per status."""

    rows: tuple[Found, ...]
    next_before: int | None
    #: Subscriptions per status that match every filter but the status one.
    counts: dict[str, int]


def _filtered(query: Query, selected: Any) -> Any:
    """The search's filters (all but status) on a statement over Subscription ⨝ Subscriber."""
    statement = selected.where(Subscription.list_id == query.list_id)
    text = query.text.strip().lower()
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(func.lower(Subscriber.email).like(f"%{escaped}%", escape="\\"))
    if query.cadence is not None:
        statement = statement.where(Subscription.cadence == query.cadence)
    if query.topic:
        chose = exists().where(TopicChoice.subscription_id == Subscription.id)
        chose_it = exists().where(
            TopicChoice.subscription_id == Subscription.id, TopicChoice.topic == query.topic
        )
        statement = statement.where(or_(chose_it, ~chose))
    return statement


def search(session: Session, query: Query) -> Page:
    """One keyset page of a list's subscriptions matching the query, newest first."""
    rows = select(Subscription, Subscriber).join(Subscriber)
    statement = _filtered(query, rows)
    if query.status is not None:
        statement = statement.where(Subscription.status == query.status)
    if query.before_id is not None:
        statement = statement.where(Subscription.id < query.before_id)
    limit = max(1, min(query.limit, 500))
    found = session.execute(statement.order_by(Subscription.id.desc()).limit(limit + 1)).all()
    ids = [subscription.id for subscription, _ in found[:limit]]
    topics: dict[int, list[str]] = {}
    if ids:
        for subscription_id, topic in session.execute(
            select(TopicChoice.subscription_id, TopicChoice.topic)
            .where(TopicChoice.subscription_id.in_(ids))
            .order_by(TopicChoice.topic)
        ):
            topics.setdefault(subscription_id, []).append(topic)
    page = tuple(
        Found(
            subscription.id,
            person.id,
            person.email,
            str(subscription.status),
            str(subscription.cadence),
            person.timezone,
            subscription.send_hour,
            tuple(topics.get(subscription.id, ())),
            as_utc(subscription.created_at),
        )
        for subscription, person in found[:limit]
    )
    counting = _filtered(
        query,
        select(Subscription.status, func.count()).join(Subscriber),
    ).group_by(Subscription.status)
    counts = {str(status): n for status, n in session.execute(counting)}
    more = len(found) > limit
    return Page(page, page[-1].subscription_id if more and page else None, counts)


@dataclass(frozen=True, slots=True)
class SuppressionRow:
    """A suppression with its evidence and, while a subscriber holds it, the address."""

    id: int
    reason: str
    since: dt.datetime
    report_id: str | None
    diagnostic: str | None
    email: str | None
    subscriber_id: int | None

    @property
    def liftable(self) -> bool:
        """Whether an operator may lift it (a bounce's, not an erasure or a complaint)."""
        return self.reason not in LOCKED_REASONS


def suppressions(
    session: Session, *, reason: str | None = None, before_id: int | None = None, limit: int = 50
) -> tuple[list[SuppressionRow], int | None]:
    """A page of suppressions, newest first (filtered by reason), and the next page's cursor."""
    statement = select(Suppression, Subscriber.email, Subscriber.id).outerjoin(
        Subscriber, Subscriber.email_hash == Suppression.address_hash
    )
    if reason:
        statement = statement.where(Suppression.reason == reason)
    if before_id is not None:
        statement = statement.where(Suppression.id < before_id)
    limit = max(1, min(limit, 500))
    found = session.execute(statement.order_by(Suppression.id.desc()).limit(limit + 1)).all()
    rows = [
        SuppressionRow(
            s.id,
            s.reason,
            as_utc(s.created_at),
            s.report_id,
            s.diagnostic,
            email,
            subscriber_id,
        )
        for s, email, subscriber_id in found[:limit]
    ]
    return rows, rows[-1].id if len(found) > limit and rows else None


def suppression_reasons(session: Session) -> dict[str, int]:
    """How many suppressions there are of each reason."""
    counted = session.execute(select(Suppression.reason, func.count()).group_by(Suppression.reason))
    return {reason: n for reason, n in counted}


def lift_suppression(session: Session, suppression_id: int) -> Suppression:
    """Delete a bounce's suppression (the caller audits and commits); the row as it was.

    LookupError when there is none; SuppressionLocked for an erasure or a complaint.
    """
    suppression = session.get(Suppression, suppression_id)
    if suppression is None:
        raise LookupError(f"there is no suppression {suppression_id}")
    if suppression.reason in LOCKED_REASONS:
        raise SuppressionLocked(
            f"a suppression for {suppression.reason!r} is the person's own word: only their "
            "fresh confirmation through a subscribe form lifts it"
        )
    session.delete(suppression)
    session.flush()
    return suppression


def emails_of(session: Session, subscriber_ids: Sequence[int]) -> dict[int, str]:
    """The addresses of these subscribers."""
    found = session.execute(
        select(Subscriber.id, Subscriber.email).where(Subscriber.id.in_(subscriber_ids))
    )
    return {subscriber_id: email for subscriber_id, email in found}
