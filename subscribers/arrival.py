"""When a new reader's first issue arrives, in their own time: what the welcome e-mail promises.

A daily reader gets the newest issue at their own local hour, so the first one comes at the
next such hour. A weekly reader gets the digest the scheduler starts at ``[schedule]
weekly_day`` and ``weekly_time`` (in the schedule's zone), delivered at their own hour from
then on: the first is at that hour on or after the next digest start. The promise is the
schedule's: a day without an issue sends none, and the reader gets the next one instead.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from subscribers.rules import Cadence

__all__ = ["WeeklySlot", "arrival_text", "first_arrival"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class WeeklySlot:
    """When the weekly digest starts: a weekday ("mon"…), a time and the schedule's zone."""

    day: str = "mon"
    time: dt.time = dt.time(8, 0)
    timezone: str = "UTC"

    def next_start(self, now: dt.datetime) -> dt.datetime:
        """The first start of the digest after ``now`` (aware, in the schedule's zone)."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        ahead = (_DAYS.index(self.day) - local.weekday()) % 7
        start = dt.datetime.combine(local.date() + dt.timedelta(days=ahead), self.time, zone)
        return start if start > local else start + dt.timedelta(days=7)


def _at_hour(day: dt.date, hour: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), zone)


def first_arrival(
    now: dt.datetime, cadence: Cadence, timezone: str, send_hour: int, weekly: WeeklySlot
) -> dt.datetime:
    """When the first issue reaches a reader who has just confirmed (aware, in their zone)."""
    zone = ZoneInfo(timezone)
    if cadence == Cadence.WEEKLY:
        start = weekly.next_start(now).astimezone(zone)
        when = _at_hour(start.date(), send_hour, zone)
        return when if when >= start else when + dt.timedelta(days=1)
    local = now.astimezone(zone)
    when = _at_hour(local.date(), send_hour, zone)
    return when if when > local else _at_hour(local.date() + dt.timedelta(days=1), send_hour, zone)


def arrival_text(when: dt.datetime, now: dt.datetime, timezone: str) -> str:
    """The arrival as the reader reads it: "tomorrow, Friday 4 December, at 07:00 (Paris time)"."""
    local_now = now.astimezone(when.tzinfo)
    days = (when.date() - local_now.date()).days
    date = f"{when:%A} {when.day} {when:%B}"
    near = {0: "today, ", 1: "tomorrow, "}.get(days, "on ")
    place = timezone.rsplit("/", 1)[-1].replace("_", " ")
    return f"{near}{date}, at {when:%H:%M} ({place} time)"
