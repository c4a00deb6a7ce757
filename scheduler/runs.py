"""Runs and their deliveries as rows: the Run and Delivery tables, their statuses, a run's life.

A Run is unique per (list, kind, period) so a job that fires twice still makes one run. A Delivery
is unique per (run, subscriber) so planning again adds only subscribers not yet planned. What a
delivery's status may become, and every statement that changes it, is scheduler/ledger.py's.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Select,
    String,
    Text,
    UniqueConstraint,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from subscribers.db import Base, string_enum, utcnow
from subscribers.models import Subscriber, Subscription
from subscribers.outbox import record_event

__all__ = [
    "ACTIVE",
    "OPEN",
    "RUN_TRANSITIONS",
    "STOPPED",
    "Claim",
    "Delivery",
    "DeliveryStatus",
    "Outcome",
    "Run",
    "RunConflict",
    "RunStateError",
    "RunStatus",
    "UnknownRun",
    "claim_query",
    "count_by_status",
    "count_open",
    "count_waiting",
    "delivery_address",
    "finish_planning",
    "finish_run",
    "foreign_lease_ends",
    "get_run",
    "lease_holders",
    "list_runs",
    "open_run",
    "pause_run",
    "run_event",
    "run_status",
]


class RunStatus(enum.StrEnum):
    """A run is planned, then sends until no delivery is open, then is done.

    An operator may pause a run (senders stop after the messages in flight; `runs resume`
    carries on) or cancel it (every open delivery is cancelled; final).
    """

    PLANNING = "planning"
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


#: Who may move a run where, by operator command.
RUN_TRANSITIONS = {
    RunStatus.PLANNING: {RunStatus.PAUSED, RunStatus.CANCELLED},
    RunStatus.SENDING: {RunStatus.PAUSED, RunStatus.CANCELLED},
    RunStatus.PAUSED: {RunStatus.SENDING, RunStatus.CANCELLED},
    RunStatus.DONE: set(),
    RunStatus.CANCELLED: set(),
}
#: Runs a scheduler looks at (a done run is sent again only when planning adds readers).
ACTIVE = (RunStatus.PLANNING, RunStatus.SENDING)
#: Runs an operator stopped: senders leave them alone.
STOPPED = (RunStatus.PAUSED, RunStatus.CANCELLED)


class RunStateError(ValueError):
    """The operator asked for a run change its status does not allow."""


class DeliveryStatus(enum.StrEnum):
    """Pending, deferred and sending deliveries are open; delivered, failed, cancelled final.

    `sending` is written (and committed) under the sender's lease just before a message goes
    on the wire, and replaced by the outcome as soon as the server answers. A delivery found
    `sending` under a lease that lapsed (its sender died) is taken over by another sender and
    counted as uncertain — the only way anybody can get two copies, at most one per connection
    that was open.
    """

    PENDING = "pending"
    DEFERRED = "deferred"
    SENDING = "sending"
    #: The message went out but no final reply came (the connection was lost after its data,
    #: or the reply was too late): the server may have it. Not sent again by itself; `briefmail
    #: runs resume` sends it again and says how many (`requeue_uncertain`).
    UNCERTAIN = "uncertain"
    DELIVERED = "delivered"
    FAILED = "failed"
    #: Not sent: the person unsubscribed, was suppressed or erased after the run was planned.
    CANCELLED = "cancelled"


#: Statuses a sender still has to act on.
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING)


class RunConflict(Exception):
    """A run for this (list, kind, period) already exists for a different issue."""


class Run(Base):
    """One send of one issue to one list for one period ("daily" 2026-06-26)."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("list_id", "kind", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(16))
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="RESTRICT"), index=True)
    status: Mapped[RunStatus] = mapped_column(string_enum(RunStatus))
    #: Subscribers of the list not planned, by reason ("unsubscribed", "no matching story", ...).
    skipped: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[dt.datetime | None]
    #: Why the run paused itself (one line for the operator); None for an operator's pause.
    pause_reason: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """One subscriber's copy of a run: its variant, status and the server's last reply."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("run_id", "subscriber_id"),
        Index("ix_deliveries_run_id_status_id", "run_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    #: The subscriber's topic set when planned ("chips,policy"; "*" for every topic).
    variant: Mapped[str] = mapped_column(String(400))
    status: Mapped[DeliveryStatus] = mapped_column(string_enum(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(default=0)
    last_code: Mapped[int | None]
    last_text: Mapped[str | None] = mapped_column(Text)
    #: Whose fault the last refusal was (`mailer.replies.Reason`); None when delivered.
    last_reason: Mapped[str | None] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    updated_at: Mapped[dt.datetime | None]
    #: Not sent before this instant (UTC): the reader's local send hour. None: at once.
    not_before: Mapped[dt.datetime | None]
    #: The lease of the sender that marked it `sending` (see scheduler/claims.py).
    lease: Mapped[str | None] = mapped_column(String(32))
    #: Until when that lease holds: past it, another sender may take the delivery over.
    lease_until: Mapped[dt.datetime | None]


def open_run(
    session: Session, list_id: int, kind: str, period: str, issue_id: int
) -> tuple[Run, bool]:
    """Return the run for (list, kind, period), creating it; (run, created).

    Two processes racing here both end with the same row: the loser's INSERT hits the UNIQUE
    constraint inside a savepoint and it reads the winner's run instead.
    """
    query = select(Run).where(Run.list_id == list_id, Run.kind == kind, Run.period == period)
    run = session.scalar(query)
    created = False
    if run is None:
        try:
            with session.begin_nested():
                run = Run(
                    list_id=list_id,
                    kind=kind,
                    period=period,
                    issue_id=issue_id,
                    status=RunStatus.PLANNING,
                    skipped={},
                )
                session.add(run)
            created = True
        except IntegrityError:
            run = session.scalar(query)
            assert run is not None
    if run.issue_id != issue_id:
        raise RunConflict(
            f"the {kind} run for {period} (run {run.id}) belongs to issue {run.issue_id}, "
            f"not issue {issue_id}"
        )
    return run, created


def finish_planning(session: Session, run: Run, skipped: dict[str, int], added: int = 0) -> None:
    """Planning is complete: record why others were skipped and let senders start.

    A done run that planning added readers to (they subscribed after it was sent) is open
    again until they have their copy.
    """
    run.skipped = dict(sorted(skipped.items()))
    if run.status == RunStatus.PLANNING or (added and run.status == RunStatus.DONE):
        if run.status == RunStatus.PLANNING:
            record_event(session, "run.started", run_event(run) | {"skipped": run.skipped})
        run.status = RunStatus.SENDING
        run.finished_at = None


def finish_run(session: Session, run: Run) -> bool:
    """Mark the run done if nothing is open; True if it is done now."""
    session.refresh(run)  # an operator may have paused or cancelled it meanwhile
    if run.status in STOPPED:
        return run.status == RunStatus.CANCELLED
    if count_open(session, run.id, 1):
        return False
    if run.status != RunStatus.DONE:
        run.status = RunStatus.DONE
        run.finished_at = utcnow()
        counts = count_by_status(session, run.id)
        record_event(session, "run.finished", run_event(run) | {"status": "done", "counts": counts})
    return True


def pause_run(session: Session, run_id: int, reason: str) -> bool:
    """A sender pauses a run itself, saying why; False if it was no longer sending.

    One statement, so two senders that trip at once both leave the run paused with one reason,
    and a run an operator cancelled meanwhile stays cancelled.
    """
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(ACTIVE))
        .values(status=RunStatus.PAUSED, pause_reason=reason[:1000])
        .execution_options(synchronize_session=False)
    )
    paused = bool(getattr(result, "rowcount", 0))
    run = session.get(Run, run_id) if paused else None
    if run is not None:
        record_event(session, "run.paused", run_event(run) | {"reason": reason[:1000]})
    return paused


def run_event(run: Run) -> dict[str, object]:
    """What a run's webhook events say of it."""
    return {
        "run_id": run.id,
        "list_id": run.list_id,
        "issue_id": run.issue_id,
        "kind": run.kind,
        "period": run.period,
    }


def run_status(session: Session, run_id: int) -> RunStatus | None:
    """A run's status as stored now (senders check it to notice a pause or a cancel)."""
    status = session.scalar(select(Run.status).where(Run.id == run_id))
    return RunStatus(status) if status is not None else None


class UnknownRun(LookupError):
    """No run has this id."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"no run with id {run_id} (see `briefmail runs list`)")


def get_run(session: Session, run_id: int) -> Run:
    """The run with this id, or UnknownRun."""
    run = session.get(Run, run_id)
    if run is None:
        raise UnknownRun(run_id)
    return run


def list_runs(session: Session, list_id: int | None = None) -> list[Run]:
    """Runs, newest first, of one list or all."""
    query = select(Run).order_by(Run.id.desc())
    if list_id is not None:
        query = query.where(Run.list_id == list_id)
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class Claim:
    """An open delivery with what sending it needs."""

    delivery_id: int
    subscriber_id: int
    subscription_id: int
    email: str
    variant: str
    #: The subscriber's current token key, signed into their links.
    token_key: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the server said about one delivery."""

    delivery_id: int
    status: DeliveryStatus
    code: int | None
    text: str | None
    message_id: str | None = None
    #: Whose fault a refusal was (`mailer.replies.Reason`), None when delivered.
    reason: str | None = None


def claim_query(run: Run) -> Select[int, int, int, str, str, str]:
    """A select of what sending a delivery of ``run`` needs (a Claim's fields); add a filter."""
    return (
        select(
            Delivery.id,
            Delivery.subscriber_id,
            Subscription.id,
            Subscriber.email,
            Delivery.variant,
            Subscriber.token_key,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .join(
            Subscription,
            (Subscription.subscriber_id == Delivery.subscriber_id)
            & (Subscription.list_id == run.list_id),
        )
    )


# --- reads of a run's deliveries (re-exported by ledger) ------------------------------------


def delivery_address(session: Session, delivery_id: int) -> str | None:
    """The address a delivery went to (None if the subscriber was erased meanwhile)."""
    return session.scalar(
        select(Subscriber.email)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.id == delivery_id)
    )


def count_by_status(session: Session, run_id: int) -> dict[str, int]:
    """Deliveries of a run by status (every status present, zeros included)."""
    counts = dict.fromkeys((s.value for s in DeliveryStatus), 0)
    for status, n in session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.run_id == run_id)
        .group_by(Delivery.status)
    ):
        counts[str(status)] = n
    return counts


def count_open(session: Session, run_id: int, up_to: int) -> int:
    """A run's open deliveries, counted up to ``up_to`` (a bounded look, never a scan of 1M)."""
    some = (
        select(Delivery.id)
        .where(Delivery.run_id == run_id, Delivery.status.in_(OPEN))
        .limit(up_to)
        .subquery()
    )
    return int(session.scalar(select(func.count()).select_from(some)) or 0)


def count_waiting(session: Session, run_id: int, now: dt.datetime | None = None) -> int:
    """Open deliveries of a run waiting for their reader's local send hour."""
    return int(
        session.scalar(
            select(func.count()).where(
                Delivery.run_id == run_id,
                Delivery.status.in_(OPEN),
                Delivery.not_before > (now or utcnow()),
            )
        )
        or 0
    )


def lease_holders(session: Session, run_id: int, mine: str) -> list[str]:
    """The leases other than ``mine`` under which deliveries of a run are `sending`."""
    return list(
        session.scalars(
            select(Delivery.lease)
            .where(
                Delivery.run_id == run_id,
                Delivery.status == DeliveryStatus.SENDING,
                Delivery.lease.is_not(None),
            )
            .where(Delivery.lease != mine)
            .distinct()
        )
    )


def foreign_lease_ends(
    session: Session, run_id: int, lease: str, now: dt.datetime
) -> dt.datetime | None:
    """When the first claim of another sender in the run lapses (None: there is none).

    A claim that has lapsed already counts too, with its past end: it is still `sending` until
    a sender takes it over, and a sender that reached the end of its pass after the lapse must
    come back for it, not leave it behind (a killed worker's claims were left unsent so).
    """
    ends: dt.datetime | None = session.scalar(
        select(func.min(func.coalesce(Delivery.lease_until, now))).where(
            Delivery.run_id == run_id,
            Delivery.status == DeliveryStatus.SENDING,
            or_(Delivery.lease.is_(None), Delivery.lease != lease),
        )
    )
    if ends is not None and ends.tzinfo is None:  # SQLite keeps no zone; the values are UTC
        ends = ends.replace(tzinfo=dt.UTC)
    return ends
