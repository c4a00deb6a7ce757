"""The bulk writer: subscriptions created and changed a few thousand rows per statement.

An import writes only after every row is checked, in the caller's transaction, so the file is
applied whole or not at all. The bench populations write through the same functions, so the
rows they measure are the rows an import writes.

Statements go to the tables (Core executemany, RETURNING new ids where needed): the ORM's bulk
insert and update by primary key cost about half as much again per row, and its insert opens a
new statement whenever a row's set of None columns differs from the last.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar, cast

from sqlalchemy import Connection, Table, Update, bindparam, delete, insert, update
from sqlalchemy.orm import Session

from subscribers.db import Base, utcnow
from subscribers.models import (
    Cadence,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    TopicChoice,
    new_token_key,
)

__all__ = [
    "IN",
    "Change",
    "NewSubscription",
    "Plan",
    "Settings",
    "change_subscriptions",
    "chunks",
    "consent_detail",
    "create_subscriptions",
]

IN = 500  # values per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
_WRITE = 5000  # rows per round of bulk statements when writing
_T = TypeVar("_T")
#: Where statements go: the caller's session, or a connection (the benches set it up for speed).
Executor = Session | Connection


class Settings(NamedTuple):
    """A subscription's status, cadence and send hour."""

    status: SubscriptionStatus
    cadence: Cadence
    send_hour: int


class NewSubscription(NamedTuple):
    """A subscription to create, and its subscriber when ``subscriber_id`` is None."""

    #: address_hash(email): who the row is about.
    key: str
    email: str
    subscriber_id: int | None
    #: Name and time zone: always for a new subscriber; for a stored one only if they change.
    person: tuple[str | None, str] | None
    status: SubscriptionStatus
    cadence: Cadence
    send_hour: int
    topics: tuple[str, ...]
    #: The import ConsentEvent's detail (`consent_detail`).
    detail: str


class Change(NamedTuple):
    """New values for a stored subscription; None where nothing changes."""

    subscriber_id: int
    subscription_id: int
    subscriber: tuple[str | None, str] | None  # name, timezone
    subscription: Settings | None
    topics: tuple[str, ...] | None
    detail: str


@dataclass
class Plan:
    """Every write an import will make, one compact tuple per row (no ORM objects, no dicts)."""

    list_id: int
    creates: list[NewSubscription] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def write(self, session: Executor) -> None:
        """Apply the plan in the caller's transaction, a few thousand rows per bulk statement."""
        for creates in chunks(self.creates, _WRITE):
            create_subscriptions(session, self.list_id, creates)
        now = utcnow()
        for changes in chunks(self.changes, _WRITE):
            change_subscriptions(session, self.list_id, changes, now)


@functools.lru_cache(maxsize=4096)
def _quoted(source: str) -> str:
    # Files repeat a few consent sources; json.dumps per row would be a tenth of a big import.
    return json.dumps(source, ensure_ascii=False)


def consent_detail(source: str, at: dt.datetime | None) -> str:
    """The import ConsentEvent's detail: consent_source and consent_at (UTC if naive) as JSON."""
    when = (
        "null"
        if at is None
        else f'"{(at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()}"'
    )
    return f'{{"consent_source": {_quoted(source)}, "consent_at": {when}}}'


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _update_by_id(table: Table, *columns: str) -> Update:
    """UPDATE table SET column = :_column ... WHERE id = :_id, for executemany."""
    return (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({column: bindparam(f"_{column}") for column in columns})
    )


_UPDATE_SUBSCRIBER = _update_by_id(_table(Subscriber), "name", "timezone")
_UPDATE_SUBSCRIPTION = _update_by_id(
    _table(Subscription), "status", "cadence", "send_hour", "updated_at"
)


def create_subscriptions(session: Executor, list_id: int, creates: list[NewSubscription]) -> None:
    """Insert the subscriptions (and new subscribers), their topics and import consent events."""
    if not creates:
        return
    subscriber_ids = {c.key: c.subscriber_id for c in creates if c.subscriber_id is not None}
    people = [
        {"_id": c.subscriber_id, "_name": c.person[0], "_timezone": c.person[1]}
        for c in creates
        if c.subscriber_id is not None and c.person is not None
    ]
    if people:
        session.execute(_UPDATE_SUBSCRIBER, people)
    new_people = [
        {
            "email": c.email,
            "email_hash": c.key,
            "name": c.person[0],
            "timezone": c.person[1],
            "token_key": new_token_key(),
        }
        for c in creates
        if c.subscriber_id is None and c.person is not None
    ]
    if new_people:
        returned = session.execute(
            insert(_table(Subscriber)).returning(Subscriber.email_hash, Subscriber.id),
            new_people,
        )
        subscriber_ids.update((key, id_) for key, id_ in returned)
    inserted = session.execute(
        insert(_table(Subscription)).returning(Subscription.subscriber_id, Subscription.id),
        [
            {
                "subscriber_id": subscriber_ids[c.key],
                "list_id": list_id,
                "status": c.status,
                "cadence": c.cadence,
                "send_hour": c.send_hour,
            }
            for c in creates
        ],
    )
    subscription_ids = {subscriber_id: id_ for subscriber_id, id_ in inserted}
    choices = [
        {"subscription_id": subscription_ids[subscriber_ids[c.key]], "topic": topic}
        for c in creates
        for topic in c.topics
    ]
    if choices:
        session.execute(insert(_table(TopicChoice)), choices)
    _record(session, list_id, [(subscriber_ids[c.key], c.detail) for c in creates])


def change_subscriptions(
    session: Executor, list_id: int, changes: list[Change], now: dt.datetime
) -> None:
    """Update stored subscribers and subscriptions, replace changed topics, record each change."""
    if not changes:
        return
    people = [
        {"_id": c.subscriber_id, "_name": c.subscriber[0], "_timezone": c.subscriber[1]}
        for c in changes
        if c.subscriber is not None
    ]
    if people:
        session.execute(_UPDATE_SUBSCRIBER, people)
    subscriptions = [
        {
            "_id": c.subscription_id,
            "_status": c.subscription[0],
            "_cadence": c.subscription[1],
            "_send_hour": c.subscription[2],
            "_updated_at": now,
        }
        for c in changes
        if c.subscription is not None
    ]
    if subscriptions:
        session.execute(_UPDATE_SUBSCRIPTION, subscriptions)
    retopic = [c for c in changes if c.topics is not None]
    for chunk in chunks([c.subscription_id for c in retopic], IN):
        session.execute(delete(TopicChoice).where(TopicChoice.subscription_id.in_(chunk)))
    choices = [
        {"subscription_id": c.subscription_id, "topic": topic}
        for c in retopic
        for topic in c.topics or ()
    ]
    if choices:
        session.execute(insert(_table(TopicChoice)), choices)
    _record(session, list_id, [(c.subscriber_id, c.detail) for c in changes])


def _record(session: Executor, list_id: int, events: list[tuple[int, str]]) -> None:
    session.execute(
        insert(_table(ConsentEvent)),
        [
            {
                "subscriber_id": subscriber_id,
                "list_id": list_id,
                "action": ConsentAction.IMPORT,
                "source": ConsentSource.IMPORT,
                "detail": detail,
            }
            for subscriber_id, detail in events
        ],
    )


def chunks(values: Iterable[_T], size: int) -> Iterator[list[_T]]:
    """The values in lists of ``size`` (the last one shorter), read lazily."""
    chunk: list[_T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
