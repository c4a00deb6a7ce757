"""Comparing checked rows with the database: each row is new, changed, unchanged or refused.

The stored state of a batch of addresses is read with a few ``IN`` queries, never one row at a
time; each row becomes a NewSubscription or a Change in the Plan, or a count. Status changes
obey the transition table of `subscribers.service`; a move it refuses is an error of its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from subscribers.importer.read import RowError
from subscribers.importer.rows import IMPORTABLE, Row, alternatives
from subscribers.importer.write import IN, Change, NewSubscription, Plan, Settings, chunks
from subscribers.models import (
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    TopicChoice,
)
from subscribers.rules import DEFAULT_CADENCE, DEFAULT_SEND_HOUR, DEFAULT_TIMEZONE
from subscribers.service import TRANSITIONS  # the one transition table, applied here in bulk

__all__ = ["ImportReport", "Stored", "compare", "read_topics"]


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do) to the list."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_suppressed: int = 0
    dry_run: bool = False
    #: Line numbers of the suppressed rows that were skipped.
    suppressed_lines: list[int] = field(default_factory=list)
    #: Addresses of the rows whose subscription is pending after the import (they wait for a
    #: confirmation e-mail, which the import itself does not send).
    pending: list[str] = field(default_factory=list)
    #: The first PREVIEW rows that add, change or skip something, as (line, address, what,
    #: detail): what an operator checks before applying a file.
    preview: list[tuple[int, str, str, str]] = field(default_factory=list)

    def note(self, line: int, email: str, what: str, detail: str) -> None:
        """Keep one row for the preview (the first PREVIEW only)."""
        if len(self.preview) < PREVIEW:
            self.preview.append((line, email, what, detail))


#: How many rows an import's preview lists.
PREVIEW = 2000


class Stored(NamedTuple):
    """What the database holds about a row's address."""

    subscriber_id: int
    name: str | None
    timezone: str
    #: The subscription to this list, if any: its id and settings.
    subscription: tuple[int, Settings] | None


def compare(
    session: Session,
    plan: Plan,
    rows: list[Row],
    report: ImportReport,
    errors: list[RowError],
) -> None:
    """Sort a batch of rows into created, updated, unchanged or suppressed, planning the writes.

    A status change the transition table refuses is an error of its row.
    """
    if not rows:
        return
    suppressed = _suppressed(session, [row.key for row in rows])
    stored = _stored(session, plan.list_id, [row.key for row in rows])
    topics = read_topics(
        session, [s.subscription[0] for s in stored.values() if s.subscription is not None]
    )
    for row in rows:
        if row.key in suppressed:
            report.skipped_suppressed += 1
            report.suppressed_lines.append(row.line)
            report.note(row.line, row.email, "skip", "suppressed: never re-added")
            continue
        found = stored.get(row.key)
        subscription = found.subscription if found else None
        refusal = _refusal(row.status, subscription[1].status if subscription else None)
        if refusal:
            errors.append(RowError(row.line, row.email, refusal))
        elif found is None or subscription is None:
            report.created += 1
            created = _to_create(row, found)
            plan.creates.append(created)
            report.note(row.line, row.email, "add", _described(created))
            if (row.status or SubscriptionStatus.PENDING) == SubscriptionStatus.PENDING:
                report.pending.append(row.email)
        else:
            subscription_id, settings = subscription
            change = _to_change(row, found, subscription_id, settings, topics.get(subscription_id))
            if change is None:
                report.unchanged += 1
            else:
                report.updated += 1
                plan.changes.append(change)
                report.note(row.line, row.email, "change", _changes(change, settings))
            if (row.status or settings.status) == SubscriptionStatus.PENDING:
                report.pending.append(row.email)


def _refusal(status: SubscriptionStatus | None, current: SubscriptionStatus | None) -> str | None:
    if status is None or status == current:
        return None
    if status not in IMPORTABLE:
        return f"status {status} comes only from bounces (use {alternatives(IMPORTABLE)})"
    if current is not None and status not in TRANSITIONS[current]:
        return f"a {current} subscription cannot become {status} (leave status empty to keep it)"
    return None


def _described(new: NewSubscription) -> str:
    """A new subscription in a few words: status, cadence, hour, topics."""
    topics = ", ".join(new.topics) or "every topic"
    return f"{new.status} · {new.cadence} at {new.send_hour:02d}:00 · {topics}"


def _changes(change: Change, stored: Settings) -> str:
    """What a change does to a stored subscription, field by field."""
    said = []
    if change.subscription is not None:
        for field_name, before, after in zip(
            Settings._fields, stored, change.subscription, strict=True
        ):
            if before != after:
                said.append(f"{field_name} {before} → {after}")
    if change.topics is not None:
        said.append(f"topics → {', '.join(change.topics) or 'every topic'}")
    if change.subscriber is not None:
        person, zone = change.subscriber
        said.append(f"name/time zone → {person or '-'} / {zone}")
    return "; ".join(said) or "consent details"


def _to_create(row: Row, found: Stored | None) -> NewSubscription:
    return NewSubscription(
        row.key,
        row.email,
        found.subscriber_id if found else None,
        _person(row, found) if found else (row.name, row.timezone or DEFAULT_TIMEZONE),
        row.status or SubscriptionStatus.PENDING,
        row.cadence or DEFAULT_CADENCE,
        DEFAULT_SEND_HOUR if row.send_hour is None else row.send_hour,
        row.topics or (),
        row.detail,
    )


def _to_change(
    row: Row,
    found: Stored,
    subscription_id: int,
    stored: Settings,
    stored_topics: set[str] | None,
) -> Change | None:
    """What the row changes in a stored subscription, or None when it changes nothing."""
    settings = Settings(
        row.status or stored.status,
        row.cadence or stored.cadence,
        stored.send_hour if row.send_hour is None else row.send_hour,
    )
    topics_changed = row.topics is not None and set(row.topics) != (stored_topics or set())
    person = _person(row, found)
    if not (topics_changed or settings != stored or person):
        return None
    return Change(
        found.subscriber_id,
        subscription_id,
        person,
        # A topic change rewrites the settings too, to move updated_at.
        settings if settings != stored or topics_changed else None,
        row.topics if topics_changed else None,
        row.detail,
    )


def _person(row: Row, found: Stored) -> tuple[str | None, str] | None:
    """The stored subscriber's new (name, timezone), or None when the row changes neither."""
    person = (row.name or found.name, row.timezone or found.timezone)
    return None if person == (found.name, found.timezone) else person


# The lookups run once per batch of addresses: built once, with an expanding IN parameter, they
# are compiled once and skip building hundreds of bind parameters per query.
_SUPPRESSED = select(Suppression.address_hash).where(
    Suppression.address_hash.in_(bindparam("values", expanding=True))
)
_STORED = (
    select(
        Subscriber.email_hash,
        Subscriber.id,
        Subscriber.name,
        Subscriber.timezone,
        Subscription.id,
        Subscription.status,
        Subscription.cadence,
        Subscription.send_hour,
    )
    .outerjoin(
        Subscription,
        and_(
            Subscription.subscriber_id == Subscriber.id,
            Subscription.list_id == bindparam("list_id"),
        ),
    )
    .where(Subscriber.email_hash.in_(bindparam("values", expanding=True)))
)
_TOPICS = select(TopicChoice.subscription_id, TopicChoice.topic).where(
    TopicChoice.subscription_id.in_(bindparam("values", expanding=True))
)


def _suppressed(session: Session, hashes: Iterable[str]) -> set[str]:
    """The given address hashes that are suppressed."""
    found: set[str] = set()
    for chunk in chunks(hashes, IN):
        found.update(session.scalars(_SUPPRESSED, {"values": chunk}))
    return found


def _stored(session: Session, list_id: int, keys: list[str]) -> dict[str, Stored]:
    """What is stored about each address hash (and its subscription to the list, if any)."""
    found: dict[str, Stored] = {}
    for chunk in chunks(keys, IN):
        params = {"values": chunk, "list_id": list_id}
        for key, subscriber_id, name, zone, sub_id, status, cadence, hour in session.execute(
            _STORED, params
        ):
            subscription = None if sub_id is None else (sub_id, Settings(status, cadence, hour))
            found[key] = Stored(subscriber_id, name, zone, subscription)
    return found


def read_topics(session: Session, subscription_ids: Sequence[int]) -> dict[int, set[str]]:
    """The chosen topics of each subscription that chose any."""
    found: dict[int, set[str]] = {}
    for chunk in chunks(subscription_ids, IN):
        for subscription_id, topic in session.execute(_TOPICS, {"values": chunk}):
            found.setdefault(subscription_id, set()).add(topic)
    return found
