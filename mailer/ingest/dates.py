"""Dates as newsrooms print them: single days and ranges, in ISO or English month names."""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["find_date", "parse_range"]

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<{}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_SEP = r"\s*(?:-|–|—|to|until|bis)\s*"

# "8 - 14 June 2026", "29 June - 5 July 2026", "28 December 2026 - 3 January 2027"
_DAY_FIRST = re.compile(
    r"\b(?P<d1>\d{1,2})(?:\s+"
    + _MONTH.format("m1")
    + r"(?:\s+(?P<y1>\d{4}))?)?"
    + _SEP
    + r"(?P<d2>\d{1,2})\s+"
    + _MONTH.format("m2")
    + r",?\s+(?P<y2>\d{4})\b",
    re.IGNORECASE,
)
# "June 8 - 14, 2026", "June 29 - July 5, 2026", "December 28, 2026 - January 3, 2027"
_MONTH_FIRST = re.compile(
    r"\b"
    + _MONTH.format("m1")
    + r"\s+(?P<d1>\d{1,2})(?:,?\s+(?P<y1>\d{4}))?"
    + _SEP
    + r"(?:"
    + _MONTH.format("m2")
    + r"\s+)?(?P<d2>\d{1,2}),?\s+(?P<y2>\d{4})\b",
    re.IGNORECASE,
)
#: A range printed without its first year is read across New Year only when this short (days).
_MAX_IMPLIED_SPAN = 62
_ISO_RANGE = re.compile(r"\b(\d{4}-\d{2}-\d{2})" + _SEP + r"(\d{4}-\d{2}-\d{2})\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DAY_MONTH_YEAR = re.compile(
    r"\b(?P<d1>\d{1,2})\s+" + _MONTH.format("m1") + r",?\s+(?P<y1>\d{4})\b", re.IGNORECASE
)
_MONTH_DAY_YEAR = re.compile(
    r"\b" + _MONTH.format("m1") + r"\s+(?P<d1>\d{1,2}),?\s+(?P<y1>\d{4})\b", re.IGNORECASE
)


def parse_range(text: str) -> tuple[dt.date, dt.date] | None:
    """The first date range in ``text`` as (first day, last day); a single day gives (d, d).

    Raises ValueError for a range that names impossible dates or ends before it starts.
    """
    if match := _ISO_RANGE.search(text):
        start, end = dt.date.fromisoformat(match.group(1)), dt.date.fromisoformat(match.group(2))
        return _ordered(start, end, match.group(0))
    for pattern in (_DAY_FIRST, _MONTH_FIRST):
        if match := pattern.search(text):
            parts = match.groupdict()
            m2 = _MONTHS[(parts["m2"] or parts["m1"]).lower()]
            m1 = _MONTHS[(parts["m1"] or parts["m2"]).lower()]
            y2 = int(parts["y2"])
            y1 = int(parts["y1"]) if parts["y1"] else (y2 - 1 if m1 > m2 else y2)
            start = _day(y1, m1, int(parts["d1"]), match.group(0))
            end = _day(y2, m2, int(parts["d2"]), match.group(0))
            if not parts["y1"] and (end - start).days > _MAX_IMPLIED_SPAN:
                # "28 December - 3 January 2027" crosses a year; "5 July - 29 June 2026" is
                # backwards, not a range of almost a year.
                raise ValueError(f"date range {match.group(0)!r} ends before it starts")
            return _ordered(start, end, match.group(0))
    day = find_date(text)
    return (day, day) if day else None


def find_date(text: str) -> dt.date | None:
    """The first single date in ``text`` (ISO, '26 June 2026' or 'June 26, 2026'), or None."""
    found: list[tuple[int, dt.date]] = []
    if match := _ISO.search(text):
        year, month, day = (int(g) for g in match.groups())
        found.append((match.start(), _day(year, month, day, match.group(0))))
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        if match := pattern.search(text):
            named = _MONTHS[match.group("m1").lower()]
            date = _day(int(match.group("y1")), named, int(match.group("d1")), match.group(0))
            found.append((match.start(), date))
    return min(found)[1] if found else None


def _day(year: int, month: int, day: int, printed: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"invalid date {printed!r}") from None


def _ordered(start: dt.date, end: dt.date, printed: str) -> tuple[dt.date, dt.date]:
    if end < start:
        raise ValueError(f"date range {printed!r} ends before it starts")
    return start, end
