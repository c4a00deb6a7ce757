"""Claims: how a sender takes deliveries of a run to send, so that no two senders send one.

Two ways, one per database, behind one small interface (`Claims`) the send loop uses:

- **SQLite** (`ShareClaims`): one machine, one writer. `send --workers N` splits a run into
  shares by delivery id, and each sender holds an OS lock on its share (scheduler/shares.py).
  The kernel drops the lock when a sender dies, so a delivery left `sending` in a share nobody
  holds is known at once to be from a dead sender.
- **PostgreSQL** (`LeaseClaims`): any number of senders on any number of machines. Each turn a
  sender claims the next due deliveries in one statement — `FOR UPDATE SKIP LOCKED` passes over
  rows another sender is claiming at that moment — marking them `sending` with its lease id and
  an expiry. A live sender renews its leases as it goes; a dead one's lapse, and the next sender
  takes those deliveries over (counted as uncertain: the server may have taken them). An outcome
  is written only while the delivery still carries the sender's lease, so a sender that stalled
  past its lease cannot overwrite what the sender that took over recorded.

Either way a delivery is marked `sending` and committed before it goes on the wire, and only
what is in flight can be uncertain after a crash.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import secrets
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Engine,
    Integer,
    Table,
    Update,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from scheduler import ledger
from scheduler.ledger import Claim, Delivery, DeliveryStatus, Outcome, Run
from scheduler.shares import Share, hold_share
from subscribers.db import utcnow
from subscribers.models import Subscriber, Subscription

__all__ = [
    "Claims",
    "Lease",
    "LeaseClaims",
    "ShareClaims",
    "claim_leased",
    "claims_for",
    "foreign_lease_ends",
    "record_leased",
    "release_leased",
    "renew_lease",
]

_DELIVERIES = cast(Table, Delivery.__table__)
_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED)


class Claims(Protocol):
    """What the send loop needs from a way of claiming deliveries."""

    #: Deliveries taken over from a sender that died with them in flight (may be duplicates).
    uncertain: int
    #: Outcomes not written because another sender had taken the delivery over meanwhile.
    lost: int

    def hold(self) -> AbstractContextManager[object]:
        """Whatever must be held while sending (a share lock), for a ``with`` block."""
        ...

    def take(self, session: Session, count: int, now: dt.datetime) -> list[Claim]:
        """Up to ``count`` due deliveries, marked `sending`; the caller commits, then sends."""
        ...

    def record(
        self, session: Session, outcomes: Sequence[Outcome], released: Sequence[int]
    ) -> None:
        """Write outcomes, and put deliveries that never reached the server back to pending."""
        ...

    def wait_for_others(self, session: Session, now: dt.datetime) -> float | None:
        """Seconds until deliveries other senders hold may come free; None if there are none."""
        ...


# --- SQLite: shares --------------------------------------------------------------------------


class ShareClaims:
    """One share of a run, held by an OS lock; claims walk the share in id order."""

    def __init__(self, engine: Engine, session: Session, run: Run, share: Share, batch: int):
        self.engine = engine
        self.run = run
        self.share = share
        self.batch = batch
        self.uncertain = 0
        self.lost = 0
        self._session = session
        self._pending: Iterator[Claim] | None = None

    def hold(self) -> AbstractContextManager[object]:
        """The share's lock; ShareBusy if another live process holds it."""
        return _Held(self)

    def take(self, session: Session, count: int, now: dt.datetime) -> list[Claim]:
        """The next claims of the share, marked in flight (a cancelled one is left out)."""
        if self._pending is None:
            self._pending = self._walk(session, now)
        batch = list(itertools.islice(self._pending, count))
        marked = ledger.mark_in_flight(session, [c.delivery_id for c in batch])
        return [c for c in batch if c.delivery_id in marked]

    def record(
        self, session: Session, outcomes: Sequence[Outcome], released: Sequence[int]
    ) -> None:
        """Write outcomes and releases as they are: this share has no other sender."""
        ledger.record_outcomes(session, outcomes)
        ledger.release(session, released)

    def wait_for_others(self, session: Session, now: dt.datetime) -> float | None:
        """Nobody else sends this share."""
        return None

    def _walk(self, session: Session, now: dt.datetime) -> Iterator[Claim]:
        after = 0
        while batch := ledger.claim_batch(session, self.run, after, self.batch, self.share, now):
            yield from batch
            after = batch[-1].delivery_id


class _Held:
    """hold_share, and the count of in-flight deliveries its previous holder left behind."""

    def __init__(self, claims: ShareClaims) -> None:
        self.claims = claims
        self._lock = hold_share(claims.engine, claims.run.id, claims.share)

    def __enter__(self) -> object:
        self._lock.__enter__()
        claims = self.claims
        claims.uncertain = ledger.count_in_flight(claims._session, claims.run.id, claims.share)
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.__exit__(None, None, None)


# --- PostgreSQL: leases ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lease:
    """One sender's claim: a random id and how long each claim holds without renewal."""

    id: str
    seconds: float

    @classmethod
    def new(cls, seconds: float) -> Lease:
        """A lease with a fresh random id."""
        return cls(secrets.token_hex(16), seconds)

    def until(self, now: dt.datetime) -> dt.datetime:
        """When a claim made or renewed at ``now`` lapses."""
        return now + dt.timedelta(seconds=self.seconds)


def _claimable(
    run_id: int | BindParameter[int],
    now: dt.datetime | BindParameter[dt.datetime],
    statuses: Sequence[DeliveryStatus],
) -> list[ColumnElement[bool]]:
    """Due deliveries of the run in ``statuses``, or `sending` under a lapsed lease."""
    lapsed = and_(
        _DELIVERIES.c.status == DeliveryStatus.SENDING,
        or_(_DELIVERIES.c.lease_until.is_(None), _DELIVERIES.c.lease_until < now),
    )
    return [
        _DELIVERIES.c.run_id == run_id,
        or_(_DELIVERIES.c.status.in_(statuses), lapsed),
        or_(_DELIVERIES.c.not_before.is_(None), _DELIVERIES.c.not_before <= now),
    ]


def claim_leased(
    session: Session,
    run: Run,
    lease: Lease,
    after_id: int,
    limit: int,
    now: dt.datetime,
    statuses: Sequence[DeliveryStatus] = _WAITING,
) -> tuple[list[Claim], int]:
    """Claim up to ``limit`` due deliveries after ``after_id`` under ``lease``.

    Claimable: those in ``statuses`` (pending and deferred) and those `sending` under a lease
    that lapsed. Returns the claims in id order and how many were taken over from a lapsed
    lease. Rows another sender is claiming in the same instant are skipped, not waited for.
    """
    if session.get_bind().dialect.name == "postgresql":
        return _claim_in_one_statement(session, run, lease, after_id, limit, now, statuses)
    # Elsewhere (SQLite, which tests run these on too) three statements: the statuses before
    # the claim tell which were taken over, and SQLite's RETURNING sees only the updated table.
    picked = dict(
        session.execute(
            select(_DELIVERIES.c.id, _DELIVERIES.c.status)
            .where(_DELIVERIES.c.id > after_id, *_claimable(run.id, now, statuses))
            .order_by(_DELIVERIES.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    )
    if not picked:
        return [], 0
    taken = session.scalars(
        update(_DELIVERIES)
        .where(_DELIVERIES.c.id.in_(list(picked)), *_claimable(run.id, now, statuses))
        .values(
            status=DeliveryStatus.SENDING,
            lease=lease.id,
            lease_until=lease.until(now),
            updated_at=now,
        )
        .returning(_DELIVERIES.c.id)
    ).all()
    if not taken:
        return [], 0
    lapsed = sum(1 for delivery_id in taken if picked[delivery_id] == DeliveryStatus.SENDING)
    rows = session.execute(
        ledger.claim_query(run).where(Delivery.id.in_(list(taken))).order_by(Delivery.id)
    ).all()
    return [Claim(*row) for row in rows], lapsed


@functools.cache
def _claim_statement(statuses: tuple[DeliveryStatus, ...]) -> Update:
    """PostgreSQL's claim statement for a set of statuses, built once.

    It runs every turn of every sender, and building a SQLAlchemy statement costs more than
    PostgreSQL spends executing it.
    """
    now: BindParameter[dt.datetime] = bindparam("b_now", type_=_DELIVERIES.c.updated_at.type)
    run_id: BindParameter[int] = bindparam("b_run", type_=Integer)
    picked = (
        select(_DELIVERIES.c.id, _DELIVERIES.c.status.label("was"))
        .where(_DELIVERIES.c.id > bindparam("b_after"), *_claimable(run_id, now, statuses))
        .order_by(_DELIVERIES.c.id)
        .limit(bindparam("b_limit", type_=Integer))
        .with_for_update(skip_locked=True)
        .subquery("picked")
    )
    subscribers = cast(Table, Subscriber.__table__)
    subscriptions = cast(Table, Subscription.__table__)
    return (
        update(_DELIVERIES)
        .where(
            _DELIVERIES.c.id == picked.c.id,
            subscribers.c.id == _DELIVERIES.c.subscriber_id,
            subscriptions.c.subscriber_id == _DELIVERIES.c.subscriber_id,
            subscriptions.c.list_id == bindparam("b_list"),
        )
        .values(
            status=DeliveryStatus.SENDING,
            lease=bindparam("b_lease"),
            lease_until=bindparam("b_until"),
            updated_at=now,
        )
        .returning(
            _DELIVERIES.c.id,
            _DELIVERIES.c.subscriber_id,
            subscriptions.c.id,
            subscribers.c.email,
            _DELIVERIES.c.variant,
            subscribers.c.token_key,
            picked.c.was,
        )
    )


def _claim_in_one_statement(
    session: Session,
    run: Run,
    lease: Lease,
    after_id: int,
    limit: int,
    now: dt.datetime,
    statuses: Sequence[DeliveryStatus],
) -> tuple[list[Claim], int]:
    """PostgreSQL: pick (SKIP LOCKED), mark and read what sending needs in one round trip."""
    result = session.execute(
        _claim_statement(tuple(statuses)),
        {
            "b_after": after_id,
            "b_run": run.id,
            "b_now": now,
            "b_limit": limit,
            "b_list": run.list_id,
            "b_lease": lease.id,
            "b_until": lease.until(now),
        },
    )
    rows = sorted(result.all(), key=lambda row: int(row[0]))
    lapsed = sum(1 for row in rows if row[6] == DeliveryStatus.SENDING)
    return [Claim(*row[:6]) for row in rows], lapsed


_RECORD_LEASED = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("b_id"),
        _DELIVERIES.c.status == DeliveryStatus.SENDING,
        _DELIVERIES.c.lease == bindparam("b_lease"),
    )
    .values(
        status=bindparam("b_status"),
        attempts=_DELIVERIES.c.attempts + 1,
        last_code=bindparam("b_code"),
        last_text=bindparam("b_text"),
        last_reason=bindparam("b_reason"),
        message_id=bindparam("b_message_id"),
        updated_at=bindparam("b_now"),
        lease_until=None,
    )
)


def record_leased(session: Session, lease: Lease, outcomes: Sequence[Outcome]) -> int:
    """Write outcomes of deliveries still held under ``lease``; how many were written."""
    if not outcomes:
        return 0
    written = 0
    for params in ledger.outcome_params(outcomes, utcnow()):
        # One statement each: executemany's row count is not reliable across drivers, and the
        # count is what tells a sender it lost a delivery to another.
        result = session.execute(_RECORD_LEASED, {**params, "b_lease": lease.id})
        written += int(getattr(result, "rowcount", 0) or 0)
    return written


def release_leased(session: Session, lease: Lease, delivery_ids: Sequence[int]) -> None:
    """Put deliveries held under ``lease`` back to pending: they never reached the server."""
    if delivery_ids:
        session.execute(
            update(_DELIVERIES)
            .where(
                _DELIVERIES.c.id.in_(list(delivery_ids)),
                _DELIVERIES.c.status == DeliveryStatus.SENDING,
                _DELIVERIES.c.lease == lease.id,
            )
            .values(
                status=DeliveryStatus.PENDING, lease=None, lease_until=None, updated_at=utcnow()
            )
        )


def renew_lease(session: Session, run_id: int, lease: Lease, now: dt.datetime) -> None:
    """Extend every claim ``lease`` holds in a run (a live sender keeps what it is sending)."""
    session.execute(
        update(_DELIVERIES)
        .where(
            _DELIVERIES.c.run_id == run_id,
            _DELIVERIES.c.status == DeliveryStatus.SENDING,
            _DELIVERIES.c.lease == lease.id,
        )
        .values(lease_until=lease.until(now))
    )


def foreign_lease_ends(
    session: Session, run_id: int, lease: Lease, now: dt.datetime
) -> dt.datetime | None:
    """When the first claim of another sender in the run lapses (None: there is none).

    A claim that has lapsed already counts too, with its past end: it is still `sending` until
    a sender takes it over, and a sender that reached the end of its pass after the lapse must
    come back for it, not leave it behind (a killed worker's claims were left unsent so).
    """
    ends: dt.datetime | None = session.scalar(
        select(func.min(func.coalesce(_DELIVERIES.c.lease_until, now))).where(
            _DELIVERIES.c.run_id == run_id,
            _DELIVERIES.c.status == DeliveryStatus.SENDING,
            or_(_DELIVERIES.c.lease.is_(None), _DELIVERIES.c.lease != lease.id),
        )
    )
    if ends is not None and ends.tzinfo is None:  # SQLite keeps no zone; the values are UTC
        ends = ends.replace(tzinfo=dt.UTC)
    return ends


class LeaseClaims:
    """Claims under one lease, for a sender that shares a run with any number of others."""

    def __init__(self, run: Run, lease: Lease) -> None:
        self.run = run
        self.lease = lease
        self.uncertain = 0
        self.lost = 0
        self._after = 0
        self._renewed: dt.datetime | None = None
        # Deferred deliveries are tried once per pass; their retries are the caller's to pace.
        self._statuses: tuple[DeliveryStatus, ...] = _WAITING

    def hold(self) -> AbstractContextManager[object]:
        """Nothing to hold: the claims live in the database."""
        return nullcontext()

    def take(self, session: Session, count: int, now: dt.datetime) -> list[Claim]:
        """The next claims after the last one taken (each pass walks the run once, in order)."""
        if self._renewed is None or (now - self._renewed).total_seconds() > self.lease.seconds / 3:
            renew_lease(session, self.run.id, self.lease, now)
            self._renewed = now
        if count <= 0:
            return []
        claims, lapsed = claim_leased(
            session, self.run, self.lease, self._after, count, now, self._statuses
        )
        self.uncertain += lapsed
        if claims:
            self._after = claims[-1].delivery_id
        return claims

    def record(
        self, session: Session, outcomes: Sequence[Outcome], released: Sequence[int]
    ) -> None:
        """Write what this sender still holds; count what another took over meanwhile."""
        self.lost += len(outcomes) - record_leased(session, self.lease, outcomes)
        release_leased(session, self.lease, released)

    def wait_for_others(self, session: Session, now: dt.datetime) -> float | None:
        """Seconds until another sender's claim lapses (0: one has); the next pass starts anew."""
        self._after = 0
        self._statuses = (DeliveryStatus.PENDING,)
        ends = foreign_lease_ends(session, self.run.id, self.lease, now)
        return None if ends is None else max(0.0, (ends - now).total_seconds())


def claims_for(
    engine: Engine, session: Session, run: Run, *, share: Share, batch: int, lease_seconds: float
) -> Claims:
    """Shares (with their OS locks) on SQLite, leases on a server database."""
    if engine.dialect.name == "sqlite":
        return ShareClaims(engine, session, run, share, batch)
    if share.parts != 1:
        raise ValueError(
            f"shares (--share {share}) are for SQLite; on {engine.dialect.name} start any "
            "number of `briefmail worker` processes instead"
        )
    return LeaseClaims(run, Lease.new(lease_seconds))
