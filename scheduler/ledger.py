"""The ledger: Run and Delivery rows, and every status transition, in this one module.

A Run is unique per (list, kind, period) so a job that fires twice still makes one run. A Delivery
is unique per (run, subscriber) so planning again adds only subscribers not yet planned. An outcome
is written by `record_outcome`, which only moves a delivery out of an open state: a delivered or
failed delivery is final.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    Index,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from scheduler.shares import Share
from subscribers.db import Base, string_enum, utcnow
from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Suppression

__all__ = [
    "ACTIVE",
    "FINAL",
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
    "cancel_departed",
    "claim_batch",
    "claim_query",
    "count_by_status",
    "count_in_flight",
    "count_waiting",
    "delivery_address",
    "finish_planning",
    "finish_run",
    "get_run",
    "list_runs",
    "mark_in_flight",
    "open_run",
    "outcome_params",
    "pause_run",
    "record_outcome",
    "record_outcomes",
    "release",
    "requeue_uncertain",
    "run_status",
    "set_run_status",
]


#: The whole run, for a single sender.
WHOLE = Share(0, 1)


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
    """Pending, deferred and sending deliveries are open; delivered and failed are final.

    `sending` is written (and committed) just before a message goes on the wire and replaced by
    the outcome as soon as the server answers. A delivery found `sending` when a run resumes was
    in flight when the sender died: the server may or may not have taken it. It is sent again and
    counted as uncertain — the only way anybody can get two copies, and at most one per
    connection that was open.
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
#: Statuses with a server's answer (or a decision) recorded.
FINAL = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DEFERRED)
_FINAL_OR_RETRY = (
    DeliveryStatus.DELIVERED,
    DeliveryStatus.DEFERRED,
    DeliveryStatus.FAILED,
    DeliveryStatus.UNCERTAIN,
)


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
    #: The claim of the sender that marked it `sending` (PostgreSQL senders; see claims.py).
    lease: Mapped[str | None] = mapped_column(String(32))
    #: Until when that claim holds: past it, another sender may take the delivery over.
    lease_until: Mapped[dt.datetime | None]


# The statements of the send loop, built once: they run for every message, and building a
# SQLAlchemy statement costs more than executing it. Each runs with executemany; conditions
# are OR-ed equalities because an expanding IN cannot be used with executemany.
_DELIVERIES = cast(Table, Delivery.__table__)
_IS_OPEN = or_(*(_DELIVERIES.c.status == s for s in OPEN))
_MARK = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id.in_(bindparam("b_ids", expanding=True)), _IS_OPEN)
    .values(status=DeliveryStatus.SENDING, updated_at=bindparam("b_now"))
    .returning(_DELIVERIES.c.id)
)
_RELEASE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"), _DELIVERIES.c.status == DeliveryStatus.SENDING)
    .values(status=DeliveryStatus.PENDING, updated_at=bindparam("b_now"))
)
_RECORD = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"), _IS_OPEN)
    .values(
        status=bindparam("b_status"),
        attempts=_DELIVERIES.c.attempts + 1,
        last_code=bindparam("b_code"),
        last_text=bindparam("b_text"),
        last_reason=bindparam("b_reason"),
        message_id=bindparam("b_message_id"),
        updated_at=bindparam("b_now"),
    )
)


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


def claim_batch(
    session: Session,
    run: Run,
    after_id: int,
    limit: int,
    share: Share = WHOLE,
    now: dt.datetime | None = None,
) -> Sequence[Claim]:
    """The next due open deliveries of a run's share after ``after_id``, in id order."""
    rows = session.execute(
        claim_query(run)
        .where(
            Delivery.run_id == run.id,
            Delivery.status.in_(OPEN),
            Delivery.id > after_id,
            _due(now or utcnow()),
            *_in_share(share),
        )
        .order_by(Delivery.id)
        .limit(limit)
    ).all()
    return [Claim(*row) for row in rows]


def record_outcome(
    session: Session,
    delivery_id: int,
    status: DeliveryStatus,
    *,
    code: int | None,
    text: str | None,
    message_id: str | None = None,
    reason: str | None = None,
) -> bool:
    """Move an open delivery to ``status``; False if it was no longer open (left unchanged)."""
    if status not in _FINAL_OR_RETRY:
        raise ValueError(f"an outcome cannot be {status}")
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_(OPEN))
        .values(
            status=status,
            attempts=Delivery.attempts + 1,
            last_code=code,
            last_text=(text or "")[:1000] or None,
            last_reason=reason,
            message_id=message_id,
            updated_at=utcnow(),
        )
    )
    return bool(getattr(result, "rowcount", 0))


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


def outcome_params(outcomes: Sequence[Outcome], now: dt.datetime) -> list[dict[str, object]]:
    """The bind parameters of the record statements (shared with leased records)."""
    return [
        {
            "b_id": o.delivery_id,
            "b_status": o.status,
            "b_code": o.code,
            "b_text": (o.text or "")[:1000] or None,
            "b_reason": o.reason,
            "b_message_id": o.message_id,
            "b_now": now,
        }
        for o in outcomes
    ]


def record_outcomes(session: Session, outcomes: Sequence[Outcome]) -> None:
    """Record several outcomes in one statement (the caller commits them together).

    A send loop records whatever finished since its last commit in one small transaction, in
    the same commit that marks the next messages in flight: one commit per turn of the loop
    instead of two per message, with the same guarantee (no outcome is ever lost or guessed).
    """
    if not outcomes:
        return
    for outcome in outcomes:
        if outcome.status not in _FINAL_OR_RETRY:
            raise ValueError(f"an outcome cannot be {outcome.status}")
    session.execute(_RECORD, outcome_params(outcomes, utcnow()))


def delivery_address(session: Session, delivery_id: int) -> str | None:
    """The address a delivery went to (None if the subscriber was erased meanwhile)."""
    return session.scalar(
        select(Subscriber.email)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.id == delivery_id)
    )


def cancel_departed(session: Session, run: Run) -> int:
    """Cancel open deliveries whose subscriber is no longer a confirmed, unsuppressed reader.

    Someone who unsubscribes (or is erased, or bounces) after planning must not get the issue.
    """
    still_reading = (
        select(Subscription.id)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(
            Subscription.subscriber_id == Delivery.subscriber_id,
            Subscription.list_id == run.list_id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
            ~select(Suppression.id)
            .where(Suppression.address_hash == Subscriber.email_hash)
            .exists(),
        )
        .exists()
    )
    result = session.execute(
        update(Delivery)
        .where(Delivery.run_id == run.id, Delivery.status.in_(OPEN), ~still_reading)
        .values(
            status=DeliveryStatus.CANCELLED,
            last_text="not sent: no longer subscribed",
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def mark_in_flight(session: Session, delivery_ids: Sequence[int]) -> set[int]:
    """Mark deliveries as about to go on the wire; the ids that were still open to send.

    The caller commits, then sends exactly the returned ones: a delivery cancelled since it
    was claimed (the run was cancelled, the reader left) is not marked and must not be sent.
    """
    if not delivery_ids:
        return set()
    rows = session.execute(_MARK, {"b_ids": list(delivery_ids), "b_now": utcnow()})
    return {row[0] for row in rows}


def requeue_uncertain(session: Session, run_id: int) -> int:
    """Make a run's uncertain deliveries pending again (an operator's resume); how many.

    Their readers may get a second copy: the caller says so with the count.
    """
    result = session.execute(
        update(Delivery)
        .where(Delivery.run_id == run_id, Delivery.status == DeliveryStatus.UNCERTAIN)
        .values(status=DeliveryStatus.PENDING, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def release(session: Session, delivery_ids: Sequence[int]) -> None:
    """Put in-flight deliveries back to pending: nothing reached the server after all."""
    if delivery_ids:
        now = utcnow()
        session.execute(_RELEASE, [{"b_id": i, "b_now": now} for i in delivery_ids])


def count_in_flight(session: Session, run_id: int, share: Share = WHOLE) -> int:
    """Deliveries of a share left `sending` by a sender that died: their outcome is unknown."""
    return int(
        session.scalar(
            select(func.count()).where(
                Delivery.run_id == run_id,
                Delivery.status == DeliveryStatus.SENDING,
                *_in_share(share),
            )
        )
        or 0
    )


def _due(now: dt.datetime) -> ColumnElement[bool]:
    """Deliveries whose local send time has come (or that have none)."""
    return Delivery.not_before.is_(None) | (Delivery.not_before <= now)


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


def _in_share(share: Share) -> tuple[ColumnElement[bool], ...]:
    """The condition that keeps a query to one share of a run (none for the whole run)."""
    return () if share.parts == 1 else ((Delivery.id % share.parts) == share.part,)


def finish_planning(session: Session, run: Run, skipped: dict[str, int], added: int = 0) -> None:
    """Planning is complete: record why others were skipped and let senders start.

    A done run that planning added readers to (they subscribed after it was sent) is open
    again until they have their copy.
    """
    run.skipped = dict(sorted(skipped.items()))
    if run.status == RunStatus.PLANNING or (added and run.status == RunStatus.DONE):
        run.status = RunStatus.SENDING
        run.finished_at = None


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


def set_run_status(session: Session, run: Run, status: RunStatus) -> None:
    """Pause, unpause or cancel a run (RunStateError if its status does not allow it).

    Cancelling also cancels every delivery still waiting (pending or deferred), so nothing of
    the run is sent any more. Messages already in flight keep their place: the sender records
    what the server answered, so the ledger never says "cancelled" of a delivered message.
    """
    if status == run.status:
        return
    if status not in RUN_TRANSITIONS[run.status]:
        raise RunStateError(f"run {run.id} is {run.status}; it cannot become {status}")
    run.status = status
    if status != RunStatus.PAUSED:
        run.pause_reason = None  # resumed or cancelled: the reason it paused is history
    if status == RunStatus.CANCELLED:
        run.finished_at = utcnow()
        session.execute(
            update(Delivery)
            .where(
                Delivery.run_id == run.id,
                Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)),
            )
            .values(
                status=DeliveryStatus.CANCELLED,
                last_text="not sent: the run was cancelled",
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )


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
    return bool(getattr(result, "rowcount", 0))


def run_status(session: Session, run_id: int) -> RunStatus | None:
    """A run's status as stored now (senders check it to notice a pause or a cancel)."""
    status = session.scalar(select(Run.status).where(Run.id == run_id))
    return RunStatus(status) if status is not None else None


def finish_run(session: Session, run: Run) -> bool:
    """Mark the run done if nothing is open; True if it is done now."""
    session.refresh(run)  # an operator may have paused or cancelled it meanwhile
    if run.status in (RunStatus.PAUSED, RunStatus.CANCELLED):
        return run.status == RunStatus.CANCELLED
    open_left = session.scalar(
        select(func.count()).where(Delivery.run_id == run.id, Delivery.status.in_(OPEN))
    )
    if open_left:
        return False
    if run.status != RunStatus.DONE:
        run.status = RunStatus.DONE
        run.finished_at = utcnow()
    return True


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
