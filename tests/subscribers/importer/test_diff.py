"""Comparing a file with the list: rows created, updated, unchanged or skipped; dry runs alike."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy
from subscribers.importer import import_csv
from subscribers.lists import create_list
from subscribers.models import (
    Cadence,
    NewsletterList,
    Subscriber,
)
from subscribers.service import (
    normalise_email,
    subscribe,
    suppress,
)
from tests.subscribers.importer.support import (
    HEADER,
    event_count,
    good_rows,
    run,
    stored,
    write,
)


class TestImport:
    def test_rows_are_created_with_their_values_or_the_defaults(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Given cells are stored as written; empty or absent ones take the defaults."""
        path = write(
            tmp_path,
            "Topics,EMAIL,cadence,timezone,send_hour,name,status\n"
            "policy|Chips,Ann@Example.NET,weekly,Asia/Shanghai,18,Ann Lee,confirmed\n"
            ",bo@example.net,,,,,\n",
        )
        report = run(sessions, newsletter, path, taxonomy)
        assert (report.rows, report.created, report.updated, report.unchanged) == (2, 2, 0, 0)
        assert stored(sessions, newsletter) == [
            (
                "Ann@example.net",
                "Ann Lee",
                "Asia/Shanghai",
                "confirmed",
                "weekly",
                18,
                ("chips", "policy"),
            ),
            ("bo@example.net", None, "UTC", "pending", "daily", 7, ()),
        ]

    def test_existing_subscriptions_are_updated_or_left_unchanged(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A row that differs from what is stored updates it; an identical row is unchanged."""
        with sessions() as session:
            for email in ("same@example.net", "moves@example.net"):
                subscribe(session, newsletter, email, taxonomy=taxonomy, topics=["chips"])
            session.commit()
        path = write(
            tmp_path,
            "email,status,cadence,topics\n"
            "same@example.net,pending,daily,chips\n"
            "moves@example.net,confirmed,weekly,models|funding\n"
            "new@example.net,,,\n",
        )
        report = run(sessions, newsletter, path, taxonomy)
        assert (report.created, report.updated, report.unchanged) == (1, 1, 1)
        assert stored(sessions, newsletter) == [
            ("moves@example.net", None, "UTC", "confirmed", "weekly", 7, ("funding", "models")),
            ("new@example.net", None, "UTC", "pending", "daily", 7, ()),
            ("same@example.net", None, "UTC", "pending", "daily", 7, ("chips",)),
        ]

    def test_empty_cells_and_absent_columns_keep_what_is_stored(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Only a present topics cell that is empty means every topic; other blanks keep values."""
        with sessions() as session:
            subscribe(
                session,
                newsletter,
                "kept@example.net",
                taxonomy=taxonomy,
                topics=["chips"],
                cadence=Cadence.WEEKLY,
                timezone="Asia/Tokyo",
                send_hour=9,
                name="Kei",
                confirmed=True,
            )
            subscribe(session, newsletter, "all@example.net", taxonomy=taxonomy, topics=["chips"])
            session.commit()
        path = write(
            tmp_path,
            "email,name,status,cadence,timezone,send_hour,topics\n"
            "kept@example.net,,,,,,chips\nall@example.net,,,,,,\n",
        )
        report = run(sessions, newsletter, path, taxonomy)
        assert (report.updated, report.unchanged) == (1, 1)
        assert stored(sessions, newsletter) == [
            ("all@example.net", None, "UTC", "pending", "daily", 7, ()),
            ("kept@example.net", "Kei", "Asia/Tokyo", "confirmed", "weekly", 9, ("chips",)),
        ]
        path = write(tmp_path, "email\nkept@example.net\n", "only-emails.csv")
        assert run(sessions, newsletter, path, taxonomy).unchanged == 1

    def test_addresses_are_stored_as_subscribe_would_store_them(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Addresses are normalised exactly as normalise_email does, fast path or not (SMTPUTF8)."""
        addresses = [
            " Reader@EXAMPLE.net ",
            "Postmaster@Example.ORG",
            "o'brien+news@sub.example.co.uk",
            "x@EXAMPLE.net",
            "用户@例子.中国",
            "josé@bücher.example",
            "a.b-c_d@xn--bcher-kva.example",
        ]
        path = write(tmp_path, "email\n" + "\n".join(f'"{a}"' for a in addresses) + "\n")
        run(sessions, newsletter, path, taxonomy, smtputf8=True)
        expected = sorted(normalise_email(a) for a in addresses)
        assert sorted(row[0] for row in stored(sessions, newsletter)) == expected

    def test_a_subscriber_of_another_list_gets_a_subscription_here(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A known person new to this list is subscribed, keeping one subscriber row."""
        with sessions() as session:
            other = create_list(session, "weekly", "Weekly", "Weekly <w@news.example.org>")
            subscribe(session, other, "both@example.net", taxonomy=taxonomy, timezone="Asia/Seoul")
            session.commit()
        path = write(tmp_path, "email,name,topics\nboth@example.net,Min,robotics|chips\n")
        assert run(sessions, newsletter, path, taxonomy).created == 1
        assert stored(sessions, newsletter) == [
            ("both@example.net", "Min", "Asia/Seoul", "pending", "daily", 7, ("chips", "robotics"))
        ]
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Subscriber)) == 1

    def test_a_differently_cased_address_is_the_same_person(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """An address that differs from a stored one only in case updates that subscriber."""
        with sessions() as session:
            subscribe(session, newsletter, "reader@example.net", taxonomy=taxonomy)
            session.commit()
        path = write(tmp_path, "email,cadence\nREADER@example.net,weekly\n")
        report = run(sessions, newsletter, path, taxonomy)
        assert (report.created, report.updated) == (0, 1)
        assert [(row[0], row[4]) for row in stored(sessions, newsletter)] == [
            ("reader@example.net", "weekly")
        ]

    def test_progress_is_reported_every_thousand_rows_and_at_the_end(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """The callback gets (done, total) after each 1000 rows and (rows, rows) when done."""
        path = write(tmp_path, HEADER + "\n" + "\n".join(good_rows(2500)) + "\n")
        calls: list[tuple[int, int]] = []
        with sessions() as session:
            import_csv(
                session,
                newsletter,
                path,
                taxonomy=taxonomy,
                progress=lambda done, total: calls.append((done, total)),
            )
        assert calls == [(1000, 2500), (2000, 2500), (2500, 2500)]


class TestSuppressions:
    def test_suppressed_addresses_are_skipped_and_counted(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A suppressed address, in any case, is never added or changed by an import."""
        with sessions() as session:
            subscribe(session, newsletter, "kept@example.net", taxonomy=taxonomy)
            suppress(session, "kept@example.net", "complaint")
            suppress(session, "gone@example.net", "hard bounce")
            session.commit()
        path = write(
            tmp_path,
            "email,status\nGONE@example.net,confirmed\nkept@example.net,confirmed\n"
            "new@example.net,confirmed\n",
        )
        report = run(sessions, newsletter, path, taxonomy)
        assert (report.rows, report.created, report.skipped_suppressed) == (3, 1, 2)
        assert report.suppressed_lines == [2, 3]
        assert [(row[0], row[3]) for row in stored(sessions, newsletter)] == [
            ("kept@example.net", "pending"),
            ("new@example.net", "confirmed"),
        ]
        with sessions() as session:
            assert session.scalar(select(Subscriber).where(Subscriber.email.like("gone%"))) is None


class TestDryRun:
    def test_a_dry_run_reports_the_same_counts_and_writes_nothing(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """dry_run returns what the import would do, and the database stays as it was."""
        with sessions() as session:
            subscribe(session, newsletter, "reader1@example.net", taxonomy=taxonomy)
            subscribe(session, newsletter, "reader2@example.net", taxonomy=taxonomy)
            session.commit()
        before, events_before = stored(sessions, newsletter), event_count(sessions)
        path = write(tmp_path, HEADER + "\n" + "\n".join(good_rows(5)) + "\n")
        dry = run(sessions, newsletter, path, taxonomy, dry_run=True)
        assert (dry.dry_run, dry.created, dry.updated) == (True, 3, 2)
        assert stored(sessions, newsletter) == before
        assert event_count(sessions) == events_before
        real = run(sessions, newsletter, path, taxonomy)
        assert (real.created, real.updated, real.dry_run) == (3, 2, False)
