"""The send path, top to bottom: plan → render each variant once → claim → send → record.

`Dispatcher.send` is the one operation every face reaches (through briefmail's `Sending`): it
plans an issue's run (or takes a planned run), then sends it here or in N sender processes
(scheduler/pool.py), then reads where the run stands from the ledger. Sending here is passes
over the run: each pass (`deliver`) claims due deliveries under a lease (scheduler/claims.py),
marks them `sending` and commits *before* the bytes leave, renders each variant once, sends
through the transport's connections, and records each outcome as soon as the server answers
(scheduler/ledger.py). Deferred deliveries get further passes with backoff for ``retry_for``
seconds. An interrupted send (a crash, an unreachable relay) resumes by sending exactly the
deliveries that have no recorded outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailer.brand import Brand
from mailer.dkim import DkimSigner
from mailer.errors import ConnectionFailure, PermanentFailure, TemporaryFailure, UncertainDelivery
from mailer.message import AddressNotUsable, MessageTemplate, UnsignedMessage
from mailer.render import Renderer
from mailer.replies import Reason
from mailer.signing import WORTH_A_PROCESS, Signing, SigningMode, signing_for
from mailer.transport import Transport
from scheduler import ledger, outcomes, pool, runs
from scheduler.breaker import Breaker, BreakerSettings, pause_line
from scheduler.claims import Lease, LeaseClaims
from scheduler.editions import (
    IssueStatus,
    StoredIssue,
    change_status,
    load_issue,
    require_sendable,
)
from scheduler.ledger import Claim, DeliveryStatus, Outcome, Run
from scheduler.messages import BOUNCE_PREFIX, MessageFactory, newsletter_identity
from scheduler.outcomes import OWN_FIGURES, SendInterrupted, SendReport, not_sent, outcome_of
from scheduler.planning import ALL_TOPICS, Planner, run_kind, variant_key, variant_topics
from scheduler.pool import Opener, stop_on_signals
from subscribers.db import utcnow
from subscribers.outbox import record_event
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
#: How long a turn waits for more answers after the first. Each turn pays a claim and a commit
#: whatever its size: taking the first answer alone, turns held ~2 messages each (8
#: connections), and waiting for half the connections' halves them, for ~10% of the CPU per
#: message. A connection waits at most this long; in flight stays ≤ one per connection.
GATHER_SECONDS = 0.003


async def _answers(
    sending: Iterable[asyncio.Task[Outcome]], wanted: int
) -> set[asyncio.Task[Outcome]]:
    """The tasks done once ``wanted`` of them are, or GATHER_SECONDS after the first one."""
    done, pending = await asyncio.wait(sending, return_when=FIRST_COMPLETED)
    deadline = time.monotonic() + GATHER_SECONDS
    while pending and len(done) < wanted and (left := deadline - time.monotonic()) > 0:
        more, pending = await asyncio.wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        done |= more
    return done


@dataclass
class _Pass:
    """One pass of the send loop over a run: what it holds between turns."""

    run: Run
    claims: LeaseClaims
    factory: MessageFactory
    breaker: Breaker
    report: SendReport
    #: Messages at once: a pool's connections (a plain transport sends one at a time).
    width: int
    #: Makes the DKIM signatures, here or in a child process (None: DKIM is not set up).
    signing: Signing | None = None
    variants: dict[str, MessageTemplate] = field(default_factory=dict)
    sending: dict[asyncio.Task[Outcome], Claim] = field(default_factory=dict)
    #: Outcomes and releases since the last turn, recorded at the start of the next.
    finished: list[Outcome] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    #: Why the pass stops claiming (None: it goes on).
    interrupted: str | None = None
    #: Our side's refusals tripped the breaker: the line that pauses the run, next turn.
    tripped: str | None = None
    #: When the run's status was last looked at (monotonic; 0: the first turn looks).
    checked: float = 0.0


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
        brands: Callable[[str], Brand] | None = None,
        batch_size: int = 500,
        dkim: DkimSigner | None = None,
        signing: SigningMode = "inline",
        lease_seconds: float = 60.0,
        breaker: BreakerSettings | None = None,
        opener: Opener | None = None,
        actor: str = "scheduler",
    ) -> None:
        self.sessions = sessions
        #: Who plans, in the issue's history ("cli:alice", "scheduler").
        self.actor = actor
        self.renderer = renderer
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.postal_address = postal_address
        self.language = language
        #: Each list's look by slug (mailer.brand); None: the default look for every list.
        self.brands = brands
        self.batch_size = batch_size
        self.dkim = dkim
        #: Where DKIM signatures are made (mailer.signing): "auto" on a spare core if any.
        self.signing: SigningMode = signing
        #: Sender processes this send runs on this machine (set in each by scheduler.pool).
        self.senders = 1
        #: Seconds before the first retry of deferred deliveries (doubled each round).
        self.first_retry = 1.0
        #: How long a claim holds before another sender may take it over.
        self.lease_seconds = lease_seconds
        #: When our side's refusals pause a run by themselves.
        self.breaker = breaker or BreakerSettings()
        #: Opens the application in a sender process (``workers`` > 1); None: no pool.
        self.opener = opener
        #: Set by `request_stop` (Ctrl-C, SIGTERM): claim nothing more, finish what is in flight.
        self.stop_reason: str | None = None
        self._stop: asyncio.Event | None = None

    async def send(
        self,
        issue_id: int | None,
        transport: Transport | None,
        *,
        run_id: int | None = None,
        workers: int = 1,
        retry_for: float = 0.0,
        resend_unknown: bool = False,
    ) -> SendReport:
        """Plan an issue's run (or take run ``run_id``) and send it; safe to repeat.

        With ``workers`` 1 it is sent here through ``transport``; with more, by that many sender
        processes (each opens its own transport). ``resend_unknown`` (an operator's resume)
        first puts the deliveries whose outcome is unknown back to be sent again.
        """
        started = time.perf_counter()
        if issue_id is not None:
            run_id = self.plan(issue_id)
        if run_id is None:
            raise ValueError("send needs an issue or a run")
        planning = time.perf_counter() - started
        resent = 0
        if resend_unknown:
            with self.sessions() as session:
                resent = ledger.requeue_uncertain(session, run_id)
                session.commit()
        if workers > 1:
            report = await self._send_in_processes(run_id, workers, retry_for)
        elif transport is None:
            raise ValueError("sending in this process needs a transport")
        else:
            report = await self._send_here(run_id, transport, retry_for)
        report.resent_unknown = resent
        report.planning_seconds = planning
        report.seconds = time.perf_counter() - started
        log.info(
            "run %s: sent %d (delivered %d, deferred %d, failed %d, waiting %d)",
            *(run_id, report.sent_now, report.delivered, report.deferred, report.failed),
            report.waiting,
            extra={"run_id": run_id},
        )
        return report

    async def resume(
        self,
        run_id: int,
        transport: Transport,
        *,
        retry_for: float = 0.0,
        resend_unknown: bool = False,
    ) -> SendReport:
        """Send what a planned run still owes, in this process (`send` of a run)."""
        return await self.send(
            None, transport, run_id=run_id, retry_for=retry_for, resend_unknown=resend_unknown
        )

    def plan(self, issue_id: int) -> int:
        """Create (or extend) the run of an issue with one delivery per eligible subscriber."""
        with self.sessions() as session:
            row = load_issue(session, issue_id)
            require_sendable(row)  # a draft or withdrawn issue never reaches readers
            planner = Planner(row)
            run = self._open_run(session, row, planner)
            # Once a run has it, the issue is sent: it stays in the archive, never edited.
            change_status(session, row, IssueStatus.SENT, self.actor, action="send")
            session.commit()  # the run exists before its ranges, each committed on its own
            added = planner.plan(self.sessions, run.id)
            ledger.finish_planning(session, run, dict(planner.skipped), added)
            session.commit()
            return run.id

    @staticmethod
    def _open_run(session: Session, row: StoredIssue, planner: Planner) -> ledger.Run:
        """The issue's run for its period; after a cancelled one, a new run ("…#2").

        The new run leaves out whoever the cancelled ones reached, so sending an issue again
        after `runs cancel` gives every reader one copy.
        """
        period, attempt = planner.period, 1
        run, _ = ledger.open_run(session, row.list_id, planner.kind, period, row.id)
        cancelled: list[int] = []
        while run.status == ledger.RunStatus.CANCELLED:
            cancelled.append(run.id)
            attempt += 1
            period = f"{planner.period}#{attempt}"
            run, _ = ledger.open_run(session, row.list_id, planner.kind, period, row.id)
        planner.earlier = tuple(cancelled)
        return run

    async def _send_here(self, run_id: int, transport: Transport, retry_for: float) -> SendReport:
        """Passes over the run in this process, deferred ones retried with backoff and jitter.

        Deferred deliveries (4xx, lost connections) get another pass after 1, 2, 4 … seconds
        for up to ``retry_for`` seconds; what is still deferred then waits for the next send.
        """
        report = await self.deliver(run_id, transport)
        deadline = time.monotonic() + retry_for
        delay = self.first_retry
        while report.deferred and not report.stopped and time.monotonic() + delay <= deadline:
            if await self._stopped_within(delay * random.uniform(0.5, 1.0)):
                report.stopped, report.interrupted = self.stop_reason, True
                break
            again = await self.deliver(run_id, transport)
            for key in OWN_FIGURES:
                setattr(again, key, getattr(again, key) + getattr(report, key))
            report = again
            delay = min(delay * 2, 300.0)
        return report

    async def _send_in_processes(self, run_id: int, workers: int, retry_for: float) -> SendReport:
        """The run sent by ``workers`` processes; the report from the ledger plus their figures."""
        if self.opener is None:
            raise ValueError("sending with workers needs an opener for the sender processes")
        results = await pool.run_senders(
            self.opener, run_id, workers, retry_for, lambda: self.stop_reason
        )
        problems = [r.problem for r in results if r.problem is not None]
        if problems:
            raise SendInterrupted(run_id, "; ".join(problems))
        report = self.report(run_id)
        for result in results:
            for key in OWN_FIGURES:
                setattr(report, key, getattr(report, key) + result.figures.get(key, 0))
        stopped = next((r for r in results if r.stopped), None)
        if self.stop_reason is not None or stopped is not None:
            report.stopped = self.stop_reason or (stopped.stopped if stopped else None)
            report.interrupted = self.stop_reason is not None or any(r.interrupted for r in results)
        return report

    async def deliver(self, run_id: int, transport: Transport) -> SendReport:
        """One pass: send every due open delivery of a run, recording each outcome.

        The loop keeps the transport's connections busy. Each turn is one small transaction:
        the outcomes that arrived since the last turn are recorded, and the next messages are
        marked `sending` and committed *before* they leave, so after a crash the only
        deliveries whose fate is unknown are the ones in flight — at most one per connection.
        """
        started = time.perf_counter()
        report = SendReport(run_id=run_id)
        with self._sending_session() as session:
            run = ledger.get_run(session, run_id)
            claims = LeaseClaims(run, Lease.new(self.lease_seconds))
            async with signing_for(
                self.dkim,
                self.signing,
                spare_core=pool.usable_cores() > self.senders,
                messages=lambda: runs.count_open(session, run.id, WORTH_A_PROCESS),
            ) as signing:
                interrupted = await self._deliver(session, run, claims, transport, report, signing)
            report.uncertain = claims.uncertain
            report.lost = claims.lost
            if interrupted is not None and report.stopped is None:
                raise SendInterrupted(run.id, interrupted)
            status = ledger.run_status(session, run.id)
            if status in ledger.STOPPED:
                report.stopped = report.stopped or f"the run was {status}"
            ledger.finish_run(session, run)
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
        self,
        session: Session,
        run: Run,
        claims: LeaseClaims,
        transport: Transport,
        report: SendReport,
        signing: Signing | None,
    ) -> str | None:
        """The send loop of `deliver`; why it stopped early (None: nothing left to send)."""
        issue_row = load_issue(session, run.issue_id)
        ledger.cancel_departed(session, run)
        session.commit()
        width = max(1, int(getattr(transport, "concurrency", 1)))
        factory = self.factory(issue_row, run.kind, run.id)
        one = _Pass(run, claims, factory, Breaker(run.id, self.breaker), report, width, signing)
        while True:
            self._look_for_stop(session, one)
            self._record(session, claims, one.finished, one.released)
            self._pause_if_tripped(session, one)
            room = one.width - len(one.sending)
            taken = [] if one.interrupted else claims.take(session, room, utcnow())
            session.commit()  # marked `sending`, durable before the bytes leave
            one.finished, one.released = [], []
            self._start(one, taken, transport)
            if not one.sending and one.finished:
                continue  # only poisoned ones this turn: record them before anything else
            if not one.sending:
                if await self._at_end(session, one):
                    return one.interrupted
                continue
            await self._collect(one)

    def _look_for_stop(self, session: Session, one: _Pass) -> None:
        """Notice a stop request, or (once a second) an operator's pause or cancel."""
        if one.interrupted is None and self.stop_reason is not None:
            one.interrupted = one.report.stopped = self.stop_reason
            one.report.interrupted = True
        if one.interrupted is None and time.monotonic() - one.checked > 1.0:
            one.checked = time.monotonic()
            status = ledger.run_status(session, one.run.id)
            if status in ledger.STOPPED:
                one.interrupted = one.report.stopped = f"the run was {status}"

    @staticmethod
    def _pause_if_tripped(session: Session, one: _Pass) -> None:
        """Our side's refusals: stop claiming; the run waits for the operator's fix."""
        if one.tripped is None:
            return
        if ledger.pause_run(session, one.run.id, one.tripped):
            # Said to the operator by whoever sent: the command, or the send job.
            log.info(one.tripped, extra={"run_id": one.run.id})
        one.interrupted = one.report.stopped = one.report.stopped or one.tripped
        one.report.interrupted = True
        one.tripped = None

    def _start(self, one: _Pass, taken: list[Claim], transport: Transport) -> None:
        """Put the claimed messages on the wire, each variant rendered the first time it is met."""
        for claim in taken:
            if claim.variant not in one.variants:
                one.variants[claim.variant] = one.factory.template(claim.variant)
                one.report.variants_rendered += 1
            try:
                message = one.factory.unsigned(
                    one.variants[claim.variant],
                    claim.email,
                    claim.subscription_id,
                    claim.delivery_id,
                    claim.token_key,
                )
            except AddressNotUsable as exc:
                # A poisoned delivery fails alone, recorded next turn; the run goes on.
                one.finished.append(not_sent(claim.delivery_id, str(exc)))
                continue
            task = asyncio.create_task(self._attempt(transport, claim, message, one.signing))
            one.sending[task] = claim
        one.report.sent_now += len(taken)

    async def _at_end(self, session: Session, one: _Pass) -> bool:
        """Nothing in flight: True when the pass is over, else wait for others' claims."""
        wait = None if one.interrupted else one.claims.wait_for_others(session, utcnow())
        session.commit()
        if wait is None and one.interrupted is None and (line := one.breaker.at_end()):
            one.tripped = line  # nothing but our side's refusals: pause, next turn
            return False
        if wait is None:
            return True
        # Another sender holds the rest: it finishes them, or its claims lapse and this one
        # takes them over.
        await asyncio.sleep(min(max(wait, 0.05), 1.0))
        return False

    async def _collect(self, one: _Pass) -> None:
        """Wait for answers (half the connections', or a moment); keep them for the next turn."""
        done = await _answers(one.sending, max(1, one.width // 2))
        for task in done:
            claim = one.sending.pop(task)
            try:
                outcome = task.result()
            except ConnectionFailure as exc:
                # The relay cannot be reached: nothing was sent. The delivery goes back to
                # pending and the run stops once the messages on the wire are answered and
                # recorded, to resume later.
                one.released.append(claim.delivery_id)
                if exc.code is not None and exc.code >= 500 and one.tripped is None:
                    # The relay turns us away for good (a 554 greeting, a refused login): no
                    # retry helps until somebody fixes the settings.
                    one.tripped = pause_line(one.run.id, None, f"{exc.code} {exc.text}")
                one.interrupted = one.interrupted or str(exc)
                continue
            one.finished.append(outcome)
            line = one.breaker.observe(outcome.reason, outcome.code, outcome.text)
            one.tripped = one.tripped or line

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
        claims: LeaseClaims,
        finished: list[Outcome],
        released: list[int],
    ) -> None:
        """Write a turn's outcomes; a missing mailbox also suppresses the address everywhere."""
        claims.record(session, finished, released)
        failed = [o for o in finished if o.status == DeliveryStatus.FAILED]
        if failed:
            # One event per recorded batch, never one per reader: a webhook hears of a bad
            # turn of a million-reader run in a few POSTs.
            record_event(session, "delivery.failed", outcomes.failed_event(claims.run, failed))
        for outcome in finished:
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
                issue_row.newsletter,
                self.postal_address,
                self.language,
                self.brands(issue_row.newsletter.slug) if self.brands else Brand(),
            ),
            issue=issue_row.to_issue(),
            kind=kind,
            run_id=run_id,
            dkim=self.dkim,
            issue_id=issue_row.id,
        )

    @staticmethod
    async def _attempt(
        transport: Transport, claim: Claim, unsigned: UnsignedMessage, signing: Signing | None
    ) -> Outcome:
        """Sign, send one message and say what became of it (ConnectionFailure propagates)."""
        try:
            if unsigned.pending is None:
                message = unsigned.message
            elif signing is None:
                raise RuntimeError("a DKIM-signed message, but nothing to sign it with")
            else:
                message = unsigned.signed(await signing.sign(unsigned.pending.digest))
            accepted = await transport.send(message)
        except ConnectionFailure:
            raise
        except UncertainDelivery as exc:
            # The server may have it: recorded as such, never retried as if it had not.
            return Outcome(claim.delivery_id, DeliveryStatus.UNCERTAIN, None, exc.text)
        except (PermanentFailure, TemporaryFailure) as exc:
            return outcome_of(claim.delivery_id, exc, unsigned.mail_from)
        except Exception as exc:
            # Whatever else one message trips over (a transport's bug, a reply nothing could
            # parse) is that message's problem: it fails alone, loudly, and the run goes on.
            log.exception("delivery %s: not sent", claim.delivery_id)
            return not_sent(claim.delivery_id, f"{type(exc).__name__}: {exc}")
        return Outcome(
            claim.delivery_id,
            DeliveryStatus.DELIVERED,
            accepted.code,
            accepted.text,
            unsigned.message_id,
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
