"""What the importer's tests share: files written as given, and imports run as the CLI runs them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy
from subscribers.importer import (
    COLUMNS,
    ImportFailed,
    ImportReport,
    import_csv,
)
from subscribers.models import (
    ConsentEvent,
    NewsletterList,
)
from subscribers.service import (
    InvalidAddress,
    list_subscriptions,
)

#: The header row naming every column, in export order.
HEADER = ",".join(COLUMNS)

Stored = tuple[str, str | None, str, str, str, int, tuple[str, ...]]


def write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    """A CSV file with exactly this text, as UTF-8 (line endings untouched)."""
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def run(
    sessions: sessionmaker[Session],
    newsletter: NewsletterList,
    path: Path,
    taxonomy: Taxonomy,
    *,
    dry_run: bool = False,
    smtputf8: bool = False,
) -> ImportReport:
    """Import the file and commit, as the CLI does."""
    with sessions() as session:
        report = import_csv(
            session, newsletter, path, taxonomy=taxonomy, dry_run=dry_run, smtputf8=smtputf8
        )
        session.commit()
        return report


def refused(
    sessions: sessionmaker[Session], newsletter: NewsletterList, path: Path, taxonomy: Taxonomy
) -> ImportFailed:
    """The ImportFailed an import of the file raises; committing after it must change nothing."""
    with sessions() as session:
        with pytest.raises(ImportFailed) as caught:
            import_csv(session, newsletter, path, taxonomy=taxonomy)
        session.commit()
    return caught.value


def stored(sessions: sessionmaker[Session], newsletter: NewsletterList) -> list[Stored]:
    """Every subscription of the list as plain values, by address."""
    with sessions() as session:
        return [
            (
                s.subscriber.email,
                s.subscriber.name,
                s.subscriber.timezone,
                str(s.status),
                str(s.cadence),
                s.send_hour,
                s.topics,
            )
            for s in list_subscriptions(session, newsletter)
        ]


def event_count(sessions: sessionmaker[Session]) -> int:
    """How many consent events the database holds."""
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(ConsentEvent)) or 0


def outcome(normalise: Callable[[str], str], address: str) -> str:
    """The normalised address, or the InvalidAddress message."""
    try:
        return normalise(address)
    except InvalidAddress as exc:
        return f"InvalidAddress: {exc}"


def good_rows(count: int) -> list[str]:
    """``count`` valid data rows with every column, reader0@example.net onwards."""
    topics = ["chips", "models|policy", "", "funding"]
    return [
        f"reader{n}@example.net,Reader {n},confirmed,{'weekly' if n % 3 else 'daily'},"
        f"Europe/Berlin,{n % 24},{topics[n % 4]},website,2026-05-01T10:00:00+00:00"
        for n in range(count)
    ]
