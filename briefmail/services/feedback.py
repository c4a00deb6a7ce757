"""What mail servers send back: bounce and complaint reports, read or applied.

Reports are read from maildirs, mbox files, .eml files or folders of them. A path that cannot be
read is named in the result's errors ("path: reason"); the other paths still count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mailer.bounces import BounceError, parse_report, read_messages
from scheduler.dispatch import BOUNCE_PREFIX
from scheduler.feedback import BounceSummary, ReadReport, apply_events, read_events
from subscribers.tokens import TokenSigner

if TYPE_CHECKING:
    from briefmail.app import Briefmail
    from subscribers.directory import SuppressionRow

__all__ = ["BounceView", "FeedbackService", "ParsedBounces"]


@dataclass(frozen=True, slots=True)
class ParsedBounces:
    """What each report says, matched to deliveries; nothing was changed."""

    reports: list[ReadReport]
    #: Paths that could not be read, each "path: reason".
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """The reports (the `bounces parse --json` list) and the unreadable paths."""
        return {"reports": [report.as_json() for report in self.reports], "errors": self.errors}


class FeedbackService:
    """Bounces and complaints: read them, or apply them to subscribers and deliveries."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app

    def process_bounces(self, *paths: Path) -> BounceSummary:
        """Apply every report: gone and complaints suppress, full/temporary/expired count."""
        signer = TokenSigner(self.app.settings.secret())
        limits = self.app.settings.bounces
        summary = BounceSummary()
        for path in paths:
            try:
                for source, data in read_messages(path):
                    events = parse_report(data, source=source, verp_prefix=BOUNCE_PREFIX)
                    summary.reports += 1
                    with self.app.sessions() as session:
                        apply_events(
                            session,
                            events,
                            signer,
                            summary,
                            soft_limit=limits.soft_limit,
                            soft_window_days=limits.soft_window_days,
                        )
                        session.commit()  # one report, one transaction: a crash loses none
            except BounceError as exc:
                summary.errors.append(str(exc))
        return summary

    def parse_bounces(self, *paths: Path) -> ParsedBounces:
        """What each report in these paths says, matched to deliveries, changing nothing."""
        signer = TokenSigner(self.app.settings.secret())
        parsed = ParsedBounces([])
        with self.app.sessions() as session:
            for path in paths:
                try:
                    for source, data in read_messages(path):
                        events = parse_report(data, source=source, verp_prefix=BOUNCE_PREFIX)
                        parsed.reports.append(read_events(session, source, events, signer))
                except BounceError as exc:
                    parsed.errors.append(str(exc))
        return parsed

    # -- what the console shows ------------------------------------------------------------

    def suppressions(
        self, *, reason: str | None = None, before_id: int | None = None, limit: int = 50
    ) -> tuple[list[SuppressionRow], int | None, dict[str, int]]:
        """A page of suppressions (newest first), the next cursor, and counts per reason."""
        from subscribers.directory import suppression_reasons, suppressions

        with self.app.sessions() as session:
            rows, cursor = suppressions(session, reason=reason, before_id=before_id, limit=limit)
            return rows, cursor, suppression_reasons(session)

    def recent_bounces(self, limit: int = 50, reason: str | None = None) -> list[BounceView]:
        """The newest bounce and complaint records, each with the server's words (evidence)."""
        from sqlalchemy import select

        from scheduler.feedback import BounceRecord
        from subscribers.db import as_utc

        statement = select(BounceRecord).order_by(BounceRecord.id.desc()).limit(limit)
        if reason:
            statement = statement.where(BounceRecord.reason == reason)
        with self.app.sessions() as session:
            return [
                BounceView(
                    r.id,
                    as_utc(r.received_at),
                    r.recipient,
                    str(r.reason),
                    r.status,
                    r.diagnostic,
                    r.report_id,
                    r.subscriber_id,
                )
                for r in session.scalars(statement)
            ]

    def lift_suppression(self, suppression_id: int, *, actor: str, ip: str | None = None) -> str:
        """Lift a bounce's suppression (audited); its reason. SuppressionLocked, LookupError."""
        from briefmail.accounts.audit import write
        from subscribers.directory import lift_suppression

        with self.app.sessions() as session:
            lifted = lift_suppression(session, suppression_id)
            write(
                session,
                actor,
                "suppression.lifted",
                f"suppression:{suppression_id}",
                before={
                    "reason": lifted.reason,
                    "report_id": lifted.report_id,
                    "diagnostic": lifted.diagnostic,
                },
                ip=ip,
            )
            session.commit()
            return lifted.reason


@dataclass(frozen=True, slots=True)
class BounceView:
    """One bounce or complaint record as the console shows it."""

    id: int
    received_at: dt.datetime
    recipient: str
    reason: str
    status: str | None
    diagnostic: str | None
    report_id: str
    subscriber_id: int | None
