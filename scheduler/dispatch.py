"""The send path: plan a run → render each variant once → claim batches → send → record.

Every outcome is committed as soon as the transport answers, so an interrupted send (a crash, an
unreachable relay) resumes by sending exactly the deliveries that have no recorded outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailer.dkim import DkimSigner
from mailer.errors import (
    ConnectionFailure,
    PermanentFailure,
    TemporaryFailure,
    UncertainDelivery,
)
from mailer.message import (
    AddressNotUsable,
    MessageTemplate,
    OutgoingMessage,
)
from mailer.render import Renderer
from mailer.replies import Reason, Verdict, classify_reply
from mailer.transport import Transport
from scheduler import ledger
from scheduler.breaker import Breaker, BreakerSettings, pause_line
from scheduler.claims import Claims, claims_for
from scheduler.editions import StoredIssue, load_issue
from scheduler.ledger import Claim, DeliveryStatus, Outcome, Run
from scheduler.messages import BOUNCE_PREFIX, MessageFactory, newsletter_identity
from scheduler.planning import (
    ALL_TOPICS,
    Planner,
    run_kind,
    variant_key,
    variant_topics,
)
from scheduler.shares import Share, release_run_locks
from subscribers.db import utcnow
from subscribers.service import suppress
from subscribers.tokens import TokenSigner

__all__ = [
    "ALL_TOPICS",
    "BOUNCE_PREFIX",
    "Dispatcher",
    "MessageFactory",
    "SendInterrupted",
    "SendReport",
    "newsletter_identity",
    "outcome_of",
    "run_kind",
    "stop_on_signals",
    "variant_key",
    "variant_topics",
]

log = logging.getLogger("briefmail.send")


def outcome_of(delivery_id: int, exc: PermanentFailure | TemporaryFailure, sender: str) -> Outcome:
    """What a refusal means for its delivery (`mailer.replies` decides whose fault it is).

    A missing mailbox fails the delivery (and suppresses the address); a refusal that can never
    succeed fails it without suppression; anything else — our side's refusals included — keeps
    it owed (deferred), so resuming the run after the cause is fixed sends it.
    """
    if exc.stage is None:
        # No server judged it: the message could not even be put on the wire (an address that
        # cannot be encoded). It fails alone; it says nothing about the reader's mailbox.
        verdict = Verdict(Reason.UNKNOWN, isinstance(exc, PermanentFailure))
    else:
        verdict = classify_reply(exc.stage, exc.code, exc.text, sender=sender)
    fails = verdict.hard_bounce or verdict.can_never_succeed
    status = DeliveryStatus.FAILED if fails else DeliveryStatus.DEFERRED
    return Outcome(delivery_id, status, exc.code, exc.text, reason=verdict.reason.value)


class SendInterrupted(Exception):
    """Sending stopped before the run was complete; the run resumes where it stopped."""

    def __init__(self, run_id: int, reason: str) -> None:
        self.run_id = run_id
        super().__init__(f"{reason}; run {run_id} is kept and resumes with the same command")


@dataclass
class SendReport:
    """What a send did, and where the run stands."""

    run_id: int
    planned: int = 0
    delivered: int = 0
    deferred: int = 0
    failed: int = 0
    pending: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    variants_rendered: int = 0
    sent_now: int = 0
    #: Deliveries found in flight from an earlier sender that died (possible duplicates).
    uncertain: int = 0
    #: Deliveries whose outcome is unknown (no final reply after their data), left for the
    #: operator: `briefmail runs resume` sends them again.
    outcome_unknown: int = 0
    #: Of those, how many this send put back to be sent again (an operator's resume).
    resent_unknown: int = 0
    #: Outcomes this sender did not record: its claim had lapsed and another sender took the
    #: delivery over (PostgreSQL; the other sender's record stands).
    lost: int = 0
    #: Planned deliveries not sent because the person left after planning.
    cancelled: int = 0
    #: Open deliveries waiting for their reader's local send hour (part of ``pending``).
    waiting: int = 0
    #: Why sending stopped early: an operator paused or cancelled the run, a signal stopped
    #: this sender, or our side's refusals paused the run by itself.
    stopped: str | None = None
    #: True when the stop was not the operator's doing (a signal, the run pausing itself):
    #: the command that sent ends with exit 1.
    interrupted: bool = False
    #: Deliveries still marked in flight after the send (0 after a clean stop).
    in_flight: int = 0
    seconds: float = 0.0
    #: Of ``seconds``, the time spent planning the run (0 when it was planned before).
    planning_seconds: float = 0.0

    def as_json(self) -> dict[str, object]:
        """The `briefmail send --json` shape."""
        return {
            "run_id": self.run_id,
            "planned": self.planned,
            "delivered": self.delivered,
            "deferred": self.deferred,
            "failed": self.failed,
            "pending": self.pending,
            "skipped": sum(self.skipped.values()),
            "variants_rendered": self.variants_rendered,
            "uncertain": self.uncertain,
            "outcome_unknown": self.outcome_unknown,
            "resent_unknown": self.resent_unknown,
            "lost": self.lost,
            "cancelled": self.cancelled,
            "waiting": self.waiting,
            "stopped": self.stopped,
            "in_flight": self.in_flight,
            "seconds": round(self.seconds, 3),
            "planning_seconds": round(self.planning_seconds, 3),
        }


class Dispatcher:
    """Plans and sends runs of one list's issues through a transport."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        renderer: Renderer,
        signer: TokenSigner | None,
        *,
        base_url: str,
        postal_address: str | None = None,
        language: str = "en",
        batch_size: int = 500,
        dkim: DkimSigner | None = None,
        lease_seconds: float = 60.0,
        breaker: BreakerSettings | None = None,
    ) -> None:
        self.sessions = sessions
        self.renderer = renderer
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.postal_address = postal_address
        self.language = language
        self.batch_size = batch_size
        self.dkim = dkim
        #: Seconds before the first retry of deferred deliveries (doubled each round).
        self.first_retry = 1.0
        #: How long a claim holds on a server database before another sender may take it over.
        self.lease_seconds = lease_seconds
        #: When our side's refusals pause a run by themselves.
        self.breaker = breaker or BreakerSettings()
        #: Set by `request_stop` (Ctrl-C, SIGTERM): claim nothing more, finish what is in flight.
        self.stop_reason: str | None = None
        self._stop: asyncio.Event | None = None

    def plan(self, issue_id: int) -> int:
        """Create (or extend) the run of an issue with one delivery per eligible subscriber."""
        with self.sessions() as session:
            row = load_issue(session, issue_id)
            planner = Planner(row)
            run, _ = ledger.open_run(session, row.list_id, planner.kind, planner.period, row.id)
            session.commit()  # the run exists before its ranges, each committed on its own
            added = planner.plan(self.sessions, run.id)
            ledger.finish_planning(session, run, dict(planner.skipped), added)
            session.commit()
            return run.id

    async def deliver(
        self, run_id: int, transport: Transport, share: Share = ledger.WHOLE
    ) -> SendReport:
        """Send every open delivery of a run (or of one share of it), recording each outcome.

        The loop keeps the transport's connections busy. Each turn is one small transaction:
        the outcomes that arrived since the last turn are recorded, and the next messages are
        marked `sending` and committed *before* they leave, so after a crash the only
        deliveries whose fate is unknown are the ones in flight — at most one per connection.
        """
        started = time.perf_counter()
        report = SendReport(run_id=run_id)
        with self._sending_session() as session:
            run = ledger.get_run(session, run_id)
            claims = claims_for(
                _engine(session),
                session,
                run,
                share=share,
                batch=self.batch_size,
                lease_seconds=self.lease_seconds,
            )
            with claims.hold():
                interrupted = await self._deliver(session, run, claims, transport, report)
            report.uncertain = claims.uncertain
            report.lost = claims.lost
            if interrupted is not None and report.stopped is None:
                raise SendInterrupted(run.id, interrupted)
            status = ledger.run_status(session, run.id)
            if status in ledger.STOPPED:
                report.stopped = report.stopped or f"the run was {status}"
            if ledger.finish_run(session, run) and _engine(session).dialect.name == "sqlite":
                release_run_locks(_engine(session), run.id)
            session.commit()
            self._fill_counts(session, run, report)
        report.seconds = time.perf_counter() - started
        return report

    @contextmanager
    def _sending_session(self) -> Iterator[Session]:
        """The send loop's session: on a server database, in autocommit mode.

        There every claim and every record is one statement, atomic by itself, so a turn
        needs no COMMIT round trip: two round trips a turn instead of three. SQLite works in
        process (no round trips) and keeps its transactions.
        """
        engine: Engine = self.sessions.kw["bind"]
        if engine.dialect.name == "sqlite":
            with self.sessions() as session:
                yield session
            return
        with (
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session

    async def _deliver(
        self, session: Session, run: Run, claims: Claims, transport: Transport, report: SendReport
    ) -> str | None:
        """The send loop of `deliver`; why it stopped early (None: nothing left to send)."""
        issue_row = load_issue(session, run.issue_id)
        factory = self.factory(issue_row, run.kind, run.id)
        ledger.cancel_departed(session, run)
        session.commit()
        # A pool sends several messages at once; a plain transport one at a time.
        width = max(1, int(getattr(transport, "concurrency", 1)))
        variants: dict[str, MessageTemplate] = {}
        sending: dict[asyncio.Task[Outcome], Claim] = {}
        finished: list[Outcome] = []
        released: list[int] = []
        interrupted: str | None = None
        breaker = Breaker(run.id, self.breaker)
        tripped: str | None = None
        checked = 0.0  # the first turn looks too
        while True:
            if interrupted is None and self.stop_reason is not None:
                interrupted = report.stopped = self.stop_reason
                report.interrupted = True
            if interrupted is None and time.monotonic() - checked > 1.0:
                # An operator may pause or cancel the run meanwhile: look once a second.
                checked = time.monotonic()
                status = ledger.run_status(session, run.id)
                if status in ledger.STOPPED:
                    interrupted = report.stopped = f"the run was {status}"
            self._record(session, claims, finished, released)
            if tripped is not None:
                # Our side's refusals: stop claiming; the run waits for the operator's fix.
                if ledger.pause_run(session, run.id, tripped):
                    # Said to the operator by whoever sent: the command, or the send job.
                    log.info(tripped, extra={"run_id": run.id})
                interrupted = report.stopped = report.stopped or tripped
                report.interrupted = True
                tripped = None
            taken = [] if interrupted else claims.take(session, width - len(sending), utcnow())
            session.commit()  # marked `sending`, durable before the bytes leave
            finished, released = [], []
            for claim in taken:
                if claim.variant not in variants:
                    variants[claim.variant] = factory.template(claim.variant)
                    report.variants_rendered += 1
                try:
                    message = factory.message(
                        variants[claim.variant],
                        claim.email,
                        claim.subscription_id,
                        claim.delivery_id,
                        claim.token_key,
                    )
                except AddressNotUsable as exc:
                    # A poisoned delivery fails alone, recorded next turn; the run goes on.
                    finished.append(_not_sent(claim.delivery_id, str(exc)))
                    continue
                task = asyncio.create_task(self._attempt(transport, claim, message))
                sending[task] = claim
            report.sent_now += len(taken)
            if not sending and finished:
                continue  # only poisoned ones this turn: record them before anything else
            if not sending:
                wait = None if interrupted else claims.wait_for_others(session, utcnow())
                session.commit()
                if wait is None and interrupted is None and (line := breaker.at_end()):
                    tripped = line  # nothing but our side's refusals: pause, next turn
                    continue
                if wait is None:
                    return interrupted
                # Another sender holds the rest: it finishes them, or its claims lapse and
                # this one takes them over.
                await asyncio.sleep(min(max(wait, 0.05), 1.0))
                continue
            done, _ = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                claim = sending.pop(task)
                try:
                    outcome = task.result()
                except ConnectionFailure as exc:
                    # The relay cannot be reached: nothing was sent. The delivery goes back
                    # to pending and the run stops once the messages on the wire are answered
                    # and recorded, to resume later.
                    released.append(claim.delivery_id)
                    if exc.code is not None and exc.code >= 500 and tripped is None:
                        # The relay turns us away for good (a 554 greeting, a refused login):
                        # no retry helps until somebody fixes the settings.
                        tripped = pause_line(run.id, None, f"{exc.code} {exc.text}")
                    interrupted = interrupted or str(exc)
                    continue
                finished.append(outcome)
                line = breaker.observe(outcome.reason, outcome.code, outcome.text)
                tripped = tripped or line

    async def send(
        self, issue_id: int, transport: Transport, *, retry_for: float = 0.0
    ) -> SendReport:
        """Plan the issue's run and send it; safe to repeat (nothing is sent twice)."""
        started = time.perf_counter()
        run_id = self.plan(issue_id)
        planning = time.perf_counter() - started
        report = await self.resume(run_id, transport, retry_for=retry_for)
        report.planning_seconds = planning
        report.seconds = time.perf_counter() - started
        return report

    async def resume(
        self,
        run_id: int,
        transport: Transport,
        *,
        retry_for: float = 0.0,
        share: Share = ledger.WHOLE,
        resend_unknown: bool = False,
    ) -> SendReport:
        """Send what a run (or a share of it) still owes, retrying deferred deliveries.

        Deferred deliveries (4xx, lost connections) are retried with exponential backoff and
        jitter for up to ``retry_for`` seconds; what is still deferred then waits for the next
        send of the issue. ``resend_unknown`` (an operator's `runs resume`) first puts the
        deliveries whose outcome is unknown back to be sent again; the report counts them.
        """
        started = time.perf_counter()
        resent = 0
        if resend_unknown:
            with self.sessions() as session:
                resent = ledger.requeue_uncertain(session, run_id)
                session.commit()
        report = await self.deliver(run_id, transport, share)
        deadline = time.monotonic() + retry_for
        delay = self.first_retry
        while report.deferred and not report.stopped and time.monotonic() + delay <= deadline:
            if await self._stopped_within(delay * random.uniform(0.5, 1.0)):
                report.stopped, report.interrupted = self.stop_reason, True
                break
            again = await self.deliver(run_id, transport, share)
            again.variants_rendered += report.variants_rendered
            again.sent_now += report.sent_now
            again.uncertain += report.uncertain
            again.lost += report.lost
            report = again
            delay = min(delay * 2, 300.0)
        report.resent_unknown = resent
        report.seconds = time.perf_counter() - started
        log.info(
            "run %s: sent %d (delivered %d, deferred %d, failed %d, waiting %d)",
            run_id,
            report.sent_now,
            report.delivered,
            report.deferred,
            report.failed,
            report.waiting,
            extra={"run_id": run_id},
        )
        return report

    def request_stop(self, reason: str = "interrupted") -> None:
        """Stop sending soon: claim nothing more, record what is in flight, then return.

        Safe to call from a signal handler on the event loop; the send returns a report whose
        ``stopped`` says why, and the run resumes later where it stopped.
        """
        self.stop_reason = self.stop_reason or reason
        if self._stop is not None:
            self._stop.set()

    async def _stopped_within(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if a stop was requested meanwhile."""
        if self.stop_reason is None:
            self._stop = self._stop or asyncio.Event()
            try:
                await asyncio.wait_for(self._stop.wait(), seconds)
            except TimeoutError:
                return False
        return True

    def _record(
        self,
        session: Session,
        claims: Claims,
        outcomes: list[Outcome],
        released: list[int],
    ) -> None:
        """Write a turn's outcomes; a missing mailbox also suppresses the address everywhere."""
        claims.record(session, outcomes, released)
        for outcome in outcomes:
            if outcome.status != DeliveryStatus.DELIVERED:
                # One reader's outcome is the weather of a large list, kept in the ledger;
                # what needs the operator (a paused run) is said once, by the caller.
                log.info(
                    "delivery %s %s: %s %s",
                    outcome.delivery_id,
                    outcome.status,
                    outcome.code or "",
                    outcome.text or "",
                    extra={"delivery_id": outcome.delivery_id},
                )
            if outcome.reason == Reason.GONE and outcome.status == DeliveryStatus.FAILED:
                # The only refusal that says anything about the reader: the mailbox is gone.
                email = ledger.delivery_address(session, outcome.delivery_id)
                if email is not None:
                    suppress(
                        session,
                        email,
                        "hard bounce",
                        report_id=f"smtp reply to delivery {outcome.delivery_id}",
                        diagnostic=f"{outcome.code} {outcome.text or ''}".strip()[:1000],
                    )

    def factory(self, issue_row: StoredIssue, kind: str, run_id: int | None) -> MessageFactory:
        """A MessageFactory for one issue of this dispatcher's list."""
        return MessageFactory(
            renderer=self.renderer,
            signer=self.signer,
            base_url=self.base_url,
            newsletter_row=issue_row.newsletter,
            newsletter=newsletter_identity(
                issue_row.newsletter, self.postal_address, self.language
            ),
            issue=issue_row.to_issue(),
            kind=kind,
            run_id=run_id,
            dkim=self.dkim,
            issue_id=issue_row.id,
        )

    @staticmethod
    async def _attempt(transport: Transport, claim: Claim, message: OutgoingMessage) -> Outcome:
        """Send one message and say what became of it (ConnectionFailure propagates)."""
        try:
            accepted = await transport.send(message)
        except ConnectionFailure:
            raise
        except UncertainDelivery as exc:
            # The server may have it: recorded as such, never retried as if it had not.
            return Outcome(claim.delivery_id, DeliveryStatus.UNCERTAIN, None, exc.text)
        except (PermanentFailure, TemporaryFailure) as exc:
            return outcome_of(claim.delivery_id, exc, message.mail_from)
        except Exception as exc:
            # Whatever else one message trips over (a transport's bug, a reply nothing could
            # parse) is that message's problem: it fails alone, loudly, and the run goes on.
            log.exception("delivery %s: not sent", claim.delivery_id)
            return _not_sent(claim.delivery_id, f"{type(exc).__name__}: {exc}")
        return Outcome(
            claim.delivery_id,
            DeliveryStatus.DELIVERED,
            accepted.code,
            accepted.text,
            message.message_id,
        )

    def report(self, run_id: int) -> SendReport:
        """Where a run stands, from the ledger (figures of this process's sending left at 0)."""
        report = SendReport(run_id=run_id)
        with self.sessions() as session:
            self._fill_counts(session, ledger.get_run(session, run_id), report)
        return report

    @staticmethod
    def _fill_counts(session: Session, run: Run, report: SendReport) -> None:
        counts = ledger.count_by_status(session, run.id)
        report.planned = sum(counts.values())
        report.delivered = counts[DeliveryStatus.DELIVERED]
        report.deferred = counts[DeliveryStatus.DEFERRED]
        report.failed = counts[DeliveryStatus.FAILED]
        report.cancelled = counts[DeliveryStatus.CANCELLED]
        report.pending = counts[DeliveryStatus.PENDING] + counts[DeliveryStatus.SENDING]
        report.in_flight = counts[DeliveryStatus.SENDING]
        report.outcome_unknown = counts[DeliveryStatus.UNCERTAIN]
        report.waiting = ledger.count_waiting(session, run.id)
        report.skipped = dict(run.skipped or {})


def _not_sent(delivery_id: int, why: str) -> Outcome:
    """A delivery that failed before any server judged it: never about the reader's mailbox."""
    return Outcome(
        delivery_id, DeliveryStatus.FAILED, None, f"not sent: {why}", reason=Reason.UNKNOWN.value
    )


@contextmanager
def stop_on_signals(dispatcher: Dispatcher) -> Iterator[None]:
    """While sending: SIGINT or SIGTERM stops the send cleanly; a second one stops it at once.

    The first signal asks the dispatcher to stop (nothing more is claimed, the messages in
    flight are answered and recorded, within the SMTP timeout); its handler is then removed,
    so pressing Ctrl-C again interrupts as Python always does.
    """
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def stop(sig: signal.Signals) -> None:
        for each in signals:
            loop.remove_signal_handler(each)
        dispatcher.request_stop(f"stopped by {sig.name}")

    for sig in signals:
        loop.add_signal_handler(sig, stop, sig)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _engine(session: Session) -> Engine:
    """The engine a session works on (share locks live beside its database)."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine
