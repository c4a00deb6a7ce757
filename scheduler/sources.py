"""Sources: feeds and folders polled into drafts, each entry ingested once.

A source is a feed (RSS, Atom or JSON Feed, fetched with conditional GET) or a folder, and the
list its issues go to. Polling it reads what is new since the last poll and hands each new or
changed entry to an `IssueSink` (the application's ingest: parse, tag, title, store as a draft
or approved). What was seen is remembered per source in the database, keyed by the entry's id
(else its link; a folder's file by its name), together with a digest of what the feed said:

- a new entry is ingested once; the same entry on the next poll is passed over;
- a changed entry is ingested again *into the issue it made*, so a correction updates the draft
  (or the approved issue, which an editor-approved source returns to draft) — never a sent one:
  that is skipped and logged;
- an entry that is no issue (a page the detectors refuse) is remembered as skipped with the
  reason, and not fetched again until it changes; one whose page could not be fetched is tried
  again next poll, and the feed's validators are kept back so that poll is not a 304.

Each entry is stored in its own transaction: a bad entry fails alone, and a crash in the middle
loses nothing (what was stored is remembered; the rest is read again). Faults of the source
itself (unreachable, a 500, a timeout, a malformed feed) are recorded on the source and logged;
the poller tries again at the next due time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from mailer.ingest import IngestError
from mailer.ingest.feeds import FeedEntry, FeedError, parse_feed
from scheduler.editions import IssueAlreadySent, IssueStateError
from scheduler.fetching import Fetcher, FetchError
from subscribers.db import Base, DatabaseUnavailable, as_utc, utcnow

__all__ = [
    "EntryResult",
    "IssueSink",
    "PollReport",
    "SourceEntry",
    "SourceSpec",
    "SourceState",
    "Stored",
    "due",
    "log_report",
    "poll_source",
    "source_state",
]

log = logging.getLogger("briefmail.sources")
#: Files a folder source reads (others — a .DS_Store, an editor's swap file — are passed over).
FOLDER_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".html", ".htm", ".json"})
#: What an entry's ingest ended in. Only "failed" is tried again while the entry is unchanged.
STORED, UPDATED, UNCHANGED, SKIPPED, FAILED = "stored", "updated", "unchanged", "skipped", "failed"


class SourceState(Base):
    """What the poller knows of one source: its HTTP validators and its last poll."""

    __tablename__ = "source_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The list and the address or folder: a renamed source keeps its memory.
    key: Mapped[str] = mapped_column(String(1000), unique=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    polled_at: Mapped[dt.datetime | None]
    #: The last poll that read the source (200 or 304).
    ok_at: Mapped[dt.datetime | None]
    #: Why the last poll failed; None when it worked.
    error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(default=0)


class SourceEntry(Base):
    """One entry (or file) of a source, as last seen, and the issue it made."""

    __tablename__ = "source_entries"
    __table_args__ = (UniqueConstraint("source_id", "key_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("source_states.id", ondelete="CASCADE"), index=True
    )
    #: sha256 of the entry's key (ids and links can be longer than an index allows).
    key_hash: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(500))
    #: A digest of what the source said of the entry: another one means it changed.
    digest: Mapped[str] = mapped_column(String(64))
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A configured source, as the poller needs it (the application builds it from settings)."""

    label: str
    list_slug: str
    url: str | None = None
    folder: Path | None = None
    #: What arrives is approved at once (else it waits as a draft).
    approve: bool = False
    poll_minutes: float = 30.0
    format: str = "auto"
    #: How long one request (the feed, or an entry's page) may take.
    timeout_seconds: float = 20.0

    @property
    def key(self) -> str:
        """What the source's memory is stored under: its list and address or folder."""
        return f"{self.list_slug}:{self.url or self.folder}"


@dataclass(frozen=True, slots=True)
class Stored:
    """What the sink did with an entry: the issue and "stored", "updated" or "unchanged"."""

    issue_id: int
    outcome: str


class IssueSink(Protocol):
    """Where the poller hands each entry: the application's ingest of source bytes."""

    def store(
        self,
        data: bytes,
        name: str,
        source: SourceSpec,
        *,
        base_url: str | None,
        received: dt.date | None,
        into: int | None,
    ) -> Stored:
        """Parse, tag, title and store; ``into`` is the issue the entry made before.

        Raises IngestError for what is no issue, IssueAlreadySent for a sent ``into``.
        """
        ...


@dataclass(frozen=True, slots=True)
class EntryResult:
    """What a poll did with one entry."""

    key: str
    title: str
    action: str
    issue_id: int | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, object]:
        """The shape `sources poll --json` prints per entry."""
        return {
            "key": self.key,
            "title": self.title,
            "action": self.action,
            "issue_id": self.issue_id,
            "reason": self.reason,
        }


@dataclass
class PollReport:
    """What one poll of one source did."""

    source: str
    #: "ok", "not modified", "error", or "checked" (a dry run).
    status: str = "ok"
    error: str | None = None
    entries: list[EntryResult] = field(default_factory=list)
    #: Entries seen before and unchanged: passed over.
    seen: int = 0

    def count(self, action: str) -> int:
        """How many entries ended in ``action``."""
        return sum(1 for entry in self.entries if entry.action == action)

    def as_json(self) -> dict[str, object]:
        """The shape `sources poll --json` prints per source."""
        return {
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "seen": self.seen,
            "entries": [entry.as_json() for entry in self.entries],
        }


def source_state(session: Session, spec: SourceSpec) -> SourceState | None:
    """What the poller remembers of a source (None: never polled)."""
    return session.scalar(select(SourceState).where(SourceState.key == spec.key))


def due(state: SourceState | None, spec: SourceSpec, now: dt.datetime) -> bool:
    """Whether a source should be polled now (never polled, or its poll_minutes have passed)."""
    if state is None or state.polled_at is None:
        return True
    polled = as_utc(state.polled_at)
    # A few seconds' slack: the job fires on a tick, not on the exact second.
    return now >= polled + dt.timedelta(minutes=spec.poll_minutes) - dt.timedelta(seconds=5)


def poll_source(
    spec: SourceSpec,
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    sink: IssueSink,
    *,
    dry_run: bool = False,
    settle_seconds: float = 2.0,
) -> PollReport:
    """Poll one source: ingest what is new or changed; a dry run only says what it would do."""
    report = PollReport(spec.label, "checked" if dry_run else "ok")
    state_id = _state_id(sessions, spec)
    try:
        if spec.url is not None:
            complete = _poll_feed(spec, state_id, sessions, fetcher, sink, report, dry_run)
        else:
            complete = _poll_folder(spec, state_id, sessions, sink, report, dry_run, settle_seconds)
    except (FetchError, FeedError, OSError) as exc:
        report.status, report.error = "error", " ".join(str(exc).split())
        complete = None
    if not dry_run:
        _finish(sessions, state_id, report, complete)
    return report


def _state_id(sessions: sessionmaker[Session], spec: SourceSpec) -> int:
    """The source's state row, made on its first poll."""
    with sessions() as session:
        state = source_state(session, spec)
        if state is not None:
            return state.id
        session.add(SourceState(key=spec.key))
        try:
            session.commit()
        except IntegrityError:  # another poller made it first
            session.rollback()
        state = source_state(session, spec)
        assert state is not None
        return state.id


@dataclass(frozen=True, slots=True)
class _Validators:
    """The feed answer's validators, stored once every entry of it is dealt with."""

    etag: str | None
    last_modified: str | None


def _poll_feed(
    spec: SourceSpec,
    state_id: int,
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    sink: IssueSink,
    report: PollReport,
    dry_run: bool,
) -> _Validators | None:
    """Fetch the feed (conditionally) and ingest its entries, oldest first."""
    assert spec.url is not None
    with sessions() as session:
        state = session.get(SourceState, state_id)
        etag = state.etag if state and not dry_run else None
        modified = state.last_modified if state and not dry_run else None
    answer = fetcher.fetch(spec.url, etag=etag, last_modified=modified)
    if answer.not_modified:
        report.status = "not modified"
        return _Validators(etag, modified)
    feed = parse_feed(answer.body, answer.url)
    for entry in _oldest_first(feed.entries):
        result = _take_entry(spec, state_id, sessions, fetcher, sink, entry, dry_run)
        if result is None:
            report.seen += 1
        else:
            report.entries.append(result)
    if report.count(FAILED):
        return None  # keep the old validators: the next poll must see these entries again
    return _Validators(answer.etag, answer.last_modified)


def _oldest_first(entries: tuple[FeedEntry, ...]) -> list[FeedEntry]:
    """Entries by date, oldest first (feeds list the newest first), undated ones in feed order."""
    dated = all(entry.published or entry.updated for entry in entries)
    if not dated:
        return list(reversed(entries))
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(entries, key=lambda e: e.published or e.updated or epoch)


def _take_entry(
    spec: SourceSpec,
    state_id: int,
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    sink: IssueSink,
    entry: FeedEntry,
    dry_run: bool,
) -> EntryResult | None:
    """Ingest one entry if it is new or changed (None: seen before, unchanged)."""
    known = _known(sessions, state_id, entry.key)
    if known is not None and known.digest == entry.digest and known.outcome != FAILED:
        return None
    if dry_run:
        return EntryResult(entry.key, entry.title, "new" if known is None else "changed")
    into = known.issue_id if known is not None else None
    try:
        data, base_url = _entry_document(entry, fetcher)
    except FetchError as exc:  # the page is unreachable now: tried again next poll
        result = EntryResult(entry.key, entry.title, FAILED, into, _one_line(exc))
    else:
        name = entry.link or entry.key
        result = _hand_over(
            spec, sink, data, entry.key, entry.title, name, base_url, entry.day, into
        )
    _remember(sessions, state_id, entry.key, entry.digest, result)
    return result


def _entry_document(entry: FeedEntry, fetcher: Fetcher) -> tuple[bytes, str | None]:
    """What to ingest for an entry: its full body, else its page (FetchError when unreachable)."""
    if not entry.full and entry.link:
        answer = fetcher.fetch(entry.link)
        return answer.body, answer.url
    body = entry.body or entry.summary or ""
    if not entry.html and entry.body is not None:
        return body.encode("utf-8"), entry.link
    # A feed's HTML is a fragment: give it the page around it a web page would have, with the
    # entry's title and date where the HTML reader looks for them.
    published = entry.published or entry.updated
    meta = (
        f'<meta property="article:published_time" content="{published.isoformat()}">'
        if published
        else ""
    )
    page = (
        f'<!doctype html><html><head><meta charset="utf-8">{meta}'
        f"<title>{html.escape(entry.title)}</title></head><body><article>"
        f"<h1>{html.escape(entry.title)}</h1>{body}</article></body></html>"
    )
    return page.encode("utf-8"), entry.link


def _poll_folder(
    spec: SourceSpec,
    state_id: int,
    sessions: sessionmaker[Session],
    sink: IssueSink,
    report: PollReport,
    dry_run: bool,
    settle_seconds: float,
) -> _Validators | None:
    """Ingest the folder's new or changed files, oldest first."""
    assert spec.folder is not None
    folder = spec.folder
    if not folder.is_dir():
        raise FetchError(f"{folder}: no such folder")
    for path, modified in _settled_files(folder, settle_seconds):
        name = path.relative_to(folder).as_posix()
        try:
            data = path.read_bytes()
        except OSError as exc:  # gone or unreadable since it was listed: next poll
            report.entries.append(EntryResult(name, name, FAILED, None, _one_line(exc)))
            continue
        digest = hashlib.sha256(data).hexdigest()
        known = _known(sessions, state_id, name)
        if known is not None and known.digest == digest and known.outcome != FAILED:
            report.seen += 1
            continue
        if dry_run:
            report.entries.append(EntryResult(name, name, "new" if known is None else "changed"))
            continue
        into = known.issue_id if known is not None else None
        result = _hand_over(spec, sink, data, name, name, name, None, modified.date(), into)
        _remember(sessions, state_id, name, digest, result)
        report.entries.append(result)
    return None


def _settled_files(folder: Path, settle_seconds: float) -> Iterator[tuple[Path, dt.datetime]]:
    """The folder's issue files, oldest first, leaving out those still being written."""
    now = time.time()
    found = []
    for path in folder.rglob("*"):
        if path.name.startswith((".", "~")) or path.suffix.lower() not in FOLDER_SUFFIXES:
            continue
        if not path.is_file():
            continue
        stat = path.stat()
        # A file modified within the last seconds may still be being copied in.
        if now - stat.st_mtime < settle_seconds:
            continue
        found.append((stat.st_mtime, path.name, path))
    for mtime, _, path in sorted(found):
        yield path, dt.datetime.fromtimestamp(mtime, dt.UTC)


def _hand_over(
    spec: SourceSpec,
    sink: IssueSink,
    data: bytes,
    key: str,
    title: str,
    name: str,
    base_url: str | None,
    day: dt.date | None,
    into: int | None,
) -> EntryResult:
    """Hand one entry or file to the sink; a refusal or a fault fails it alone."""
    try:
        stored = sink.store(data, name, spec, base_url=base_url, received=day, into=into)
        return EntryResult(key, title, stored.outcome, stored.issue_id)
    except (IngestError, IssueAlreadySent, IssueStateError) as exc:
        return EntryResult(key, title, SKIPPED, into, _one_line(exc))
    except (DatabaseUnavailable, SQLAlchemyError):
        raise  # the database's fault, not the entry's: the job backs off and tries again
    except Exception as exc:  # one bad entry fails alone, whatever a parser raised
        log.exception("source %s: %s could not be ingested", spec.label, key)
        return EntryResult(key, title, FAILED, into, f"{type(exc).__name__}: {exc}")


def _entry_row(session: Session, state_id: int, key: str) -> SourceEntry | None:
    """The entry as last seen, in this session, if it was."""
    return session.scalar(
        select(SourceEntry).where(
            SourceEntry.source_id == state_id, SourceEntry.key_hash == _hash(key)
        )
    )


def _known(sessions: sessionmaker[Session], state_id: int, key: str) -> SourceEntry | None:
    """The entry as last seen, if it was."""
    with sessions() as session:
        return _entry_row(session, state_id, key)


def _remember(
    sessions: sessionmaker[Session], state_id: int, key: str, digest: str, result: EntryResult
) -> None:
    """Record what became of an entry (its own transaction: later entries do not depend on it)."""
    with sessions() as session:
        row = _entry_row(session, state_id, key)
        if row is None:
            row = SourceEntry(source_id=state_id, key_hash=_hash(key), key=key)
            session.add(row)
        row.title = result.title[:500]
        row.digest = digest
        row.issue_id = result.issue_id if result.issue_id is not None else row.issue_id
        row.outcome = result.action
        row.reason = result.reason
        row.seen_at = utcnow()
        try:
            session.commit()
        except IntegrityError:  # another poller recorded it at the same moment
            session.rollback()


def _finish(
    sessions: sessionmaker[Session],
    state_id: int,
    report: PollReport,
    validators: _Validators | None,
) -> None:
    """Record the poll on the source: when, whether it worked, the validators to send next."""
    with sessions() as session:
        state = session.get(SourceState, state_id)
        assert state is not None
        now = utcnow()
        state.polled_at = now
        if report.status == "error":
            state.error, state.failures = report.error, state.failures + 1
        else:
            state.error, state.failures, state.ok_at = None, 0, now
            state.etag = validators.etag if validators else None
            state.last_modified = validators.last_modified if validators else None
        session.commit()


def log_report(report: PollReport) -> None:
    """Log a poll for the operator: its error, each entry skipped or failed and why, what it stored.

    The scheduler's job logs its polls; a command prints them instead.
    """
    if report.status == "error":
        log.error("source %s: %s", report.source, report.error)
        return
    for entry in report.entries:
        if entry.action in (SKIPPED, FAILED):
            log.warning(
                "source %s: %s %r: %s", report.source, entry.action, entry.title, entry.reason
            )
    done = [e for e in report.entries if e.action in (STORED, UPDATED)]
    if done:
        log.info(
            "source %s: %s",
            report.source,
            ", ".join(f"{e.action} issue {e.issue_id}" for e in done),
        )


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
