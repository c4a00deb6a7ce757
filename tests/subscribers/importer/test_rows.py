"""Checking rows: each bad cell named with its line and reason; addresses as subscribe() stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy
from subscribers.importer import RowError
from subscribers.importer.rows import Addresses  # the per-domain shortcut, held equal below
from subscribers.models import NewsletterList
from subscribers.service import normalise_email
from tests.subscribers.importer.support import (
    HEADER,
    outcome,
    refused,
    run,
    stored,
    write,
)


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
