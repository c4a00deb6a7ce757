"""What a send did and what each refusal means: a delivery's outcome, a send's report.

`outcome_of` turns an SMTP refusal into the ledger's outcome (`mailer.replies` decides whose
fault it is); `SendReport` is a send's figures, read from the ledger plus what only the
sender knows (what it sent and rendered, what it took over or lost); `failed_event` is what a
webhook hears of a batch's failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailer.errors import PermanentFailure, TemporaryFailure
from mailer.replies import Reason, Verdict, classify_reply
from scheduler.ledger import DeliveryStatus, Outcome, Run

__all__ = [
    "OWN_FIGURES",
    "SendInterrupted",
    "SendReport",
    "failed_event",
    "not_sent",
    "outcome_of",
]

#: What a sender reports that the ledger cannot tell afterwards.
OWN_FIGURES = ("sent_now", "uncertain", "lost", "variants_rendered")


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


def not_sent(delivery_id: int, why: str) -> Outcome:
    """A delivery that failed before any server judged it: never about the reader's mailbox."""
    return Outcome(
        delivery_id, DeliveryStatus.FAILED, None, f"not sent: {why}", reason=Reason.UNKNOWN.value
    )


def failed_event(run: Run, failed: list[Outcome], shown: int = 100) -> dict[str, object]:
    """What `delivery.failed` says of a batch: how many, and the first ``shown`` of them."""
    return {
        "run_id": run.id,
        "issue_id": run.issue_id,
        "count": len(failed),
        "failures": [
            {"delivery_id": o.delivery_id, "code": o.code, "reason": o.reason, "reply": o.text}
            for o in failed[:shown]
        ],
    }
