"""The ledger: the delivery transition table and every statement on a delivery's status or lease.

The rows themselves (Run, Delivery) and a run's life are in scheduler/runs.py, re-exported here.
Each statement checks the moves it makes against `TRANSITIONS` when the module loads; planning,
claims and dispatch call these functions, and nothing else writes to the deliveries table
(tests/scheduler/test_ledger.py fails if another module does).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    Update,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from scheduler.prepared import Prepared
from scheduler.runs import (
    ACTIVE,
    OPEN,
    RUN_TRANSITIONS,
    STOPPED,
    Claim,
    Delivery,
    DeliveryStatus,
    Outcome,
    Run,
    RunConflict,
    RunStateError,
    RunStatus,
    UnknownRun,
    claim_query,
    count_by_status,
    count_waiting,
    delivery_address,
    finish_planning,
    finish_run,
    foreign_lease_ends,
    get_run,
    lease_holders,
    list_runs,
    open_run,
    pause_run,
    run_event,
    run_status,
)
from subscribers.db import utcnow
from subscribers.models import Subscriber, Subscription, SubscriptionStatus, Suppression
from subscribers.outbox import record_event

__all__ = [
    "ACTIVE",
    "ANSWERED",
    "DONE",
    "FINAL",
    "OPEN",
    "OUTCOMES",
    "RUN_TRANSITIONS",
    "STOPPED",
    "TRANSITIONS",
    "WAITING",
    "Claim",
    "Delivery",
    "DeliveryStatus",
    "Outcome",
    "Run",
    "RunConflict",
    "RunStateError",
    "RunStatus",
    "UnknownRun",
    "add_deliveries",
    "cancel_departed",
    "claim",
    "claim_query",
    "count_by_status",
    "count_done",
    "count_waiting",
    "delivery_address",
    "finish_planning",
    "finish_run",
    "foreign_lease_ends",
    "get_run",
    "lapse",
    "lease_holders",
    "list_runs",
    "open_run",
    "pause_run",
    "record",
    "release",
    "renew",
    "requeue_uncertain",
    "run_status",
    "set_run_status",
]


_S = DeliveryStatus
#: Which status a delivery may move to from which. Planning creates deliveries `pending`.
TRANSITIONS: Mapping[DeliveryStatus, frozenset[DeliveryStatus]] = {
    # claimed by a sender, or cancelled (the reader left, the run was cancelled)
    _S.PENDING: frozenset({_S.SENDING, _S.CANCELLED}),
    _S.DEFERRED: frozenset({_S.SENDING, _S.CANCELLED}),
    # the server's outcome; back to pending when nothing reached the server; `sending` again
    # when another sender takes over a lapsed lease; cancelled when the reader left
    _S.SENDING: frozenset(
        {_S.DELIVERED, _S.DEFERRED, _S.FAILED, _S.UNCERTAIN, _S.PENDING, _S.SENDING, _S.CANCELLED}
    ),
    # only an operator's resume sends an uncertain delivery again
    _S.UNCERTAIN: frozenset({_S.PENDING}),
    _S.DELIVERED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}
#: Open statuses no sender holds: what a claim takes (a lapsed `sending` lease too).
WAITING = (_S.PENDING, _S.DEFERRED)
#: Statuses that never change again.
FINAL = tuple(s for s in DeliveryStatus if not TRANSITIONS[s])
#: Statuses with a server's answer recorded (its reply code and text).
ANSWERED = (_S.DELIVERED, _S.DEFERRED, _S.FAILED)
#: What a sender may record after a send.
OUTCOMES = (_S.DELIVERED, _S.DEFERRED, _S.FAILED, _S.UNCERTAIN)
#: "Done", in every count (metrics, run reports, the CLI): no sender has anything left to do.
DONE = tuple(s for s in DeliveryStatus if s not in OPEN)


def count_done(counts: Mapping[str, int]) -> int:
    """How many deliveries of ``counts`` (by status) are done: not open any more."""
    return sum(counts.get(str(s), 0) for s in DONE)


def _moving(to: DeliveryStatus, *sources: DeliveryStatus) -> tuple[DeliveryStatus, ...]:
    """The statuses a statement moves deliveries from; refused at import if the table says no."""
    for source in sources:
        if to not in TRANSITIONS[source]:
            raise AssertionError(f"a delivery cannot go from {source} to {to}")
    return sources


_DELIVERIES = cast(Table, Delivery.__table__)
_D = _DELIVERIES.c


def _any_of(statuses: Sequence[DeliveryStatus]) -> ColumnElement[bool]:
    # OR-ed equalities, not IN: an expanding IN cannot be used with executemany.
    return or_(*(_D.status == s for s in statuses))


# --- runs -------------------------------------------------------------------------------------


_CANCELLING = _moving(_S.CANCELLED, *WAITING)


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
    if status == RunStatus.PAUSED:
        record_event(session, "run.paused", run_event(run) | {"reason": "paused by an operator"})
    if status == RunStatus.CANCELLED:
        record_event(session, "run.finished", run_event(run) | {"status": "cancelled"})
        run.finished_at = utcnow()
        session.execute(
            update(Delivery)
            .where(Delivery.run_id == run.id, Delivery.status.in_(_CANCELLING))
            .values(
                status=_S.CANCELLED,
                last_text="not sent: the run was cancelled",
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )


# --- planning: deliveries are born pending ----------------------------------------------------


def add_deliveries(
    session: Session, run_id: int, planned: Select[tuple[int, str, dt.datetime | None]]
) -> int:
    """Insert a `pending` delivery per row of ``planned`` (subscriber, variant, not_before).

    One INSERT ... SELECT: no reader's row passes through Python. Readers the run already has
    are skipped (ON CONFLICT DO NOTHING), so planning again adds only newcomers. Returns the
    count added.
    """
    source = planned.subquery("planned")
    rows = select(
        literal(run_id, Integer),
        source.c[0],
        source.c[1],
        literal(_S.PENDING.value, String),
        literal(0, Integer),
        source.c[2],
    ).where(true())  # SQLite: a WHERE keeps the upsert's ON from reading as a join's
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(_DELIVERIES)
        .from_select(
            ["run_id", "subscriber_id", "variant", "status", "attempts", "not_before"], rows
        )
        .on_conflict_do_nothing(index_elements=["run_id", "subscriber_id"])
    )
    # psycopg closes an INSERT's cursor at once: its row count is kept only when asked for.
    result = session.execute(statement.execution_options(preserve_rowcount=True))
    return int(getattr(result, "rowcount", 0) or 0)


# --- claims: pending → sending under a lease --------------------------------------------------


def _claimable(
    run_id: int | BindParameter[int],
    now: dt.datetime | BindParameter[dt.datetime],
    statuses: Sequence[DeliveryStatus],
    each: bool = False,
) -> list[ColumnElement[bool]]:
    """Due deliveries of the run in ``statuses``, or `sending` under a lapsed lease.

    ``each``: OR-ed equalities (a statement compiled once), not an IN rendered per call.
    """
    lapsed = and_(_D.status == _S.SENDING, or_(_D.lease_until.is_(None), _D.lease_until < now))
    moving = _moving(_S.SENDING, *statuses)
    return [
        _D.run_id == run_id,
        or_(_any_of(moving) if each else _D.status.in_(moving), lapsed),
        or_(_D.not_before.is_(None), _D.not_before <= now),
    ]


def claim(
    session: Session,
    run: Run,
    lease: str,
    until: dt.datetime,
    after_id: int,
    limit: int,
    now: dt.datetime,
    statuses: Sequence[DeliveryStatus] = WAITING,
) -> tuple[list[Claim], int]:
    """Mark up to ``limit`` due deliveries after ``after_id`` `sending` under ``lease``.

    Claimable: those in ``statuses`` and those `sending` under a lease that lapsed. Returns the
    claims in id order and how many were taken over from a lapsed lease. PostgreSQL skips rows
    another sender is claiming in the same instant (`FOR UPDATE SKIP LOCKED`); SQLite has one
    writer, so its claims never meet.
    """
    if session.get_bind().dialect.name == "postgresql":
        values = {"b_after": after_id, "b_run": run.id, "b_now": now, "b_limit": limit}
        values |= {"b_list": run.list_id, "b_lease": lease, "b_until": until}
        result = session.execute(_claim_statement(tuple(statuses)), values)
        returned = sorted(result.all(), key=lambda row: int(row[0]))
        lapsed = sum(1 for row in returned if row[6] == _S.SENDING)
        return [Claim(*row[:6]) for row in returned], lapsed
    # SQLite: RETURNING sees only the updated table, so the statuses before the claim (which
    # tell the taken-over ones) and what sending needs are read by the pick.
    # Compiled once, run on the session's connection (scheduler/prepared.py).
    connection = session.connection()
    values = {"b_after": after_id, "b_run": run.id, "b_now": now, "b_limit": limit}
    pick = _sqlite_pick(tuple(statuses), connection.dialect)
    rows = pick.run(connection, values | {"b_list": run.list_id})
    picked: dict[int, Any] = {row[0]: row for row in rows}
    if not picked:
        return [], 0
    values |= {f"b_id{i}": id_ for i, id_ in enumerate(picked)}
    mark = _sqlite_mark(tuple(statuses), len(picked), connection.dialect)
    marked = mark.run(connection, values | {"b_lease": lease, "b_until": until}).scalars()
    claims = [picked[delivery_id] for delivery_id in sorted(marked)]
    lapsed = sum(1 for row in claims if row[6] == _S.SENDING)
    return [Claim(*row[:6]) for row in claims], lapsed


@functools.cache
def _sqlite_pick(statuses: tuple[DeliveryStatus, ...], dialect: Dialect) -> Prepared:
    """SQLite's claim, first step: what sending needs and the status before, by id from after.

    ``run_id + 0``: the pick walks the primary key from ``b_after``. Through UNIQUE(run_id,
    subscriber_id) SQLite read and sorted the whole run for each pick (7 ms at 10k readers).
    Compiled once (scheduler/prepared.py): it runs every turn of the send loop.
    """
    subscription = (Subscription.subscriber_id == Delivery.subscriber_id) & (
        Subscription.list_id == bindparam("b_list", type_=Integer)
    )
    pick = (
        select(
            _D.id,
            _D.subscriber_id,
            Subscription.id,
            Subscriber.email,
            _D.variant,
            Subscriber.token_key,
            _D.status,
        )
        .join(Subscriber, Subscriber.id == _D.subscriber_id)
        .join(Subscription, subscription)
        .where(_D.id > bindparam("b_after"), *_sqlite_claimable(statuses))
        .order_by(_D.id)
        .limit(bindparam("b_limit", type_=Integer))
    )
    return Prepared(pick, dialect)


@functools.cache
def _sqlite_mark(statuses: tuple[DeliveryStatus, ...], count: int, dialect: Dialect) -> Prepared:
    """SQLite's claim, second step: ``count`` picked rows (b_id0 …) marked `sending`.

    By primary key: with ``run_id`` plain and more than one id, SQLite scanned the whole run
    through UNIQUE(run_id, subscriber_id) for each mark (1.3 ms at 10k readers).
    """
    ids = [bindparam(f"b_id{i}", type_=Integer) for i in range(count)]
    mark = (
        update(_DELIVERIES)
        .where(_D.id.in_(ids), *_sqlite_claimable(statuses))
        .values(status=_S.SENDING, lease=bindparam("b_lease"), lease_until=bindparam("b_until"))
        .values(updated_at=bindparam("b_now", type_=_D.updated_at.type))
        .returning(_D.id)
    )
    return Prepared(mark, dialect)


def _sqlite_claimable(statuses: tuple[DeliveryStatus, ...]) -> list[ColumnElement[bool]]:
    """`_claimable` with ``run_id + 0``, which keeps SQLite on the primary key."""
    run_id: BindParameter[int] = bindparam("b_run", type_=Integer)
    now: BindParameter[dt.datetime] = bindparam("b_now", type_=_D.updated_at.type)
    return [(_D.run_id + 0) == run_id, *_claimable(run_id, now, statuses, each=True)[1:]]


@functools.cache
def _claim_statement(statuses: tuple[DeliveryStatus, ...]) -> Update:
    """PostgreSQL's claim: pick (SKIP LOCKED), mark and read what sending needs in one trip.

    Built once per set of statuses: it runs every turn of every sender, and building a
    SQLAlchemy statement costs more than PostgreSQL spends executing it.
    """
    now: BindParameter[dt.datetime] = bindparam("b_now", type_=_D.updated_at.type)
    run_id: BindParameter[int] = bindparam("b_run", type_=Integer)
    picked = (
        select(_D.id, _D.status.label("was"))
        .where(_D.id > bindparam("b_after"), *_claimable(run_id, now, statuses))
        .order_by(_D.id)
        .limit(bindparam("b_limit", type_=Integer))
        .with_for_update(skip_locked=True)
        # Materialized: picked once, whatever the plan. A subquery may be run again as the
        # inner side of a join, and a second run skips the rows the first one locked: once
        # ten fresh rows were analyzed, a claim of five returned one.
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    subscribers = cast(Table, Subscriber.__table__)
    subscriptions = cast(Table, Subscription.__table__)
    return (
        update(_DELIVERIES)
        .where(
            _D.id == picked.c.id,
            subscribers.c.id == _D.subscriber_id,
            subscriptions.c.subscriber_id == _D.subscriber_id,
            subscriptions.c.list_id == bindparam("b_list"),
        )
        .values(
            status=_S.SENDING,
            lease=bindparam("b_lease"),
            lease_until=bindparam("b_until"),
            updated_at=now,
        )
        .returning(
            _D.id,
            _D.subscriber_id,
            subscriptions.c.id,
            subscribers.c.email,
            _D.variant,
            subscribers.c.token_key,
            picked.c.was,
        )
    )


def renew(session: Session, run_id: int, lease: str, until: dt.datetime) -> None:
    """Extend every claim ``lease`` holds in a run (a live sender keeps what it is sending)."""
    session.execute(
        update(_DELIVERIES)
        .where(_D.run_id == run_id, _D.status == _S.SENDING, _D.lease == lease)
        .values(lease_until=until)
    )


def lapse(session: Session, run_id: int, leases: Sequence[str]) -> None:
    """End these leases now (their senders are known to be dead): their claims are free."""
    if leases:
        session.execute(
            update(_DELIVERIES)
            .where(_D.run_id == run_id, _D.status == _S.SENDING, _D.lease.in_(list(leases)))
            .values(lease_until=None)
        )


# --- outcomes: sending → what the server said -------------------------------------------------


def _recording(source: Mapping[str, ColumnElement[Any]]) -> Update:
    """The record of an outcome, its values (by column of Outcome) taken from ``source``.

    It writes only while the delivery still carries the sender's lease, so a sender that
    stalled past its lease cannot overwrite what the sender that took over recorded.
    """
    return (
        update(_DELIVERIES)
        .where(
            _D.id == source["id"],
            _any_of(_moving(_S.DELIVERED, _S.SENDING)),
            _D.lease == bindparam("b_lease"),
        )
        .values(
            status=source["status"],
            attempts=_D.attempts + 1,
            last_code=source["code"],
            last_text=source["text"],
            last_reason=source["reason"],
            message_id=source["message_id"],
            updated_at=bindparam("b_now", type_=_D.updated_at.type),
            lease_until=None,
        )
    )


for _outcome in OUTCOMES:
    _moving(_outcome, _S.SENDING)
_RECORDED = {"id": Integer, "status": String, "code": Integer, "text": String}
_RECORDED |= {"reason": String, "message_id": String}
# Built once: it runs for every message, and building a statement costs more than running it.
_RECORD = _recording({name: bindparam(f"b_{name}") for name in _RECORDED})
# PostgreSQL records a whole turn in one statement: the outcomes as parallel arrays, unnested
# into rows. A server's round trip costs more than the statement, and the loop waits for each:
# one a turn, not one a message. RETURNING counts what was written (executemany's row count
# cannot be trusted to).
_OUTCOME_ROWS = (
    func.unnest(*(bindparam(f"b_{c}", type_=postgresql.ARRAY(t)) for c, t in _RECORDED.items()))
    .table_valued(*_RECORDED)
    .render_derived(name="outcome")
)
_RECORD_TURN = _recording({c: _OUTCOME_ROWS.c[c] for c in _RECORDED}).returning(_D.id)


def record(session: Session, lease: str, outcomes: Sequence[Outcome]) -> int:
    """Write outcomes of deliveries still held under ``lease``; how many were written.

    A send loop records whatever finished since its last turn in the same transaction that
    marks the next messages in flight: one commit per turn instead of two per message, with
    the same guarantee (no outcome is ever lost or guessed).
    """
    rows = [_recorded(o) for o in outcomes]
    connection = session.connection()  # a Core statement: the ORM's execute path is slower
    bound = {"b_lease": lease, "b_now": utcnow()}
    if connection.dialect.name == "postgresql":
        if not rows:
            return 0
        bound |= {
            f"b_{name}": list(column)
            for name, column in zip(_RECORDED, zip(*rows, strict=True), strict=True)
        }
        return len(connection.execute(_RECORD_TURN, bound).all())
    # SQLite, one statement each: executemany's row count is not reliable across drivers, and
    # the count is what tells a sender it lost a delivery to another.
    prepared = _sqlite_record(connection.dialect)
    keys = [f"b_{name}" for name in _RECORDED]
    return sum(
        int(prepared.run(connection, bound | dict(zip(keys, row, strict=True))).rowcount)
        for row in rows
    )


def _recorded(o: Outcome) -> tuple[object, ...]:
    """What is written of one outcome, in the order of `_RECORDED`; refused if not an outcome."""
    if o.status not in OUTCOMES:
        raise ValueError(f"an outcome cannot be {o.status}")
    return (
        o.delivery_id,
        str(o.status),
        o.code,
        (o.text or "")[:1000] or None,
        o.reason,
        o.message_id,
    )


@functools.cache
def _sqlite_record(dialect: Dialect) -> Prepared:
    """The record compiled once for SQLite (scheduler/prepared.py): one run per outcome."""
    return Prepared(_RECORD, dialect)


_RELEASING = _moving(_S.PENDING, _S.SENDING)


def release(session: Session, lease: str, delivery_ids: Sequence[int]) -> None:
    """Put deliveries held under ``lease`` back to pending: they never reached the server."""
    if delivery_ids:
        session.execute(
            update(_DELIVERIES)
            .where(_D.id.in_(list(delivery_ids)), _D.status.in_(_RELEASING), _D.lease == lease)
            .values(status=_S.PENDING, lease=None, lease_until=None, updated_at=utcnow())
        )


_REQUEUEING = _moving(_S.PENDING, _S.UNCERTAIN)


def requeue_uncertain(session: Session, run_id: int) -> int:
    """Make a run's uncertain deliveries pending again (an operator's resume); how many.

    Their readers may get a second copy: the caller says so with the count.
    """
    result = session.execute(
        update(Delivery)
        .where(Delivery.run_id == run_id, Delivery.status.in_(_REQUEUEING))
        .values(status=_S.PENDING, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


_DEPARTING = _moving(_S.CANCELLED, *OPEN)


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
        .where(Delivery.run_id == run.id, Delivery.status.in_(_DEPARTING), ~still_reading)
        .values(
            status=_S.CANCELLED,
            last_text="not sent: no longer subscribed",
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
