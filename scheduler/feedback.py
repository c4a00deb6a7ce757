"""Bounces and complaints applied: BounceEvents matched to deliveries, then to people.

`mailer.bounces` reads what mail servers send back, and gives each recipient a reason
(`mailer.replies.Reason`); this module decides what it means for the ledger and the
subscribers, once per report:

- a report is matched to the delivery it is about by the VERP token of the bounce address
  (whose MAC proves we made it), else by the Message-ID of the returned message (which has a
  random part). A report naming only an address is *not* acted on: anybody can write one;
- `gone` (the mailbox or domain does not exist) suppresses the address and marks the list's
  subscription `bounced`; a complaint ("this is spam") unsubscribes and suppresses at once
  (`complained`). Either suppression keeps its evidence: the report's id and diagnostic;
- `full`, `temporary` and `expired` are about the reader's mailbox and passing: `soft_limit` of
  them within `soft_window_days` suppress too;
- `policy`, `sender` and `content` are our side's problem and `unknown` explains nothing: they
  are recorded, and never count against the reader.

Every event is stored with its report's id, so processing the same mailbox twice changes
nothing; each report's events are applied and recorded in one transaction. `read_events`
matches without applying anything, for `briefmail bounces parse`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailer.bounces import BounceEvent
from mailer.replies import Reason
from scheduler.ledger import Delivery, Run
from subscribers.db import Base, string_enum, utcnow
from subscribers.models import Subscriber
from subscribers.service import record_bounce
from subscribers.tokens import TokenSigner

__all__ = [
    "BounceRecord",
    "BounceSummary",
    "ReadReport",
    "Suppressed",
    "apply_events",
    "delivery_history",
    "match_delivery",
    "read_events",
]

#: The reasons counted towards the soft-bounce limit (about the reader's mailbox, passing).
SOFT_REASONS = tuple(reason for reason in Reason if reason.counts_as_soft)


class BounceRecord(Base):
    """One bounce or complaint as received, and the delivery it was matched to (if any)."""

    __tablename__ = "bounce_records"
    __table_args__ = (UniqueConstraint("report_id", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(String(200))
    #: The address the report names ("" when it names none), as reported.
    recipient: Mapped[str] = mapped_column(String(320))
    #: Whose fault the failure was, as `mailer.replies` read the report.
    reason: Mapped[Reason] = mapped_column(string_enum(Reason))
    status: Mapped[str | None] = mapped_column(String(16))
    diagnostic: Mapped[str | None] = mapped_column(Text)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True, slots=True)
class Suppressed:
    """One address processing suppressed, and the evidence why."""

    email: str
    #: "gone", "complaint", or "soft limit (full)" for the soft bounce that reached the limit.
    why: str
    report_id: str
    status: str | None
    diagnostic: str | None
    source: str

    def as_json(self) -> dict[str, str | None]:
        """The shape `bounces process --json` lists."""
        return {
            "email": self.email,
            "why": self.why,
            "report_id": self.report_id,
            "status": self.status,
            "diagnostic": self.diagnostic,
            "source": self.source,
        }


@dataclass
class BounceSummary:
    """What processing a set of reports did."""

    reports: int = 0
    #: Matched events by reason.
    events: Counter[Reason] = field(default_factory=Counter)
    suppressed: list[Suppressed] = field(default_factory=list)
    already_seen: int = 0
    unmatched: int = 0
    #: Paths that could not be read, each "path: reason" (the others were still processed).
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The `briefmail bounces process --json` shape."""
        return {
            "reports": self.reports,
            "events": {str(reason): self.events[reason] for reason in Reason},
            "suppressed": [one.as_json() for one in self.suppressed],
            "already_seen": self.already_seen,
            "unmatched": self.unmatched,
            "errors": list(self.errors),
        }


@dataclass(frozen=True, slots=True)
class ReadReport:
    """One report as read, each event with the delivery it matches (None: none matched)."""

    source: str
    events: list[tuple[BounceEvent, int | None]]

    def as_json(self) -> dict[str, Any]:
        """The `briefmail bounces parse --json` shape of one report."""
        return {
            "source": self.source,
            "report_id": self.events[0][0].report_id if self.events else None,
            "recipients": [
                {
                    "address": event.recipient,
                    "reason": str(event.reason),
                    "status": event.status,
                    "diagnostic": event.diagnostic,
                    "delivery_id": delivery_id,
                }
                for event, delivery_id in self.events
            ],
        }


def read_events(
    session: Session, source: str, events: Iterable[BounceEvent], signer: TokenSigner
) -> ReadReport:
    """What one report says, each event matched to its delivery, changing nothing."""
    found = []
    for event in events:
        delivery = match_delivery(session, event, signer)
        found.append((event, delivery.id if delivery is not None else None))
    return ReadReport(source, found)


def apply_events(
    session: Session,
    events: Iterable[BounceEvent],
    signer: TokenSigner,
    summary: BounceSummary,
    *,
    soft_limit: int = 3,
    soft_window_days: int = 30,
) -> None:
    """Match and apply one report's events (the caller commits them as one transaction)."""
    for event in events:
        recipient = (event.recipient or "").lower()[:320]
        if _seen(session, event, recipient):
            summary.already_seen += 1
            continue
        delivery = match_delivery(session, event, signer)
        subscriber = session.get(Subscriber, delivery.subscriber_id) if delivery else None
        _store(session, event, recipient, delivery, subscriber)
        if delivery is None or subscriber is None:
            summary.unmatched += 1
            continue
        summary.events[event.reason] += 1
        why = _suppression(session, event.reason, subscriber.id, soft_limit, soft_window_days)
        if why is not None:
            summary.suppressed.append(_suppress(session, event, delivery, subscriber, why))


def _seen(session: Session, event: BounceEvent, recipient: str) -> bool:
    """Whether this report's event for this recipient is stored already (a mailbox read twice)."""
    stored = session.scalar(
        select(BounceRecord.id).where(
            BounceRecord.report_id == event.report_id[:200],
            BounceRecord.recipient == recipient,
        )
    )
    return stored is not None


def _store(
    session: Session,
    event: BounceEvent,
    recipient: str,
    delivery: Delivery | None,
    subscriber: Subscriber | None,
) -> None:
    """Keep the event as received, matched or not; flushed so the soft count below sees it."""
    session.add(
        BounceRecord(
            report_id=event.report_id[:200],
            recipient=recipient,
            reason=event.reason,
            status=(event.status or "")[:16] or None,
            diagnostic=event.diagnostic,
            delivery_id=delivery.id if delivery else None,
            subscriber_id=subscriber.id if subscriber else None,
            source=event.source[:500],
        )
    )
    session.flush()


def _suppress(
    session: Session, event: BounceEvent, delivery: Delivery, subscriber: Subscriber, why: str
) -> Suppressed:
    """Suppress the reader on the delivery's list, keeping the report as evidence."""
    run = session.get(Run, delivery.run_id)
    assert run is not None  # a delivery belongs to a run (cascade)
    record_bounce(
        session,
        subscriber,
        run.list_id,
        complaint=event.reason is Reason.COMPLAINT,
        detail=f"{why}: {event.status or ''} {event.diagnostic or ''}".strip(),
        reason=None if event.reason.suppresses else "soft bounces",
        report_id=event.report_id,
        diagnostic=event.diagnostic,
    )
    return Suppressed(
        subscriber.email, why, event.report_id, event.status, event.diagnostic, event.source
    )


def _suppression(
    session: Session, reason: Reason, subscriber_id: int, limit: int, window_days: int
) -> str | None:
    """Why this event suppresses its reader, or None: gone, complaint, or the soft limit."""
    if reason.suppresses:
        return str(reason)
    if reason.counts_as_soft and _too_many_soft(session, subscriber_id, limit, window_days):
        return f"soft limit ({reason})"
    return None


def match_delivery(session: Session, event: BounceEvent, signer: TokenSigner) -> Delivery | None:
    """The delivery a report is about: by VERP token (MAC checked), else by Message-ID."""
    if event.verp_token:
        delivery_id = signer.read_bounce_token(event.verp_token)
        if delivery_id is not None:
            found = session.get(Delivery, delivery_id)
            if found is not None:
                return found
    if event.message_id:
        message_id = event.message_id.strip()
        if not message_id.startswith("<"):
            message_id = f"<{message_id}>"
        return session.scalar(select(Delivery).where(Delivery.message_id == message_id))
    return None


def _too_many_soft(session: Session, subscriber_id: int, limit: int, window_days: int) -> bool:
    """True once a subscriber has `limit` soft bounces within the window (this one included)."""
    since = utcnow() - dt.timedelta(days=window_days)
    count = session.scalar(
        select(func.count()).where(
            BounceRecord.subscriber_id == subscriber_id,
            BounceRecord.reason.in_(SOFT_REASONS),
            BounceRecord.received_at >= since,
        )
    )
    return int(count or 0) >= limit


def delivery_history(session: Session, subscriber_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """A subscriber's last deliveries, newest first, each with what came back about it."""
    rows = session.execute(
        select(Delivery, Run)
        .join(Run, Run.id == Delivery.run_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    ).all()
    bounces: dict[int, list[BounceRecord]] = {}
    ids = [delivery.id for delivery, _ in rows]
    if ids:
        for record in session.scalars(
            select(BounceRecord).where(BounceRecord.delivery_id.in_(ids)).order_by(BounceRecord.id)
        ):
            bounces.setdefault(record.delivery_id or 0, []).append(record)
    return [
        {
            "delivery_id": delivery.id,
            "run": f"{run.kind} {run.period}",
            "run_id": run.id,
            "issue_id": run.issue_id,
            "status": str(delivery.status),
            "attempts": delivery.attempts,
            "last_code": delivery.last_code,
            "last_reason": delivery.last_reason,
            "last_text": delivery.last_text,
            "message_id": delivery.message_id,
            "updated_at": delivery.updated_at.isoformat() if delivery.updated_at else None,
            "bounces": [
                {
                    "report_id": record.report_id,
                    "reason": str(record.reason),
                    "status": record.status,
                    "diagnostic": record.diagnostic,
                    "received_at": record.received_at.isoformat(),
                }
                for record in bounces.get(delivery.id, [])
            ],
        }
        for delivery, run in rows
    ]
