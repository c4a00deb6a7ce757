"""Dates and ranges as newsrooms print them."""

from __future__ import annotations

import datetime as dt

import pytest

from mailer.ingest.dates import find_date, parse_range

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
