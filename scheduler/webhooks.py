"""Webhook deliveries: claim what is due in the outbox, POST it signed, record every attempt.

Each POST carries the event as JSON (``{"id", "type", "created_at", "data"}``) and three
headers: ``Briefmail-Event`` (its type), ``Briefmail-Delivery`` (the id a receiver dedupes on:
the same for every retry of one event to one webhook) and ``Briefmail-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the webhook's secret>`` (Stripe's
scheme: a receiver recomputes it, compares in constant time and refuses an old ``t``).

A 2xx answer delivers; anything else (another status, a timeout, a refused connection) is
retried after 30 s, 2 min, 10 min, 1 h, 3 h, 6 h and 12 h (each ±20 %, so a crowd of retries
spreads out), and given up as failed after the eighth attempt, about 22 hours on.

Claims are leases, as for the send path (scheduler/claims.py): a claim moves a row's
``next_attempt_at`` past the lease, so a deliverer that dies lets its rows come back by
themselves, at once when the deliverer ran on this machine (its pid is gone). A crash between
a receiver's answer and the commit of the attempt re-sends that one event, with the same
``Briefmail-Delivery``. Each webhook is sent to in order by its own task; after one failure
its remaining claims wait for the next round, so a webhook that is down, slow or failing costs
one attempt per round and never holds up the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update

from scheduler.claims import Lease, holder_is_gone
from subscribers.db import as_utc, utcnow
from subscribers.outbox import (
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "DELAYS",
    "RETENTION",
    "Attempt",
    "DeliverReport",
    "Due",
    "Target",
    "claim_due",
    "deliver_due",
    "event_body",
    "next_delay",
    "prune",
    "record_attempt",
    "sign",
    "verify",
]

#: Seconds before each retry (the n-th failure waits DELAYS[n-1]); after the last, given up.
DELAYS = (30, 120, 600, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
#: Finished deliveries (delivered or given up) and their events are kept this long.
RETENTION = dt.timedelta(days=30)
#: At most this many deliveries per webhook per round (they are sent one after another).
PER_ROUND = 20
#: A receiver's signature check should refuse a timestamp older than this (seconds).
TOLERANCE = 300


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook ready to be sent to: its url, name, secret and timeout."""

    url: str
    name: str | None
    secret: bytes = field(repr=False)
    timeout: float = 10.0

    @property
    def label(self) -> str:
        """Its name, or its url."""
        return self.name or self.url


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``Briefmail-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: bytes,
    body: bytes,
    header: str,
    *,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether a ``Briefmail-Signature`` header signs ``body`` and is recent (receivers' check)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).rpartition("v1=")[2]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def event_body(event_id: int, kind: str, created_at: dt.datetime, data: dict[str, Any]) -> bytes:
    """The JSON a webhook receives for an event (the same bytes on every retry)."""
    document = {
        "id": event_id,
        "type": kind,
        "created_at": as_utc(created_at).isoformat(),
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def next_delay(attempts: int, rng: random.Random | None = None) -> float | None:
    """Seconds until the retry after ``attempts`` failed ones (jittered), or None: give up."""
    if attempts > len(DELAYS):
        return None
    base = DELAYS[max(attempts, 1) - 1]
    return base * (rng or random).uniform(0.8, 1.2)


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery with what its POST needs."""

    delivery_id: int
    url: str
    kind: str
    body: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST came to: the HTTP status (None: no answer), an error, its duration."""

    status: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        """A 2xx answer: delivered."""
        return self.status is not None and 200 <= self.status < 300


def _free_the_dead(session: Session, now: dt.datetime) -> None:
    """Claims of deliverers of this machine that are gone come back at once."""
    held = session.scalars(
        select(WebhookDelivery.lease)
        .where(WebhookDelivery.state == DeliveryState.PENDING)
        .where(WebhookDelivery.lease.is_not(None))
        .distinct()
    ).all()
    gone = [lease for lease in held if lease and holder_is_gone(lease)]
    if gone:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.lease.in_(gone), WebhookDelivery.state == DeliveryState.PENDING)
            .values(lease=None, next_attempt_at=now)
        )


def claim_due(
    session: Session, url: str, lease: Lease, now: dt.datetime, limit: int = PER_ROUND
) -> list[Due]:
    """Claim up to ``limit`` due deliveries of the webhook at ``url``, oldest first.

    PostgreSQL skips rows another deliverer is claiming (`FOR UPDATE SKIP LOCKED`); SQLite has
    one writer. The caller commits before sending.
    """
    _free_the_dead(session, now)
    d = WebhookDelivery
    due = (
        select(d.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == d.endpoint_id)
        .where(WebhookEndpoint.url == url, d.state == DeliveryState.PENDING)
        .where(d.next_attempt_at <= now)
        .order_by(d.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=d)
    ids = list(session.scalars(due))
    if not ids:
        return []
    session.execute(
        update(d)
        .where(d.id.in_(ids))
        .values(lease=lease.id, next_attempt_at=lease.until(now), updated_at=now)
    )
    rows = session.execute(
        select(d.id, WebhookEvent.id, WebhookEvent.kind, WebhookEvent.created_at)
        .add_columns(WebhookEvent.payload, d.attempts)
        .join(WebhookEvent, WebhookEvent.id == d.event_id)
        .where(d.id.in_(ids))
        .order_by(d.id)
    ).all()
    return [
        Due(row[0], url, row[2], event_body(row[1], row[2], row[3], row[4]), row[5]) for row in rows
    ]


def record_attempt(
    session: Session,
    due: Due,
    lease: Lease,
    attempt: Attempt,
    now: dt.datetime,
    rng: random.Random | None = None,
) -> DeliveryState:
    """Write one POST's outcome: delivered, retried later (backoff) or given up as failed.

    The attempt row is always written (it happened); the delivery changes only while it is
    still held under ``lease``, so a deliverer that stalled past its lease cannot overwrite
    what the one that took over recorded.
    """
    session.add(
        WebhookAttempt(
            delivery_id=due.delivery_id,
            at=now,
            status=attempt.status,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
        )
    )
    attempts = due.attempts + 1
    delay = None if attempt.ok else next_delay(attempts, rng)
    if attempt.ok:
        state = DeliveryState.DELIVERED
    else:
        state = DeliveryState.PENDING if delay is not None else DeliveryState.FAILED
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == due.delivery_id, WebhookDelivery.lease == lease.id)
        .values(
            state=state,
            attempts=attempts,
            last_status=attempt.status,
            last_error=attempt.error,
            next_attempt_at=now + dt.timedelta(seconds=delay or 0),
            lease=None,
            delivered_at=now if attempt.ok else None,
            updated_at=now,
        )
    )
    return state


def release(session: Session, delivery_ids: Sequence[int], lease: Lease, now: dt.datetime) -> None:
    """Give claims back unsent (due again at once): their webhook failed earlier this round."""
    if delivery_ids:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(list(delivery_ids)), WebhookDelivery.lease == lease.id)
            .values(lease=None, next_attempt_at=now)
        )


async def post(client: httpx.AsyncClient, target: Target, due: Due) -> Attempt:
    """POST one delivery, signed now; never raises for what the receiver or network does."""
    import httpx

    headers = {
        "Content-Type": "application/json",
        "User-Agent": "briefmail-webhooks",
        "Briefmail-Event": due.kind,
        "Briefmail-Delivery": str(due.delivery_id),
        "Briefmail-Signature": sign(target.secret, due.body, int(time.time())),
    }
    started = time.perf_counter()
    status: int | None
    error: str | None
    try:
        response = await client.post(
            target.url, content=due.body, headers=headers, timeout=target.timeout
        )
    except httpx.TimeoutException:
        status, error = None, f"no answer within {target.timeout:g} s"
    except httpx.HTTPError as exc:
        status, error = None, (str(exc) or type(exc).__name__)[:500]
    else:
        status = response.status_code
        error = None if response.is_success else f"HTTP {status}: {response.text[:200]}".strip()
    return Attempt(status, error, int((time.perf_counter() - started) * 1000))


@dataclass(slots=True)
class DeliverReport:
    """What one round did: deliveries delivered, to be retried, given up, given back."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0

    def add(self, state: DeliveryState) -> None:
        """Count one recorded attempt."""
        if state == DeliveryState.DELIVERED:
            self.delivered += 1
        elif state == DeliveryState.FAILED:
            self.failed += 1
        else:
            self.retrying += 1

    def as_json(self) -> dict[str, int]:
        """The shape `webhooks deliver --json` prints."""
        return {
            "delivered": self.delivered,
            "retrying": self.retrying,
            "failed": self.failed,
            "released": self.released,
        }


async def deliver_due(
    sessions: sessionmaker[Session],
    targets: Sequence[Target],
    *,
    client: httpx.AsyncClient | None = None,
    rng: random.Random | None = None,
    per_round: int = PER_ROUND,
) -> DeliverReport:
    """One round: claim each webhook's due deliveries, send them, record every attempt."""
    import httpx

    report = DeliverReport()
    claimed: list[tuple[Target, Lease, list[Due]]] = []
    for target in targets:
        # The lease covers sending the whole batch one by one at the webhook's timeout.
        lease = Lease.new(target.timeout * per_round + 60)
        with sessions() as session:
            dues = claim_due(session, target.url, lease, utcnow(), per_round)
            session.commit()
        if dues:
            claimed.append((target, lease, dues))
    if not claimed:
        return report
    owned = client is None
    client = client or httpx.AsyncClient(follow_redirects=False)
    try:
        await asyncio.gather(
            *(
                _deliver_to(sessions, client, target, lease, dues, report, rng)
                for target, lease, dues in claimed
            )
        )
    finally:
        if owned:
            await client.aclose()
    return report


async def _deliver_to(
    sessions: sessionmaker[Session],
    client: httpx.AsyncClient,
    target: Target,
    lease: Lease,
    dues: list[Due],
    report: DeliverReport,
    rng: random.Random | None,
) -> None:
    """Send one webhook's claims in order; after a failure, give the rest back for later."""
    for index, due in enumerate(dues):
        attempt = await post(client, target, due)
        with sessions() as session:
            report.add(record_attempt(session, due, lease, attempt, utcnow(), rng))
            if not attempt.ok:
                rest = [later.delivery_id for later in dues[index + 1 :]]
                release(session, rest, lease, utcnow())
                report.released += len(rest)
            session.commit()
        if not attempt.ok:
            return


def prune(session: Session, now: dt.datetime, keep: dt.timedelta = RETENTION) -> int:
    """Delete finished deliveries (and events left with none) older than ``keep``; how many."""
    cutoff = now - keep
    finished = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.state != DeliveryState.PENDING)
        .where(WebhookDelivery.updated_at < cutoff)
    )
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(finished)))
    result = session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.state != DeliveryState.PENDING)
        .where(WebhookDelivery.updated_at < cutoff)
    )
    owed = select(WebhookDelivery.event_id).where(WebhookDelivery.event_id == WebhookEvent.id)
    session.execute(delete(WebhookEvent).where(WebhookEvent.created_at < cutoff, ~owed.exists()))
    return int(getattr(result, "rowcount", 0) or 0)


def backlog(session: Session) -> dict[str, dict[str, int]]:
    """How many deliveries each webhook (by url) has in each state."""
    rows = session.execute(
        select(WebhookEndpoint.url, WebhookDelivery.state, func.count())
        .join(WebhookDelivery, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
        .group_by(WebhookEndpoint.url, WebhookDelivery.state)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for url, state, count in rows:
        counts.setdefault(url, {})[str(state)] = int(count)
    return counts
