"""Claims: how a sender takes deliveries of a run, so that no two senders send one.

One mechanism on every database: leases. Each turn a sender claims the next due deliveries in
one statement (scheduler/ledger.py: `FOR UPDATE SKIP LOCKED` on PostgreSQL, where any number of
senders on any number of machines share a run; SQLite has one writer, so its claims never
meet), marking them `sending` with its lease id and an expiry, committed before the messages go
on the wire. A live sender renews its leases as it goes; a dead one's lapse, and the next sender
takes those deliveries over (counted as uncertain: the server may have taken them). An outcome
is written only while the delivery still carries the sender's lease, so a sender that stalled
past its lease cannot overwrite what the sender that took over recorded.

A lease names the process that holds it (its pid, and a tag of its machine and pid namespace).
A sender that finds deliveries `sending` under a lease of a process of its own machine that no
longer exists (killed with SIGKILL, say) ends that lease at once instead of waiting for it to
lapse: the kernel's word that the holder is gone is as good as the clock's.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from scheduler import ledger
from scheduler.ledger import Claim, DeliveryStatus, Outcome, Run

__all__ = [
    "Lease",
    "LeaseClaims",
    "claim_leased",
    "foreign_lease_ends",
    "holder_is_gone",
    "record_leased",
    "release_leased",
    "renew_lease",
]


@functools.cache
def _machine() -> str:
    """A short tag of this machine and pid namespace: pids mean something only within it."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    seed = f"{socket.gethostname()}/{namespace}".encode()
    return hashlib.sha256(seed).hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class Lease:
    """One sender's claim: an id naming its process, and how long a claim holds unrenewed."""

    id: str
    seconds: float

    @classmethod
    def new(cls, seconds: float) -> Lease:
        """A lease of this process with a fresh random part (32 characters, the column's size)."""
        return cls(f"{os.getpid():x}.{_machine()}.{secrets.token_hex(8)}"[:32], seconds)

    def until(self, now: dt.datetime) -> dt.datetime:
        """When a claim made or renewed at ``now`` lapses."""
        return now + dt.timedelta(seconds=self.seconds)


def holder_is_gone(lease_id: str) -> bool:
    """Whether a lease's process ran on this machine and no longer runs (or is a zombie).

    False whenever it cannot be known (another machine, an older lease id): such a lease
    lapses by time alone. A pid reused by another process reads as alive: the safe mistake.
    """
    pid, _, rest = lease_id.partition(".")
    machine, _, _ = rest.partition(".")
    if machine != _machine():
        return False
    try:
        number = int(pid, 16)
        os.kill(number, 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError, OverflowError):
        return False
    try:
        # A killed child not yet reaped by its parent still has a pid: the kernel says Z.
        with open(f"/proc/{number}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def claim_leased(
    session: Session,
    run: Run,
    lease: Lease,
    after_id: int,
    limit: int,
    now: dt.datetime,
    statuses: Sequence[DeliveryStatus] = ledger.WAITING,
) -> tuple[list[Claim], int]:
    """Claim up to ``limit`` due deliveries after ``after_id`` under ``lease``.

    Claimable: those in ``statuses`` (pending and deferred) and those `sending` under a lease
    that lapsed. Returns the claims in id order and how many were taken over from a lapsed
    lease. Rows another sender is claiming in the same instant are skipped, not waited for.
    """
    return ledger.claim(session, run, lease.id, lease.until(now), after_id, limit, now, statuses)


def record_leased(session: Session, lease: Lease, outcomes: Sequence[Outcome]) -> int:
    """Write outcomes of deliveries still held under ``lease``; how many were written."""
    return ledger.record(session, lease.id, outcomes)


def release_leased(session: Session, lease: Lease, delivery_ids: Sequence[int]) -> None:
    """Put deliveries held under ``lease`` back to pending: they never reached the server."""
    ledger.release(session, lease.id, delivery_ids)


def renew_lease(session: Session, run_id: int, lease: Lease, now: dt.datetime) -> None:
    """Extend every claim ``lease`` holds in a run (a live sender keeps what it is sending)."""
    ledger.renew(session, run_id, lease.id, lease.until(now))


def foreign_lease_ends(
    session: Session, run_id: int, lease: Lease, now: dt.datetime
) -> dt.datetime | None:
    """When the first claim of another sender in the run lapses (None: there is none)."""
    return ledger.foreign_lease_ends(session, run_id, lease.id, now)


class LeaseClaims:
    """Claims under one lease, for a sender that shares a run with any number of others."""

    def __init__(self, run: Run, lease: Lease) -> None:
        self.run = run
        self.lease = lease
        #: Deliveries taken over from a sender that died with them in flight (may be duplicates).
        self.uncertain = 0
        #: Outcomes not written because another sender had taken the delivery over meanwhile.
        self.lost = 0
        self._after = 0
        self._renewed: dt.datetime | None = None
        # Deferred deliveries are tried once per pass; their retries are the caller's to pace.
        self._statuses: tuple[DeliveryStatus, ...] = ledger.WAITING

    def take(self, session: Session, count: int, now: dt.datetime) -> list[Claim]:
        """The next claims after the last one taken (each pass walks the run once, in order)."""
        if self._renewed is None:
            self.free_the_dead(session)  # a sender killed before this one started
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
        self.free_the_dead(session)
        ends = foreign_lease_ends(session, self.run.id, self.lease, now)
        return None if ends is None else max(0.0, (ends - now).total_seconds())

    def free_the_dead(self, session: Session) -> None:
        """End the leases of senders of this machine that are gone: their claims are free now."""
        holders = ledger.lease_holders(session, self.run.id, self.lease.id)
        ledger.lapse(session, self.run.id, [h for h in holders if holder_is_gone(h)])
