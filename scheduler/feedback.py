"""Bounces and complaints applied: BounceEvents matched to deliveries, then to people.

`mailer.bounces` reads what mail servers send back; this module decides what it means for the
ledger and the subscribers, once per report:

- a report is matched to the delivery it is about by the VERP token of the bounce address
  (whose MAC proves we made it), else by the Message-ID of the returned message (which has a
  random part). A report naming only an address is *not* acted on: anybody can write one;
- a hard bounce suppresses the address and marks the list's subscription `bounced`;
- a soft bounce is counted; `soft_limit` of them within `soft_window_days` suppress it too;
- a complaint ("this is spam") unsubscribes and suppresses at once (`complained`).

Every event is stored with its report's id, so processing the same mailbox twice changes
nothing; each report's events are applied and recorded in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailer.bounces import BounceEvent, BounceKind
from scheduler.ledger import Delivery, Run
from subscribers.db import Base, string_enum, utcnow
from subscribers.models import Subscriber
from subscribers.service import record_bounce
from subscribers.tokens import TokenSigner

__all__ = ["BounceRecord", "BounceSummary", "apply_events"]


class BounceRecord(Base):
    """One bounce or complaint as received, and the delivery it was matched to (if any)."""

    __tablename__ = "bounce_records"
    __table_args__ = (UniqueConstraint("report_id", "recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(String(200))
    #: The address the report names ("" when it names none), as reported.
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[BounceKind] = mapped_column(string_enum(BounceKind))
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


@dataclass
class BounceSummary:
    """What processing a set of reports did."""

    reports: int = 0
    events: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0
    already_seen: int = 0
    unmatched: int = 0

    def as_json(self) -> dict[str, object]:
        """The `briefmail bounces process --json` shape."""
        return {
            "reports": self.reports,
            "hard": self.events[BounceKind.HARD],
            "soft": self.events[BounceKind.SOFT],
            "complaints": self.events[BounceKind.COMPLAINT],
            "suppressed": self.suppressed,
            "already_seen": self.already_seen,
            "unmatched": self.unmatched,
        }


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
        seen = session.scalar(
            select(BounceRecord.id).where(
                BounceRecord.report_id == event.report_id[:200],
                BounceRecord.recipient == recipient,
            )
        )
        if seen is not None:
            summary.already_seen += 1
            continue
        delivery = _match(session, event, signer)
        subscriber = session.get(Subscriber, delivery.subscriber_id) if delivery else None
        session.add(
            BounceRecord(
                report_id=event.report_id[:200],
                recipient=recipient,
                kind=event.kind,
                status=event.status,
                diagnostic=event.diagnostic,
                delivery_id=delivery.id if delivery else None,
                subscriber_id=subscriber.id if subscriber else None,
                source=event.source[:500],
            )
        )
        session.flush()
        if delivery is None or subscriber is None:
            summary.unmatched += 1
            continue
        summary.events[event.kind] += 1
        run = session.get(Run, delivery.run_id)
        assert run is not None  # a delivery belongs to a run (cascade)
        detail = f"{event.kind}: {event.status or ''} {event.diagnostic or ''}".strip()
        if event.kind == BounceKind.SOFT and not _too_many_soft(
            session, subscriber.id, soft_limit, soft_window_days
        ):
            continue
        record_bounce(
            session,
            subscriber,
            run.list_id,
            complaint=event.kind == BounceKind.COMPLAINT,
            detail=detail,
        )
        summary.suppressed += 1


def _match(session: Session, event: BounceEvent, signer: TokenSigner) -> Delivery | None:
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
            BounceRecord.kind == BounceKind.SOFT,
            BounceRecord.received_at >= since,
        )
    )
    return int(count or 0) >= limit
