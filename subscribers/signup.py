"""A subscription asked for on the public form: checked at once, carried out in the background.

The form must not be a weapon nor an oracle. So a request is handled in two halves:

1. **At once, the same for every address** (`check_request`): the fields are checked — address
   syntax (and, without SMTPUTF8 at the relay, an ASCII local part), lists, topics, cadence,
   time zone, hour. None of these checks looks at the database, so their errors say nothing
   about who is subscribed. Then the page answers "Check your inbox", whoever the address is.
2. **Afterwards, one request at a time** (`Background`, running `carry_out`): who the address is
   (the lookup), what may change (`subscribers.service.subscribe`: a confirmed subscription and
   its person's time zone never change on a request) and the confirmation e-mail. Because this
   happens after the answer has gone out, how long the page takes does not depend on whether
   the address is known.

Rate limits count people, not spellings: `person_key` folds an address to one key per mailbox
(case, "+tags", and Gmail's dots do not make another person), and at most one confirmation
e-mail goes to one person per hour. The keys are address hashes, like suppressions, and live
in memory only; behind them, the database holds when each address was last sent a
confirmation (`claim_confirmation`), so the hour holds across restarts and across every process
that serves the form. What is stored is the address as typed (normalised as always).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import or_, true, update
from sqlalchemy.orm import Session

from mailer.topics import Taxonomy
from subscribers.db import utcnow
from subscribers.models import (
    Cadence,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from subscribers.models import address_hash as _hash
from subscribers.rules import (
    check_deliverable,
    check_timezone,
    normalise_email,
    parse_cadence,
    parse_send_hour,
    parse_topics,
)
from subscribers.service import Context, subscribe

__all__ = [
    "CONFIRMATION_INTERVAL",
    "Background",
    "SignupRequest",
    "check_request",
    "claim_confirmation",
    "person_key",
    "release_confirmation",
    "request_subscriptions",
]

#: At most one confirmation e-mail per address in this long, whoever asks.
CONFIRMATION_INTERVAL = dt.timedelta(hours=1)

log = logging.getLogger("briefmail.web")

#: Domains whose mailboxes ignore dots in the local part (j.doe@ and jdoe@ are one person).
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def person_key(address: str) -> str:
    """One key per mailbox, for rate limits: case, "+tags" and Gmail dots folded away (a hash).

    "+tags" are folded for every domain: most mail servers deliver ``a+x@`` to ``a@``, and we
    cannot tell which do not; counting two such addresses as one person costs at most a wait.
    """
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), _DOTLESS[domain]
    return _hash(f"{local}@{domain}")


@dataclass(frozen=True, slots=True)
class SignupRequest:
    """A checked subscribe request: everything it asks for is valid; who asks is not known yet."""

    address: str
    list_ids: tuple[int, ...]
    topics: tuple[str, ...]
    cadence: Cadence
    timezone: str
    send_hour: int
    context: Context
    smtputf8: bool


def check_request(
    email: str,
    lists: Sequence[NewsletterList],
    *,
    topics: Iterable[str],
    cadence: str,
    timezone: str,
    send_hour: int,
    taxonomy: Taxonomy,
    smtputf8: bool,
    context: Context,
) -> SignupRequest:
    """Check every field without looking anyone up; the first problem is raised (ValueError).

    Field problems are `subscribers.rules.RuleError`s naming the field; no list is a ValueError.
    """
    address = check_deliverable(normalise_email(email), smtputf8=smtputf8)
    if not lists:
        raise ValueError("choose at least one newsletter")
    chosen_cadence = parse_cadence(cadence)  # before the topics: the first problem is raised
    return SignupRequest(
        address,
        tuple(n.id for n in lists),
        parse_topics(topics, taxonomy),
        chosen_cadence,
        check_timezone(timezone),
        parse_send_hour(send_hour),
        context,
        smtputf8,
    )


def request_subscriptions(
    session: Session, request: SignupRequest, taxonomy: Taxonomy
) -> list[Subscription]:
    """Apply a request to each of its lists; the subscriptions now waiting for confirmation.

    A list the person has confirmed is left as it is, and is not among those returned.
    """
    pending = []
    for list_id in request.list_ids:
        newsletter = session.get(NewsletterList, list_id)
        if newsletter is None:  # removed since the page was answered
            continue
        subscription = subscribe(
            session,
            newsletter,
            request.address,
            taxonomy=taxonomy,
            topics=request.topics,
            cadence=request.cadence,
            timezone=request.timezone,
            send_hour=request.send_hour,
            context=request.context,
            smtputf8=request.smtputf8,
        )
        if subscription.status == SubscriptionStatus.PENDING:
            pending.append(subscription)
    return pending


def claim_confirmation(
    session: Session, subscriber_id: int, *, force: bool = False
) -> tuple[bool, dt.datetime | None]:
    """Take the right to mail this person a confirmation now (False if one went this hour).

    One conditional UPDATE, so two processes asking at once cannot both win. With the answer
    comes the previous time (None if never), for `release_confirmation` if the send fails.
    ``force`` takes it whatever the time (a request from the reader's own signed link).
    """
    now = utcnow()
    previous = session.get(Subscriber, subscriber_id)
    before = previous.confirmation_sent_at if previous is not None else None
    due = or_(
        Subscriber.confirmation_sent_at.is_(None),
        Subscriber.confirmation_sent_at <= now - CONFIRMATION_INTERVAL,
    )
    claimed = session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, true() if force else due)
        .values(confirmation_sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(claimed, "rowcount", 0) == 1, before


def release_confirmation(
    session: Session, subscriber_id: int, previous: dt.datetime | None
) -> None:
    """Give the claim back after a failed send, so the reader can ask again at once."""
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(confirmation_sent_at=previous)
        .execution_options(synchronize_session=False)
    )


Job = Callable[[], Awaitable[None]]


class Background:
    """Runs jobs one at a time after the page has answered; bounded, so a flood cannot pile up.

    A job that fails is logged (the reader has their answer already). The worker task exists
    only while there is work, so nothing is left running when the event loop closes.
    """

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        #: Jobs refused because the queue was full.
        self.dropped = 0
        #: Jobs run to their end (failed ones included): what a caller waits on to know
        #: the work behind an answer it has seen is done.
        self.finished = 0
        self._jobs: deque[Job] = deque()
        self._worker: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """Whether a job is queued or running."""
        return bool(self._jobs) or (self._worker is not None and not self._worker.done())

    def submit(self, job: Job) -> bool:
        """Queue a job (never waits); False when the queue is full and the job is dropped."""
        if len(self._jobs) >= self.limit:
            self.dropped += 1
            log.warning("subscription queue full (%d): a request was dropped", self.limit)
            return False
        self._jobs.append(job)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())
        return True

    async def idle(self) -> None:
        """Wait until every job submitted so far is done."""
        while self._worker is not None and not self._worker.done():
            await asyncio.wait([self._worker])

    async def _run(self) -> None:
        while self._jobs:
            job = self._jobs.popleft()
            try:
                await job()
            except Exception:  # one request's failure must not stop the others'
                log.exception("a subscription request failed in the background")
            finally:
                self.finished += 1
