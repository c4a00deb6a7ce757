"""When each reader gets an issue: their local send hour, and whether an issue is still fresh.

A daily brief dated D reaches a reader at their chosen hour (default 07:00) of D in their own
time zone: 07:00 in Shanghai, Berlin and Los Angeles are three different instants, and the
instant of "07:00 in Berlin" moves by an hour twice a year. Computing it from the local date
through `zoneinfo` each time, rather than adding a fixed offset, is what keeps a DST change
from skipping or doubling a send. A local time that does not exist (the hour the clocks skip)
is read with the offset before the change, which lands just after the gap.

Jobs decide *when* only; whether anybody gets a copy twice is the ledger's business.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Freshness", "freshness", "local_send_time"]


def local_send_time(day: dt.date, zone: str, hour: int) -> dt.datetime:
    """The UTC instant of ``hour``:00 on ``day`` in time zone ``zone`` (UTC if unknown)."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        # Zones are checked when a subscriber is saved; a zone that later vanished from the
        # tz database must not stop a send.
        tz = ZoneInfo("UTC")
    local = dt.datetime.combine(day, dt.time(hour % 24), tzinfo=tz)
    return local.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class Freshness:
    """Whether a job may still send an issue on its own, and if not, why."""

    fresh: bool
    age: dt.timedelta
    reason: str


def freshness(created_at: dt.datetime, now: dt.datetime, max_age: dt.timedelta) -> Freshness:
    """An issue ingested longer than ``max_age`` ago is stale: jobs do not send it any more.

    After downtime a scheduler must not mail yesterday's news as if it were today's; an
    operator can still send a stale issue by hand (`briefmail send ISSUE`).
    """
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.UTC)
    age = now - created_at
    if age <= max_age:
        return Freshness(True, age, "")
    hours = age.total_seconds() / 3600
    return Freshness(
        False,
        age,
        f"ingested {hours:.0f} h ago, more than schedule.max_age_hours "
        f"({max_age.total_seconds() / 3600:g} h): not sent automatically",
    )
