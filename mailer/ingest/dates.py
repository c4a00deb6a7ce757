"""Dates as newsrooms and web pages print them: single days, ranges, and datelines.

Single days: ``2026-01-03``, ``2026/01/03``, ``2026.01.03``, ``2026年1月3日``, ``3 January 2026``,
``3rd Jan 2026``, ``January 3, 2026``, ``Jan. 3rd, 2026``. Numeric day-month orders
(``03/01/2026``) are not read: they mean different days on either side of the Atlantic.

A *dateline* is a line that prints a date and nothing but publication metadata around it
(weekday, time, time zone, reading time, "Posted on", "Updated", an author or a place, WeChat's
"原创 作者 2026年1月3日 07:31 北京"); a sentence that mentions a date is not one.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["find_date", "is_dateline", "parse_range", "read_dateline"]

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
_ORDINAL = r"(?:st|nd|rd|th)?"
_DAY_MONTH_YEAR = re.compile(
    r"\b(?P<d1>\d{1,2})"
    + _ORDINAL
    + r"\s+(?:of\s+)?"
    + _MONTH.format("m1")
    + r",?\s+(?P<y1>\d{4})\b",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR = re.compile(
    r"\b" + _MONTH.format("m1") + r"\s+(?P<d1>\d{1,2})" + _ORDINAL + r",?\s+(?P<y1>\d{4})\b",
    re.IGNORECASE,
)
# "2026/01/03", "2026.1.3": year first, one separator used twice; not inside a longer number.
_NUMERIC = re.compile(r"(?<![\d.])(\d{4})([/.])(\d{1,2})\2(\d{1,2})(?![\d]|\.\d)")
_CJK = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")


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
    """The first single date in ``text`` in any of the forms above, or None.

    Raises ValueError for a date that does not exist ("31 June 2026").
    """
    found = [(start, _day(y, m, d, printed)) for start, _, y, m, d, printed in _date_spans(text)]
    return min(found)[1] if found else None


def _date_spans(text: str) -> list[tuple[int, int, int, int, int, str]]:
    """Each form's first date in ``text``: (start, end, year, month, day, as printed)."""
    spans: list[tuple[int, int, int, int, int, str]] = []
    if match := _ISO.search(text):
        year, month, day = (int(g) for g in match.groups())
        spans.append((match.start(), match.end(), year, month, day, match.group(0)))
    if match := _NUMERIC.search(text):
        year, month, day = int(match[1]), int(match[3]), int(match[4])
        spans.append((match.start(), match.end(), year, month, day, match.group(0)))
    if match := _CJK.search(text):
        year, month, day = (int(g) for g in match.groups())
        spans.append((match.start(), match.end(), year, month, day, match.group(0)))
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        if match := pattern.search(text):
            named = _MONTHS[match.group("m1").lower()]
            year, day = int(match.group("y1")), int(match.group("d1"))
            spans.append((match.start(), match.end(), year, named, day, match.group(0)))
    return spans


def _day(year: int, month: int, day: int, printed: str) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"invalid date {printed!r}") from None


def _ordered(start: dt.date, end: dt.date, printed: str) -> tuple[dt.date, dt.date]:
    if end < start:
        raise ValueError(f"date range {printed!r} ends before it starts")
    return start, end


#: A dateline is at most this long; a longer line is prose or a heading that mentions a date.
_MAX_DATELINE = 120
#: At most this many names (author, outlet, place) may stand around a dateline's date.
_MAX_NAMES = 5
_READING_TIME = re.compile(r"\d{1,3}\s*-?\s*min(?:ute)?s?\.?\s*(?:read|listen)\b", re.IGNORECASE)
_TIME = re.compile(
    r"(?<![\d:])\d{1,2}[:：]\d{2}(?:[:：]\d{2})?(?:\s*[ap]\.?\s?m\b\.?)?|(?<!\w)\d{1,2}\s*[ap]\.?m\b\.?",
    re.IGNORECASE,
)
_OFFSET = re.compile(r"\b(?:UTC|GMT)\s*[+−-]\s*\d{1,2}(?::?\d{2})?", re.IGNORECASE)
_COUNT = re.compile(
    r"(?<![\w.])\d[\d.,]*[km]?\s+(?:comments?|likes?|claps?|views?|shares?|restacks?)\b",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"[\s·•∙|,，、;；:：/()（）\[\]【】—–-]+|\.(?=\s|$)")
_WEEKDAYS = (
    "monday mon tuesday tue tues wednesday wed thursday thu thur thurs friday fri saturday sat "
    "sunday sun 星期一 星期二 星期三 星期四 星期五 星期六 星期日 星期天 "
    "周一 周二 周三 周四 周五 周六 周日"
)
_ZONES = "et est edt pt pst pdt ct cst cdt mt mst mdt gmt utc bst cet cest jst kst hkt sgt ist z"
_ROLES = "staff writer reporter editor correspondent columnist contributor analyst senior chief"
#: Words a dateline may carry besides its date and names (compared in lower case).
_META_WORDS = frozenset(
    (
        "posted published updated update on at by date dated last modified originally first "
        "released original 原创 发布于 发布时间 发表于 更新于 更新时间 时间 日期 北京时间 "
        f"{_WEEKDAYS} {_ZONES} {_ROLES}"
    ).split()
)
# A name: capitalised ("Jane", "Calif.", "SAN"), Chinese ("北京"), or mixed ("AI前沿").
_NAME = re.compile(r"^(?:[A-Z][A-Za-z0-9'’.&-]{0,24}|[A-Z0-9]{0,6}[\u3400-\u9fff]{1,8})$")


def is_dateline(text: str) -> bool:
    """Whether ``text`` is a standalone date line: a date and only publication metadata."""
    return _dateline_spans(text.strip()) is not None


def read_dateline(text: str) -> dt.date | None:
    """The date a standalone date line prints, or None when ``text`` is no dateline.

    Raises ValueError for a dateline whose date does not exist.
    """
    spans = _dateline_spans(text.strip())
    if spans is None:
        return None
    _, _, year, month, day, printed = min(spans)
    return _day(year, month, day, printed)


def _dateline_spans(text: str) -> list[tuple[int, int, int, int, int, str]] | None:
    if len(text) > _MAX_DATELINE:
        return None
    spans = _date_spans(text)
    if not spans:
        return None
    chars = list(text)
    for start, end, *_ in spans:
        chars[start:end] = " " * (end - start)
    rest = "".join(chars)
    for decoration in (_READING_TIME, _COUNT, _OFFSET, _TIME):
        rest = decoration.sub(" ", rest)
    names = 0
    for token in filter(None, _SEPARATORS.split(rest)):
        if token.lower() in _META_WORDS:
            continue
        if not _NAME.match(token):
            return None  # a word a sentence or a heading would use: the date is mentioned
        names += 1
    return spans if names <= _MAX_NAMES else None
