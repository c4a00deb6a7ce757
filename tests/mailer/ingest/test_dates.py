"""Dates and ranges as newsrooms print them."""

from __future__ import annotations

import datetime as dt

import pytest

from mailer.ingest.dates import find_date, is_dateline, parse_range, read_dateline

D = dt.date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8 - 14 June 2026", (D(2026, 6, 8), D(2026, 6, 14))),
        ("8–14 June 2026", (D(2026, 6, 8), D(2026, 6, 14))),
        ("29 June - 5 July 2026", (D(2026, 6, 29), D(2026, 7, 5))),
        ("28 December - 3 January 2027", (D(2026, 12, 28), D(2027, 1, 3))),
        ("28 December 2026 - 3 January 2027", (D(2026, 12, 28), D(2027, 1, 3))),
        ("June 8-14, 2026", (D(2026, 6, 8), D(2026, 6, 14))),
        ("June 29 - July 5, 2026", (D(2026, 6, 29), D(2026, 7, 5))),
        ("2026-06-24 to 2026-06-26", (D(2026, 6, 24), D(2026, 6, 26))),
        ("Brief — 2026-06-26", (D(2026, 6, 26), D(2026, 6, 26))),
        ("no date here", None),
    ],
)
def test_ranges(text: str, expected: tuple[dt.date, dt.date] | None) -> None:
    """Day-first, month-first and ISO ranges, across months and years, and single days."""
    assert parse_range(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("31 June 2026", "invalid date '31 June 2026'"), ("14 - 8 June 2026", "ends before")],
)
def test_impossible_dates_are_errors(text: str, message: str) -> None:
    """Dates that do not exist, and backwards ranges, raise ValueError naming them."""
    with pytest.raises(ValueError, match=message):
        parse_range(text)


def test_first_date_wins() -> None:
    """find_date returns the earliest date printed in the text."""
    assert find_date("Posted on June 26, 2026; updated 2026-06-27") == D(2026, 6, 26)


JAN_3 = D(2026, 1, 3)


@pytest.mark.parametrize(
    "text",
    [
        "Saturday, Jan 3, 2026 7:31 am ET",
        "Saturday, Jan 3, 2026 7:31 am ET3min read",
        "Jan 3, 2026",
        "Jan. 3rd, 2026",
        "January 3, 2026",
        "3 January 2026",
        "3 Jan 2026",
        "2026-01-03",
        "2026/01/03",
        "2026.01.03",
        "2026年1月3日",
        "2026年1月3日 07:31",
        "原创 张晓明 芯片观察 2026年1月3日 07:31 北京",
        "Posted on January 3, 2026 at 09:30 PM",
        "Published: 3 January 2026",
        "Jane Doe · Jan 3, 2026 · 5 min read",
        "Last updated: 2026-01-03 09:00 UTC+8",
    ],
)
def test_datelines_in_common_forms(text: str) -> None:
    """A standalone date line in any common form dates its text (3 January 2026)."""
    assert is_dateline(text)
    assert read_dateline(text) == JAN_3
    assert find_date(text) == JAN_3


@pytest.mark.parametrize(
    "text",
    [
        "Shares of the foundry rose on Jan 3, 2026.",
        "The conference opens on 3 January 2026",
        "据报道，该工厂于2026年1月3日正式投产，首批晶圆已经交付客户。",
        "Release 2026.01.03.4 fixes the installer",
        "No date on this line",
    ],
)
def test_a_date_mentioned_in_text_is_no_dateline(text: str) -> None:
    """A sentence or heading that mentions a date is not a dateline."""
    assert read_dateline(text) is None


def test_a_dateline_with_an_impossible_date_is_an_error() -> None:
    """A dateline naming a day that does not exist raises ValueError naming it."""
    with pytest.raises(ValueError, match="invalid date '2026年2月30日'"):
        read_dateline("2026年2月30日 07:31")
