"""Checking rows: each row's cells become a checked Row, or RowErrors naming line and field.

The rules themselves (addresses, cadence, time zone, send hour, topics) are `subscribers.rules`;
this module applies them to cells, remembering each distinct cell's verdict, because files
repeat a handful of statuses, zones, hours, topic sets and domains thousands of times.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
)

from mailer.topics import Taxonomy
from subscribers.importer.read import COLUMNS, FORMULA_START, RowError, restore
from subscribers.importer.write import consent_detail
from subscribers.models import SubscriptionStatus, address_hash
from subscribers.rules import (
    Cadence,
    InvalidAddress,
    RuleError,
    check_deliverable,
    check_timezone,
    normalise_email,
    parse_cadence,
    parse_send_hour,
    parse_topics,
)

__all__ = ["IMPORTABLE", "Addresses", "Row", "RowChecker", "alternatives"]

#: The statuses a file may set; bounced and complained come only from bounces.
IMPORTABLE = (
    SubscriptionStatus.PENDING,
    SubscriptionStatus.CONFIRMED,
    SubscriptionStatus.UNSUBSCRIBED,
)
_NAME_MAX = 200  # Subscriber.name
_SOURCE_MAX = 200  # keeps the ConsentEvent detail within its 400 characters
_DETAIL_MAX = 400  # ConsentEvent.detail
#: Line breaks and other control characters: a name goes into To: headers and greetings.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Row(NamedTuple):
    """One checked row; None means the cell was empty (or the column absent)."""

    line: int
    email: str
    #: address_hash(email): who the row is about (one person per address, whatever its case).
    key: str
    name: str | None
    status: SubscriptionStatus | None
    cadence: Cadence | None
    timezone: str | None
    send_hour: int | None
    topics: tuple[str, ...] | None
    detail: str


class Addresses:
    """normalise_email, remembering each domain's verdict: files repeat a few domains a lot.

    email_validator spends most of its time on the domain (IDNA rules per character). For a
    plain ASCII dot-atom local part the library returns the local part as given (RFC 2142 role
    names aside, which it lowercases), so the address is local + the domain as normalised once;
    anything else goes through normalise_email whole. A test holds the two paths equal.
    """

    def __init__(self) -> None:
        self._domains: dict[str, str | None] = {}

    def normalise(self, address: str) -> str:
        """What normalise_email gives for the address; InvalidAddress when it is not one."""
        local, at, domain = address.partition("@")
        if (
            at
            and address.isascii()
            and len(address) <= EMAIL_MAX_LENGTH
            and DOT_ATOM_TEXT.match(local)
            and local.lower() not in _ROLE_NAMES
        ):
            if domain not in self._domains:
                try:
                    self._domains[domain] = normalise_email(f"x@{domain}").partition("@")[2]
                except InvalidAddress:
                    self._domains[domain] = None
            known = self._domains[domain]
            if known is not None:
                return f"{local}@{known}"
        return normalise_email(address)


_ROLE_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


class _Bad(NamedTuple):
    """A cell value that is refused, and why."""

    reason: str


_V = TypeVar("_V")


class RowChecker:
    """Turns a row's cells into a Row, or RowErrors.

    Files repeat a handful of statuses, zones, hours and topic sets, so each distinct cell value
    is judged once and the verdict remembered.
    """

    def __init__(self, taxonomy: Taxonomy, smtputf8: bool = False) -> None:
        self._taxonomy = taxonomy
        self._smtputf8 = smtputf8
        self._addresses = Addresses()
        self._first_line: dict[str, int] = {}  # address hash -> line it first appeared on
        self._statuses: dict[str, SubscriptionStatus | _Bad] = {}
        self._cadences: dict[str, Cadence | _Bad] = {}
        self._zones: dict[str, str | _Bad] = {}
        self._hours: dict[str, int | _Bad] = {}
        self._topics: dict[str, tuple[str, ...] | _Bad] = {}
        self._sources: dict[str, str | _Bad] = {}
        self._positions: tuple[int, ...] = ()  # cell index of each of COLUMNS, -1 when absent
        self._width = 0
        # The row being checked: its line, its email cell, and its problems so far.
        self._line = 0
        self._raw = ""
        self._found: list[RowError] = []

    def set_header(self, line: int, cells: list[str]) -> list[RowError]:
        """Learn the column positions; errors for unknown, unnamed, repeated or missing ones."""
        names = [cell.strip().lower() for cell in cells]
        errors: list[RowError] = []
        unknown = [name for name in names if name and name not in COLUMNS]
        if unknown:
            listed = ", ".join(repr(name) for name in unknown)
            errors.append(
                RowError(line, None, f"unknown column {listed} (columns: {', '.join(COLUMNS)})")
            )
        if "" in names:
            errors.append(RowError(line, None, f"column {names.index('') + 1} has no name"))
        repeated = sorted({name for name in names if name and names.count(name) > 1})
        if repeated:
            errors.append(RowError(line, None, f"column {', '.join(repeated)} appears twice"))
        if "email" not in names:
            errors.append(RowError(line, None, "no email column (it is required)"))
        self._positions = tuple(names.index(c) if c in names else -1 for c in COLUMNS)
        self._width = len(names)
        return errors

    def check(self, line: int, cells: list[str], errors: list[RowError]) -> Row | None:
        """The row, or None after appending every problem it has to ``errors``."""
        width = self._width
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))  # trailing empty cells left out
        raw, name, status, cadence, zone, hour, topics, source, at = [
            cells[n].strip() if n >= 0 else "" for n in self._positions
        ]
        if raw[:1] in FORMULA_START:
            self._line, self._raw, self._found = line, raw, []
            self._fail(
                f"the address begins with {raw[0]!r}, which a spreadsheet runs as a formula; "
                f"quote its local part or put a ' in front of it"
            )
            errors.extend(self._found)
            return None
        raw, name, source = restore(raw), restore(name), restore(source)
        self._line, self._raw, self._found = line, raw, []
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            self._fail(f"{len(cells)} cells but the header names {width} columns")
        email, key = self._email()
        if len(name) > _NAME_MAX:
            self._fail(f"name is longer than {_NAME_MAX} characters")
        elif _CONTROL.search(name):
            self._fail("name contains a line break or another control character")
        row = Row(
            line,
            email or "",
            key,
            name or None,
            self._judge(self._statuses, status, _status) if status else None,
            self._judge(self._cadences, cadence, _cadence) if cadence else None,
            self._judge(self._zones, zone, _zone) if zone else None,
            self._judge(self._hours, hour, _hour) if hour else None,
            # A topics column that is present but empty means every topic.
            self._judge(self._topics, topics, self._topic_set) if self._positions[6] >= 0 else None,
            self._detail(source, at),
        )
        if self._found or email is None:
            errors.extend(self._found)
            return None
        return row

    def _fail(self, reason: str) -> None:
        self._found.append(RowError(self._line, self._raw or None, reason))

    def _judge(
        self, cache: dict[str, _V | _Bad], value: str, parse: Callable[[str], _V | _Bad]
    ) -> _V | None:
        verdict = cache.get(value)
        if verdict is None:
            verdict = cache[value] = parse(value)
        if isinstance(verdict, _Bad):
            self._fail(verdict.reason)
            return None
        return verdict

    def _email(self) -> tuple[str | None, str]:
        if not self._raw:
            self._fail("email is empty")
            return None, ""
        try:
            if self._raw.startswith('"'):  # a quoted local part ("=1+1"@example.org)
                email = normalise_email(self._raw, quoted_local=True)
            else:
                email = self._addresses.normalise(self._raw)
            check_deliverable(email, smtputf8=self._smtputf8)
        except InvalidAddress as exc:
            self._fail(str(exc))
            return None, ""
        key = address_hash(email)
        first = self._first_line.setdefault(key, self._line)
        if first != self._line:
            self._fail(f"duplicate of line {first}")
        return email, key

    def _topic_set(self, value: str) -> tuple[str, ...] | _Bad:
        try:
            return parse_topics(value, self._taxonomy)
        except RuleError as exc:
            return _Bad(str(exc))

    def _detail(self, source: str, at: str) -> str:
        """The consent detail recorded with the row's ConsentEvent (JSON, so export can read it)."""
        checked = self._judge(self._sources, source or "import", _source)
        when = None
        if at:
            try:
                when = dt.datetime.fromisoformat(at)
            except ValueError:
                self._fail(f"consent_at {at!r} is not an ISO 8601 date and time")
                return ""
        if checked is None:
            return ""  # the row is refused already
        detail = consent_detail(checked, when)
        if len(detail) > _DETAIL_MAX:
            self._fail("consent_source is too long to record (quotes and backslashes count twice)")
        return detail


def _status(value: str) -> SubscriptionStatus | _Bad:
    try:
        return SubscriptionStatus(value.lower())
    except ValueError:
        return _Bad(f"unknown status {value!r} (use {alternatives(IMPORTABLE)})")


def _ruled(rule: Callable[[str], _V]) -> Callable[[str], _V | _Bad]:
    """A rule of `subscribers.rules` as a cell check: its refusal becomes the cell's verdict."""

    def judge(value: str) -> _V | _Bad:
        try:
            return rule(value)
        except RuleError as exc:
            return _Bad(str(exc))

    return judge


_cadence: Callable[[str], Cadence | _Bad] = _ruled(parse_cadence)
_zone: Callable[[str], str | _Bad] = _ruled(check_timezone)
_hour: Callable[[str], int | _Bad] = _ruled(parse_send_hour)


def _source(value: str) -> str | _Bad:
    if len(value) > _SOURCE_MAX:
        return _Bad(f"consent_source is longer than {_SOURCE_MAX} characters")
    if _CONTROL.search(value):
        return _Bad("consent_source contains a line break or another control character")
    return value


def alternatives(values: Sequence[str]) -> str:
    """The choices a message offers, as "a, b or c"."""
    return f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else "".join(values)
