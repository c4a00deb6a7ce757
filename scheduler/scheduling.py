"""Scheduled sends: an editor picks the instant a whole issue goes out; the send job keeps it.

``briefmail send 7 --at "2026-06-27 07:00" --tz Europe/Berlin`` stores the instant (in UTC) on
the approved issue and records who scheduled it; the scheduler's send job plans the issue's run
on the first tick at or after that instant, and sends it like any run (a daily brief's readers
still get it at their own local hour from then on). Until then the job leaves a scheduled issue
alone, even when it is the newest brief. A schedule belongs to the approval it was made under:
withdrawing the issue, or a change that sends it back to draft, clears it.

Times are read in the zone given (default: ``[schedule] timezone``). A local time that does not
exist (inside a daylight-saving gap) is refused rather than moved; one that happens twice (when
clocks go back) is the first of the two.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from scheduler.editions import IssueStateError, IssueStatus, StoredIssue, record_change
from scheduler.ledger import Run
from subscribers.db import as_utc
from subscribers.rules import check_timezone

__all__ = ["ScheduleError", "due_scheduled", "parse_send_time", "schedule_send", "unschedule"]

#: How far ahead a send may be scheduled (a typo in the year should not wait for ever).
HORIZON = dt.timedelta(days=366)
_LOCAL = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})(?::\d{2})?\s*$")


class ScheduleError(ValueError):
    """A send time that cannot be used (unreadable, in the past, not on the clock)."""


def parse_send_time(text: str, zone: str) -> dt.datetime:
    """'YYYY-MM-DD HH:MM' in ``zone`` (or an ISO time with its own offset) as a UTC instant."""
    check_timezone(zone)
    tz = zoneinfo.ZoneInfo(zone)
    match = _LOCAL.match(text)
    try:
        if match:
            local = dt.datetime.fromisoformat(f"{match[1]}T{match[2].zfill(5)}")
        else:
            local = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        local = None
    if local is None:
        raise ScheduleError(
            f"--at {text!r} is not a time: write it as YYYY-MM-DD HH:MM (e.g. 2026-06-27 07:00)"
        )
    if local.tzinfo is not None:
        return local.astimezone(dt.UTC)
    placed = local.replace(tzinfo=tz)
    # A wall time that does not exist (a DST gap) does not survive the round trip through UTC.
    back = placed.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
    if back != local:
        raise ScheduleError(
            f"--at {text!r} does not exist in {zone} (the clocks skip it); pick another time"
        )
    return placed.astimezone(dt.UTC)


def schedule_send(
    session: Session, row: StoredIssue, at: dt.datetime, actor: str, now: dt.datetime
) -> None:
    """Schedule the approved issue's send for ``at`` (UTC) and record it (the caller commits)."""
    if row.status != IssueStatus.APPROVED:
        hint = (
            f"approve it first: briefmail issues approve {row.id}"
            if row.status in (IssueStatus.DRAFT, IssueStatus.WITHDRAWN)
            else "it was already sent"
        )
        raise IssueStateError(f"issue {row.id} is {row.status} and cannot be scheduled: {hint}")
    if at <= now:
        raise ScheduleError(
            f"{at:%Y-%m-%d %H:%M} UTC is in the past; to send now: briefmail send {row.id}"
        )
    if at > now + HORIZON:
        raise ScheduleError(f"{at:%Y-%m-%d} is more than a year away; is the year right?")
    before = _iso(row.send_at)
    row.send_at = at
    record_change(session, row, actor, "schedule", "send_at", before, _iso(at))


def unschedule(session: Session, row: StoredIssue, actor: str) -> bool:
    """Clear the issue's scheduled send; False when none was set (the caller commits)."""
    if row.send_at is None:
        return False
    before = _iso(row.send_at)
    row.send_at = None
    record_change(session, row, actor, "unschedule", "send_at", before, None)
    return True


def due_scheduled(session: Session, now: dt.datetime) -> list[StoredIssue]:
    """Approved issues of every list whose scheduled instant has come and that no run has."""
    return list(
        session.scalars(
            select(StoredIssue)
            .where(
                StoredIssue.status == IssueStatus.APPROVED,
                StoredIssue.send_at.is_not(None),
                StoredIssue.send_at <= now,
                ~select(Run.id).where(Run.issue_id == StoredIssue.id).exists(),
            )
            .options(selectinload(StoredIssue.newsletter))
            .order_by(StoredIssue.send_at, StoredIssue.id)
        )
    )


def _iso(value: dt.datetime | None) -> str | None:
    """An instant as stored in the history (SQLite gives it back without its zone: UTC)."""
    if value is None:
        return None
    return as_utc(value).isoformat()
