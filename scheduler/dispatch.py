"""The send path: plan a run → render each variant once → claim batches → send → record.

Every outcome is committed as soon as the transport answers, so an interrupted send (a crash, an
unreachable relay) resumes by sending exactly the deliveries that have no recorded outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from urllib.parse import quote

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailer.content import WHOLE_ISSUE_FORMATS, Issue, Story, select_stories
from mailer.dkim import DkimSigner
from mailer.errors import ConnectionFailure, PermanentFailure, TemporaryFailure
from mailer.message import (
    MessageTemplate,
    OutgoingMessage,
    display_name,
    domain_of,
    make_message_id,
)
from mailer.render import Newsletter, Rendered, Renderer, Slot
from mailer.transport import Transport
from scheduler import ledger
from scheduler.claims import Claims, claims_for
from scheduler.editions import StoredIssue, load_issue
from scheduler.ledger import Claim, DeliveryStatus, Run
from scheduler.planning import (
    ALL_TOPICS,
    Planner,
    run_kind,
    variant_key,
    variant_topics,
)
from scheduler.shares import Share, release_run_locks
from subscribers.db import utcnow
from subscribers.models import NewsletterList
from subscribers.service import suppress
from subscribers.tokens import Purpose, TokenSigner

__all__ = [
    "ALL_TOPICS",
    "BOUNCE_PREFIX",
    "Dispatcher",
    "MessageFactory",
    "SendInterrupted",
    "SendReport",
    "newsletter_identity",
    "run_kind",
    "variant_key",
    "variant_topics",
]

log = logging.getLogger("briefmail.send")
#: The local part before "+" of the VERP bounce address (bounces+TOKEN@sending domain).
BOUNCE_PREFIX = "bounces"


def is_hard_bounce(code: int | None, text: str | None) -> bool:
    """A refusal meaning the mailbox does not exist (5.1.x, or 550/551/553 without detail)."""
    detail = (text or "").strip()
    if re.match(r"^5\.1\.\d", detail):
        return True
    return code in (550, 551, 553) and not re.match(r"^5\.[2-7]\.\d", detail)


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
    #: Outcomes this sender did not record: its claim had lapsed and another sender took the
    #: delivery over (PostgreSQL; the other sender's record stands).
    lost: int = 0
    #: Planned deliveries not sent because the person left after planning.
    cancelled: int = 0
    #: Open deliveries waiting for their reader's local send hour (part of ``pending``).
    waiting: int = 0
    #: Why sending stopped early, if an operator paused or cancelled the run.
    stopped: str | None = None
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
            "lost": self.lost,
            "cancelled": self.cancelled,
            "waiting": self.waiting,
            "stopped": self.stopped,
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
                report.stopped = f"the run was {status}"
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
        sending: dict[asyncio.Task[ledger.Outcome], Claim] = {}
        finished: list[ledger.Outcome] = []
        released: list[int] = []
        interrupted: str | None = None
        checked = 0.0  # the first turn looks too
        while True:
            if interrupted is None and time.monotonic() - checked > 1.0:
                # An operator may pause or cancel the run meanwhile: look once a second.
                checked = time.monotonic()
                status = ledger.run_status(session, run.id)
                if status in ledger.STOPPED:
                    interrupted = report.stopped = f"the run was {status}"
            self._record(session, claims, finished, released)
            taken = [] if interrupted else claims.take(session, width - len(sending), utcnow())
            session.commit()  # marked `sending`, durable before the bytes leave
            finished, released = [], []
            for claim in taken:
                if claim.variant not in variants:
                    variants[claim.variant] = factory.template(claim.variant)
                    report.variants_rendered += 1
                message = factory.message(
                    variants[claim.variant],
                    claim.email,
                    claim.subscription_id,
                    claim.delivery_id,
                    claim.token_key,
                )
                task = asyncio.create_task(self._attempt(transport, claim, message))
                sending[task] = claim
            report.sent_now += len(taken)
            if not sending:
                wait = None if interrupted else claims.wait_for_others(session, utcnow())
                session.commit()
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
                    finished.append(task.result())
                except ConnectionFailure as exc:
                    # The relay cannot be reached: nothing was sent. The delivery goes back
                    # to pending and the run stops once the messages on the wire are answered
                    # and recorded, to resume later.
                    released.append(claim.delivery_id)
                    interrupted = interrupted or str(exc)

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
    ) -> SendReport:
        """Send what a run (or a share of it) still owes, retrying deferred deliveries.

        Deferred deliveries (4xx, lost connections) are retried with exponential backoff and
        jitter for up to ``retry_for`` seconds; what is still deferred then waits for the next
        send of the issue.
        """
        started = time.perf_counter()
        report = await self.deliver(run_id, transport, share)
        deadline = time.monotonic() + retry_for
        delay = self.first_retry
        while report.deferred and not report.stopped and time.monotonic() + delay <= deadline:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            again = await self.deliver(run_id, transport, share)
            again.variants_rendered += report.variants_rendered
            again.sent_now += report.sent_now
            again.uncertain += report.uncertain
            again.lost += report.lost
            report = again
            delay = min(delay * 2, 300.0)
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

    def _record(
        self,
        session: Session,
        claims: Claims,
        outcomes: list[ledger.Outcome],
        released: list[int],
    ) -> None:
        """Write a turn's outcomes; a hard bounce also suppresses the address everywhere."""
        claims.record(session, outcomes, released)
        for outcome in outcomes:
            if outcome.status != DeliveryStatus.DELIVERED:
                log.warning(
                    "delivery %s %s: %s %s",
                    outcome.delivery_id,
                    outcome.status,
                    outcome.code or "",
                    outcome.text or "",
                    extra={"delivery_id": outcome.delivery_id},
                )
            if outcome.status == DeliveryStatus.FAILED and is_hard_bounce(
                outcome.code, outcome.text
            ):
                email = ledger.delivery_address(session, outcome.delivery_id)
                if email is not None:
                    suppress(session, email, "hard bounce")

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
        )

    @staticmethod
    async def _attempt(
        transport: Transport, claim: Claim, message: OutgoingMessage
    ) -> ledger.Outcome:
        """Send one message and say what became of it (ConnectionFailure propagates)."""
        try:
            accepted = await transport.send(message)
        except ConnectionFailure:
            raise
        except PermanentFailure as exc:
            return ledger.Outcome(claim.delivery_id, DeliveryStatus.FAILED, exc.code, exc.text)
        except TemporaryFailure as exc:
            return ledger.Outcome(claim.delivery_id, DeliveryStatus.DEFERRED, exc.code, exc.text)
        return ledger.Outcome(
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
        report.waiting = ledger.count_waiting(session, run.id)
        report.skipped = dict(run.skipped or {})


def _engine(session: Session) -> Engine:
    """The engine a session works on (share locks live beside its database)."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def newsletter_identity(
    row: NewsletterList, postal_address: str | None, language: str = "en"
) -> Newsletter:
    """How a list presents itself in its messages."""
    return Newsletter(
        name=row.name,
        sender_name=display_name(row.from_address) or row.name,
        postal_address=postal_address,
        language=language,
    )


@dataclass(frozen=True, slots=True)
class MessageFactory:
    """Renders the variants of one issue and turns them into per-subscriber messages.

    Used by a run (``run_id`` set, real tokens) and by previews (``run_id`` None, sample links).
    """

    renderer: Renderer
    signer: TokenSigner | None
    base_url: str
    newsletter_row: NewsletterList
    newsletter: Newsletter
    issue: Issue
    kind: str
    run_id: int | None = None
    dkim: DkimSigner | None = None
    #: Put before every subject ("[TEST] " for test sends).
    subject_prefix: str = ""

    @property
    def domain(self) -> str:
        """The sending domain: Message-IDs and the bounce address live on it."""
        return domain_of(self.newsletter_row.from_address)

    def render(self, variant: str) -> Rendered:
        """Render the variant for a topic-set key (once per run per key)."""
        topics = variant_topics(variant)
        stories = self.stories_for(topics)
        cadence = self.kind if self.kind in ("daily", "weekly") else ""
        return self.renderer.render_issue(
            self.issue, stories, self.newsletter, topics=sorted(topics), cadence=cadence
        )

    def stories_for(self, topics: frozenset[str]) -> tuple[Story, ...]:
        """The stories readers of a topic set receive (all or none for an article)."""
        whole = self.issue.format in WHOLE_ISSUE_FORMATS
        return select_stories(self.issue.stories, topics, whole=whole)

    def links(self, subscription_id: int | None, key: str = "") -> dict[Slot, str]:
        """The per-subscriber URLs of a message (sample URLs for a preview)."""
        if self.signer is not None and subscription_id is not None:
            unsubscribe = self.signer.make(Purpose.UNSUBSCRIBE, subscription_id, key)
            preferences = self.signer.make(Purpose.PREFERENCES, subscription_id, key)
        else:
            unsubscribe = preferences = "preview"
        return {
            Slot.UNSUBSCRIBE_URL: f"{self.base_url}/unsubscribe/{unsubscribe}",
            Slot.PREFERENCES_URL: f"{self.base_url}/preferences/{preferences}",
        }

    def bounce_token(self, delivery_id: int | None) -> str:
        """The VERP token of a delivery ("0" for previews, which have no delivery)."""
        if self.signer is None or delivery_id is None:
            return "0"
        return self.signer.make_bounce_token(delivery_id)

    def template(self, variant: str) -> MessageTemplate:
        """Render a variant and build its message template (once per run per variant)."""
        run = f"run{self.run_id}" if self.run_id is not None else "preview"
        rendered = self.render(variant)
        if self.subject_prefix:
            rendered = replace(rendered, subject=self.subject_prefix + rendered.subject)
        return MessageTemplate(
            rendered,
            sender=self.newsletter_row.from_address,
            list_id=self.newsletter_row.list_id,
            feedback_id=f"{run}:{self.newsletter_row.slug}:{self.kind}:briefmail",
            dkim=self.dkim,
        )

    def message(
        self,
        template: MessageTemplate,
        to: str,
        subscription_id: int | None = None,
        delivery_id: int | None = None,
        key: str = "",
    ) -> OutgoingMessage:
        """One recipient's copy of a variant: their links, headers and VERP bounce address."""
        links = self.links(subscription_id, key)
        unsubscribe_url = links[Slot.UNSUBSCRIBE_URL]
        unsubscribe_token = unsubscribe_url.rsplit("/", 1)[1]
        domain = self.domain
        run = f"run{self.run_id}" if self.run_id is not None else "preview"
        mailto_subject = quote(f"unsubscribe {unsubscribe_token}")
        return template.fill(
            to=to,
            message_id=make_message_id(domain, f"{run}.{delivery_id or 0}.{secrets.token_hex(6)}"),
            # VERP: the bounce address names the delivery, so a bounce finds its row; the token
            # carries a MAC, so a forged bounce cannot suppress somebody else.
            return_path=f"{BOUNCE_PREFIX}+{self.bounce_token(delivery_id)}@{domain}",
            slots=links,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=f"mailto:unsubscribe@{domain}?subject={mailto_subject}",
        )
