"""Where sending stands, for people (`briefmail status`) and for Prometheus (`/metrics`).

One read-only pass over the ledger gathers the figures; two small functions present them. The
send rate is measured from the ledger itself (deliveries recorded in the last minute), so it is
the rate of every sender process on the database, not of the process that answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.ledger import (
    OPEN,
    Delivery,
    DeliveryStatus,
    Run,
    RunStatus,
    count_by_status,
    count_done,
)
from subscribers.db import utcnow
from subscribers.models import Suppression

__all__ = ["Figures", "RunProgress", "collect", "prometheus_text"]


@dataclass(frozen=True, slots=True)
class RunProgress:
    """A run that is not finished, and how far it got."""

    id: int
    kind: str
    period: str
    status: str
    counts: dict[str, int]
    #: Why the run paused itself (our side's refusals), if it did.
    pause_reason: str | None = None

    @property
    def done(self) -> int:
        """Deliveries done: not open any more (the ledger's one definition)."""
        return count_done(self.counts)


@dataclass(frozen=True, slots=True)
class Figures:
    """Deliveries, runs and suppressions as of one moment."""

    deliveries: dict[str, int]
    runs: dict[str, int]
    unfinished: list[RunProgress]
    suppressions: dict[str, int]
    #: Outcomes recorded in the last minute, per second.
    rate: float
    #: Open deliveries of runs that are not paused or cancelled.
    queue: int

    def as_json(self) -> dict[str, object]:
        """The `briefmail status --json` shape."""
        return {
            "deliveries": self.deliveries,
            "runs": self.runs,
            "unfinished": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "period": r.period,
                    "status": r.status,
                    "done": r.done,
                    "total": sum(r.counts.values()),
                    "counts": r.counts,
                    "pause_reason": r.pause_reason,
                }
                for r in self.unfinished
            ],
            "suppressions": self.suppressions,
            "rate_per_s": round(self.rate, 2),
            "queue": self.queue,
        }


def collect(session: Session, now: dt.datetime | None = None) -> Figures:
    """Gather the figures (a few aggregate queries; nothing is written)."""
    now = now or utcnow()
    deliveries = dict.fromkeys((s.value for s in DeliveryStatus), 0)
    for status, n in session.execute(
        select(Delivery.status, func.count()).group_by(Delivery.status)
    ):
        deliveries[str(status)] = n
    runs = dict.fromkeys((s.value for s in RunStatus), 0)
    for run_status, n in session.execute(select(Run.status, func.count()).group_by(Run.status)):
        runs[str(run_status)] = n
    unfinished = [
        RunProgress(
            run.id,
            run.kind,
            run.period,
            str(run.status),
            count_by_status(session, run.id),
            run.pause_reason if run.status == RunStatus.PAUSED else None,
        )
        for run in session.scalars(
            select(Run).where(Run.status != RunStatus.DONE, Run.status != RunStatus.CANCELLED)
        )
    ]
    suppressions = {
        reason: n
        for reason, n in session.execute(
            select(Suppression.reason, func.count()).group_by(Suppression.reason)
        )
    }
    recent = session.scalar(
        select(func.count()).where(
            Delivery.status != DeliveryStatus.SENDING,
            Delivery.updated_at >= now - dt.timedelta(minutes=1),
        )
    )
    queue = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .join(Run, Run.id == Delivery.run_id)
        .where(
            Delivery.status.in_(OPEN),
            Run.status.in_((RunStatus.PLANNING, RunStatus.SENDING, RunStatus.DONE)),
        )
    )
    return Figures(
        deliveries, runs, unfinished, suppressions, int(recent or 0) / 60, int(queue or 0)
    )


def prometheus_text(figures: Figures) -> str:
    """The figures in Prometheus' text exposition format (version 0.0.4)."""
    lines: list[str] = []

    def gauge(
        name: str, help_text: str, samples: dict[str, float] | float, label: str = ""
    ) -> None:
        lines.append(f"# HELP briefmail_{name} {help_text}")
        lines.append(f"# TYPE briefmail_{name} gauge")
        if isinstance(samples, dict):
            for key, value in samples.items():
                escaped = key.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                lines.append(f'briefmail_{name}{{{label}="{escaped}"}} {value:g}')
        else:
            lines.append(f"briefmail_{name} {samples:g}")

    gauge("deliveries", "Deliveries by status, all runs.", dict(figures.deliveries), "status")
    gauge("runs", "Runs by status.", dict(figures.runs), "status")
    gauge("queue_depth", "Open deliveries of runs not paused or cancelled.", figures.queue)
    gauge("send_rate", "Outcomes recorded per second over the last minute.", figures.rate)
    gauge("suppressions", "Suppressed addresses by reason.", dict(figures.suppressions), "reason")
    paused = {str(r.id): 1.0 for r in figures.unfinished if r.pause_reason}
    gauge(
        "run_paused_by_refusals",
        "Runs that paused themselves (our side's refusals).",
        paused,
        "run",
    )
    for run in figures.unfinished:
        if run.pause_reason:
            # A comment, which scrapers ignore and people reading /metrics see.
            lines.append(f"# run {run.id}: {' '.join(run.pause_reason.split())}")
    return "\n".join(lines) + "\n"
