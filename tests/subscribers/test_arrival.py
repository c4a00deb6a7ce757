"""When the welcome says the first issue arrives: the reader's next hour, or the next digest."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from subscribers.arrival import WeeklySlot, arrival_text, first_arrival
from subscribers.rules import Cadence

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)  # a Thursday, 10:00 in Berlin
MONDAY_8 = WeeklySlot("mon", dt.time(8, 0), "Europe/Berlin")


class TestDaily:
    def test_an_hour_still_ahead_today_is_today(self) -> None:
        """At 10:00 Berlin time with an 18:00 delivery: today at 18:00 Berlin time."""
        when = first_arrival(NOW, Cadence.DAILY, "Europe/Berlin", 18, MONDAY_8)
        assert when == dt.datetime(2026, 12, 3, 18, tzinfo=ZoneInfo("Europe/Berlin"))
        assert arrival_text(when, NOW, "Europe/Berlin") == (
            "today, Thursday 3 December, at 18:00 (Berlin time)"
        )

    def test_an_hour_gone_by_is_tomorrow(self) -> None:
        """At 10:00 with a 07:00 delivery: tomorrow at 07:00."""
        when = first_arrival(NOW, Cadence.DAILY, "Europe/Berlin", 7, MONDAY_8)
        assert when.date() == dt.date(2026, 12, 4) and when.hour == 7

    def test_the_readers_own_date_counts(self) -> None:
        """In Tokyo it is already 18:00 on the 3rd: a 07:00 reader gets the 4th, their date."""
        when = first_arrival(NOW, Cadence.DAILY, "Asia/Tokyo", 7, MONDAY_8)
        assert when == dt.datetime(2026, 12, 4, 7, tzinfo=ZoneInfo("Asia/Tokyo"))
        assert arrival_text(when, NOW, "Asia/Tokyo").startswith("tomorrow, Friday 4 December")


class TestWeekly:
    def test_the_first_digest_is_the_next_monday_at_the_readers_hour(self) -> None:
        """A weekly reader at 09:00 gets Monday's digest (started 08:00) at 09:00."""
        when = first_arrival(NOW, Cadence.WEEKLY, "Europe/Berlin", 9, MONDAY_8)
        assert when == dt.datetime(2026, 12, 7, 9, tzinfo=ZoneInfo("Europe/Berlin"))
        assert arrival_text(when, NOW, "Europe/Berlin") == (
            "on Monday 7 December, at 09:00 (Berlin time)"
        )

    def test_an_hour_before_the_digest_starts_is_the_next_day(self) -> None:
        """A 06:00 reader cannot get a digest that starts at 08:00 before Tuesday 06:00."""
        when = first_arrival(NOW, Cadence.WEEKLY, "Europe/Berlin", 6, MONDAY_8)
        assert when == dt.datetime(2026, 12, 8, 6, tzinfo=ZoneInfo("Europe/Berlin"))

    def test_on_the_digest_day_after_its_start_it_is_next_week(self) -> None:
        """Subscribed on Monday after 08:00: the first digest is the next Monday's."""
        monday = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
        assert MONDAY_8.next_start(monday).date() == dt.date(2026, 12, 14)
