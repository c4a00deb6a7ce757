"""An operator adding an address: refused when suppressed, and never a silent overwrite.

`subscribers.service.subscribe` renews whatever it finds (it is also the public form's and
the importer's rule). An operator typing an address that is already there usually does not
mean "make this reader what my defaults say": so `plan_add` compares what is asked with what
is stored and names every difference (status, time zone, topics, cadence, hour), and
`apply_add` changes a stored subscription only when the operator asked for an update.

A suppressed address (a hard bounce, a complaint, an erasure) is refused with the reason and
the evidence: only the person's own confirmation through a form lifts a suppression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailer.topics import Taxonomy
from subscribers.db import as_utc
from subscribers.models import (
    Cadence,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from subscribers.service import (
    Context,
    find_subscriber,
    normalise_email,
    set_preferences,
    subscribe,
    suppression_of,
)

__all__ = [
    "AddressSuppressed",
    "Difference",
    "Plan",
    "Wanted",
    "apply_add",
    "plan_add",
    "refuse_suppressed",
]


class AddressSuppressed(ValueError):
    """An operator tried to add or confirm a suppressed (or erased) address; nothing changed."""

    def __init__(self, email: str, reason: str, since: str, evidence: str | None) -> None:
        self.email, self.reason, self.since, self.evidence = email, reason, since, evidence
        told = f": {evidence}" if evidence else ""
        super().__init__(
            f"{email} is suppressed ({reason} since {since}{told}); nothing was changed. "
            "Only the person's own confirmation through a subscribe form lifts it"
        )


@dataclass(frozen=True, slots=True)
class Difference:
    """One setting adding the address would change: field, stored value, asked value."""

    field: str
    before: str
    after: str

    def __str__(self) -> str:
        """``timezone Europe/London → UTC``."""
        return f"{self.field} {self.before} → {self.after}"


@dataclass(frozen=True, slots=True)
class Wanted:
    """What an operator asked for, every field already checked by `subscribers.rules`."""

    address: str
    topics: tuple[str, ...]
    cadence: Cadence
    timezone: str
    send_hour: int
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Plan:
    """The stored person and subscription (if any) and what the request differs in."""

    subscriber: Subscriber | None
    current: Subscription | None
    differences: tuple[Difference, ...]


def refuse_suppressed(session: Session, email: str) -> None:
    """Raise AddressSuppressed with the suppression's reason and evidence, if there is one."""
    suppression = suppression_of(session, email)
    if suppression is None:
        return
    evidence = suppression.diagnostic
    if suppression.report_id:
        evidence = f"{evidence or 'no diagnostic'} (report {suppression.report_id})"
    raise AddressSuppressed(
        normalise_email(email),
        suppression.reason,
        f"{as_utc(suppression.created_at):%Y-%m-%d %H:%M} UTC",
        evidence,
    )


def plan_add(session: Session, newsletter: NewsletterList, wanted: Wanted) -> Plan:
    """What is stored about the address, and what adding it as ``wanted`` would change."""
    refuse_suppressed(session, wanted.address)
    subscriber = find_subscriber(session, wanted.address)
    mine = subscriber.subscriptions if subscriber is not None else []
    current = next((s for s in mine if s.list_id == newsletter.id), None)
    return Plan(subscriber, current, _differences(wanted, subscriber, current))


def apply_add(
    session: Session,
    newsletter: NewsletterList,
    wanted: Wanted,
    plan: Plan,
    *,
    update: bool,
    taxonomy: Taxonomy,
    context: Context,
    smtputf8: bool = False,
) -> Subscription:
    """Create the subscription, or (``update``) make the stored one what was asked.

    Without ``update``, a known person's time zone is kept (it times every list's sends).
    """
    subscriber = plan.subscriber
    zone = wanted.timezone if update or subscriber is None else subscriber.timezone
    subscription = subscribe(
        session,
        newsletter,
        wanted.address,
        taxonomy=taxonomy,
        topics=wanted.topics,
        cadence=wanted.cadence,
        timezone=zone,
        send_hour=wanted.send_hour,
        confirmed=wanted.confirmed,
        context=context,
        smtputf8=smtputf8,
    )
    # subscribe() leaves a confirmed subscription (and its person's zone) alone unless the
    # operator holds the consent; an update changes the preferences all the same.
    if update and (
        subscription.subscriber.timezone != zone
        or set(subscription.topics) != set(wanted.topics)
        or subscription.cadence != wanted.cadence
        or subscription.send_hour != wanted.send_hour
    ):
        set_preferences(
            session,
            subscription,
            taxonomy=taxonomy,
            topics=wanted.topics,
            cadence=wanted.cadence,
            timezone=zone,
            send_hour=wanted.send_hour,
            context=context,
        )
    return subscription


def _differences(
    wanted: Wanted, subscriber: Subscriber | None, current: Subscription | None
) -> tuple[Difference, ...]:
    """What adding ``wanted`` would change of the stored person and subscription."""
    found: list[Difference] = []
    if current is not None:
        status = current.status
        asked = SubscriptionStatus.CONFIRMED if wanted.confirmed else SubscriptionStatus.PENDING
        # Adding without --confirmed never demotes a confirmed reader to pending.
        if status != asked and not (
            status == SubscriptionStatus.CONFIRMED and not wanted.confirmed
        ):
            found.append(Difference("status", str(status), str(asked)))
    if subscriber is not None and subscriber.timezone != wanted.timezone:
        found.append(Difference("timezone", subscriber.timezone, wanted.timezone))
    if current is not None:
        if set(current.topics) != set(wanted.topics):
            found.append(Difference("topics", _topics(current.topics), _topics(wanted.topics)))
        if current.cadence != wanted.cadence:
            found.append(Difference("cadence", str(current.cadence), str(wanted.cadence)))
        if current.send_hour != wanted.send_hour:
            before, after = f"{current.send_hour:02d}:00", f"{wanted.send_hour:02d}:00"
            found.append(Difference("hour", before, after))
    return tuple(found)


def _topics(topics: Sequence[str]) -> str:
    """Topics as an operator reads them: ``chips, models``, or ``all`` for every topic."""
    return ", ".join(topics) or "all"
