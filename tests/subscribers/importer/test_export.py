"""Exporting a list: every column, by address, in a file that imports back unchanged."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy
from subscribers.importer import export_csv
from subscribers.models import (
    NewsletterList,
    SubscriptionStatus,
)
from subscribers.service import subscribe
from tests.subscribers.importer.support import (
    HEADER,
    event_count,
    good_rows,
    run,
    stored,
    write,
)


class TestExport:
    def test_export_writes_every_column_by_address(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Rows come out sorted by address, topics joined by '|', consent from the import."""
        path = write(
            tmp_path,
            f"{HEADER}\n"
            "zoe@example.net,Zoë,confirmed,weekly,Europe/Paris,6,policy|chips,fair,2026-01-02\n"
            "al@example.net,,,,,,,,\n",
        )
        run(sessions, newsletter, path, taxonomy)
        out = tmp_path / "out.csv"
        with sessions() as session:
            assert export_csv(session, newsletter, out) == 2
        assert out.read_text(encoding="utf-8").splitlines() == [
            HEADER,
            "al@example.net,,pending,daily,UTC,7,,import,",
            "zoe@example.net,Zoë,confirmed,weekly,Europe/Paris,6,chips|policy,fair,"
            "2026-01-02T00:00:00+00:00",
        ]

    def test_an_exported_file_imports_back_unchanged(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Export then import reports every row unchanged, and the data and export are equal."""
        with sessions() as session:
            subscribe(
                session,
                newsletter,
                "web@example.net",
                taxonomy=taxonomy,
                topics=["robotics"],
                confirmed=True,
            )
            session.commit()
        rows = [*good_rows(40), 'quote@example.net,"O\'Neil, ""Q""",unsubscribed,,,,,,']
        run(sessions, newsletter, write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n"), taxonomy)
        before, events_before = stored(sessions, newsletter), event_count(sessions)
        first, second = tmp_path / "first.csv", tmp_path / "second.csv"
        with sessions() as session:
            assert export_csv(session, newsletter, first) == 42
        report = run(sessions, newsletter, first, taxonomy)
        assert (report.rows, report.unchanged) == (42, 42)
        assert stored(sessions, newsletter) == before
        assert event_count(sessions) == events_before
        with sessions() as session:
            export_csv(session, newsletter, second)
        assert second.read_bytes() == first.read_bytes()

    def test_a_subscription_made_elsewhere_exports_where_and_when_it_was_made(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Without an import event, consent_source is the event's source and consent_at its time."""
        with sessions() as session:
            subscribe(session, newsletter, "cli@example.net", taxonomy=taxonomy)
            session.commit()
        out = tmp_path / "out.csv"
        with sessions() as session:
            export_csv(session, newsletter, out)
        row = out.read_text(encoding="utf-8").splitlines()[1].split(",")
        assert row[-2] == "cli"
        assert row[-1].endswith("+00:00")

    def test_bounced_subscriptions_round_trip(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A bounced status that an import cannot set still re-imports when it is unchanged."""
        with sessions() as session:
            sub = subscribe(session, newsletter, "b@example.net", taxonomy=taxonomy, confirmed=True)
            sub.status = SubscriptionStatus.BOUNCED
            session.commit()
        out = tmp_path / "out.csv"
        with sessions() as session:
            export_csv(session, newsletter, out)
        assert run(sessions, newsletter, out, taxonomy).unchanged == 1
