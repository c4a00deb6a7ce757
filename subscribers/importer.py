"""CSV import and export of one list's subscribers: every row is checked, then all or nothing.

A file starts with a header row naming its columns, in any order; only ``email`` is required:

    email            the address, normalised as subscribe() does
    name             free text (at most 200 characters)
    status           pending | confirmed | unsubscribed                 new rows: pending
    cadence          daily | weekly                                     new rows: daily
    timezone         an IANA name such as Europe/Berlin                new rows: UTC
    send_hour        0-23, the local hour of daily sends                new rows: 7
    topics           topic ids separated by "|"; empty = every topic    new rows: every topic
    consent_source   where the consent came from, free text            default: import
    consent_at       when it was given, ISO 8601 (no zone means UTC)    optional

For an address that is already on the list, an empty cell or a missing column keeps what is
stored; only ``topics`` differs: a present but empty topics cell means "every topic".

Files are safe to open in a spreadsheet. A cell that begins with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is run as a formula by Excel, LibreOffice and Google Sheets, so
export_csv writes such a cell with a ``'`` in front (OWASP's rule; a cell already beginning
with ``'`` and then one of those gets one more), and the import takes that one ``'`` off again:
an exported file imports back unchanged. An address whose local part begins with one of those
characters (``=1+1@example.org``) is refused as it stands; quoted (``"=1+1"@example.org``) or
neutralised (``'=1+1@example.org``) it is taken. A local part that is not ASCII is refused
unless the relay takes SMTPUTF8 (``smtputf8``); IDN domains are always fine.

Every row is checked before anything is written, and every problem is reported (the header is
line 1, so the first data row is line 2); one bad row fails the whole file with ImportFailed and
nothing is written. Suppressed addresses are skipped and counted, never re-added. Status changes
obey the transition table of `subscribers.service`; bounced and complained come only from
bounces, so an import can keep them but never set them. Each created or changed subscription gets
an ``import`` ConsentEvent whose detail holds the row's consent_source and consent_at as JSON;
export_csv reads them back, so an exported file imports back unchanged.

Imports must take seconds for 100,000 rows, so rows are never handled one ORM object at a time:
they are checked in Python, the stored state of each batch of addresses is read with a few
``IN`` queries, and all writes are bulk statements at the end, in the caller's transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar, cast

from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
)
from sqlalchemy import Table, Update, and_, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from mailer.topics import Taxonomy, UnknownTopic
from subscribers.db import Base, utcnow
from subscribers.models import (
    Cadence,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    TopicChoice,
    address_hash,
    new_token_key,
)
from subscribers.service import (
    TRANSITIONS,  # the one transition table; the importer applies it in bulk
    InvalidAddress,
    InvalidTimezone,
    check_deliverable,
    check_timezone,
    normalise_email,
)

__all__ = [
    "COLUMNS",
    "ImportFailed",
    "ImportReport",
    "Progress",
    "RowError",
    "export_csv",
    "import_csv",
    "neutralise",
    "restore",
]

#: Every column a file may have, in the order export_csv writes them.
COLUMNS = (
    "email",
    "name",
    "status",
    "cadence",
    "timezone",
    "send_hour",
    "topics",
    "consent_source",
    "consent_at",
)

#: Called with (rows done, rows in the file) every ~1000 rows; the total is estimated from the
#: file's line count until the last call, which reports (rows, rows).
Progress = Callable[[int, int], object]

_IMPORTABLE = (
    SubscriptionStatus.PENDING,
    SubscriptionStatus.CONFIRMED,
    SubscriptionStatus.UNSUBSCRIBED,
)
_BATCH = 1000  # rows checked against the database per step (and per progress call)
_IN = 500  # values per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
_WRITE = 5000  # rows per round of bulk statements when writing
_SHOWN = 5  # errors quoted in an ImportFailed message
_NAME_MAX = 200  # Subscriber.name
_SOURCE_MAX = 200  # keeps the ConsentEvent detail within its 400 characters
_DETAIL_MAX = 400  # ConsentEvent.detail
#: Line breaks and other control characters: a name goes into To: headers and greetings.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONSENT_ACTIONS = (ConsentAction.IMPORT, ConsentAction.SUBSCRIBE, ConsentAction.CONFIRM)
_T = TypeVar("_T")


@dataclass(frozen=True)
class RowError:
    """One problem with one line of an import file."""

    line: int
    email: str | None
    reason: str

    def __str__(self) -> str:
        """``line 7: bad@ (reason)``, or ``line 7: reason`` when the row has no address."""
        if self.email:
            return f"line {self.line}: {self.email} ({self.reason})"
        return f"line {self.line}: {self.reason}"


class ImportFailed(Exception):
    """A file was refused and nothing was written; ``errors`` names every bad line."""

    def __init__(self, path: str | Path, errors: Sequence[RowError]) -> None:
        self.path = Path(path)
        self.errors = list(errors)
        count = len(self.errors)
        shown = "\n".join(f"  {error}" for error in self.errors[:_SHOWN])
        more = f"\n  … and {count - _SHOWN} more" if count > _SHOWN else ""
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{self.path}: {count} {noun}, nothing imported\n{shown}{more}")


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do) to the list."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_suppressed: int = 0
    dry_run: bool = False
    #: Line numbers of the suppressed rows that were skipped.
    suppressed_lines: list[int] = field(default_factory=list)


def import_csv(
    session: Session,
    newsletter: NewsletterList,
    path: str | Path,
    *,
    taxonomy: Taxonomy,
    dry_run: bool = False,
    progress: Progress | None = None,
    smtputf8: bool = False,
) -> ImportReport:
    """Check every row of a CSV file, then apply them all in the caller's session, or none.

    ``smtputf8``: the relay takes SMTPUTF8, so local parts need not be ASCII.
    """
    path = Path(path)
    report = ImportReport(dry_run=dry_run)
    plan = _Plan(newsletter.id)
    errors: list[RowError] = []
    checker = _RowChecker(taxonomy, smtputf8)
    total = _estimate_rows(path)
    batch: list[_Row] = []
    for line, cells in _records(path, errors, checker):
        report.rows += 1
        row = checker.check(line, cells, errors)
        if row is not None:
            batch.append(row)
        if report.rows % _BATCH == 0:
            _compare(session, plan, batch, report, errors)
            batch = []
            if progress is not None:
                progress(report.rows, max(total, report.rows))
    _compare(session, plan, batch, report, errors)
    if errors:
        raise ImportFailed(path, sorted(errors, key=lambda e: e.line))
    if not dry_run:
        plan.write(session)
    if progress is not None:
        progress(report.rows, report.rows)
    return report


def export_csv(session: Session, newsletter: NewsletterList, path: str | Path) -> int:
    """Write every subscription of the list as CSV (every column), by address; the row count."""
    # One sorted query, streamed in partitions: paging by address would make the database sort
    # the list again for every page.
    rows = session.execute(
        select(
            Subscriber.email,
            Subscriber.name,
            Subscriber.timezone,
            Subscription.id,
            Subscription.subscriber_id,
            Subscription.status,
            Subscription.cadence,
            Subscription.send_hour,
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .where(Subscription.list_id == newsletter.id)
        .order_by(Subscriber.email)
        .execution_options(yield_per=_BATCH)
    )
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for batch in rows.partitions():
            topics = _stored_topics(session, [row[3] for row in batch])
            consent = _latest_consent(session, newsletter.id, [row[4] for row in batch])
            for email, name, zone, subscription_id, subscriber_id, status, cadence, hour in batch:
                cells = (
                    email,
                    name or "",
                    status.value,
                    cadence.value,
                    zone,
                    str(hour),
                    "|".join(sorted(topics.get(subscription_id, ()))),
                    *consent.get(subscriber_id, ("", "")),
                )
                writer.writerow([neutralise(cell) for cell in cells])
            count += len(batch)
    return count


# --- reading and checking ---------------------------------------------------------------------


class _Row(NamedTuple):
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


def _estimate_rows(path: Path) -> int:
    # Counting newlines reads the file at disk speed; quoted cells spanning lines make it an
    # overestimate, which only matters to a progress bar. Errors are left to the real read.
    try:
        with path.open("rb") as stream:
            newlines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    except OSError:
        return 0
    return max(newlines - 1, 0)


class _Lines:
    """The file's physical lines, decoded; a refused line is reported and parsing goes on.

    Lines end at LF, CRLF or a lone CR, as with ``open(newline="")``, which the csv module wants.
    """

    def __init__(self, path: Path, errors: list[RowError]) -> None:
        self.path = path
        self.errors = errors
        #: How many refused lines (not UTF-8, or holding a NUL byte) have been handed out so far.
        self.bad = 0

    def __iter__(self) -> Iterator[str]:
        number = 0
        try:
            with self.path.open("rb") as stream:
                for raw in stream:
                    undecodable = False
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        undecodable = True
                        line = number + 1 + raw.count(b"\r", 0, exc.start)
                        reason = f"not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
                        self.errors.append(RowError(line, None, reason))
                        text = raw.decode("utf-8", errors="replace")
                    if number == 0:
                        text = text.removeprefix("\ufeff")
                    pieces = _LONE_CR.split(text) if "\r" in text[:-2] else (text,)
                    for piece in pieces:
                        if not piece:
                            continue
                        number += 1
                        if undecodable:
                            self.bad += 1
                        elif "\x00" in piece:  # no database stores it in text; binary files have it
                            self.bad += 1
                            reason = "contains a NUL byte (is this a CSV file?)"
                            self.errors.append(RowError(number, None, reason))
                        yield piece
        except OSError as exc:
            reason = f"cannot read the file: {exc.strerror or exc}"
            raise ImportFailed(self.path, [RowError(1, None, reason)]) from exc


_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


def _records(
    path: Path, errors: list[RowError], checker: _RowChecker
) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line, cells) of each data row; the header is checked and set on ``checker``."""
    lines = _Lines(path, errors)
    reader = csv.reader(lines, strict=True)
    end = 0
    header_seen = False
    while True:
        start, bad_before = end + 1, lines.bad
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(start, None, f"not valid CSV: {exc}"))
            # After a broken quote the rest of the file cannot be split into rows reliably.
            raise ImportFailed(path, sorted(errors, key=lambda e: e.line)) from None
        end = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank lines (and rows of empty cells) are ignored
        if lines.bad > bad_before and header_seen:
            continue  # a refused line, already reported: its cells mean nothing
        if not header_seen:
            header_seen = True
            header_errors = checker.set_header(start, cells)
            if errors or header_errors:
                raise ImportFailed(path, errors + header_errors)
            continue
        yield start, cells
    if not header_seen:
        errors.append(
            RowError(1, None, "the file is empty; it needs a header with an email column")
        )
        raise ImportFailed(path, errors)


class _Addresses:
    """normalise_email, remembering each domain's verdict: files repeat a few domains a lot.

    email_validator spends most of its time on the domain (IDNA rules per character). For a
    plain ASCII dot-atom local part the library returns the local part as given (RFC 2142 role
    names aside, which it lowercases), so the address is local + the domain as normalised once;
    anything else goes through normalise_email whole. A test holds the two paths equal.
    """

    def __init__(self) -> None:
        self._domains: dict[str, str | None] = {}

    def normalise(self, address: str) -> str:
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


class _RowChecker:
    """Turns a row's cells into a _Row, or RowErrors.

    Files repeat a handful of statuses, zones, hours and topic sets, so each distinct cell value
    is judged once and the verdict remembered.
    """

    def __init__(self, taxonomy: Taxonomy, smtputf8: bool = False) -> None:
        self._taxonomy = taxonomy
        self._smtputf8 = smtputf8
        self._addresses = _Addresses()
        self._first_line: dict[str, int] = {}  # address hash -> line it first appeared on
        self._statuses: dict[str, SubscriptionStatus | _Bad] = {}
        self._cadences: dict[str, Cadence | _Bad] = {}
        self._zones: dict[str, str | _Bad] = {}
        self._hours: dict[str, int | _Bad] = {}
        self._topics: dict[str, tuple[str, ...] | _Bad] = {}
        self._sources: dict[str, str | _Bad] = {}  # consent_source -> its JSON string
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

    def check(self, line: int, cells: list[str], errors: list[RowError]) -> _Row | None:
        """The row, or None after appending every problem it has to ``errors``."""
        width = self._width
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))  # trailing empty cells left out
        raw, name, status, cadence, zone, hour, topics, source, at = [
            cells[n].strip() if n >= 0 else "" for n in self._positions
        ]
        if raw[:1] in _FORMULA_START:
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
        row = _Row(
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
            return self._taxonomy.validate(value.split("|"))
        except UnknownTopic as exc:
            return _Bad(str(exc))

    def _detail(self, source: str, at: str) -> str:
        """The consent detail recorded with the row's ConsentEvent (JSON, so export can read it)."""
        quoted = self._judge(self._sources, source or "import", _source)
        when = "null"
        if at:
            try:
                parsed = dt.datetime.fromisoformat(at)
            except ValueError:
                self._fail(f"consent_at {at!r} is not an ISO 8601 date and time")
                return ""
            when = f'"{(parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).isoformat()}"'
        detail = f'{{"consent_source": {quoted}, "consent_at": {when}}}'
        if quoted is not None and len(detail) > _DETAIL_MAX:
            self._fail("consent_source is too long to record (quotes and backslashes count twice)")
        return detail


def _status(value: str) -> SubscriptionStatus | _Bad:
    try:
        return SubscriptionStatus(value.lower())
    except ValueError:
        return _Bad(f"unknown status {value!r} (use {_alternatives(_IMPORTABLE)})")


def _cadence(value: str) -> Cadence | _Bad:
    try:
        return Cadence(value.lower())
    except ValueError:
        return _Bad(f"unknown cadence {value!r} (use {_alternatives(tuple(Cadence))})")


def _zone(value: str) -> str | _Bad:
    try:
        return check_timezone(value)
    except InvalidTimezone as exc:
        return _Bad(str(exc))
    except OSError:  # zoneinfo opens "Europe" (a folder) or an over-long name as a file
        return _Bad(str(InvalidTimezone(value)))


def _hour(value: str) -> int | _Bad:
    if len(value) <= 2 and value.isascii() and value.isdigit() and int(value) <= 23:
        return int(value)
    return _Bad(f"send_hour {value!r} is not a whole hour from 0 to 23")


#: What a spreadsheet takes for the start of a formula (OWASP's list).
_FORMULA_START = frozenset("=+-@\t\r")
_NEUTRALISED = re.compile(r"'*[=+\-@\t\r]")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet shows as text: a ``'`` before one it would run as a formula."""
    return "'" + cell if _NEUTRALISED.match(cell) else cell


def restore(cell: str) -> str:
    """The cell ``neutralise`` was given: the ``'`` it added taken off again."""
    return cell[1:] if cell[:1] == "'" and _NEUTRALISED.match(cell, 1) else cell


def _source(value: str) -> str | _Bad:
    if len(value) > _SOURCE_MAX:
        return _Bad(f"consent_source is longer than {_SOURCE_MAX} characters")
    if _CONTROL.search(value):
        return _Bad("consent_source contains a line break or another control character")
    return json.dumps(value, ensure_ascii=False)


def _alternatives(values: Sequence[str]) -> str:
    return f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else "".join(values)


# --- comparing with the database and writing -----------------------------------------------


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


def _update_by_id(table: Table, *columns: str) -> Update:
    """UPDATE table SET column = :_column ... WHERE id = :_id, for executemany."""
    return (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({column: bindparam(f"_{column}") for column in columns})
    )


_UPDATE_SUBSCRIBER = _update_by_id(_table(Subscriber), "name", "timezone")
_UPDATE_SUBSCRIPTION = _update_by_id(
    _table(Subscription), "status", "cadence", "send_hour", "updated_at"
)


class _Create(NamedTuple):
    """A subscription to create, and its subscriber when ``subscriber_id`` is None."""

    key: str
    email: str
    subscriber_id: int | None
    #: Name and time zone: always for a new subscriber; for a stored one only if they change.
    person: tuple[str | None, str] | None
    status: SubscriptionStatus
    cadence: Cadence
    send_hour: int
    topics: tuple[str, ...]
    detail: str


class _Change(NamedTuple):
    """New values for a stored subscription; None where nothing changes."""

    subscriber_id: int
    subscription_id: int
    subscriber: tuple[str | None, str] | None  # name, timezone
    subscription: _Settings | None
    topics: tuple[str, ...] | None
    detail: str


@dataclass
class _Plan:
    """Every write an import will make, one compact tuple per row (no ORM objects, no dicts)."""

    list_id: int
    creates: list[_Create] = field(default_factory=list)
    changes: list[_Change] = field(default_factory=list)

    def write(self, session: Session) -> None:
        """Apply the plan in the caller's transaction, a few thousand rows per bulk statement.

        Statements go to the tables (Core executemany, RETURNING new ids where needed): the ORM's
        bulk insert and update by primary key cost about half as much again per row, and its
        insert opens a new statement whenever a row's set of None columns differs from the last.
        """
        for creates in _chunks(self.creates, _WRITE):
            self._create(session, creates)
        now = utcnow()
        for changes in _chunks(self.changes, _WRITE):
            self._change(session, changes, now)

    def _create(self, session: Session, creates: list[_Create]) -> None:
        subscriber_ids = {c.key: c.subscriber_id for c in creates if c.subscriber_id is not None}
        people = [
            {"_id": c.subscriber_id, "_name": c.person[0], "_timezone": c.person[1]}
            for c in creates
            if c.subscriber_id is not None and c.person is not None
        ]
        if people:
            session.execute(_UPDATE_SUBSCRIBER, people)
        new_people = [
            {
                "email": c.email,
                "email_hash": c.key,
                "name": c.person[0],
                "timezone": c.person[1],
                "token_key": new_token_key(),
            }
            for c in creates
            if c.subscriber_id is None and c.person is not None
        ]
        if new_people:
            returned = session.execute(
                insert(_table(Subscriber)).returning(Subscriber.email_hash, Subscriber.id),
                new_people,
            )
            subscriber_ids.update((key, id_) for key, id_ in returned)
        inserted = session.execute(
            insert(_table(Subscription)).returning(Subscription.subscriber_id, Subscription.id),
            [
                {
                    "subscriber_id": subscriber_ids[c.key],
                    "list_id": self.list_id,
                    "status": c.status,
                    "cadence": c.cadence,
                    "send_hour": c.send_hour,
                }
                for c in creates
            ],
        )
        subscription_ids = {subscriber_id: id_ for subscriber_id, id_ in inserted}
        choices = [
            {"subscription_id": subscription_ids[subscriber_ids[c.key]], "topic": topic}
            for c in creates
            for topic in c.topics
        ]
        if choices:
            session.execute(insert(_table(TopicChoice)), choices)
        self._record(session, [(subscriber_ids[c.key], c.detail) for c in creates])

    def _change(self, session: Session, changes: list[_Change], now: dt.datetime) -> None:
        people = [
            {"_id": c.subscriber_id, "_name": c.subscriber[0], "_timezone": c.subscriber[1]}
            for c in changes
            if c.subscriber is not None
        ]
        if people:
            session.execute(_UPDATE_SUBSCRIBER, people)
        subscriptions = [
            {
                "_id": c.subscription_id,
                "_status": c.subscription[0],
                "_cadence": c.subscription[1],
                "_send_hour": c.subscription[2],
                "_updated_at": now,
            }
            for c in changes
            if c.subscription is not None
        ]
        if subscriptions:
            session.execute(_UPDATE_SUBSCRIPTION, subscriptions)
        retopic = [c for c in changes if c.topics is not None]
        for chunk in _chunks([c.subscription_id for c in retopic], _IN):
            session.execute(delete(TopicChoice).where(TopicChoice.subscription_id.in_(chunk)))
        choices = [
            {"subscription_id": c.subscription_id, "topic": topic}
            for c in retopic
            for topic in c.topics or ()
        ]
        if choices:
            session.execute(insert(_table(TopicChoice)), choices)
        self._record(session, [(c.subscriber_id, c.detail) for c in changes])

    def _record(self, session: Session, events: list[tuple[int, str]]) -> None:
        session.execute(
            insert(_table(ConsentEvent)),
            [
                {
                    "subscriber_id": subscriber_id,
                    "list_id": self.list_id,
                    "action": ConsentAction.IMPORT,
                    "source": ConsentSource.IMPORT,
                    "detail": detail,
                }
                for subscriber_id, detail in events
            ],
        )


class _Settings(NamedTuple):
    """A subscription's status, cadence and send hour."""

    status: SubscriptionStatus
    cadence: Cadence
    send_hour: int


class _Stored(NamedTuple):
    """What the database holds about a row's address."""

    subscriber_id: int
    name: str | None
    timezone: str
    #: The subscription to this list, if any: its id and settings.
    subscription: tuple[int, _Settings] | None


def _compare(
    session: Session,
    plan: _Plan,
    rows: list[_Row],
    report: ImportReport,
    errors: list[RowError],
) -> None:
    """Sort a batch of rows into created, updated, unchanged or suppressed, planning the writes.

    A status change the transition table refuses is an error of its row.
    """
    if not rows:
        return
    suppressed = _suppressed(session, [row.key for row in rows])
    stored = _stored(session, plan.list_id, [row.key for row in rows])
    topics = _stored_topics(
        session, [s.subscription[0] for s in stored.values() if s.subscription is not None]
    )
    for row in rows:
        if row.key in suppressed:
            report.skipped_suppressed += 1
            report.suppressed_lines.append(row.line)
            continue
        found = stored.get(row.key)
        subscription = found.subscription if found else None
        refusal = _refusal(row.status, subscription[1].status if subscription else None)
        if refusal:
            errors.append(RowError(row.line, row.email, refusal))
        elif found is None or subscription is None:
            report.created += 1
            plan.creates.append(_create(row, found))
        else:
            subscription_id, settings = subscription
            change = _change(row, found, subscription_id, settings, topics.get(subscription_id))
            if change is None:
                report.unchanged += 1
            else:
                report.updated += 1
                plan.changes.append(change)


def _refusal(status: SubscriptionStatus | None, current: SubscriptionStatus | None) -> str | None:
    if status is None or status == current:
        return None
    if status not in _IMPORTABLE:
        return f"status {status} comes only from bounces (use {_alternatives(_IMPORTABLE)})"
    if current is not None and status not in TRANSITIONS[current]:
        return f"a {current} subscription cannot become {status} (leave status empty to keep it)"
    return None


def _create(row: _Row, found: _Stored | None) -> _Create:
    return _Create(
        row.key,
        row.email,
        found.subscriber_id if found else None,
        _person(row, found) if found else (row.name, row.timezone or "UTC"),
        row.status or SubscriptionStatus.PENDING,
        row.cadence or Cadence.DAILY,
        7 if row.send_hour is None else row.send_hour,
        row.topics or (),
        row.detail,
    )


def _change(
    row: _Row,
    found: _Stored,
    subscription_id: int,
    stored: _Settings,
    stored_topics: set[str] | None,
) -> _Change | None:
    """What the row changes in a stored subscription, or None when it changes nothing."""
    settings = _Settings(
        row.status or stored.status,
        row.cadence or stored.cadence,
        stored.send_hour if row.send_hour is None else row.send_hour,
    )
    topics_changed = row.topics is not None and set(row.topics) != (stored_topics or set())
    person = _person(row, found)
    if not (topics_changed or settings != stored or person):
        return None
    return _Change(
        found.subscriber_id,
        subscription_id,
        person,
        # A topic change rewrites the settings too, to move updated_at.
        settings if settings != stored or topics_changed else None,
        row.topics if topics_changed else None,
        row.detail,
    )


def _person(row: _Row, found: _Stored) -> tuple[str | None, str] | None:
    """The stored subscriber's new (name, timezone), or None when the row changes neither."""
    person = (row.name or found.name, row.timezone or found.timezone)
    return None if person == (found.name, found.timezone) else person


# The lookups run once per batch of addresses: built once, with an expanding IN parameter, they
# are compiled once and skip building hundreds of bind parameters per query.
_SUPPRESSED = select(Suppression.address_hash).where(
    Suppression.address_hash.in_(bindparam("values", expanding=True))
)
_STORED = (
    select(
        Subscriber.email_hash,
        Subscriber.id,
        Subscriber.name,
        Subscriber.timezone,
        Subscription.id,
        Subscription.status,
        Subscription.cadence,
        Subscription.send_hour,
    )
    .outerjoin(
        Subscription,
        and_(
            Subscription.subscriber_id == Subscriber.id,
            Subscription.list_id == bindparam("list_id"),
        ),
    )
    .where(Subscriber.email_hash.in_(bindparam("values", expanding=True)))
)
_TOPICS = select(TopicChoice.subscription_id, TopicChoice.topic).where(
    TopicChoice.subscription_id.in_(bindparam("values", expanding=True))
)
_CONSENT = (
    select(
        ConsentEvent.subscriber_id,
        ConsentEvent.source,
        ConsentEvent.detail,
        ConsentEvent.created_at,
    )
    .where(
        ConsentEvent.list_id == bindparam("list_id"),
        ConsentEvent.subscriber_id.in_(bindparam("values", expanding=True)),
        ConsentEvent.action.in_(_CONSENT_ACTIONS),
    )
    .order_by(ConsentEvent.id)
)


def _suppressed(session: Session, hashes: Iterable[str]) -> set[str]:
    """The given address hashes that are suppressed."""
    found: set[str] = set()
    for chunk in _chunks(hashes, _IN):
        found.update(session.scalars(_SUPPRESSED, {"values": chunk}))
    return found


def _stored(session: Session, list_id: int, keys: list[str]) -> dict[str, _Stored]:
    """What is stored about each address hash (and its subscription to the list, if any)."""
    found: dict[str, _Stored] = {}
    for chunk in _chunks(keys, _IN):
        params = {"values": chunk, "list_id": list_id}
        for key, subscriber_id, name, zone, sub_id, status, cadence, hour in session.execute(
            _STORED, params
        ):
            subscription = None if sub_id is None else (sub_id, _Settings(status, cadence, hour))
            found[key] = _Stored(subscriber_id, name, zone, subscription)
    return found


def _stored_topics(session: Session, subscription_ids: Sequence[int]) -> dict[int, set[str]]:
    """The chosen topics of each subscription that chose any."""
    found: dict[int, set[str]] = {}
    for chunk in _chunks(subscription_ids, _IN):
        for subscription_id, topic in session.execute(_TOPICS, {"values": chunk}):
            found.setdefault(subscription_id, set()).add(topic)
    return found


def _latest_consent(
    session: Session, list_id: int, subscriber_ids: Sequence[int]
) -> dict[int, tuple[str, str]]:
    """(consent_source, consent_at) of each subscriber's newest import/subscribe/confirm event."""
    found: dict[int, tuple[str, str]] = {}
    for chunk in _chunks(subscriber_ids, _IN):
        params = {"values": chunk, "list_id": list_id}
        for subscriber_id, source, detail, created_at in session.execute(_CONSENT, params):
            found[subscriber_id] = _consent_of(str(source), detail, created_at)
    return found


def _consent_of(source: str, detail: str | None, created_at: dt.datetime) -> tuple[str, str]:
    # Our imports store {"consent_source", "consent_at"}; other events (a web subscription, a
    # confirmation) were consented to where and when they happened.
    try:
        recorded = json.loads(detail or "")
    except ValueError:
        recorded = None
    if isinstance(recorded, dict) and isinstance(recorded.get("consent_source"), str):
        return recorded["consent_source"], str(recorded.get("consent_at") or "")
    when = created_at if created_at.tzinfo else created_at.replace(tzinfo=dt.UTC)
    return source, when.isoformat()


def _chunks(values: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
